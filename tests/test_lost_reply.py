"""An outcome whose write committed but whose reply was lost is recognised, not fenced.

The connection is cut between the commit and its reply: a proxy lets the write
through, withholds the server's answer until its ReadyForQuery shows the
statement committed, then resets the connection. The writer tries again, finds
the row no longer its own, and must still report what it wrote.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from syncd import db
from syncd.job import Job
from syncd.loops.rescuer import Holdings
from syncd.loops.writer import OutcomeWriter
from syncd.outcomes import COMPLETED, FAILED, RELEASED, RETRY, SNOOZED, Outcome
from syncd.queues import SYNC_QUEUE, Queue
from syncd.store import Store, Written
from tests.faults.proxy import Proxy
from tests.support import capture_logs, enqueue, events, job_row, make_settings, wait_for


class WatchedStore(Store):
    """A Store that keeps every answer to its writes, to see the second one."""

    answers: list[dict[tuple[uuid.UUID, int], Written]]

    async def write(
        self, queue: Queue, batch: Sequence[tuple[Job, Outcome]]
    ) -> dict[tuple[uuid.UUID, int], Written]:
        answer = await super().write(queue, batch)
        self.answers.append(answer)
        return answer


@pytest.fixture
async def proxied_pool(database_url: str) -> AsyncIterator[tuple[Proxy, asyncpg.Pool]]:
    target = urlsplit(database_url)
    proxy = Proxy(target.hostname or "127.0.0.1", target.port or 5432)
    settings = make_settings(proxy.url(database_url))
    pool = await db.create_pool(settings)
    try:
        yield proxy, pool
    finally:
        pool.terminate()
        proxy.close()


async def watched_store(pool: asyncpg.Pool, conn: asyncpg.Connection) -> WatchedStore:
    store = WatchedStore(pool, uuid.uuid4())
    store.answers = []
    await conn.execute(
        "INSERT INTO syncd_workers (id, hostname, pid) VALUES ($1, 'test', 1)", store.worker_id
    )
    return store


async def write_losing_the_reply(
    proxy: Proxy, store: Store, job: Job, outcome: Outcome
) -> list[dict[str, Any]]:
    """Write `outcome` through the writer, losing the first reply; the log events."""
    holdings = Holdings()
    holdings.add("sync", [job])
    writer = OutcomeWriter(store, holdings, lambda *_: None)
    writing = writer.start()
    try:
        with capture_logs() as logs:
            # The write's answer is the next one to name the job (its id, binary).
            proxy.lose_reply(job.id.bytes)
            writer.submit(job, outcome)
            await wait_for(lambda: asyncio.sleep(0, result=not holdings.count()))
    finally:
        writing.cancel()
    assert events(logs, "db.write_failed"), "the reply was not lost"
    return logs


@pytest.mark.parametrize(
    ("outcome", "event"),
    [
        (Outcome(COMPLETED, duration_ms=1.0), "job.completed"),
        (Outcome(RETRY, "HTTP 503", delay_s=60, duration_ms=1.0), "job.retry_scheduled"),
        (Outcome(FAILED, "entity gone", permanent=True, duration_ms=1.0), "job.failed"),
        (
            Outcome(SNOOZED, "HTTP 429", until=datetime.now(UTC) + timedelta(hours=1)),
            "job.snoozed",
        ),
        (Outcome(RELEASED), "job.released"),
        (Outcome(RETRY, "timed out after 1 s", delay_s=60, timed_out=True), "job.retry_scheduled"),
    ],
)
async def test_a_write_whose_reply_was_lost_logs_its_outcome_not_fenced(
    proxied_pool: tuple[Proxy, asyncpg.Pool],
    conn: asyncpg.Connection,
    outcome: Outcome,
    event: str,
) -> None:
    proxy, pool = proxied_pool
    store = await watched_store(pool, conn)
    job_id = await enqueue(conn)
    [job] = await store.claim(SYNC_QUEUE, 1)
    logs = await write_losing_the_reply(proxy, store, job, outcome)
    assert [e["job_id"] for e in events(logs, event)] == [str(job_id)]
    assert events(logs, "job.fenced") == []
    # The second try found the first one's write: once, and only once, in the row.
    [answer] = store.answers
    assert answer[(job.id, job.attempt)].already
    row = await job_row(conn, job_id)
    assert len(row["attempts_log"]) == 1
    assert row["worker_id"] is None


async def test_a_folded_write_whose_reply_was_lost_logs_the_merge(
    proxied_pool: tuple[Proxy, asyncpg.Pool], conn: asyncpg.Connection
) -> None:
    """A retry folded into its entity's newer pending job (write_outcomes.sql) is
    recognised on the second try as well, the job it went into read from its history."""
    proxy, pool = proxied_pool
    store = await watched_store(pool, conn)
    entity = uuid.uuid4()
    job_id = await enqueue(conn, entity_id=entity)
    [job] = await store.claim(SYNC_QUEUE, 1)
    newer = await enqueue(conn, entity_id=entity)  # pending while the job runs
    logs = await write_losing_the_reply(
        proxy, store, job, Outcome(RETRY, "HTTP 503", delay_s=60, duration_ms=1.0)
    )
    [merged] = events(logs, "job.merged")
    assert (merged["job_id"], merged["merged_into"]) == (str(job_id), str(newer))
    assert events(logs, "job.fenced") == []
    [answer] = store.answers
    written = answer[(job.id, job.attempt)]
    assert (written.already, written.status, written.merged_into) == (True, "cancelled", newer)
    row = await job_row(conn, job_id)
    assert [e["outcome"] for e in row["attempts_log"]] == ["retry"]
    assert (await job_row(conn, newer))["status"] == "pending"
