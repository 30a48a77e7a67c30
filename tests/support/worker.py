"""An in-process worker with handlers made for the test, and its log events."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from syncd.config import Settings
from syncd.handlers import DOCUMENTS, SYNC, Context, Handler, Job, Registry
from syncd.store import Store


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


async def registered_store(pool: asyncpg.Pool) -> Store:
    """A Store of a worker that has its row, as a running daemon's has: claims need one."""
    store = Store(pool, uuid.uuid4())
    await pool.execute(
        "INSERT INTO syncd_workers (id, hostname, pid) VALUES ($1, 'test', 1)", store.worker_id
    )
    return store


def events(captured: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in captured if e.get("event") == name]


capture_logs = structlog.testing.capture_logs
