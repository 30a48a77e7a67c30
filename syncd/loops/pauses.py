"""Re-reads the pauses in force when a NOTIFY on `syncd_pauses` says they changed.

The read is one tiny statement (pauses_in_force.sql) on the listener connection,
the one that heard the notification. If it fails, the poll brings the same set
(poll.sql) at its next look; pauses.py says what the daemon does with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from syncd import logs, pauses, queries
from syncd.config import Settings
from syncd.db import CONNECTION_ERRORS, ListenerConnection
from syncd.errors import describe
from syncd.loops import Loop


class PauseWatch(Loop):
    name = "pauses"

    def __init__(
        self,
        settings: Settings,
        connection: ListenerConnection,
        on_change: Callable[[dict[str, list[str]]], None],
    ) -> None:
        self._settings = settings
        self._connection = connection
        self._on_change = on_change
        self._changed = asyncio.Event()
        self._log = logs.get()

    def changed(self) -> None:
        """The NOTIFY: read the pauses again soon."""
        self._changed.set()

    async def wait(self) -> None:
        await self._changed.wait()
        self._changed.clear()

    async def run_once(self) -> None:
        try:
            row = await self._connection.fetchrow(
                queries.load("pauses_in_force"), timeout=self._settings.database.connect_timeout
            )
        except CONNECTION_ERRORS as exc:
            self._log.warning("pauses.read_failed", error=describe(exc))
            return
        assert row is not None
        self._on_change(pauses.decode(row["paused"]))
