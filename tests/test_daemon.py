"""The daemon end to end, in process: notification pickup, outcomes, timeouts, shutdown."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from syncd.config import Settings
from syncd.errors import PermanentError, RateLimited
from syncd.job import Job
from tests.support import (
    Recorded,
    capture_logs,
    enqueue,
    events,
    job_row,
    make_settings,
    registry_with,
    running_worker,
    wait_for,
    wait_status,
)


async def test_an_insert_is_picked_up_and_completed(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    handler = Recorded()
    with capture_logs() as logs:
        async with running_worker(settings, registry_with(sync={"contact": handler})):
            job_id = await enqueue(conn)
            assert job_id is not None
            row = await wait_status(conn, job_id, "completed")
    assert row["attempts"] == 1
    assert [j.id for j in handler.jobs] == [job_id]
    [done] = events(logs, "job.completed")
    assert done["job_id"] == str(job_id)
    assert done["queue"] == "sync"
    assert done["attempt"] == 1 and done["max_attempts"] == 5
    assert done["entity_type"] == "contact"
    assert "duration_ms" in done
    names = [e["event"] for e in logs]
    for name in ("daemon.started", "listener.connected", "daemon.ready", "daemon.stopping"):
        assert name in names
    assert names[-1] == "daemon.stopped"


async def test_unknown_entity_type_fails_alone_with_a_clear_message(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    handler = Recorded()
    async with running_worker(settings, registry_with(sync={"contact": handler})):
        bad = await enqueue(conn, entity_type="spaceship")
        good = [await enqueue(conn) for _ in range(5)]
        row = await wait_status(conn, bad, "failed")
        for job_id in good:
            await wait_status(conn, job_id, "completed")
    assert row["attempts"] == 1
    assert row["error_message"] == (
        "unknown entity type 'spaceship': no handler is registered for it (known: contact)"
    )


async def test_unknown_operation_fails_alone(database_url: str, conn: asyncpg.Connection) -> None:
    settings = make_settings(database_url)
    doc = await conn.fetchval("INSERT INTO documents (filename) VALUES ('a') RETURNING id")
    bad = await conn.fetchval(
        "INSERT INTO document_processing_queue (document_id, operation) "
        "VALUES ($1, 'teleport') RETURNING id",
        doc,
    )
    async with running_worker(settings, registry_with(documents={"extract": Recorded()})):
        row = await wait_status(conn, bad, "failed", table="document_processing_queue")
    assert row["error_message"].startswith("unknown operation 'teleport'")


async def test_retryable_failure_is_scheduled_and_logged(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    async def boom(job: Job) -> None:
        raise ConnectionResetError("remote hung up")

    with capture_logs() as logs:
        async with running_worker(settings, registry_with(sync={"contact": Recorded(boom)})):
            job_id = await enqueue(conn)
            row = await wait_for(
                lambda: conn.fetchrow(
                    "SELECT * FROM sync_queue WHERE id = $1 AND error_message IS NOT NULL",
                    job_id,
                )
            )
    assert row["status"] == "pending"
    assert row["attempts"] == 1
    assert row["error_message"] == "ConnectionResetError: remote hung up"
    assert row["next_retry"] - row["last_attempt"] >= timedelta(seconds=59)
    [event] = events(logs, "job.retry_scheduled")
    assert event["error"] == "ConnectionResetError: remote hung up"
    assert event["next_retry"] == row["next_retry"].isoformat()


async def test_permanent_failure_and_rate_limit_snooze(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    until = datetime.now(UTC) + timedelta(minutes=10)

    async def behave(job: Job) -> None:
        if job.payload.get("case") == "permanent":
            raise PermanentError("invalid email")
        raise RateLimited("budget exhausted", until)

    with capture_logs() as logs:
        async with running_worker(settings, registry_with(sync={"contact": Recorded(behave)})):
            dead = await enqueue(conn, payload={"case": "permanent"})
            snoozed = await enqueue(conn, payload={"case": "limit"})
            await wait_status(conn, dead, "failed")
            await wait_for(
                lambda: conn.fetchval(
                    "SELECT next_retry IS NOT NULL FROM sync_queue WHERE id = $1", snoozed
                )
            )
    row = await job_row(conn, snoozed)
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert abs(row["next_retry"] - until) < timedelta(milliseconds=1)
    assert events(logs, "job.failed")[0]["error"] == "invalid email"
    assert events(logs, "job.snoozed")[0]["job_id"] == str(snoozed)


async def test_a_job_past_its_timeout_is_cancelled_and_retried(
    database_url: str, conn: asyncpg.Connection
) -> None:
    settings = make_settings(database_url, queues={"sync": {"timeout": 0.3}})

    async def hang(job: Job) -> None:
        await asyncio.sleep(3600)

    with capture_logs() as logs:
        async with running_worker(settings, registry_with(sync={"contact": Recorded(hang)})):
            job_id = await enqueue(conn)
            await wait_for(
                lambda: conn.fetchval("SELECT error_message FROM sync_queue WHERE id = $1", job_id)
            )
    row = await job_row(conn, job_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["error_message"] == "timed out after 0.3 s"
    assert events(logs, "job.timed_out")


async def test_shutdown_releases_unfinished_jobs_without_counting_them(
    database_url: str, conn: asyncpg.Connection
) -> None:
    settings = make_settings(database_url, daemon={"shutdown_grace": 0.2})
    started = asyncio.Event()

    async def slow(job: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    with capture_logs() as logs:
        async with running_worker(settings, registry_with(sync={"contact": Recorded(slow)})):
            job_id = await enqueue(conn)
            await asyncio.wait_for(started.wait(), 20)
    row = await job_row(conn, job_id)
    assert (row["status"], row["attempts"], row["worker_id"]) == ("pending", 0, None)
    assert events(logs, "job.released")[0]["job_id"] == str(job_id)


async def test_running_jobs_finish_within_the_grace(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    started = asyncio.Event()

    async def brief(job: Job) -> None:
        started.set()
        await asyncio.sleep(0.3)

    async with running_worker(settings, registry_with(sync={"contact": Recorded(brief)})):
        job_id = await enqueue(conn)
        await asyncio.wait_for(started.wait(), 20)
    assert (await job_row(conn, job_id))["status"] == "completed"


async def test_once_drains_what_is_due_and_exits(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    from syncd.worker import Worker

    ids = [await enqueue(conn) for _ in range(30)]
    later = await enqueue(conn, next_retry=datetime.now(UTC) + timedelta(hours=1))
    worker = Worker(settings, registry_with(sync={"contact": Recorded()}), once=True)
    await asyncio.wait_for(worker.run(), 60)
    statuses = await conn.fetch("SELECT id, status FROM sync_queue")
    done = {r["id"] for r in statuses if r["status"] == "completed"}
    assert done == set(ids)
    assert (await job_row(conn, later))["status"] == "pending"


async def test_a_retry_runs_when_it_falls_due_without_any_notification(
    database_url: str, conn: asyncpg.Connection
) -> None:
    settings = make_settings(database_url, database={"listen": False}, daemon={"poll_interval": 60})
    handler = Recorded()
    job_id = await enqueue(conn, next_retry=datetime.now(UTC) + timedelta(seconds=1))
    async with running_worker(settings, registry_with(sync={"contact": handler})):
        await wait_status(conn, job_id, "completed")
    assert len(handler.jobs) == 1


async def test_a_flood_of_documents_does_not_starve_syncs(
    database_url: str, conn: asyncpg.Connection
) -> None:
    settings = make_settings(
        database_url,
        daemon={"concurrency": 4},
        queues={"sync": {"concurrency": 4}, "documents": {"concurrency": 4}},
    )
    release = asyncio.Event()

    async def stuck(job: Job) -> None:
        await release.wait()

    docs = [
        await conn.fetchval("INSERT INTO documents (filename) VALUES ('f') RETURNING id")
        for _ in range(50)
    ]
    await conn.executemany(
        "INSERT INTO document_processing_queue (document_id, operation) VALUES ($1, 'extract')",
        [(d,) for d in docs],
    )
    sync_handler = Recorded()
    async with running_worker(
        settings,
        registry_with(sync={"contact": sync_handler}, documents={"extract": Recorded(stuck)}),
    ):
        job_id = await enqueue(conn)
        await wait_status(conn, job_id, "completed")
        release.set()
    assert len(sync_handler.jobs) == 1


async def test_handler_state_is_independent_per_job(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    entity = uuid.uuid4()
    seen: list[uuid.UUID] = []

    async def note(job: Job) -> None:
        assert job.entity_id is not None
        seen.append(job.entity_id)

    async with running_worker(settings, registry_with(sync={"contact": Recorded(note)})):
        job_id = await enqueue(conn, entity_id=entity)
        await wait_status(conn, job_id, "completed")
    assert seen == [entity]
