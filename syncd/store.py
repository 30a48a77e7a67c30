"""The queue statements, bound to one worker id: claim, write outcomes, rescue, prune.

Every write of an attempt's outcome is fenced on (worker, attempt): it only lands
while the row is still that worker's attempt. A worker that froze past
`rescue_after` and wakes up finds its writes refused instead of overwriting the
newer attempt's outcome.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from syncd import db
from syncd.job import Job
from syncd.outcomes import COMPLETED, FAILED, RELEASED, RETRY, SNOOZED, Outcome
from syncd.queues import Queue


def _sparse(values: list[Any]) -> list[Any] | None:
    """A column of the outcomes' arrays, or NULL when it holds nothing but NULLs.

    unnest pads a NULL array with NULLs, so a batch of completions sends no error,
    delay or snooze columns: asyncpg checks every element of an array it encodes,
    and those checks were a tenth of the daemon's time on no-op jobs."""
    return values if any(v is not None for v in values) else None


@dataclass(frozen=True, slots=True)
class Written:
    """What the database made of one outcome: the row's status and retry time."""

    id: uuid.UUID
    attempt: int
    status: str
    next_retry: datetime | None
    outcome: str  # as its history entry says: completed, retry, failed, timed_out...
    # Written by an earlier try of the same write whose reply was lost.
    already: bool
    # The newer pending job of its entity it was folded into, if it was: it is then
    # `cancelled`, and next_retry is that job's (when its entity's work is due; None
    # where an earlier try of the write did the folding).
    merged_into: uuid.UUID | None


class Rescued(NamedTuple):
    """A job taken back: the attempt as it was, the row's new status, why, and the
    newer pending job of its entity it was folded into, if it was."""

    job: Job
    status: str
    error: str
    merged_into: uuid.UUID | None


def _rescued(queue: Queue, row: asyncpg.Record) -> Rescued:
    # rescue.sql and rescue_forgotten.sql return the row, and the rescue's own words
    # (the row's error_message names the job it went into, when it was folded).
    return Rescued(queue.job(row), row["outcome"], row["reason"], row["merged_into"])


