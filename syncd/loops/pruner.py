"""Retention: deletes completed and cancelled jobs past their age, in small batches.

Failed jobs are never pruned: they wait for an operator (`syncd retry`,
`syncd cancel`). Workers long gone are forgotten here too.
"""

from __future__ import annotations

import asyncio

import asyncpg

from syncd import logs, queries
from syncd.config import Settings
from syncd.db import CONNECTION_ERRORS
from syncd.errors import describe
from syncd.loops import Every, Loop
from syncd.queues import QUEUES
from syncd.store import Store

FORGET_WORKERS_AFTER = 86400.0


async def prune(store: Store, settings: Settings) -> dict[str, int]:
    """One full pass; returns the rows deleted per queue."""
    r = settings.retention
    deleted: dict[str, int] = {}
    for queue in QUEUES.values():
        total = 0
        for status, age in (("completed", r.completed_after), ("cancelled", r.cancelled_after)):
            while True:
                n = await store.prune(queue, status, age, r.batch_size)
                total += n
                if n < r.batch_size:
                    break
                await asyncio.sleep(0)  # let jobs run between batches
        deleted[queue.name] = total
    return deleted


class Pruner(Loop):
    name = "pruner"

    def __init__(self, settings: Settings, store: Store, pool: asyncpg.Pool) -> None:
        self._settings = settings
        self._store = store
        self._pool = pool
        self._cadence = Every(settings.retention.interval)
        self._log = logs.get()

    async def wait(self) -> None:
        await self._cadence()

    async def run_once(self) -> None:
        try:
            deleted = await prune(self._store, self._settings)
            await self._pool.execute(queries.load("prune_workers"), FORGET_WORKERS_AFTER)
        except CONNECTION_ERRORS as exc:
            self._log.warning("pruner.failed", error=describe(exc))
        else:
            if any(deleted.values()):
                self._log.info("jobs.pruned", **{f"{q}_deleted": n for q, n in deleted.items()})
