"""A job bound back to pending while its entity got a newer pending job is folded into
that job (write_outcomes.sql, rescue.sql, rescue_forgotten.sql): one pending job per
entity stays the rule, nothing is lost, and the entity moves on.

Each story: job A (a delete, priority 1) is running when the application enqueues the
entity's next change, B (an upsert, priority 5, a newer payload). A then comes to an
outcome that would make it pending again: a retry, a snooze, a release at shutdown, or a
rescue. A ends `cancelled`, naming B, its attempt on its history; B takes the delete
and keeps its payload, priority and attempts; a daemon runs B.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from syncd.errors import RetryableError, Snooze
from syncd.handlers import Context, Job
from syncd.queues import SYNC_QUEUE
from syncd.worker import Worker
from tests.support import (
    Recorded,
    capture_logs,
    enqueue,
    events,
    job_row,
    make_settings,
    registered_store,
    registry_with,
    running_worker,
    wait_for,
    wait_status,
)

KIND = "contact"
LATER = datetime.now(UTC) + timedelta(hours=2)


class FirstWaits:
    """A handler whose first job waits for `go`, then comes to `then`'s end (its
    return value, or what it raises); every later job completes."""

    def __init__(self, then: Callable[[], Awaitable[object]]) -> None:
        self.then = then
        self.jobs: list[Job] = []
        self.go = asyncio.Event()

    async def __call__(self, job: Job, ctx: Context) -> object:
        self.jobs.append(job)
        if len(self.jobs) > 1:
            return None
        await self.go.wait()
        return await self.then()


async def _fail() -> None:
    raise RetryableError("HTTP 503")


async def _snooze() -> Snooze:
    return Snooze(LATER, "the upload is still landing")


async def _hang() -> None:
    await asyncio.Event().wait()  # until shutdown's grace runs out


async def job_a(conn: asyncpg.Connection, entity: uuid.UUID, **columns: Any) -> uuid.UUID:
    job_id = await enqueue(
        conn, KIND, entity, operation="delete", priority=1, payload={"v": 1}, **columns
    )
    assert job_id is not None
    return job_id


async def job_b(conn: asyncpg.Connection, entity: uuid.UUID, **columns: Any) -> uuid.UUID:
    """The entity's next change, enqueued while A is not pending: a job of its own."""
    job_id = await enqueue(conn, KIND, entity, priority=5, payload={"v": 2}, **columns)
    assert job_id is not None
    return job_id


async def run_until_a_ends(
    settings: Any, conn: asyncpg.Connection, then: Callable[[], Awaitable[object]], **b: Any
) -> tuple[uuid.UUID, uuid.UUID, FirstWaits, list[dict[str, Any]]]:
    """Run A on a worker, enqueue B while A runs, let A end with `then`, and wait for
    B to be done: the worker goes on to the entity's next job."""
    entity = uuid.uuid4()
    a = await job_a(conn, entity)
    handler = FirstWaits(then)
    with capture_logs() as logs:
        async with running_worker(settings, registry_with({KIND: handler})):
            await wait_for(lambda: handler.jobs)
            b_id = await job_b(conn, entity, **b)
            handler.go.set()
            await wait_status(conn, b_id, "completed")
    return a, b_id, handler, logs


def assert_folded(a: Any, b: Any, outcome: str, attempts: int, error: str | None) -> None:
    """A ended naming B, its attempt on its history; B took A's delete, kept the rest."""
    assert (a["status"], a["error_message"]) == ("cancelled", f"merged into pending job {b['id']}")
    assert a["next_retry"] is None and a["worker_id"] is None
    assert a["completed_at"] is not None
    assert a["attempts"] == attempts
    [entry] = a["attempts_log"]
    assert (entry["attempt"], entry["outcome"], entry.get("error")) == (1, outcome, error)
    assert entry["merged_into"] == str(b["id"])
    assert (b["operation"], b["priority"], b["payload"]) == ("delete", 5, {"v": 2})


def assert_merged_event(
    logs: list[dict[str, Any]], a: uuid.UUID, b: uuid.UUID, outcome: str
) -> Any:
    [merged] = events(logs, "job.merged")
    assert (merged["job_id"], merged["merged_into"], merged["outcome"]) == (str(a), str(b), outcome)
    assert events(logs, "db.write_failed") == [] and events(logs, "rescue.failed") == []
    return merged


async def test_a_retry_folds_into_the_newer_job_which_runs_by_the_earlier_time(
    database_url: str, conn: asyncpg.Connection
) -> None:
    # B was enqueued for an hour from now; A's retry was due in a second: B runs then.
    settings = make_settings(database_url, retry={"delays": [1]})
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    a, b, handler, logs = await run_until_a_ends(settings, conn, _fail, next_retry=in_an_hour)
    row_a, row_b = await job_row(conn, a), await job_row(conn, b)
    assert_folded(row_a, row_b, "retry", attempts=1, error="HTTP 503")
    retried_at = datetime.fromisoformat(row_a["attempts_log"][0]["at"])
    assert row_b["next_retry"] == retried_at + timedelta(seconds=1)
    # B's attempts and history are its own: its one run.
    assert (row_b["attempts"], [e["outcome"] for e in row_b["attempts_log"]]) == (1, ["completed"])
    assert [(j.id, j.operation, j.payload) for j in handler.jobs] == [
        (a, "delete", {"v": 1}),
        (b, "delete", {"v": 2}),
    ]
    merged = assert_merged_event(logs, a, b, "retry")
    assert merged["error"] == "HTTP 503"
    assert events(logs, "job.retry_scheduled") == []


