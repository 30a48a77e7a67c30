"""Turning the end of an attempt into its row's new state, and its log event.

Successes are written in batches: while one batch is on its way to the database
the next one gathers, so a busy worker spends one round trip on many completions
and an idle one writes each at once. Failures are rarer and written one by one.
Every write is shielded from cancellation and retried through database outages:
an outcome that the worker has decided is never dropped (if the process dies
first, the rescuer takes the job back).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from syncd import logs
from syncd.config import Settings
from syncd.db import CONNECTION_ERRORS
from syncd.handlers import Job
from syncd.queues import QUEUES, Queue, Store
from syncd.retry import Kind, RateLimited, backoff, classify, describe

T = TypeVar("T")


def job_fields(job: Job, **extra: Any) -> dict[str, Any]:
    """The fields every job event carries."""
    return {
        "queue": job.queue,
        "job_id": str(job.id),
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        **job.subject,
        **extra,
    }


class Recorder:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        on_written: Callable[[Queue, Job], None],
        on_retry_at: Callable[[Queue, datetime], None],
    ) -> None:
        self._store = store
        self._settings = settings
        self._on_written = on_written
        self._on_retry_at = on_retry_at
        self._log = logs.get()
        self._done: dict[str, list[tuple[Job, float]]] = {name: [] for name in QUEUES}
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        # The batch being written, per queue (one writer: `run`).
        self._writing: dict[str, list[tuple[Job, float]]] = {name: [] for name in QUEUES}
        # Failures and releases being written: their task may have ended (shutdown
        # cancels it while the shielded write goes on), and the row is still ours.
        self._settling: dict[str, Counter[uuid.UUID]] = {name: Counter() for name in QUEUES}

    @property
    def holding(self) -> int:
        """Attempts finished here whose outcome is not in the database yet."""
        batches = (*self._done.values(), *self._writing.values())
        return sum(len(batch) for batch in batches)

    def held_ids(self, queue: str) -> set[uuid.UUID]:
        """The jobs of `queue` whose outcome this recorder has yet to write."""
        held = {job.id for job, _ in (*self._done[queue], *self._writing[queue])}
        return held | set(self._settling[queue])

    @contextlib.contextmanager
    def _settles(self, queue: str, jobs: list[Job]) -> Iterator[None]:
        ids = [job.id for job in jobs]
        self._settling[queue].update(ids)
        try:
            yield
        finally:
            self._settling[queue].subtract(ids)
            self._settling[queue] += Counter()  # drop the ids that reached zero

    # -- successes -------------------------------------------------------------

    def completed(self, job: Job, duration_ms: float) -> None:
        self._done[job.queue].append((job, duration_ms))
        self._idle.clear()
        self._arrived.set()

    async def run(self) -> None:
        """The batch writer: flush whatever has gathered, as often as it can."""
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            await self.flush()

    async def flush(self) -> None:
        for name, batch in self._done.items():
            if not batch:
                continue
            self._done[name] = []
            self._writing[name] = batch
            try:
                await asyncio.shield(self._write_completed(QUEUES[name], batch))
            finally:
                self._writing[name] = []
            # Only now, with `holding` down, may the worker hear of it: `--once`
            # decides it is drained on that count.
            for job, _ in batch:
                self._on_written(QUEUES[name], job)
        if self.holding == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Until every finished attempt's outcome is written (shutdown, `--once`)."""
        while self.holding:
            self._arrived.set()
            await self._idle.wait()

    async def _write_completed(self, queue: Queue, batch: list[tuple[Job, float]]) -> None:
        jobs = [job for job, _ in batch]
        written = await self._persist(lambda: self._store.complete(queue, jobs))
        for job, duration_ms in batch:
            if job.id in written:
                self._log.info("job.completed", **job_fields(job, duration_ms=duration_ms))
            else:
                self._fenced(job)

    # -- failures --------------------------------------------------------------

    async def failed(
        self, job: Job, error: BaseException, duration_ms: float, timed_out: bool = False
    ) -> None:
        with self._settles(job.queue, [job]):
            await self._failed(job, error, duration_ms, timed_out)

    async def _failed(
        self, job: Job, error: BaseException, duration_ms: float, timed_out: bool
    ) -> None:
        queue = QUEUES[job.queue]
        message = describe(error)
        if timed_out:
            message = f"timed out after {self._settings.queue(job.queue).timeout:g} s"
            self._log.warning("job.timed_out", **job_fields(job, duration_ms=duration_ms))
        kind = classify(error)
        fields = job_fields(job, duration_ms=duration_ms, error=message)
        if kind == Kind.RATE_LIMITED:
            assert isinstance(error, RateLimited)
            until = error.until
            snoozed = await self._persist(lambda: self._store.snooze(queue, job, until, message))
            if snoozed is None:
                self._fenced(job)
            else:
                self._log.info("job.snoozed", **fields, next_retry=until.isoformat())
                self._on_retry_at(queue, until)
        elif kind == Kind.PERMANENT or job.attempt >= job.max_attempts:
            outcome = await self._persist(lambda: self._store.fail(queue, job, message))
            if outcome is None:
                self._fenced(job)
            else:
                self._log.error("job.failed", **fields, permanent=kind == Kind.PERMANENT)
        else:
            retry = self._settings.retry
            delay = backoff(job.attempt, retry.delays, retry.jitter)
            outcome = await self._persist(lambda: self._store.retry(queue, job, delay, message))
            if outcome is None:
                self._fenced(job)
            elif outcome.status == "failed":
                # The row allowed fewer attempts than the claim saw (edited meanwhile).
                self._log.error("job.failed", **fields, permanent=False)
            else:
                assert outcome.next_retry is not None
                next_retry = outcome.next_retry.isoformat()
                self._log.warning("job.retry_scheduled", **fields, next_retry=next_retry)
                self._on_retry_at(queue, outcome.next_retry)
        self._on_written(queue, job)

    async def released(self, queue: Queue, jobs: list[Job]) -> None:
        """Shutdown cut these attempts short (or never started them): back to
        pending, attempts given back."""
        with self._settles(queue.name, jobs):
            written = await self._persist(lambda: self._store.release(queue, jobs), patience=5.0)
        for job in jobs:
            if job.id in written:
                self._log.info("job.released", **job_fields(job))
            else:
                self._fenced(job)

    def _fenced(self, job: Job) -> None:
        # Our attempt was taken back (we were frozen or cut off past rescue_after)
        # and the row belongs to a newer attempt now: leave it alone.
        self._log.warning(
            "job.fenced",
            **job_fields(job),
            error="outcome not written: the job was rescued from this worker",
        )

    async def _persist(self, write: Callable[[], Awaitable[T]], patience: float | None = None) -> T:
        """Run `write` until the database takes it; outages are waited out.

        With `patience`, give up after that many seconds (shutdown must end);
        the row then stays `processing` and the rescuer takes it back.
        """
        loop = asyncio.get_running_loop()
        deadline = None if patience is None else loop.time() + patience
        delay = 0.1
        while True:
            try:
                return await write()
            except CONNECTION_ERRORS as exc:
                if deadline is not None and loop.time() + delay > deadline:
                    raise
                self._log.warning("db.write_failed", error=describe(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
