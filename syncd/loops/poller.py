"""The daemon's clock: finds work no notification announced, and decides when to rescue.

Notifications make pickup instant, but some work never sends one: a retry whose
`next_retry` arrives, jobs inserted while the listener was down, a daemon running
with LISTEN off behind PgBouncer. The poller sleeps until the earliest of the next
retry, the moment some worker's heartbeat could go stale, and the poll interval,
then looks once (poll.sql: one round trip, on the listener connection so it also
checks that connection's health). What it finds stale it hands to the rescuer; the
pauses in force it hands on too, the backstop for their NOTIFY (pauses.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

import asyncpg

from syncd import logs, pauses, queries
from syncd.config import Settings
from syncd.db import CONNECTION_ERRORS
from syncd.errors import describe
from syncd.loops import Loop
from syncd.loops.listener import Listener
from syncd.loops.rescuer import Rescuer
from syncd.queues import QUEUES
from syncd.store import Store

# Looks asked for without a time (a drained claim, a reconnection) poll at most this often.
MIN_GAP = 0.25


class Poller(Loop):
    name = "poller"

    def __init__(
        self,
        settings: Settings,
        store: Store,
        listener: Listener,
        rescuer: Rescuer,
        on_due: Callable[[str], None],
        on_paused: Callable[[dict[str, list[str]]], None] = lambda _: None,
    ) -> None:
        self._settings = settings
        self._on_paused = on_paused
        self._store = store
        self._listener = listener
        self._rescuer = rescuer
        self._on_due = on_due
        self._asked = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time()
        self._last_poll = float("-inf")
        self._log = logs.get()

    def look(self, at: datetime | None = None) -> None:
        """Look soon (something changed that no notification tells), or at `at`
        (a job of ours was rescheduled for then)."""
        if at is not None:
            delay = (at - datetime.now(at.tzinfo)).total_seconds()
            self._wake_at(delay)
        self._asked.set()

    async def wait(self) -> None:
        timeout = self._deadline - self._loop.time()
        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._asked.wait(), timeout)
        self._asked.clear()
        gap = self._last_poll + MIN_GAP - self._loop.time()
        if gap > 0 and self._loop.time() < self._deadline:
            await asyncio.sleep(gap)

    async def run_once(self) -> None:
        """One look: what is due, when the next retry falls due, and whom to rescue."""
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
        self._on_paused(pauses.decode(row["paused"]))
        for name in QUEUES:
            if row[f"{name}_due"]:
                self._on_due(name)
            next_due: datetime | None = row[f"{name}_next_due"]
            if next_due is not None:
                self._wake_at((next_due - db_now).total_seconds())
        rescue_after = self._settings.daemon.rescue_after
        oldest: datetime | None = row["oldest_heartbeat"]
        stale_in = None if oldest is None else rescue_after - (db_now - oldest).total_seconds()
        dead = stale_in is not None and stale_in <= 0
        # What we hold, taken with no claim in flight (or not at all), and
        # compared with the rows marked ours: more rows than jobs means some
        # were forgotten (rescue_forgotten.sql).
        forgot = self._rescuer.forgot_some(row["mine"])
        if dead or forgot:
            await self._rescuer.run_once(dead=dead, ours=row["mine"], looked_at=db_now)
        if stale_in is not None:
            self._wake_at(1.0 if dead else stale_in + 0.05)
        if forgot:
            self._wake_at(rescue_after / 2)

    def _wake_at(self, seconds: float) -> None:
        self._deadline = min(self._deadline, self._loop.time() + max(0.0, seconds))

    async def _fetch_poll(self) -> asyncpg.Record | None:
        sql, me = queries.load("poll"), self._store.worker_id
        connection = self._listener.connection
        if not connection.connected:
            return await self._store.pool.fetchrow(sql, me)
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
