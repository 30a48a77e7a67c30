"""Shared test helpers: rows to work on, an in-process daemon, and waiting for rows."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from syncd.config import Settings
from syncd.handlers import DOCUMENTS, SYNC, Context, Handler, Job, Registry


async def add_contact(conn: asyncpg.Connection, **fields: Any) -> uuid.UUID:
    values = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", **fields}
    cols = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    row_id: uuid.UUID = await conn.fetchval(
        f"INSERT INTO contacts ({cols}) VALUES ({params}) RETURNING id", *values.values()
    )
    return row_id


async def add_document(conn: asyncpg.Connection, storage_path: str = "a.txt") -> uuid.UUID:
    doc_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO documents (filename, content_type, storage_path) "
        "VALUES ($1, 'text/plain', $1) RETURNING id",
        storage_path,
    )
    return doc_id


async def enqueue(
    conn: asyncpg.Connection,
    entity_type: str = "contact",
    entity_id: uuid.UUID | None = None,
    **columns: Any,
) -> uuid.UUID | None:
    """A plain INSERT, as an application makes it; returns the job it made or merged into."""
    values = {"entity_type": entity_type, "entity_id": entity_id or uuid.uuid4(), **columns}
    cols = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    job_id: uuid.UUID | None = await conn.fetchval(
        f"INSERT INTO sync_queue ({cols}) VALUES ({params}) RETURNING id", *values.values()
    )
    if job_id is None:  # a pending job: the merge trigger inserted (or merged) it
        job_id = await conn.fetchval(
            # A daemon may have claimed it already: the newest job for the entity.
            "SELECT id FROM sync_queue WHERE entity_type = $1 AND entity_id = $2 "
            "AND direction = $3 ORDER BY status = 'pending' DESC, created_at DESC LIMIT 1",
            values["entity_type"],
            values["entity_id"],
            values.get("direction", "to_monday"),
        )
    return job_id


async def job_row(conn: asyncpg.Connection, job_id: uuid.UUID, table: str = "sync_queue") -> Any:
    return await conn.fetchrow(f"SELECT * FROM {table} WHERE id = $1", job_id)


async def wait_for(
    check: Callable[[], Awaitable[Any]], timeout: float = 20.0, every: float = 0.02
) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout`.

    The timeout is a hang guard, not a speed claim: nothing here asserts timing.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(every)


async def wait_status(
    conn: asyncpg.Connection,
    job_id: uuid.UUID,
    status: str,
    table: str = "sync_queue",
    timeout: float = 20.0,
) -> Any:
    async def check() -> Any:
        row = await job_row(conn, job_id, table)
        return row if row is not None and row["status"] == status else None

    return await wait_for(check, timeout)


def registry_with(
    sync: dict[str, Handler] | None = None, documents: dict[str, Handler] | None = None
) -> Registry:
    registry = Registry()
    for kind, handler in (sync or {}).items():
        registry.add(SYNC, kind, handler)
    for kind, handler in (documents or {}).items():
        registry.add(DOCUMENTS, kind, handler)
    return registry


class Recorded:
    """A handler that records the jobs it saw and runs `behaviour` for each."""

    def __init__(self, behaviour: Callable[[Job], Awaitable[None]] | None = None) -> None:
        self.jobs: list[Job] = []
        self.behaviour = behaviour

    async def __call__(self, job: Job, ctx: Context) -> None:
        self.jobs.append(job)
        if self.behaviour is not None:
            await self.behaviour(job)


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, registry: Registry, once: bool = False
) -> AsyncIterator[Any]:
    from syncd.worker import Worker

    worker = Worker(settings, registry, once=once)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=60)


def events(captured: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in captured if e.get("event") == name]


capture_logs = structlog.testing.capture_logs
