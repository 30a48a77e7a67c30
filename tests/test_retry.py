"""Outcomes of an attempt and the retry schedule (SPEC §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from syncd.backoff import retry_delay as backoff
from syncd.errors import (
    Kind,
    PermanentError,
    RateLimited,
    RetryableError,
    classify,
)
from syncd.queues import SYNC_QUEUE
from tests.support import enqueue, job_row
from tests.support.worker import registered_store

DEFAULT_DELAYS = [60, 300, 900, 3600]


def test_the_default_schedule_is_the_seeds() -> None:
    assert [backoff(n, DEFAULT_DELAYS) for n in range(1, 8)] == [
        60, 300, 900, 3600, 3600, 3600, 3600,
    ]  # fmt: skip


def test_jitter_spreads_within_its_fraction() -> None:
    values = {backoff(1, DEFAULT_DELAYS, jitter=0.1) for _ in range(200)}
    assert all(54 <= v <= 66 for v in values)
    assert len(values) > 1


def test_error_kinds() -> None:
    until = datetime.now(UTC)
    assert classify(PermanentError("x")) == Kind.PERMANENT
    assert classify(RateLimited("x", until)) == Kind.RATE_LIMITED
    assert classify(RetryableError("x")) == Kind.RETRYABLE
    assert classify(ConnectionResetError()) == Kind.RETRYABLE
    assert classify(ValueError("bug")) == Kind.RETRYABLE


async def test_claim_counts_the_attempt_and_marks_the_row(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    store = await registered_store(pool)
    job_id = await enqueue(conn)
    [job] = await store.claim(SYNC_QUEUE, 10)
    assert (job.id, job.attempt, job.max_attempts) == (job_id, 1, 5)
    row = await job_row(conn, job_id)
    assert row["status"] == "processing"
    assert row["attempts"] == 1
    assert row["started_at"] is not None and row["last_attempt"] is not None
    assert row["worker_id"] == store.worker_id


async def test_claim_order_priority_then_age_and_only_due(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    store = await registered_store(pool)
    old = await enqueue(conn, created_at=datetime.now(UTC) - timedelta(hours=1))
    new = await enqueue(conn)
    urgent = await enqueue(conn, priority=10)
    await enqueue(conn, priority=99, next_retry=datetime.now(UTC) + timedelta(hours=1))
    jobs = await store.claim(SYNC_QUEUE, 10)
    assert [j.id for j in jobs] == [urgent, old, new]


async def test_retryable_failure_waits_the_schedule_then_dies(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    store = await registered_store(pool)
    job_id = await enqueue(conn)
    for attempt, delay in enumerate(DEFAULT_DELAYS, start=1):
        [job] = await store.claim(SYNC_QUEUE, 1)
        assert job.attempt == attempt
        before = await conn.fetchval("SELECT now()")
        outcome = await store.retry(SYNC_QUEUE, job, backoff(attempt, DEFAULT_DELAYS), "boom")
        after = await conn.fetchval("SELECT now()")
        assert outcome is not None and outcome.status == "pending"
        assert before + timedelta(seconds=delay) <= outcome.next_retry
        assert outcome.next_retry <= after + timedelta(seconds=delay)
        row = await job_row(conn, job_id)
        assert (row["status"], row["error_message"]) == ("pending", "boom")
        assert await store.claim(SYNC_QUEUE, 1) == []  # not due yet
        await conn.execute("UPDATE sync_queue SET next_retry = now() WHERE id = $1", job_id)
    [job] = await store.claim(SYNC_QUEUE, 1)
    assert job.attempt == 5
    outcome = await store.retry(SYNC_QUEUE, job, 3600, "boom again")
    assert outcome is not None and outcome.status == "failed"
    row = await job_row(conn, job_id)
    assert (row["status"], row["attempts"], row["next_retry"]) == ("failed", 5, None)


async def test_max_attempts_is_per_row(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    store = await registered_store(pool)
    job_id = await enqueue(conn, max_attempts=1)
    [job] = await store.claim(SYNC_QUEUE, 1)
    outcome = await store.retry(SYNC_QUEUE, job, 60, "boom")
    assert outcome is not None and outcome.status == "failed"
    assert (await job_row(conn, job_id))["status"] == "failed"


async def test_permanent_failure_is_dead_at_once(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    store = await registered_store(pool)
    job_id = await enqueue(conn)
    [job] = await store.claim(SYNC_QUEUE, 1)
    await store.fail(SYNC_QUEUE, job, "entity gone")
    row = await job_row(conn, job_id)
    assert (row["status"], row["attempts"], row["error_message"]) == ("failed", 1, "entity gone")


async def test_snooze_gives_the_attempt_back(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    store = await registered_store(pool)
    job_id = await enqueue(conn)
    [job] = await store.claim(SYNC_QUEUE, 1)
    until = datetime.now(UTC) + timedelta(seconds=42)
    await store.snooze(SYNC_QUEUE, job, until, "rate limited")
    row = await job_row(conn, job_id)
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert row["next_retry"] == until


async def test_release_gives_the_attempt_back_and_is_due_now(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    store = await registered_store(pool)
    job_id = await enqueue(conn)
    [job] = await store.claim(SYNC_QUEUE, 1)
    assert await store.release(SYNC_QUEUE, [job]) == {job_id}
    row = await job_row(conn, job_id)
    assert (row["status"], row["attempts"], row["next_retry"]) == ("pending", 0, None)


async def test_completion_clears_the_error(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    store = await registered_store(pool)
    job_id = await enqueue(conn, error_message="earlier failure")
    [job] = await store.claim(SYNC_QUEUE, 1)
    assert await store.complete(SYNC_QUEUE, [job]) == {job_id}
    row = await job_row(conn, job_id)
    assert row["status"] == "completed"
    assert row["completed_at"] is not None
    assert row["error_message"] is None


@pytest.mark.parametrize("write", ["complete", "retry", "fail", "snooze", "release"])
async def test_a_rescued_workers_late_write_is_fenced_off(
    pool: asyncpg.Pool, conn: asyncpg.Connection, write: str
) -> None:
    frozen = await registered_store(pool)
    job_id = await enqueue(conn)
    [stale] = await frozen.claim(SYNC_QUEUE, 1)
    await conn.execute(
        "UPDATE syncd_workers SET heartbeat_at = now() - interval '1 hour' WHERE id = $1",
        frozen.worker_id,
    )
    rescuer = await registered_store(pool)
    [(rescued, status, _, _)] = await rescuer.rescue(SYNC_QUEUE, 30)
    assert (rescued.id, status) == (job_id, "pending")
    [fresh] = await rescuer.claim(SYNC_QUEUE, 1)
    assert fresh.attempt == 2

    until = datetime.now(UTC) + timedelta(hours=1)
    late = {
        "complete": lambda: frozen.complete(SYNC_QUEUE, [stale]),
        "retry": lambda: frozen.retry(SYNC_QUEUE, stale, 60, "late"),
        "fail": lambda: frozen.fail(SYNC_QUEUE, stale, "late"),
        "snooze": lambda: frozen.snooze(SYNC_QUEUE, stale, until, "late"),
        "release": lambda: frozen.release(SYNC_QUEUE, [stale]),
    }[write]
    assert not await late()
    row = await job_row(conn, job_id)
    assert (row["status"], row["attempts"], row["worker_id"]) == (
        "processing",
        2,
        rescuer.worker_id,
    )