async def test_a_snooze_folds_into_the_newer_job_which_stays_due_now(
    settings: Any, conn: asyncpg.Connection
) -> None:
    a, b, _, logs = await run_until_a_ends(settings, conn, _snooze)
    row_a, row_b = await job_row(conn, a), await job_row(conn, b)
    # The snoozed attempt is given back, as a snooze's is.
    assert_folded(row_a, row_b, "snoozed", attempts=0, error="the upload is still landing")
    assert row_b["next_retry"] is None  # due now, not at A's snooze
    assert_merged_event(logs, a, b, "snoozed")
    assert events(logs, "job.snoozed") == []


async def test_a_release_at_shutdown_folds_into_the_newer_job_which_the_next_daemon_runs(
    database_url: str, conn: asyncpg.Connection
) -> None:
    settings = make_settings(database_url, daemon={"shutdown_grace": 0.2})
    entity = uuid.uuid4()
    a = await job_a(conn, entity)
    handler = FirstWaits(_hang)
    with capture_logs() as logs:
        async with running_worker(settings, registry_with({KIND: handler})):
            await wait_for(lambda: handler.jobs)
            b = await job_b(conn, entity)
            handler.go.set()
        # Stopped: A was cut short and given back, into B.
        row_a, row_b = await job_row(conn, a), await job_row(conn, b)
        assert_folded(row_a, row_b, "released", attempts=0, error=None)
        assert (row_b["status"], row_b["next_retry"], row_b["attempts"]) == ("pending", None, 0)
        assert_merged_event(logs, a, b, "released")
        async with running_worker(settings, registry_with({KIND: handler})):
            await wait_status(conn, b, "completed")
    assert [j.id for j in handler.jobs] == [a, b]


async def dead_worker(conn: asyncpg.Connection) -> uuid.UUID:
    dead = uuid.uuid4()
    await conn.execute(
        "INSERT INTO syncd_workers (id, hostname, pid, heartbeat_at)"
        " VALUES ($1, 'gone', 1, now() - interval '1 hour')",
        dead,
    )
    return dead


async def test_a_dead_workers_job_is_rescued_into_the_newer_job(
    settings: Any, conn: asyncpg.Connection
) -> None:
    entity = uuid.uuid4()
    dead = await dead_worker(conn)
    a = await job_a(conn, entity, status="processing", attempts=1, worker_id=dead)
    b = await job_b(conn, entity)
    handler = Recorded()
    with capture_logs() as logs:
        async with running_worker(settings, registry_with({KIND: handler})):
            await wait_status(conn, b, "completed")
    row_a, row_b = await job_row(conn, a), await job_row(conn, b)
    why = f"worker {dead} stopped during attempt 1 (no heartbeat for 3 s)"
    assert_folded(row_a, row_b, "rescued", attempts=1, error=why)
    assert row_a["attempts_log"][0]["worker"] == str(dead)
    merged = assert_merged_event(logs, a, b, "rescued")
    assert merged["error"] == why
    assert events(logs, "job.rescued") == []
    assert [j.id for j in handler.jobs] == [b]


async def test_a_job_this_worker_lost_track_of_is_rescued_into_the_newer_job(
    settings: Any, conn: asyncpg.Connection
) -> None:
    entity = uuid.uuid4()
    handler = Recorded()
    with capture_logs() as logs:
        async with running_worker(settings, registry_with({KIND: handler})) as worker:
            assert isinstance(worker, Worker)
            # Its claim of A committed an hour ago and the answer never came back.
            async with conn.transaction():
                a = await job_a(
                    conn,
                    entity,
                    status="processing",
                    attempts=1,
                    worker_id=worker.id,
                    last_attempt=datetime.now(UTC) - timedelta(hours=1),
                )
                b = await job_b(conn, entity)
            await wait_status(conn, b, "completed")
    row_a, row_b = await job_row(conn, a), await job_row(conn, b)
    why = f"worker {worker.id} lost track of attempt 1 (its claim's answer or its outcome was lost)"
    assert_folded(row_a, row_b, "rescued", attempts=1, error=why)
    assert assert_merged_event(logs, a, b, "rescued")["error"] == why
    assert [j.id for j in handler.jobs] == [b]


async def test_a_retry_with_no_attempts_left_fails_and_leaves_the_newer_job_alone(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    # Failed is not pending: nothing to fold, and the newer job is the application's.
    store = await registered_store(pool)
    entity = uuid.uuid4()
    a = await job_a(conn, entity, max_attempts=1)
    [job] = await store.claim(SYNC_QUEUE, 1)
    b = await job_b(conn, entity)
    written = await store.retry(SYNC_QUEUE, job, 60, "HTTP 503")
    assert written is not None
    assert (written.status, written.merged_into) == ("failed", None)
    row_a, row_b = await job_row(conn, a), await job_row(conn, b)
    assert (row_a["status"], row_a["error_message"]) == ("failed", "HTTP 503")
    assert (row_b["status"], row_b["operation"], row_b["priority"]) == ("pending", "upsert", 5)
