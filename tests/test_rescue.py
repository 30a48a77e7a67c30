"""Jobs of a worker that died are taken back; a live worker's never are (SPEC §3)."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from syncd.errors import RetryableError
from syncd.job import Job
from syncd.loops.rescuer import Holdings
from syncd.loops.writer import OutcomeWriter
from syncd.outcomes import RetryPolicy, decide
from syncd.queues import QUEUES
from syncd.store import Store
from tests.plugin import SETUP_SQL
from tests.support import (
    Recorded,
    capture_logs,
    enqueue,
    event,
    events,
    make_settings,
    registry_with,
    running_worker,
    wait_for,
    wait_status,
)
from tests.support.daemons import Daemon


async def test_kill_9_mid_job_is_rescued_by_the_other_daemon(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await conn.execute(SETUP_SQL)
    victim = Daemon(database_url)
    await event(victim, "daemon.ready")
    ids = [await enqueue(conn, "probe", payload={"sleep": 30}) for _ in range(5)]
    await wait_for(
        lambda: conn.fetchval("SELECT count(*) = 5 FROM probe_runs WHERE pid = $1", victim.proc.pid)
    )
    victim.proc.kill()
    victim.stop()
    killed_at = time.monotonic()
    await conn.execute("UPDATE sync_queue SET payload = '{}'")  # the retry is quick
    rescuer = Daemon(database_url)
    try:

        async def all_done() -> bool:
            return await conn.fetchval(
                "SELECT count(*) = 5 FROM sync_queue WHERE status = 'completed'"
            )

        await wait_for(all_done, timeout=60)
        rescued = rescuer.named("job.rescued")
    finally:
        assert rescuer.stop() == 0
    elapsed = time.monotonic() - killed_at
    assert {e["job_id"] for e in rescued} == {str(i) for i in ids}
    rows = await conn.fetch("SELECT attempts, error_message FROM sync_queue")
    assert all(r["attempts"] == 2 for r in rows)  # the killed attempt still counts
    # The bound is rescue_after (3 s here) plus the poll that notices it; this is a
    # hang guard with a generous margin, not a speed claim.
    assert elapsed < 30


async def test_a_live_but_busy_worker_keeps_its_job(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await conn.execute(SETUP_SQL)
    busy = Daemon(database_url)
    other = Daemon(database_url)
    try:
        await event(busy, "daemon.ready")
        await event(other, "daemon.ready")
        job = await enqueue(conn, "probe", payload={"sleep": 8})
        await wait_for(
            lambda: conn.fetchval("SELECT status = 'completed' FROM sync_queue WHERE id = $1", job),
            timeout=60,
        )
    finally:
        assert busy.stop() == 0 and other.stop() == 0
    # Longer than rescue_after (3 s), yet never rescued: the heartbeat kept it.
    assert await conn.fetchval("SELECT attempts FROM sync_queue WHERE id = $1", job) == 1
    assert await conn.fetchval("SELECT count(*) FROM probe_runs") == 1
    assert not busy.named("job.rescued") and not other.named("job.rescued")


async def test_a_frozen_worker_is_rescued_and_its_late_write_fenced(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await conn.execute(SETUP_SQL)
    frozen = Daemon(database_url)
    await event(frozen, "daemon.ready")
    job = await enqueue(conn, "probe", payload={"sleep": 1})
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 1 FROM probe_runs"))
    frozen.signal(signal.SIGSTOP)
    other = Daemon(database_url)
    try:
        await wait_for(
            lambda: conn.fetchval("SELECT status = 'completed' FROM sync_queue WHERE id = $1", job),
            timeout=60,
        )
        frozen.signal(signal.SIGCONT)
        await event(frozen, "job.fenced")
    finally:
        frozen.signal(signal.SIGCONT)
        assert frozen.stop() == 0 and other.stop() == 0
    row = await conn.fetchrow("SELECT status, attempts FROM sync_queue WHERE id = $1", job)
    assert (row["status"], row["attempts"]) == ("completed", 2)
    assert not frozen.named("job.completed")


@pytest.mark.parametrize("holder", ["forgotten", "none"])
async def test_a_running_job_whose_worker_left_no_row_is_rescued(
    holder: str, database_url: str, conn: asyncpg.Connection
) -> None:
    # Its worker's row is gone (forgotten at a stop whose release failed), or the job
    # never had a worker_id: nobody heartbeats for it, so it is stale at once.
    worker_id = uuid.uuid4() if holder == "forgotten" else None
    job = await enqueue(conn, "noop", status="processing", attempts=1, worker_id=worker_id)
    assert job is not None
    registry = registry_with(sync={"noop": Recorded()})
    with capture_logs() as logs:
        async with running_worker(make_settings(database_url), registry):
            row = await wait_status(conn, job, "completed")
    assert row["attempts"] == 2
    assert [e["job_id"] for e in events(logs, "job.rescued")] == [str(job)]


async def test_jobs_marked_ours_that_we_do_not_hold_are_taken_back(
    database_url: str, conn: asyncpg.Connection
) -> None:
    """rescue.sql spares a live worker's jobs; these it has forgotten, or never knew of.

    - "finished": the worker completed it, and the database lost that write after
      acknowledging it (synchronous_commit = off and a crash, a failover to an
      asynchronous standby): the row says `processing` again.
    - "unheard": a claim committed and its answer was lost with the connection: the
      worker never learnt it had the job.
    - "running": a job it does hold, running past rescue_after: never touched.
    """

    async def slow(job: object) -> None:
        await asyncio.sleep(4)

    settings = make_settings(database_url, daemon={"rescue_after": 1.5, "poll_interval": 0.5})
    quick, long = Recorded(), Recorded(slow)
    registry = registry_with(sync={"noop": quick, "slow": long})
    with capture_logs() as logs:
        async with running_worker(settings, registry) as worker:
            finished = await enqueue(conn, "noop")
            assert finished is not None
            await wait_status(conn, finished, "completed")
            running = await enqueue(conn, "slow")
            await wait_for(lambda: _ran(long))
            # The database forgets the completion; a claim's answer never arrives.
            await conn.execute(
                "UPDATE sync_queue SET status = 'processing', completed_at = NULL, "
                "worker_id = $2, last_attempt = now() - interval '1 minute' WHERE id = $1",
                finished,
                worker.id,
            )
            unheard = await enqueue(
                conn, "noop", status="processing", attempts=1, worker_id=worker.id
            )
            unheard_at = await conn.fetchval(
                "UPDATE sync_queue SET last_attempt = now() WHERE id = $1 "
                "RETURNING extract(epoch FROM last_attempt)::float8",
                unheard,
            )
            assert unheard is not None and running is not None
            for job in (finished, unheard):
                row = await wait_status(conn, job, "completed")
                assert row["attempts"] == 2  # the lost attempt counts, like a crash's
            # Not while its claim could still be on its way: only once rescue_after old.
            assert row["last_attempt"].timestamp() - unheard_at >= 1.5
            row = await wait_status(conn, running, "completed")
            assert row["attempts"] == 1
    rescued = events(logs, "job.rescued")
    assert sorted(e["job_id"] for e in rescued) == sorted([str(finished), str(unheard)])
    for e in rescued:
        assert e["error"] == (
            f"worker {worker.id} lost track of attempt 1 (its claim's answer or its outcome "
            "was lost)"
        )
    assert [j.id for j in long.jobs] == [running]


async def _ran(handler: Recorded) -> bool:
    return bool(handler.jobs)


async def test_a_forgotten_rescue_spares_what_is_held_and_what_was_claimed_after_the_cutoff(
    database_url: str, conn: asyncpg.Connection
) -> None:
    """The statement itself: the poll's cutoff, not the time the UPDATE arrives, decides."""
    me, other = uuid.uuid4(), uuid.uuid4()
    ages = {"held": 60, "old": 60, "young": 5, "other's": 60}
    ids = {}
    for name, age in ages.items():
        ids[name] = await enqueue(
            conn,
            "noop",
            status="processing",
            attempts=1,
            worker_id=other if name == "other's" else me,
            last_attempt=datetime.now(UTC) - timedelta(seconds=age),
        )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        store = Store(pool, me)
        cutoff = await conn.fetchval("SELECT now() - interval '20 seconds'")
        rescued = await store.rescue_forgotten(QUEUES["sync"], cutoff, {ids["held"]})
    finally:
        await pool.close()
    assert [(job.id, status) for job, status, _, _ in rescued] == [(ids["old"], "pending")]
    rows = {r["id"]: r["status"] for r in await conn.fetch("SELECT id, status FROM sync_queue")}
    assert rows == {
        ids["held"]: "processing",
        ids["old"]: "pending",
        ids["young"]: "processing",  # claimed after the cutoff: maybe on its way to us
        ids["other's"]: "processing",  # another live worker's: rescue.sql's business
    }


