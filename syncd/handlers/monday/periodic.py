"""A turn every so often, in a task of its own: the monday handler's background work.

The reconciler (reconcile.py) and the budget reporter (budgets.py) each run one.
Their shape is the daemon's side loops' (`syncd.loops.Loop`: wait, then a turn),
but handlers may not import those (the import-linter contracts in pyproject.toml),
and the difference matters: a side loop that raises stops the daemon, while a
monday outage must not, so a turn that raises is logged and the next one tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("syncd.monday")


class Periodic:
    """`turn()` every `every` seconds, the first one `every` after `start`."""

    def __init__(
        self, name: str, every: float, turn: Callable[[], Awaitable[object]], failed: str
    ) -> None:
        """`failed`: the event a turn that raised is logged as."""
        self.name = name
        self.every = every
        self._turn = turn
        self._failed = failed
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """End the task; no turn runs once this returns."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self._turn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next period tries again
                log.warning(self._failed, error=f"{type(exc).__name__}: {exc}")
