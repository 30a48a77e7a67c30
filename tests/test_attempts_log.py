"""Every attempt's outcome is kept on its row: attempts_log (SPEC §9)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from syncd.job import Job
from syncd.outcomes import COMPLETED, FAILED, RELEASED, RETRY, SNOOZED, Outcome
from syncd.queues import SYNC_QUEUE
from syncd.store import Store
from tests.support import enqueue
from tests.support.worker import registered_store

LATER = datetime.now(UTC) + timedelta(hours=1)


async def history(conn: asyncpg.Connection, job_id: uuid.UUID) -> list[dict[str, Any]]:
    log = await conn.fetchval("SELECT attempts_log FROM sync_queue WHERE id = $1", job_id)
    return list(log)


async def claimed(store: Store, conn: asyncpg.Connection) -> Job:
    await enqueue(conn)
    [job] = await store.claim(SYNC_QUEUE, 1)
    return job


@pytest.mark.parametrize(
    ("outcome", "logged"),
    [
        (Outcome(COMPLETED, duration_ms=1.5), "completed"),
        (Outcome(RETRY, "HTTP 503", delay_s=60, duration_ms=1.5), "retry"),
        (Outcome(FAILED, "entity gone", permanent=True, duration_ms=1.5), "failed"),
        (Outcome(SNOOZED, "HTTP 429", until=LATER, duration_ms=1.5), "snoozed"),
        (Outcome(RELEASED, duration_ms=1.5), "released"),
        (Outcome(RETRY, "timed out after 30 s", delay_s=60, timed_out=True), "timed_out"),
    ],
)
async def test_each_outcome_leaves_one_entry(
    pool: asyncpg.Pool, conn: asyncpg.Connection, outcome: Outcome, logged: str
) -> None:
    store = await registered_store(pool)
    job = await claimed(store, conn)
    before = await conn.fetchval("SELECT now()")
    written = await store.write(SYNC_QUEUE, [(job, outcome)])
    assert not written[(job.id, 1)].already
    [entry] = await history(conn, job.id)
    assert entry["attempt"] == 1
    assert entry["outcome"] == logged
    assert entry["worker"] == str(store.worker_id)
    assert entry.get("error") == outcome.error
    assert entry.get("duration_ms") == outcome.duration_ms
    assert datetime.fromisoformat(entry["at"]) >= before


async def test_a_retry_with_no_attempts_left_is_logged_as_failed(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    store = await registered_store(pool)
    await enqueue(conn, max_attempts=1)
    [job] = await store.claim(SYNC_QUEUE, 1)
    await store.write(SYNC_QUEUE, [(job, Outcome(RETRY, "boom", delay_s=60))])
    assert [e["outcome"] for e in await history(conn, job.id)] == ["failed"]


async def test_attempts_add_up_newest_last(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    store = await registered_store(pool)
    job = await claimed(store, conn)
    await store.write(SYNC_QUEUE, [(job, Outcome(RETRY, "first", delay_s=0))])
    [job] = await store.claim(SYNC_QUEUE, 1)
    await store.write(SYNC_QUEUE, [(job, Outcome(COMPLETED))])
    entries = await history(conn, job.id)
    assert [(e["attempt"], e["outcome"]) for e in entries] == [(1, "retry"), (2, "completed")]
    assert "error" not in entries[1]


async def test_a_rescue_leaves_a_rescued_entry(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    dead = await registered_store(pool)
    job = await claimed(dead, conn)
    await conn.execute(
        "UPDATE syncd_workers SET heartbeat_at = now() - interval '1 hour' WHERE id = $1",
        dead.worker_id,
    )
    rescuer = await registered_store(pool)
    [(rescued, status, message, _)] = await rescuer.rescue(SYNC_QUEUE, 30)
    assert (rescued.id, status) == (job.id, "pending")
    [entry] = await history(conn, job.id)
    assert (entry["attempt"], entry["outcome"], entry["error"]) == (1, "rescued", message)
    assert entry["worker"] == str(dead.worker_id)  # whose attempt it was


async def test_a_forgotten_rescue_leaves_a_rescued_entry(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    store = await registered_store(pool)
    job = await claimed(store, conn)
    cutoff = await conn.fetchval("SELECT now() + interval '1 second'")
    [(rescued, _, message, _)] = await store.rescue_forgotten(SYNC_QUEUE, cutoff, set())
    assert rescued.id == job.id
    [entry] = await history(conn, job.id)
    assert (entry["outcome"], entry["error"]) == ("rescued", message)


async def test_only_the_last_25_entries_are_kept(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    store = await registered_store(pool)
    job = await claimed(store, conn)
    old = [{"attempt": 0, "outcome": "snoozed", "n": n} for n in range(25)]
    await conn.execute("UPDATE sync_queue SET attempts_log = $2 WHERE id = $1", job.id, old)
    await store.write(SYNC_QUEUE, [(job, Outcome(COMPLETED))])
    entries = await history(conn, job.id)
    assert len(entries) == 25
    assert entries[0]["n"] == 1  # the oldest went
    assert entries[-1]["outcome"] == "completed"
