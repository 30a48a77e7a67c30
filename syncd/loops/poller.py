"""The daemon's clock: finds work no notification announced, and rescues dead workers' jobs.

Notifications make pickup instant, but some work never sends one: a retry whose
`next_retry` arrives, jobs inserted while the listener was down, a daemon running
with LISTEN off behind PgBouncer. The poller sleeps until the earliest of the next
retry, the moment some worker's heartbeat could go stale, and the poll interval,
then looks once (poll.sql: one round trip, on the listener connection so it also
checks that connection's health).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg

from syncd import logs, queries
from syncd.config import Settings
from syncd.db import CONNECTION_ERRORS
from syncd.handlers import Job
from syncd.loops.listener import Listener
from syncd.outcomes import job_fields
from syncd.queues import QUEUES, Queue, Store
from syncd.retry import describe

# Pokes (a drained claim, a reconnection) poll at most this often.
MIN_GAP = 0.25


class Poller:
    name = "poller"

    def __init__(
        self,
        settings: Settings,
        store: Store,
        pool: asyncpg.Pool,
        listener: Listener,
        on_due: Callable[[str], None],
        holdings: Callable[[], dict[str, set[uuid.UUID]] | None],
    ) -> None:
        self._settings = settings
        self._store = store
        self._pool = pool
        self._listener = listener
        self._on_due = on_due
        self._holdings = holdings
        self._poke = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time()
        self._last_poll = float("-inf")
        self._log = logs.get()

    def poke(self) -> None:
        """Look soon: something may have changed that no notification tells."""
        self._poke.set()

    def expect(self, queue: Queue, when: datetime) -> None:
        """A job of ours was rescheduled for `when`: wake up then."""
        delay = (when - datetime.now(when.tzinfo)).total_seconds()
        self._deadline = min(self._deadline, self._loop.time() + max(0.0, delay))
        self._poke.set()

    async def run(self) -> None:
        while True:
            timeout = self._deadline - self._loop.time()
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poke.wait(), timeout)
            self._poke.clear()
            gap = self._last_poll + MIN_GAP - self._loop.time()
            if gap > 0 and self._loop.time() < self._deadline:
                await asyncio.sleep(gap)
            await self.poll()

    async def poll(self) -> None:
        self._last_poll = self._loop.time()
        interval = self._settings.daemon.poll_interval
        self._deadline = self._last_poll + interval
        try:
            row = await self._fetch_poll()
        except CONNECTION_ERRORS as exc:
            self._log.warning("poll.failed", error=describe(exc))
            self._deadline = self._loop.time() + min(interval, 1.0)
            return
        assert row is not None
        db_now: datetime = row["db_now"]
        for name in QUEUES:
            if row[f"{name}_due"]:
                self._on_due(name)
            next_due: datetime | None = row[f"{name}_next_due"]
            if next_due is not None:
                self._wake_at((next_due - db_now).total_seconds())
        oldest: datetime | None = row["oldest_heartbeat"]
        if oldest is not None:
            rescue_after = self._settings.daemon.rescue_after
            stale_in = rescue_after - (db_now - oldest).total_seconds()
            if stale_in <= 0:
                await self._rescue()
                self._wake_at(1.0)
            else:
                self._wake_at(stale_in + 0.05)
        # What we hold, taken with no claim in flight (or not at all), and
        # compared with the rows marked ours: more rows than jobs means some
        # were forgotten (rescue_forgotten.sql).
        held = self._holdings()
        if held is not None and row["mine"] > sum(map(len, held.values())):
            rescue_after = self._settings.daemon.rescue_after
            await self._rescue_forgotten(held, db_now - timedelta(seconds=rescue_after))
            self._wake_at(rescue_after / 2)

    def _wake_at(self, seconds: float) -> None:
        self._deadline = min(self._deadline, self._loop.time() + max(0.0, seconds))

    async def _fetch_poll(self) -> asyncpg.Record | None:
        sql, me = queries.load("poll"), self._store.worker_id
        connection = self._listener.connection
        if not connection.connected:
            return await self._pool.fetchrow(sql, me)
        try:
            timeout = self._settings.database.connect_timeout
            return await connection.fetchrow(sql, me, timeout=timeout)
        except CONNECTION_ERRORS as exc:
            # An answer this late (or none) means a dead link: drop it and let the
            # listener reconnect rather than wait for TCP to give up. After a timed
            # out query asyncpg waits for the server to confirm the cancel, which a
            # frozen link never does, so the connection would stay stuck otherwise.
            connection.drop(f"a poll on it failed: {describe(exc)}")
            raise

    async def _rescue(self) -> None:
        rescue_after = self._settings.daemon.rescue_after
        await self._take_back(lambda queue: self._store.rescue(queue, rescue_after))

    async def _rescue_forgotten(
        self, held: dict[str, set[uuid.UUID]], claimed_before: datetime
    ) -> None:
        await self._take_back(
            lambda queue: self._store.rescue_forgotten(queue, claimed_before, held[queue.name])
        )

    async def _take_back(
        self, rescue: Callable[[Queue], Awaitable[list[tuple[Job, str, str]]]]
    ) -> None:
        """Run `rescue` on each queue; log what it took back and look for due work."""
        for queue in QUEUES.values():
            try:
                rescued = await rescue(queue)
            except CONNECTION_ERRORS as exc:
                self._log.warning("rescue.failed", error=describe(exc))
                return
            for job, status, message in rescued:
                self._log.warning("job.rescued", **job_fields(job, status=status, error=message))
            if rescued:
                self._on_due(queue.name)
