"""A handler steers its job's outcome: a returned snooze, its own backoff (SPEC §4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from syncd.config import Settings
from syncd.errors import RetryableError, Snooze
from syncd.handlers import Context, Job
from tests.support import capture_logs, enqueue, events, registry_with, running_worker, wait_for

LATER = datetime.now(UTC) + timedelta(hours=2)


async def not_yet(job: Job, ctx: Context) -> Snooze:
    return Snooze(LATER, "the upload is still landing")


class Flaky:
    """Fails every time, and chooses how long its jobs wait: 42 s per attempt."""

    async def __call__(self, job: Job, ctx: Context) -> None:
        raise RetryableError("HTTP 503")

    def backoff(self, job: Job) -> float:
        return 42.0 * job.attempt


async def test_a_returned_snooze_reschedules_without_counting_the_attempt(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    job_id = await enqueue(conn, "upload")
    with capture_logs() as logs:
        async with running_worker(settings, registry_with({"upload": not_yet})):
            await wait_for(lambda: _logged(logs, "job.snoozed"))
    row = await conn.fetchrow("SELECT * FROM sync_queue WHERE id = $1", job_id)
    assert (row["status"], row["attempts"], row["next_retry"]) == ("pending", 0, LATER)
    assert row["error_message"] == "the upload is still landing"
    assert [e["outcome"] for e in row["attempts_log"]] == ["snoozed"]


async def test_a_handler_chooses_the_backoff_of_its_jobs(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    job_id = await enqueue(conn, "flaky")
    with capture_logs() as logs:
        async with running_worker(settings, registry_with({"flaky": Flaky()})):
            await wait_for(lambda: _logged(logs, "job.retry_scheduled"))
    row = await conn.fetchrow(
        "SELECT next_retry - (attempts_log -> -1 ->> 'at')::timestamptz AS wait"
        " FROM sync_queue WHERE id = $1",
        job_id,
    )
    assert row["wait"] == timedelta(seconds=42)


async def _logged(logs: list[dict[str, object]], name: str) -> bool:
    return bool(events(logs, name))
