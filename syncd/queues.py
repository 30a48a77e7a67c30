"""The two queues and the store: claim, complete, retry, fail, snooze, release, rescue.

Every write of an attempt's outcome is fenced on (worker, attempt): it only lands
while the row is still that worker's attempt. A worker that froze past
`rescue_after` and wakes up finds its writes refused instead of overwriting the
newer attempt's outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from syncd import db, queries
from syncd.handlers import DOCUMENTS, SYNC, Job


@dataclass(frozen=True, slots=True)
class Queue:
    name: str  # what operators type: `syncd retry sync ...`
    table: str
    channel: str


SYNC_QUEUE = Queue(SYNC, "sync_queue", "syncd_sync_queue")
DOCUMENT_QUEUE = Queue(DOCUMENTS, "document_processing_queue", "syncd_document_queue")
QUEUES = {q.name: q for q in (SYNC_QUEUE, DOCUMENT_QUEUE)}


def job_from_row(queue: Queue, row: asyncpg.Record | dict[str, Any]) -> Job:
    if queue.name == SYNC:
        return Job(
            queue=SYNC,
            id=row["id"],
            attempt=row["attempts"],
            max_attempts=row["max_attempts"],
            operation=row["operation"],
            entity_type=row["entity_type"],
            entity_id=row["entity_id"],
            direction=row["direction"],
            # Kept as it is, even when not an object: the worker fails such a job
            # with a message rather than run it on data the application never sent.
            payload=row["payload"],
        )
    return Job(
        queue=DOCUMENTS,
        id=row["id"],
        attempt=row["attempts"],
        max_attempts=row["max_attempts"],
        operation=row["operation"],
        document_id=row["document_id"],
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the database made of a failure: the row's new status and retry time."""

    status: str
    next_retry: datetime | None


class Store:
    """The queue statements, bound to one worker id."""

    def __init__(self, pool: asyncpg.Pool, worker_id: uuid.UUID) -> None:
        self.pool = pool
        self.worker_id = worker_id

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with db.clean_connection(self.pool) as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with db.clean_connection(self.pool) as conn:
            return await conn.fetchrow(sql, *args)

    async def _execute(self, sql: str, *args: Any) -> str:
        async with db.clean_connection(self.pool) as conn:
            status: str = await conn.execute(sql, *args)
            return status

    async def claim(self, queue: Queue, limit: int) -> list[Job]:
        rows = await self._fetch(queries.load(f"claim_{queue.name}"), self.worker_id, limit)
        # RETURNING has no order: run the claimed jobs in priority order.
        rows.sort(key=lambda r: (-r["priority"], r["created_at"]))
        return [job_from_row(queue, row) for row in rows]

    async def complete(self, queue: Queue, jobs: list[Job]) -> set[uuid.UUID]:
        """Record a batch of successes; return the ids written (the rest were fenced)."""
        rows = await self._fetch(
            queries.load("complete", queue.table),
            self.worker_id,
            [j.id for j in jobs],
            [j.attempt for j in jobs],
        )
        return {r["id"] for r in rows}

    async def retry(self, queue: Queue, job: Job, delay: float, error: str) -> Outcome | None:
        row = await self._fetchrow(
            queries.load("retry", queue.table),
            self.worker_id,
            job.id,
            job.attempt,
            delay,
            error,
        )
        return None if row is None else Outcome(row["status"], row["next_retry"])

    async def fail(self, queue: Queue, job: Job, error: str) -> Outcome | None:
        row = await self._fetchrow(
            queries.load("fail", queue.table),
            self.worker_id,
            job.id,
            job.attempt,
            error,
        )
        return None if row is None else Outcome(row["status"], None)

    async def snooze(self, queue: Queue, job: Job, until: datetime, why: str) -> Outcome | None:
        row = await self._fetchrow(
            queries.load("snooze", queue.table),
            self.worker_id,
            job.id,
            job.attempt,
            until,
            why,
        )
        return None if row is None else Outcome("pending", row["next_retry"])

    async def release(self, queue: Queue, jobs: list[Job]) -> set[uuid.UUID]:
        rows = await self._fetch(
            queries.load("release", queue.table),
            self.worker_id,
            [j.id for j in jobs],
            [j.attempt for j in jobs],
        )
        return {r["id"] for r in rows}

    async def rescue(self, queue: Queue, rescue_after: float) -> list[tuple[Job, str, str]]:
        """Take back jobs of dead workers: (job as it was, new status, message)."""
        rows = await self._fetch(queries.load("rescue", queue.table), rescue_after, self.worker_id)
        return _taken_back(queue, rows)

    async def rescue_forgotten(
        self, queue: Queue, claimed_before: datetime, held: Collection[uuid.UUID]
    ) -> list[tuple[Job, str, str]]:
        """Take back jobs marked ours that we do not hold (rescue_forgotten.sql)."""
        sql = queries.load("rescue_forgotten", queue.table)
        rows = await self._fetch(sql, claimed_before, self.worker_id, list(held))
        return _taken_back(queue, rows)

    async def prune(self, queue: Queue, status: str, older_than: float, batch: int) -> int:
        result = await self._execute(queries.load("prune", queue.table), status, older_than, batch)
        return int(result.split()[-1])


def _taken_back(queue: Queue, rows: list[asyncpg.Record]) -> list[tuple[Job, str, str]]:
    """A rescue's rows: (the job as it was, its new status, the message it was given)."""
    return [(job_from_row(queue, r), r["outcome"], r["error_message"]) for r in rows]