async def test_a_failure_still_being_written_counts_as_held_even_after_its_task_ended(
    database_url: str, conn: asyncpg.Connection
) -> None:
    """Shutdown may cancel a job's task while its shielded failure write waits on the
    database: the row is still ours, and the forgotten rescue must not take it."""
    me = uuid.uuid4()
    job_id = await enqueue(conn, "noop", status="processing", attempts=1, worker_id=me)
    assert job_id is not None
    job = Job(queue="sync", id=job_id, attempt=1, max_attempts=5, operation="upsert")
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    recorder = Holdings()  # what the forgotten rescue asks
    recorder.add("sync", [job])  # as a claim does
    writer = OutcomeWriter(Store(pool, me), recorder, _ignore)
    writing = writer.start()
    policy = RetryPolicy(make_settings(database_url).retry.delays, 0.0, 60.0)
    try:
        async with conn.transaction():  # the failure write waits on this row's lock
            await conn.execute("SELECT 1 FROM sync_queue WHERE id = $1 FOR UPDATE", job_id)

            async def attempt() -> None:  # as Worker._attempt hands over a failure
                writer.submit(job, decide(job, RetryableError("x"), policy, duration_ms=1.0))
                await asyncio.sleep(30)  # the task lives on until shutdown cancels it

            task = asyncio.create_task(attempt())
            await asyncio.sleep(0.2)
            assert recorder.held_ids("sync") == {job_id}
            task.cancel()  # what shutdown's grace running out does to the job's task
            await asyncio.gather(task, return_exceptions=True)
            assert recorder.held_ids("sync") == {job_id}
        await wait_for(lambda: _not_held(recorder, job_id))
    finally:
        writing.cancel()
        await pool.close()
    row = await conn.fetchrow("SELECT status, attempts FROM sync_queue WHERE id = $1", job_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)


async def _not_held(recorder: Holdings, job_id: uuid.UUID) -> bool:
    return job_id not in recorder.held_ids("sync")


def _ignore(*_: object) -> None:
    pass
