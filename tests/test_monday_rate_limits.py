"""monday's limits: paced spending stays under them; a limit hit pauses the token everywhere."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest

from syncd.config import Settings
from syncd.errors import Kind, RateLimited, classify
from syncd.fake_monday import FakeMonday, Limits
from syncd.handlers import Registry
from syncd.handlers.monday import install, operations
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.errors import MondayLimited, MondayUnavailable
from syncd.handlers.monday.pacing import Budget, parse_fields
from syncd.handlers.monday.pauses import DatabasePauses, MemoryPauses, token_id
from tests.support import (
    add_contact,
    capture_logs,
    enqueue,
    events,
    job_row,
    running_worker,
    wait_for,
)
from tests.support.monday import (
    CONTACTS_BOARD,
    daemon_settings,
    fake,
    monday_settings,
    too_many,
)

__all__ = ["fake"]

FIND = {"board": str(CONTACTS_BOARD), "column": "text_syncd_id", "value": "nobody"}


async def started(client: MondayClient) -> MondayClient:
    await client.start(None)
    return client


def test_ratelimit_headers_are_parsed() -> None:
    assert parse_fields('"complexity";q=5000000;w=60, "daily";r=12;t=30') == {
        "complexity": {"q": "5000000", "w": "60"},
        "daily": {"r": "12", "t": "30"},
    }


def test_a_reset_reported_in_whole_seconds_is_narrowed_down() -> None:
    # An answer at 0.6 s said "resets in 9 s": the reset lies in (8.6, 9.6].
    budget = Budget("complexity", remaining=100, reset_lo=8.6, reset_hi=9.6)
    budget.observe(80, reset_in=9, now=0.2)  # another, sent at 0.2 s: (8.2, 9.2]
    assert (budget.reset_lo, budget.reset_hi) == (8.6, 9.2)
    assert budget.remaining == 80


async def test_the_pacer_spends_a_small_budget_without_hitting_the_limit(fake: FakeMonday) -> None:
    cost = fake.cost_of(operations.FIND_ITEM.text)
    # Three finds per one-second window: ten finds need four windows.
    fake.limits = Limits(complexity=3 * cost, complexity_window=1.0)
    client = await started(MondayClient(monday_settings(fake), pauses=MemoryPauses()))
    try:
        await asyncio.gather(*(client.call(operations.FIND_ITEM, FIND) for _ in range(10)))
    finally:
        await client.stop()
    assert fake.limit_hits == {}
    assert fake.requests == 10
    assert client.stats["limit_hits"] == 0


async def test_a_call_whose_answer_was_lost_counts_as_spent(fake: FakeMonday) -> None:
    cost = fake.cost_of(operations.FIND_ITEM.text)
    fake.limits = Limits(complexity=3 * cost, complexity_window=60.0)
    client = await started(MondayClient(monday_settings(fake, max_wait=1), pauses=MemoryPauses()))
    try:
        await client.call(operations.FIND_ITEM, FIND)
        await client.call(operations.FIND_ITEM, FIND)
        # monday ran the third call and spent the last of the budget on it; the
        # answer never came, so only the pacer's own count can tell.
        fake.faults.lose_response()
        with pytest.raises(MondayUnavailable):
            await client.call(operations.FIND_ITEM, FIND)
        with pytest.raises(RateLimited):
            await client.call(operations.FIND_ITEM, FIND)
    finally:
        await client.stop()
    assert fake.requests == 3 and fake.limit_hits == {}


def test_the_fakes_window_opens_with_the_first_call_after_the_last_one_ended() -> None:
    # monday: per-minute budgets "reset 60 seconds after the first API call was made".
    now = [0.0]
    limits = Limits(complexity=10, complexity_window=60.0, clock=lambda: now[0])
    window = limits.windows["complexity"]
    window.spend(4)
    now[0] = 59.5
    assert (window.remaining(), window.reset_in()) == (6, 1)
    now[0] = 75.0  # idle since the reset at 60 s: no window is open
    assert (window.remaining(), window.reset_in()) == (10, 60)
    window.spend(3)
    now[0] = 130.0
    assert (window.remaining(), window.reset_in()) == (7, 5)
    assert [(w.at, w.spent) for w in window.history] == [(0.0, 4), (75.0, 3)]


async def test_a_refill_further_off_than_max_wait_snoozes_the_job(fake: FakeMonday) -> None:
    cost = fake.cost_of(operations.FIND_ITEM.text)
    fake.limits = Limits(complexity=cost, complexity_window=60.0)
    client = await started(MondayClient(monday_settings(fake, max_wait=1), pauses=MemoryPauses()))
    try:
        await client.call(operations.FIND_ITEM, FIND)
        with pytest.raises(RateLimited) as caught:
            await client.call(operations.FIND_ITEM, FIND)
    finally:
        await client.stop()
    assert classify(caught.value) == Kind.RATE_LIMITED
    assert fake.requests == 1 and fake.limit_hits == {}


@pytest.mark.parametrize(
    ("code", "legacy"),
    [
        ("MINUTE_RATE_LIMIT_EXCEEDED", False),
        ("COMPLEXITY_BUDGET_EXHAUSTED", False),
        ("ComplexityException", True),
        ("DAILY_LIMIT_EXCEEDED", False),
    ],
)
async def test_a_limit_hit_pauses_all_work_and_nothing_is_sent_meanwhile(
    fake: FakeMonday, code: str, legacy: bool
) -> None:
    cost = fake.cost_of(operations.FIND_ITEM.text)
    limits = {
        "MINUTE_RATE_LIMIT_EXCEEDED": Limits(per_minute=1),
        "COMPLEXITY_BUDGET_EXHAUSTED": Limits(complexity=cost),
        "ComplexityException": Limits(complexity=cost),
        "DAILY_LIMIT_EXCEEDED": Limits(daily=1, per_minute=None),
    }
    fake.limits = limits[code]
    version = "2024-01" if legacy else "2026-10"
    # Two clients that know nothing of each other's spending share one pause.
    pauses = MemoryPauses()
    first = await started(MondayClient(monday_settings(fake, api_version=version), pauses=pauses))
    second = await started(MondayClient(monday_settings(fake, api_version=version), pauses=pauses))
    try:
        await first.call(operations.FIND_ITEM, FIND)
        with capture_logs() as logs, pytest.raises(MondayLimited) as caught:
            await second.call(operations.FIND_ITEM, FIND)
        assert caught.value.code == code
        for client in (first, second, first):
            with pytest.raises(RateLimited):  # the pause, or the pacer that saw it coming
                await client.call(operations.FIND_ITEM, FIND)
    finally:
        await first.stop()
        await second.stop()
    assert fake.limit_hits == {code: 1}
    assert fake.requests == 2 and fake.requests_during_pause == 0
    [hit] = events(logs, "monday.rate_limited")
    assert hit["reason"] == code and hit["retry_in_s"] >= 1


async def test_work_resumes_when_the_pause_ends(fake: FakeMonday) -> None:
    client = await started(MondayClient(monday_settings(fake), pauses=MemoryPauses()))
    fake.faults.fail(429, body=too_many(retry=1))
    try:
        with capture_logs() as logs:
            with pytest.raises(MondayLimited):
                await client.call(operations.FIND_ITEM, FIND)
            await asyncio.sleep(1.1)
            await client.call(operations.FIND_ITEM, FIND)
    finally:
        await client.stop()
    names = [e["event"] for e in logs]
    assert names.index("monday.rate_limited") < names.index("monday.resumed")


async def test_two_clients_on_one_token_share_the_pause_through_the_database(
    fake: FakeMonday, pool: asyncpg.Pool
) -> None:
    settings = monday_settings(fake)
    first, second = MondayClient(settings), MondayClient(settings)
    await first.start(pool)
    await second.start(pool)
    fake.faults.fail(429, body=too_many(retry=45))
    try:
        with pytest.raises(MondayLimited):
            await first.call(operations.FIND_ITEM, FIND)
        with capture_logs() as logs, pytest.raises(MondayLimited) as caught:
            await second.call(operations.FIND_ITEM, FIND)
    finally:
        await first.stop()
        await second.stop()
    assert fake.requests == 1 and fake.requests_during_pause == 0
    assert 30 < (caught.value.until - fake_now()).total_seconds() <= 46
    [shared] = events(logs, "monday.rate_limited")
    assert shared["shared"] is True
    row = await pool.fetchrow("SELECT token_id, reason FROM monday_pauses")
    assert row["token_id"] == token_id(settings.resolve_token().get_secret_value())
    assert row["reason"] == "MINUTE_RATE_LIMIT_EXCEEDED"


def fake_now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def test_a_longer_pause_is_never_shortened(pool: asyncpg.Pool) -> None:
    pauses = DatabasePauses(pool, token_id("t"))
    await pauses.extend(60, "DAILY_LIMIT_EXCEEDED")
    await pauses.extend(5, "MAX_CONCURRENCY_EXCEEDED")
    pause = await pauses.current()
    assert pause is not None and pause.remaining > 50 and pause.reason == "DAILY_LIMIT_EXCEEDED"
    assert await DatabasePauses(pool, token_id("other")).current() is None


async def test_a_429_snoozes_the_job_without_burning_an_attempt(
    fake: FakeMonday, database_url: str, conn: asyncpg.Connection
) -> None:
    settings = daemon_settings(database_url, fake)
    registry = Registry()
    install(registry, settings)
    contact = await add_contact(conn)
    fake.faults.fail(429, body=too_many(retry=300))
    with capture_logs() as logs:
        async with running_worker(settings, registry):
            job_id = await enqueue(conn, entity_id=contact)
            assert job_id is not None
            await wait_for(lambda: _snoozed(conn, job_id))
            other = await enqueue(conn, entity_id=await add_contact(conn, email="b@example.com"))
            assert other is not None
            await wait_for(lambda: _snoozed(conn, other))
    row = await job_row(conn, job_id)
    assert row["status"] == "pending" and row["attempts"] == 0
    assert "MINUTE_RATE_LIMIT_EXCEEDED" in row["error_message"]
    assert fake.requests == 1 and fake.requests_during_pause == 0
    assert events(logs, "job.snoozed") and events(logs, "monday.rate_limited")
    assert await conn.fetchval("SELECT count(*) FROM monday_items") == 0
    _ = Settings, uuid, json


async def _snoozed(conn: asyncpg.Connection, job_id: uuid.UUID) -> bool:
    row = await job_row(conn, job_id)
    return bool(row["status"] == "pending" and row["next_retry"] is not None)
