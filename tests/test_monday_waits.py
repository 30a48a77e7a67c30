"""Every wait monday names is capped ([monday] max_pause, the daily limit by
max_daily_pause), a wait that is not a number is a limit with the default pause, and an
operator sees a pause in `syncd status` and ends it with `syncd monday resume`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from syncd import monday_commands, status
from syncd.errors import Kind, classify
from syncd.fake_monday import FakeMonday
from syncd.handlers.monday import operations
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.errors import MondayLimited
from syncd.handlers.monday.pauses import MemoryPauses
from tests.support import add_contact, capture_logs, enqueue, events, job_row
from tests.support.monday import CONTACTS_BOARD, fake, monday_settings, too_many

__all__ = ["fake"]

FIND = {"board": str(CONTACTS_BOARD), "column": "text_syncd_id", "value": "nobody"}


def seconds_until(moment: datetime) -> float:
    return (moment - datetime.now(UTC)).total_seconds()


async def limited(fake: FakeMonday, **overrides: Any) -> MondayLimited:
    """The error of one call that meets the fault the test set up."""
    client = MondayClient(monday_settings(fake, **overrides), pauses=MemoryPauses())
    await client.start(None)
    try:
        with pytest.raises(MondayLimited) as caught:
            await client.call(operations.FIND_ITEM, FIND)
    finally:
        await client.stop()
    assert classify(caught.value) == Kind.RATE_LIMITED
    return caught.value


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (too_many(retry=1e9), {}),
        (too_many(retry=30), {"Retry-After": "1000000000"}),
        ({"errors": [{"message": "Rate Limit Exceeded"}]}, {"Retry-After": "1e9"}),
        ({"error_code": "RATE_LIMIT_EXCEEDED", "error_data": {"retry_in_seconds": 1e9}}, {}),
    ],
    ids=["retry_in_seconds", "both", "Retry-After", "legacy"],
)
async def test_an_absurd_wait_is_cut_to_max_pause(
    fake: FakeMonday, body: dict[str, Any], headers: dict[str, str]
) -> None:
    if body.get("errors") and "extensions" in body["errors"][0]:
        # retry_in_seconds wins over Retry-After when both are given.
        body["errors"][0]["extensions"]["retry_in_seconds"] = 1e9
    fake.faults.fail(429, body=body, headers=headers)
    error = await limited(fake)
    assert 3590 < seconds_until(error.until) <= 3600  # the default max_pause, 1 h
    fake.faults.fail(429, body=body, headers=headers)
    error = await limited(fake, max_pause="2m")
    assert 110 < seconds_until(error.until) <= 120


async def test_the_daily_limit_waits_for_midnight_up_to_max_daily_pause(fake: FakeMonday) -> None:
    fake.faults.fail(429, body=too_many("DAILY_LIMIT_EXCEEDED", retry=1e9))
    error = await limited(fake)
    assert 86390 < seconds_until(error.until) <= 86400
    fake.faults.fail(429, body={"errors": [{"extensions": {"code": "DAILY_LIMIT_EXCEEDED"}}]})
    error = await limited(fake, max_daily_pause="3h")
    assert seconds_until(error.until) <= 3 * 3600


@pytest.mark.parametrize(
    ("retry", "header"),
    [
        (float("inf"), None),
        (float("nan"), None),
        (-5, None),
        ("1e999", None),
        (None, "inf"),
        (None, "nan"),
    ],
)
async def test_a_wait_that_is_no_number_is_a_limit_with_the_default_pause(
    fake: FakeMonday, retry: Any, header: str | None
) -> None:
    body = too_many(retry=retry) if retry is not None else {"errors": [{"message": "slow down"}]}
    fake.faults.fail(429, body=body, headers={"Retry-After": header} if header else {})
    error = await limited(fake)
    assert 50 < seconds_until(error.until) <= 60
    assert "not a usable number" in str(error) and "Overflow" not in str(error)


async def test_status_shows_the_pause_and_monday_resume_ends_it_everywhere_at_once(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    client = MondayClient(monday_settings(fake))
    await client.start(pool)
    fake.faults.fail(429, body=too_many("DAILY_LIMIT_EXCEEDED", retry=1e9))
    contact = await add_contact(conn)
    job_id = await enqueue(conn, entity_id=contact)
    try:
        with pytest.raises(MondayLimited) as caught:
            await client.call(operations.FIND_ITEM, FIND)
        # The job that met it is snoozed until the pause ends, as the worker writes it.
        await conn.execute(
            "UPDATE sync_queue SET next_retry = $2 WHERE id = $1", job_id, caught.value.until
        )
        report = await status.gather(conn, rescue_after=20.0)
        [pause] = report["monday_pauses"]
        assert pause["reason"] == "DAILY_LIMIT_EXCEEDED"
        assert 86390 < pause["remaining_s"] <= 86400
        gap = datetime.fromisoformat(pause["until"]) - caught.value.until
        assert abs(gap.total_seconds()) < 1
        text = status.render(report)
        assert "monday paused until " in text and "DAILY_LIMIT_EXCEEDED" in text
        assert "syncd monday resume" in text
        json.dumps(report)  # `status --json` can print it

        with capture_logs() as logs:
            ended = await monday_commands.resume(conn)
            assert [p.reason for p in ended] == ["DAILY_LIMIT_EXCEEDED"]
            assert ended[0].woken == 1
            # The running client sees it at once: no copy of the pause is kept.
            await client.call(operations.FIND_ITEM, FIND)
    finally:
        await client.stop()
    row = await job_row(conn, job_id)
    assert row["next_retry"] <= datetime.now(UTC)
    assert (await status.gather(conn, rescue_after=20.0))["monday_pauses"] == []
    resumed = events(logs, "monday.resumed")
    assert resumed[0]["early"] is True and resumed[0]["reason"] == "DAILY_LIMIT_EXCEEDED"
    assert len(resumed) == 2  # the command's, and the client's when it sent again
    assert await monday_commands.resume(conn) == []


def test_the_last_moments_of_a_pause_are_not_zero_seconds_more() -> None:
    from syncd.handlers.monday.client import _for_how_long

    assert _for_how_long(0.04) == "a moment more"
    assert _for_how_long(2.0) == "2.0 s more"
