"""Drift reconciliation (SPEC §11): the board compared with the rows, what differs
enqueued.

Drift is what no job brought: a value changed on the board while no webhook was
installed, a push lost before syncd existed, a row changed by a bulk SQL update that
enqueued nothing. A reconcile compares each linked row with its item as a backfill
does (`backfill.compare`, mode "reconcile": no adoption by the match field, no new
items for rows never linked), logs each difference as ``monday.drift``, enqueues the
push or the pull that repairs it, and records its counts for ``syncd status``.

Only one process reconciles at a time: a PostgreSQL advisory lock, held on a
connection of its own for the run, so two daemons (or a daemon and
``syncd monday reconcile``) never page the same boards twice.

`Reconciler` is the periodic run in the daemon (``[monday.reconcile] every``): a
`syncd.handlers.Service` the monday handler's install registers. Its `run_once`
returns what it did, so tests drive it without waiting on the clock.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from syncd import queries
from syncd.handlers.monday import backfill
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.periodic import Periodic
from syncd.handlers.monday.settings import EntityMapping, MondaySettings

if TYPE_CHECKING:
    import asyncpg

log = structlog.get_logger("syncd.monday")


@dataclass(frozen=True, slots=True)
class Reconciled:
    plan: backfill.Plan
    enqueued: int

    @property
    def checked(self) -> int:
        return len(self.plan.update) + len(self.plan.pull) + self.plan.unchanged

    @property
    def drifted(self) -> int:
        return len(self.plan.drift) + len(self.plan.stale)


class Busy(Exception):
    """Another process holds the reconcile lock."""


async def reconcile(
    pool: asyncpg.Pool,
    client: MondayClient,
    entity_type: str,
    mapping: EntityMapping,
    *,
    dry_run: bool = False,
    priority: int = -10,
) -> Reconciled:
    """One entity type: compare, log the drift, repair it (unless `dry_run`), record."""
    started = datetime.now(UTC)
    plan = await backfill.compare(pool, client, entity_type, mapping, mode="reconcile")
    for entity_id, what in plan.drift.items():
        log.info(
            "monday.drift",
            entity_type=entity_type,
            entity_id=str(entity_id),
            repair="pull" if entity_id in plan.pull else "push",
            **what,
        )
    for entity_id in plan.stale:
        log.info(
            "monday.drift",
            entity_type=entity_type,
            entity_id=str(entity_id),
            repair="push",
            reason="the item is gone from the board",
        )
    enqueued = 0
    if not dry_run:
        done = await backfill.carry_out(pool, client, mapping, plan, priority=priority)
        enqueued = done.enqueued
    result = Reconciled(plan, enqueued)
    await pool.execute(
        queries.load("monday_reconcile_record"),
        entity_type,
        mapping.board_id,
        started,
        result.checked,
        result.drifted,
        enqueued,
        dry_run,
    )
    log.info(
        "monday.reconciled",
        entity_type=entity_type,
        checked=result.checked,
        drifted=result.drifted,
        enqueued=enqueued,
        dry_run=dry_run,
    )
    return result


@contextlib.asynccontextmanager
async def exclusive(pool: asyncpg.Pool):  # type: ignore[no-untyped-def]
    """Hold the reconcile lock for the block; Busy when another process has it."""
    async with pool.acquire() as conn:
        if not await conn.fetchval(queries.load("monday_reconcile_lock")):
            raise Busy("another syncd process is reconciling right now")
        try:
            yield
        finally:
            await conn.fetchval(queries.load("monday_reconcile_unlock"))


class Reconciler:
    """The periodic reconcile of every mapped entity type (a `Service`).

    Its turns run in a `Periodic` (periodic.py says why not a `syncd.loops.Loop`): a
    failed turn is logged and the next period tries again. It is a `Service`, started
    with the pool and stopped with the handlers' services, whose first turn comes
    `every` after the start rather than at once.
    """

    def __init__(self, settings: MondaySettings, client: MondayClient) -> None:
        assert settings.reconcile.every is not None
        self.settings = settings
        self.client = client
        self.every = settings.reconcile.every
        self._pool: asyncpg.Pool | None = None
        self._periodic = Periodic(
            "monday-reconcile", self.every, self.run_once, "monday.reconcile_failed"
        )

    def __repr__(self) -> str:
        return f"Reconciler(every={self.every:g}s)"

    async def start(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def run_once(self) -> dict[str, Reconciled] | None:
        """Reconcile every entity type; None when another process holds the lock."""
        assert self._pool is not None, "Reconciler.start() was not called"
        try:
            async with exclusive(self._pool):
                return {
                    entity_type: await reconcile(
                        self._pool,
                        self.client,
                        entity_type,
                        mapping,
                        priority=self.settings.reconcile.priority,
                    )
                    for entity_type, mapping in self.settings.entities.items()
                }
        except Busy:
            log.info("monday.reconcile_skipped", reason="another syncd process is reconciling")
            return None
