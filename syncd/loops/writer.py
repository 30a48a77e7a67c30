"""The outcome writer: the one road from a decided outcome to its row and its log event.

Every outcome (completed, retry, failed, snoozed, released, timed out) is handed
to `submit` as a value (outcomes.decide) and written in batches, one statement
per queue and batch (write_outcomes.sql): while one batch is on its way to the
database the next one gathers, so a busy worker spends one round trip on many
outcomes and an idle one writes each at once.

A write is shielded from cancellation and retried through database outages: an
outcome the worker has decided is never dropped (if the process dies first, the
rescuer takes the job back). Only once written, or found fenced off, does the
job leave the worker's holdings and is its event logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from logging import INFO

import asyncpg

from syncd import logs
from syncd.backoff import Doubling, until_done
from syncd.db import TRANSIENT_ERRORS
from syncd.errors import describe
from syncd.job import Job
from syncd.loops import Loop
from syncd.loops.rescuer import Holdings
from syncd.outcomes import COMPLETED, FAILED, RELEASED, SNOOZED, Outcome
from syncd.queues import QUEUES, Queue, job_fields
from syncd.store import Store, Written

Batch = list[tuple[Job, Outcome]]
# (queue, [(kind, outcome as in attempts_log, seconds or None)]): Metrics.outcomes.
Counted = Callable[[str, list[tuple[str, str, float | None]]], None]


def _counted(
    queue: Queue, batch: Batch, rows: list[Written | None]
) -> list[tuple[str, str, float | None]]:
    # A fenced outcome (row None) was never written: the newer attempt counts.
    return [
        (queue.kind(job), row.outcome, None if o.duration_ms is None else o.duration_ms / 1000)
        for (job, o), row in zip(batch, rows, strict=True)
        if row is not None
    ]


class OutcomeWriter(Loop):
    name = "writer"

    def __init__(
        self,
        store: Store,
        holdings: Holdings,
        on_written: Callable[[Queue, datetime | None], None],
        count: Counted | None = None,
    ) -> None:
        """`on_written(queue, due_again)` hears of each batch once written (or fenced),
        with the earliest time one of its jobs is due again;
        `count` of each batch written, for the metrics (Metrics.outcomes)."""
        self._store = store
        self._count = count
        self._holdings = holdings
        self._on_written = on_written
        self._log = logs.get()
        self._waiting: dict[str, Batch] = {name: [] for name in QUEUES}
        self._writing = 0  # outcomes on their way to the database
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def holding(self) -> int:
        """Outcomes decided here and not written yet."""
        return self._writing + sum(map(len, self._waiting.values()))

    def submit(self, job: Job, outcome: Outcome) -> None:
        """Hand over an attempt's outcome; it is written with the next batch."""
        self._waiting[job.queue].append((job, outcome))
        self._idle.clear()
        self._arrived.set()

    async def wait(self) -> None:
        await self._arrived.wait()
        self._arrived.clear()

    async def run_once(self) -> None:
        """Write whatever has gathered, one statement per queue."""
        for name, batch in self._waiting.items():
            if not batch:
                continue
            self._waiting[name] = []
            self._writing += len(batch)
            try:
                await asyncio.shield(self._write(QUEUES[name], batch))
            finally:
                self._writing -= len(batch)
        if self.holding == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Until every decided outcome is written (shutdown, `--once`)."""
        while self.holding:
            self._arrived.set()
            await self._idle.wait()

    async def _write(self, queue: Queue, batch: Batch, again: bool = False) -> None:
        try:
            written = await until_done(
                lambda: self._store.write(queue, batch),
                TRANSIENT_ERRORS,
                Doubling(0.1, 5.0),
                lambda exc, delay: self._log.warning(
                    "db.write_failed", error=describe(exc), retry_in_s=delay
                ),
            )
        except asyncpg.PostgresError as exc:
            # A row the database refuses (a constraint) costs its own outcome only,
            # not its batch's: the batch is written again row by row, and a row once
            # more (a pending job of its entity whose INSERT the refused statement
            # waited for is folded into by the next one: write_outcomes.sql). Then it
            # stays `processing` for the rescuer, as a job whose worker died would.
            if len(batch) > 1 or not again:
                for one in batch:
                    await self._write(queue, [one], again=len(batch) == 1)
                return
            [(job, _)] = batch
            self._log.error("db.write_failed", **job_fields(job), error=describe(exc))
            self._let_go(queue, batch, [None])
            return
        rows = [written.get((job.id, job.attempt)) for job, _ in batch]
        with logs.batch():
            for (job, outcome), row in zip(batch, rows, strict=True):
                self._report(job, outcome, row)
        if self._count is not None:
            self._count(queue.name, _counted(queue, batch, rows))
        self._let_go(queue, batch, rows)

    def _let_go(self, queue: Queue, batch: Batch, rows: list[Written | None]) -> None:
        # Only now, out of the holdings, may the worker hear of them: `--once`
        # decides it is drained on that count, and the forgotten-job rescue
        # spares what it holds.
        self._holdings.discard(queue.name, [job.id for job, _ in batch])
        # A retry or snooze of ours is due again then, and no notification will
        # say so: the poller looks at the earliest, and learns of the next ones then.
        # A folded one's is its entity's newer job's, which may now be due sooner.
        due_again = [
            row.next_retry
            for row in rows
            if row is not None
            and (row.status == "pending" or row.merged_into)
            and row.next_retry is not None
        ]
        self._on_written(queue, min(due_again, default=None))

    def _report(self, job: Job, outcome: Outcome, row: Written | None) -> None:
        """The log event of one outcome, as the row took it."""
        if (
            row is not None
            and row.outcome in (COMPLETED, RELEASED)
            and not logs.enabled(INFO)
            and row.merged_into is None
        ):
            return  # its info event would be dropped: spare building its fields
        fields = job_fields(job)
        if outcome.timed_out:
            self._log.warning("job.timed_out", **fields, duration_ms=outcome.duration_ms)
        if row is None:
            # Our attempt was taken back (we were frozen or cut off past
            # rescue_after) and the row belongs to a newer attempt now: leave it.
            self._log.warning(
                "job.fenced",
                **fields,
                error="outcome not written: the job was rescued from this worker",
            )
            return
        if row.merged_into is not None:
            # Folded into its entity's newer pending job (write_outcomes.sql): that
            # job carries the work on, this one is cancelled. `outcome` is what the
            # attempt came to, as its history entry says.
            self._log.warning(
                "job.merged",
                **fields,
                merged_into=str(row.merged_into),
                outcome=row.outcome,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
            return
        # As the history entry says: a retry of a row with no attempts left
        # (edited since the claim) was written as failed.
        if row.outcome == RELEASED:
            self._log.info("job.released", **fields)
            return
        fields["duration_ms"] = outcome.duration_ms
        if row.outcome == COMPLETED:
            self._log.info("job.completed", **fields)
            return
        fields["error"] = outcome.error
        if row.outcome == FAILED or (row.outcome == "timed_out" and row.status == FAILED):
            self._log.error("job.failed", **fields, permanent=outcome.permanent)
        elif row.outcome == SNOOZED:
            assert row.next_retry is not None
            self._log.info("job.snoozed", **fields, next_retry=row.next_retry.isoformat())
        else:
            next_retry = row.next_retry.isoformat() if row.next_retry else None
            self._log.warning("job.retry_scheduled", **fields, next_retry=next_retry)
