"""Tells the other workers we are alive, while (and only while) we hold jobs.

An idle worker has nothing to be rescued from it, so it stays silent: an empty
queue costs the database nothing. The claim itself refreshes the heartbeat, so a
worker that wakes from a long idle spell is never mistaken for a dead one.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable

import asyncpg

from syncd import db, logs, queries
from syncd.config import Settings
from syncd.errors import describe
from syncd.loops import Every, Loop
from syncd.loops.listener import Listener


class Heartbeat(Loop):
    name = "heartbeat"

    def __init__(
        self,
        settings: Settings,
        worker_id: uuid.UUID,
        pool: asyncpg.Pool,
        listener: Listener,
        holding: Callable[[], int],
    ) -> None:
        self._worker_id = worker_id
        self._pool = pool
        self._listener = listener
        self._holding = holding
        # Four beats per rescue window: a live worker survives a few lost beats.
        self._every = settings.daemon.rescue_after / 4
        # On a fixed cadence: a slow beat does not push the next one back (a beat
        # takes at most 1.5 intervals, so beats land at most 2.5 intervals apart:
        # 5/8 of rescue_after).
        self._cadence = Every(self._every)
        self._log = logs.get()

    async def beat(self) -> None:
        args = (queries.load("heartbeat"), self._worker_id, socket.gethostname(), os.getpid())
        connection = self._listener.connection
        if connection.connected:
            try:
                # A beat is a one-row UPDATE: half the beat interval is ages for it.
                await connection.execute(*args, timeout=self._every / 2)
                return
            except db.CONNECTION_ERRORS as exc:
                # A listener that cannot take a beat in that long is not healthy
                # (half-open, most likely): drop it, the listener reconnects, and
                # this beat goes through the pool at once, before a rescuer
                # mistakes our silence for death.
                self._log.warning("heartbeat.failed", error=describe(exc), via="listener")
                connection.drop(f"a heartbeat on it failed: {describe(exc)}")
        # Half a beat to get a connection, half for the UPDATE: a beat never
        # takes longer than the interval, whatever the pool or the network does.
        async with db.clean_connection(self._pool, timeout=self._every / 2) as conn:
            try:
                await conn.execute(*args, timeout=self._every / 2)
            except TimeoutError:
                # asyncpg would hand the connection back only once the server
                # confirmed the cancel, which a dead link never does: the next
                # beat would wait for that. Give the connection up instead.
                conn.terminate()
                raise

    async def wait(self) -> None:
        await self._cadence()

    async def run_once(self) -> None:
        if not self._holding():
            return
        try:
            await self.beat()
        except db.CONNECTION_ERRORS as exc:
            self._log.warning("heartbeat.failed", error=describe(exc))
