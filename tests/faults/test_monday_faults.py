"""monday.com misbehaving under real daemons: errors, drops, lost answers, limits (SPEC §4)."""

from __future__ import annotations

import random
from collections import Counter

import asyncpg
import pytest

from syncd.fake_monday import Faults, Limits
from syncd.fake_monday.faults import Fault
from syncd.handlers.monday import operations
from tests.faults.support import (
    Fleet,
    Monday,
    add_organization,
    assert_monday_matches_the_rows,
    drained,
    value,
)
from tests.support import add_contact, enqueue, ready, wait_for

pytestmark = pytest.mark.faults


class RandomFaults(Faults):
    """Each request is, at random, dropped, answered 500, or has its answer lost after
    the fake carried it out; `injected` counts what was done."""

    def __init__(self, seed: int, rates: dict[str, float]) -> None:
        super().__init__()
        self.random = random.Random(seed)
        self.rates = rates
        self.injected: Counter[str] = Counter()

    def take(self, kind: str, fields: list[str], board_ids: set[int] | None = None) -> Fault | None:
        if self.random.random() < self.rates.get(kind, 0.0):
            self.injected[kind] += 1
            return Fault(kind, status=500)
        return super().take(kind, fields, board_ids)


async def test_500_pushes_through_random_errors_drops_and_lost_answers(
    fleet: Fleet, syncd_url: str, conn: asyncpg.Connection, monday: Monday
) -> None:
    # About 30 % of requests fail outright (a 500, or the connection dropped before
    # monday did anything), and some answers are lost after the change was applied.
    faults = RandomFaults(7, {"status": 0.17, "drop": 0.16, "lose_response": 0.05})
    monday.call(setattr, monday.fake, "faults", faults)
    daemon = fleet.start(syncd_url, SYNCD_MONDAY__BOARD_CONCURRENCY="4")
    contacts = [
        await add_contact(conn, first_name=f"Ada{i}", email=f"c{i}@example.com", title=f"T{i}")
        for i in range(250)
    ]
    organizations = [await add_organization(conn, i) for i in range(250)]
    await ready(daemon)
    # Enough attempts that no job runs out of them by bad luck (30 % per request).
    await conn.executemany(
        "INSERT INTO sync_queue (entity_type, entity_id, max_attempts) VALUES ($1, $2, 25)",
        [("contact", c) for c in contacts] + [("organization", o) for o in organizations],
    )
    await drained(conn, timeout=120)
    assert daemon.stop() == 0

    rows = await conn.fetch("SELECT id, status, attempts, error_message FROM sync_queue")
    assert {(r["status"], r["error_message"]) for r in rows} == {("completed", None)}
    # Every fault cost exactly one attempt, and each was recorded with its retry.
    injected = monday.call(lambda: sum(faults.injected.values()))
    assert faults.injected["lose_response"] > 0
    assert sum(r["attempts"] for r in rows) - len(rows) == injected
    retries = Counter(daemon.job_ids("job.retry_scheduled"))
    assert all(retries[str(r["id"])] == r["attempts"] - 1 for r in rows)
    assert len(daemon.named("job.completed")) == 500
    await assert_monday_matches_the_rows(conn, monday)


@pytest.mark.parametrize("code", ["COMPLEXITY_BUDGET_EXHAUSTED", "DAILY_LIMIT_EXCEEDED"])
async def test_a_limit_hit_pauses_both_daemons_without_a_request_or_an_attempt(
    fleet: Fleet, syncd_url: str, conn: asyncpg.Connection, monday: Monday, code: str
) -> None:
    cost = monday.call(monday.fake.cost_of, operations.CREATE_ITEM.text)
    window = 3.0
    if code == "COMPLEXITY_BUDGET_EXHAUSTED":
        limits, name = Limits(complexity=100 * cost, complexity_window=window), "complexity"
    else:
        limits, name = Limits(daily=100, day_window=window, per_minute=None), "daily"

    def exhausted() -> None:
        # Another user of the token spent this window's budget a moment ago.
        monday.fake.limits = limits
        limits.windows[name].spend(limits.windows[name].limit)

    daemons = [fleet.start(syncd_url) for _ in range(2)]
    contacts = [await add_contact(conn, email=f"c{i}@example.com") for i in range(20)]
    await ready(*daemons)
    monday.call(exhausted)
    # One push learns of the limit first; the pause it writes holds every daemon.
    await enqueue(conn, entity_id=contacts[0])
    await wait_for(lambda: monday.fake.limit_hits[code] == 1)
    await wait_for(lambda: value(conn, "SELECT reason = $1 FROM monday_pauses", code))
    for contact in contacts[1:]:
        await enqueue(conn, entity_id=contact)
    await drained(conn, timeout=60)
    assert [d.stop() for d in daemons] == [0, 0]

    assert monday.fake.limit_hits == {code: 1}
    assert monday.fake.requests_during_pause == 0
    rows = await conn.fetch("SELECT status, attempts FROM sync_queue")
    assert [tuple(r) for r in rows] == [("completed", 1)] * 20  # no attempt burnt
    assert fleet.events("job.snoozed") and not fleet.events("job.retry_scheduled")
    assert fleet.events("monday.resumed")
    await assert_monday_matches_the_rows(conn, monday)
