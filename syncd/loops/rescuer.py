"""Takes jobs back: from workers that died, and from this one when it lost track of some.

A dead worker's jobs (kill -9, power loss, a frozen process) are taken back once
its heartbeat is older than `rescue_after` (rescue.sql). A live worker's jobs are
never taken from it by others, so this worker also compares the rows the
database says are its own with what it holds, and takes back the ones it
forgot (rescue_forgotten.sql): a claim whose answer was lost, a finished job
whose write the database lost.

`Holdings` is the one account of what this worker holds, from the claim to the
outcome's write. The poller (poller.py) decides when to look and calls
`Rescuer.run_once`, which tests call directly.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import datetime, timedelta

import asyncpg

from syncd import logs
from syncd.config import Settings
from syncd.db import CONNECTION_ERRORS
from syncd.errors import describe
from syncd.job import Job
from syncd.queues import QUEUES, Queue, job_fields
from syncd.store import Rescued, Store


class Holdings:
    """The jobs this worker holds, per queue: claimed (running or waiting for a
    slot) and not yet written. A job is held from its claim's answer until the
    outcome writer is done with it, whatever happens to its task between."""

    def __init__(self) -> None:
        # A Counter: a job rescued from us while cut off can be claimed by us
        # again while its fenced attempt is still on its way out.
        self._ids: dict[str, Counter[uuid.UUID]] = {name: Counter() for name in QUEUES}
        self._claims = 0

    @contextlib.contextmanager
    def claiming(self) -> Iterator[None]:
        """Around a claim: its jobs are ours in the database before we know them
        (its answer may even be lost), so nothing is known for sure meanwhile."""
        self._claims += 1
        try:
            yield
        finally:
            self._claims -= 1

    def add(self, queue: str, jobs: Iterable[Job]) -> None:
        self._ids[queue].update(job.id for job in jobs)

    def discard(self, queue: str, job_ids: Iterable[uuid.UUID]) -> None:
        held = self._ids[queue]
        held.subtract(job_ids)
        held += Counter()  # drop the ids that reached zero

    def count(self) -> int:
        return sum(held.total() for held in self._ids.values())

    def held_ids(self, queue: str) -> set[uuid.UUID]:
        return set(self._ids[queue])

    def snapshot(self) -> dict[str, set[uuid.UUID]] | None:
        """The ids held per queue; None while a claim is in flight."""
        if self._claims:
            return None
        return {name: self.held_ids(name) for name in self._ids}


class Rescuer:
    name = "rescuer"

    def __init__(
        self,
        settings: Settings,
        store: Store,
        holdings: Holdings,
        on_due: Callable[[str], None],
        count: Callable[[str, list[tuple[str, str, float | None]]], None] | None = None,
    ) -> None:
        """`count` hears of each queue's rescues, for the metrics (Metrics.outcomes)."""
        self._count = count
        self._rescue_after = settings.daemon.rescue_after
        self._store = store
        self._holdings = holdings
        self._on_due = on_due
        self._log = logs.get()

    def forgot_some(self, ours: int) -> bool:
        """Whether the database has more jobs marked ours (`ours`) than we hold."""
        held = self._holdings.snapshot()
        return held is not None and ours > sum(map(len, held.values()))

    async def run_once(
        self, *, dead: bool = True, ours: int = 0, looked_at: datetime | None = None
    ) -> list[Rescued]:
        """Take back what is due to be: dead workers' jobs if `dead` (some heartbeat
        is stale), and if the database counts `ours` more than we hold, the ones we
        forgot among those claimed `rescue_after` before `looked_at` (the database's
        time when it counted). Returns what was taken back."""
        taken: list[Rescued] = []
        if dead:
            taken += await self._take_back(lambda q: self._store.rescue(q, self._rescue_after))
        held = self._holdings.snapshot()
        if looked_at is not None and held is not None and ours > sum(map(len, held.values())):
            cutoff = looked_at - timedelta(seconds=self._rescue_after)
            taken += await self._take_back(
                lambda q: self._store.rescue_forgotten(q, cutoff, held[q.name])
            )
        return taken

    async def _take_back(
        self, rescue: Callable[[Queue], Awaitable[list[Rescued]]]
    ) -> list[Rescued]:
        """Run `rescue` on each queue; log what it took back and look for due work."""
        taken: list[Rescued] = []
        for queue in QUEUES.values():
            try:
                rescued = await rescue(queue)
            except CONNECTION_ERRORS as exc:
                self._log.warning("rescue.failed", error=describe(exc))
                break
            except asyncpg.PostgresError as exc:
                # A row the database refuses to take back (a constraint) must not
                # take the poller, and with it the daemon, down; the other queue
                # is still looked at, and the next poll tries again.
                self._log.error("rescue.failed", queue=queue.name, error=describe(exc))
                continue
            for job, status, message, merged_into in rescued:
                if merged_into is None:
                    fields = job_fields(job, status=status, error=message)
                    self._log.warning("job.rescued", **fields)
                else:
                    fields = job_fields(job, outcome="rescued", error=message)
                    self._log.warning("job.merged", **fields, merged_into=str(merged_into))
            if rescued:
                self._on_due(queue.name)
                if self._count is not None:
                    self._count(queue.name, [(queue.kind(r.job), "rescued", None) for r in rescued])
            taken += rescued
        return taken
