"""Keeps the listener connection open: LISTEN, notice its loss, reconnect with backoff.

Notifications sent while the connection was down are lost for good, so every
(re)connection is followed by a poll: work that arrived meanwhile is found, and
the pauses in force are read again. Besides the queues' channels it LISTENs on
`syncd_pauses`, where every pause and resume is announced (pauses.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from syncd import logs
from syncd.backoff import Doubling, until_done
from syncd.config import Settings
from syncd.db import CONNECTION_ERRORS, ListenerConnection
from syncd.errors import describe
from syncd.loops import Loop
from syncd.pauses import CHANNEL
from syncd.queues import QUEUES

FIRST_RETRY = 0.1


class Listener(Loop):
    name = "listener"

    def __init__(
        self,
        settings: Settings,
        on_notify: Callable[[str], None],
        on_connected: Callable[[], None],
        on_pauses: Callable[[], None] = lambda: None,
    ) -> None:
        self._settings = settings
        self._on_notify = on_notify
        self._on_pauses = on_pauses
        self._on_connected = on_connected
        self._lost = asyncio.Event()
        self._why = ""
        channels = {q.name: q.channel for q in QUEUES.values()} | {CHANNEL: CHANNEL}
        self.connection = ListenerConnection(
            settings, self._heard, self._lose, channels if settings.database.listen else {}
        )
        self.ready = asyncio.Event()
        self._backoff = Doubling(FIRST_RETRY, settings.daemon.reconnect_max_delay)
        self._log = logs.get()

    async def connect_once(self) -> None:
        """The first connection, before the daemon reports ready; raises if it fails."""
        self._lost.clear()
        await self.connection.connect()
        self._log.info("listener.connected", listen=self._settings.database.listen)
        self.ready.set()

    def _heard(self, what: str) -> None:
        # A queue's name, or the pauses' channel (no queue is named like it).
        if what == CHANNEL:
            self._on_pauses()
        else:
            self._on_notify(what)

    def _lose(self, why: str) -> None:
        if not self._lost.is_set():
            self._why = why
            self._lost.set()

    async def wait(self) -> None:
        await self._lost.wait()
        self.ready.clear()
        self._log.warning("listener.lost", reason=self._why)
        await asyncio.sleep(FIRST_RETRY)

    async def run_once(self) -> None:
        """Reconnect, waiting out the database for as long as it takes."""
        await until_done(
            self._reconnect,
            CONNECTION_ERRORS,
            self._backoff,
            lambda exc, _: self._log.warning("listener.reconnect_failed", error=describe(exc)),
        )
        self._log.info("listener.reconnected")
        self.ready.set()
        self._on_connected()

    async def _reconnect(self) -> None:
        self._lost.clear()
        await self.connection.connect()

    async def close(self) -> None:
        await self.connection.close()
