"""Jobs of a worker that died are taken back; a live worker's never are (SPEC §3)."""

from __future__ import annotations

import signal
import time
import uuid

import asyncpg
import pytest

from tests.conftest import make_settings
from tests.plugin import SETUP_SQL
from tests.processes import Daemon
from tests.support import (
    Recorded,
    capture_logs,
    enqueue,
    events,
    registry_with,
    running_worker,
    wait_for,
    wait_status,
)


async def test_kill_9_mid_job_is_rescued_by_the_other_daemon(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await conn.execute(SETUP_SQL)
    victim = Daemon(database_url)
    victim.wait_event("daemon.ready")
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
        busy.wait_event("daemon.ready")
        other.wait_event("daemon.ready")
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
    frozen.wait_event("daemon.ready")
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
        frozen.wait_event("job.fenced")
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
