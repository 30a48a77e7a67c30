"""Keeps the listener connection open: LISTEN, notice its loss, reconnect with backoff.

Notifications sent while the connection was down are lost for good, so every
(re)connection is followed by a poll: work that arrived meanwhile is found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from syncd import logs
from syncd.config import Settings
from syncd.db import CONNECTION_ERRORS, ListenerConnection
from syncd.retry import describe


class Listener:
    name = "listener"

    def __init__(
        self,
        settings: Settings,
        on_notify: Callable[[str], None],
        on_connected: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._on_connected = on_connected
        self._lost = asyncio.Event()
        self._why = ""
        self.connection = ListenerConnection(
            settings, on_notify, self._lose, listen=settings.database.listen
        )
        self.ready = asyncio.Event()
        self._log = logs.get()

    async def connect_once(self) -> None:
        """The first connection, before the daemon reports ready; raises if it fails."""
        self._lost.clear()
        await self.connection.connect()
        self._log.info("listener.connected", listen=self._settings.database.listen)
        self.ready.set()

    def _lose(self, why: str) -> None:
        if not self._lost.is_set():
            self._why = why
            self._lost.set()

    async def run(self) -> None:
        delay = 0.1
        while True:
            await self._lost.wait()
            self.ready.clear()
            self._log.warning("listener.lost", reason=self._why)
            while True:
                await asyncio.sleep(delay)
                self._lost.clear()
                try:
                    await self.connection.connect()
                except CONNECTION_ERRORS as exc:
                    delay = min(delay * 2, self._settings.daemon.reconnect_max_delay)
                    self._log.warning("listener.reconnect_failed", error=describe(exc))
                    continue
                break
            delay = 0.1
            self._log.info("listener.reconnected")
            self.ready.set()
            self._on_connected()

    async def close(self) -> None:
        await self.connection.close()