class Store:
    def __init__(self, pool: asyncpg.Pool, worker_id: uuid.UUID) -> None:
        self.pool = pool
        self.worker_id = worker_id
        # The pool connection the fetch loop keeps for its claims while it runs
        # (`keeping_a_connection`; one claim at a time, so one connection):
        # asyncpg's acquire and release take a task and several turns of the event
        # loop, some 0.15 ms of a lone job's pickup.
        self._keep = False
        self._claiming: asyncpg.Connection | None = None

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with db.clean_connection(self.pool) as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows

    async def _execute(self, sql: str, *args: Any) -> str:
        async with db.clean_connection(self.pool) as conn:
            status: str = await conn.execute(sql, *args)
            return status

    async def claim(self, queue: Queue, limit: int, paused: Collection[str] = ()) -> list[Job]:
        """Claim up to `limit` due jobs, none of the kinds `paused`."""
        args = (self.worker_id, limit, list(paused))
        if self._keep:
            rows = await self._fetch_kept(queue.claim, *args)
        else:
            rows = await self._fetch(queue.claim, *args)
        # RETURNING has no order: run the claimed jobs in priority order.
        rows.sort(key=lambda r: (-r["priority"], r["created_at"]))
        return [queue.job(row) for row in rows]

    @contextlib.asynccontextmanager
    async def keeping_a_connection(self) -> AsyncIterator[None]:
        """Within: claims, made one at a time, keep one pool connection between
        them, given back when it ends (before the pool closes)."""
        self._keep = True
        try:
            yield
        finally:
            self._keep = False
            await self._let_go()

    async def _fetch_kept(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = self._claiming
        if conn is None:
            conn = self._claiming = await self.pool.acquire()
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        except BaseException as exc:
            # A statement the server refused leaves the connection as good as before.
            # One lost (the server's FATAL is a PostgresError too) or cut off
            # mid-statement goes back to the pool, to be closed or reset, and the
            # next claim takes another.
            if not isinstance(exc, asyncpg.PostgresError) or conn.is_closed():
                await self._let_go()
            raise
        return rows

    async def _let_go(self) -> None:
        conn, self._claiming = self._claiming, None
        if conn is not None:
            # A connection that fails its reset is closed by the pool: nothing to add.
            with contextlib.suppress(Exception):
                await self.pool.release(conn)

    async def write(
        self, queue: Queue, batch: Sequence[tuple[Job, Outcome]]
    ) -> dict[tuple[uuid.UUID, int], Written]:
        """Write a batch of outcomes (write_outcomes.sql), keyed by (job id, attempt).

        An attempt missing from the answer was fenced off: rescued from us.
        """
        outcomes = [o for _, o in batch]
        # A batch of completions has no kinds but `completed` and no errors, delays
        # or snoozes: those columns go as NULL arrays (see _sparse; asyncpg checks
        # every element it encodes), decided once rather than per column.
        plain = all(o.kind == COMPLETED and not o.timed_out for o in outcomes)
        rows = await self._fetch(
            queue.sql("write_outcomes"),
            self.worker_id,
            [job.id for job, _ in batch],
            [job.attempt for job, _ in batch],
            None if plain else [o.kind for o in outcomes],
            None if plain else _sparse([o.delay_s for o in outcomes]),
            None if plain else _sparse([o.until for o in outcomes]),
            None if plain else _sparse([o.error for o in outcomes]),
            [o.duration_ms for o in outcomes],
            None if plain else _sparse([o.timed_out or None for o in outcomes]),
        )
        # The columns in Written's order (write_outcomes.sql's SELECT).
        return {(r["id"], r["attempt"]): Written(*r) for r in rows}

    # One outcome at a time, for operators' scripts and tests.

    async def _one(self, queue: Queue, job: Job, outcome: Outcome) -> Written | None:
        return (await self.write(queue, [(job, outcome)])).get((job.id, job.attempt))

    async def complete(self, queue: Queue, jobs: list[Job]) -> set[uuid.UUID]:
        written = await self.write(queue, [(job, Outcome(COMPLETED)) for job in jobs])
        return {job_id for job_id, _ in written}

    async def retry(self, queue: Queue, job: Job, delay: float, error: str) -> Written | None:
        return await self._one(queue, job, Outcome(RETRY, error, delay_s=delay))

    async def fail(self, queue: Queue, job: Job, error: str) -> Written | None:
        return await self._one(queue, job, Outcome(FAILED, error, permanent=True))

    async def snooze(self, queue: Queue, job: Job, until: datetime, why: str) -> Written | None:
        return await self._one(queue, job, Outcome(SNOOZED, why, until=until))

    async def release(self, queue: Queue, jobs: list[Job]) -> set[uuid.UUID]:
        written = await self.write(queue, [(job, Outcome(RELEASED)) for job in jobs])
        return {job_id for job_id, _ in written}

    async def rescue(self, queue: Queue, rescue_after: float) -> list[Rescued]:
        """Take back jobs of dead workers (rescue.sql)."""
        rows = await self._fetch(queue.sql("rescue"), rescue_after, self.worker_id)
        return [_rescued(queue, r) for r in rows]

    async def rescue_forgotten(
        self, queue: Queue, claimed_before: datetime, held: Collection[uuid.UUID]
    ) -> list[Rescued]:
        """Take back jobs marked ours that we do not hold (rescue_forgotten.sql)."""
        sql = queue.sql("rescue_forgotten")
        rows = await self._fetch(sql, claimed_before, self.worker_id, list(held))
        return [_rescued(queue, r) for r in rows]

    async def prune(self, queue: Queue, status: str, older_than: float, batch: int) -> int:
        result = await self._execute(queue.sql("prune"), status, older_than, batch)
        return int(result.split()[-1])
