"""What an operator or an application does to jobs from outside the daemon:
enqueue, retry, cancel, purge. The CLI calls these; so can Python code."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from syncd import queries
from syncd.queues import Queue, named

# The queue an operator named (a clear error for any other word).
queue_named = named


class JobNotFound(Exception):
    pass


async def enqueue_sync(
    conn: asyncpg.Connection,
    entity_type: str,
    entity_id: uuid.UUID,
    *,
    operation: str = "upsert",
    direction: str = "to_monday",
    priority: int = 0,
    payload: dict[str, Any] | None = None,
) -> tuple[uuid.UUID, bool]:
    """Insert a sync job; returns (job id, merged into an existing pending job).

    The merge trigger re-issues a pending job's INSERT itself, so RETURNING gives
    nothing back: the job is found by its entity afterwards.
    """
    args = (entity_type, entity_id, direction)
    find = queries.load("find_pending_sync")
    async with conn.transaction():
        before = await conn.fetchval(find, *args)
        await conn.execute(queries.load("enqueue_sync"), *args, operation, priority, payload or {})
        after: uuid.UUID = await conn.fetchval(find, *args)
    return after, before is not None and before == after


async def enqueue_document(
    conn: asyncpg.Connection, document_id: uuid.UUID, operation: str, *, priority: int = 0
) -> uuid.UUID:
    job_id: uuid.UUID = await conn.fetchval(
        queries.load("enqueue_document"), document_id, operation, priority
    )
    return job_id


async def _status_of(conn: asyncpg.Connection, queue: Queue, job_id: uuid.UUID) -> str:
    status: str | None = await conn.fetchval(queue.sql("job_status"), job_id)
    if status is None:
        raise JobNotFound(f"no job {job_id} in the {queue.name} queue")
    return status


async def retry(conn: asyncpg.Connection, queue: Queue, job_id: uuid.UUID) -> None:
    """Make one job due now (failed, cancelled or waiting for a retry)."""
    try:
        done = await conn.fetchval(queue.sql("retry_job"), job_id)
    except asyncpg.UniqueViolationError:
        raise ValueError(
            f"job {job_id}: its entity already has a pending job; that one will run instead"
        ) from None
    if done is None:
        status = await _status_of(conn, queue, job_id)
        raise ValueError(f"job {job_id} is {status}; only failed, cancelled or pending jobs retry")


async def cancel(conn: asyncpg.Connection, queue: Queue, job_id: uuid.UUID) -> None:
    done = await conn.fetchval(queue.sql("cancel_job"), job_id)
    if done is None:
        status = await _status_of(conn, queue, job_id)
        raise ValueError(f"job {job_id} is {status}; only pending or failed jobs can be cancelled")
