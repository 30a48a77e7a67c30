"""The pacer's view of monday's budgets, reported to the database for the console.

The pacer (pacing.py) learns where each budget stands from monday's answers, but
only in this process's memory; ``syncd web`` and ``syncd status`` are other
processes. So a client with a pool reports its budgets to ``monday_budgets`` (one
row per token and budget; migration 0015), and they read them there.

The report is a side loop of the client, never a step of a call: a request does not
wait for it and cannot fail because of it. Every `EVERY` seconds it looks at the
pacer (a few numbers in memory) and writes, in one statement, only the budgets that
changed since its last write; an idle daemon writes nothing. A failed write is
logged (``monday.budget_write_failed``, at most once a minute) and tried again at
the next look.

A window whose reset has passed is refilled, whatever the last answer said; the
pacer notices only at its next call. The row keeps the reset's time, so a reader
can tell a spent budget from one that has refilled since (monday_budgets.sql).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from syncd import queries
from syncd.errors import describe
from syncd.handlers.monday.pacing import Pacer
from syncd.handlers.monday.periodic import Periodic

if TYPE_CHECKING:
    import asyncpg

log = structlog.get_logger("syncd.monday")

# Seconds between looks at the pacer. Fixed, not a config key: monday's windows last
# a minute, so 5 s shows a budget moving, and a report costs one small upsert at
# most (none when nothing changed), so no deployment needs another figure.
EVERY = 5.0
# A database that refuses the reports is logged once a minute, not at every look.
WARN_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class Reading:
    """One budget as the pacer sees it; what is compared between looks."""

    budget: str
    remaining: float | None  # None: refilled to a level no answer has told yet
    limit: float | None
    reset_at: float | None  # the pacer's clock (monotonic); None: not known yet


def readings(pacer: Pacer) -> dict[str, Reading]:
    """What the pacer knows now, budget by budget, without changing it."""
    return {
        name: Reading(
            name,
            None if math.isinf(b.remaining) else b.remaining,
            b.limit,
            None if math.isinf(b.reset_hi) else b.reset_hi,  # the pacer waits for the latest
        )
        for name, b in pacer.budgets.items()
    }


class BudgetReporter:
    """The client's side loop that reports its pacer's budgets (see the module's doc)."""

    def __init__(
        self, pool: asyncpg.Pool, pacer: Pacer, token_id: str, reporter: str, every: float = EVERY
    ) -> None:
        self.pool = pool
        self.pacer = pacer
        self.token_id = token_id
        self.reporter = reporter
        self.every = every
        self._written: dict[str, Reading] = {}
        self._warned_at = -math.inf
        # run_once logs its own failures; the event is for what slips past it.
        self._periodic = Periodic(
            "monday-budgets", every, self.run_once, "monday.budget_write_failed"
        )

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        """End the loop; no report is written once this returns."""
        await self._periodic.stop()

    async def run_once(self) -> int:
        """Write the budgets that changed since the last write; how many. Never raises
        (but for cancellation): a failure is logged and retried at the next look."""
        changed = [r for name, r in readings(self.pacer).items() if self._written.get(name) != r]
        if not changed:
            return 0
        now = self.pacer.clock()
        try:
            await self.pool.execute(
                queries.load("monday_budget_report"),
                self.token_id,
                self.reporter,
                [r.budget for r in changed],
                [r.remaining for r in changed],
                [r.limit for r in changed],
                [None if r.reset_at is None else r.reset_at - now for r in changed],
                timeout=self.every,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database's trouble is not the job's
            self._failed(exc)
            return 0
        self._written.update((r.budget, r) for r in changed)
        return len(changed)

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at < WARN_EVERY:
            return
        self._warned_at = now
        log.warning("monday.budget_write_failed", error=describe(exc), retry_in_s=self.every)
