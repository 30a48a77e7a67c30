"""The daemon's side loops, one small module each, beside the fetch loop in worker.py.

They share one shape, `Loop`: `wait` until there is something to do, then
`run_once`, until cancelled. `run_once` is a loop's whole work for one turn, so a
test drives it directly without waiting on the clock. Each survives database
outages on its own; a loop that dies anyway takes the daemon down (the worker
watches them), because a daemon that silently stopped rescuing or pruning is
worse than one that restarts.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from typing import Any, ClassVar


class Loop(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    async def wait(self) -> None:
        """Until the next turn is due."""

    @abc.abstractmethod
    async def run_once(self) -> Any:
        """One turn of the loop's work."""

    async def run(self) -> None:
        while True:
            await self.wait()
            await self.run_once()

    def start(
        self, ended: Callable[[asyncio.Task[None]], None] | None = None
    ) -> asyncio.Task[None]:
        """Run in a task of its own; `ended` hears when it ends (a loop that dies)."""
        task = asyncio.create_task(self.run(), name=self.name)
        if ended is not None:
            task.add_done_callback(ended)
        return task


async def stop(tasks: list[asyncio.Task[None]], timeout: float) -> list[asyncio.Task[None]]:
    """Cancel the loops' tasks; returns those still not done after `timeout` s."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return []
    _, stuck = await asyncio.wait(tasks, timeout=timeout)
    return list(stuck)


class Every:
    """A `wait` at a fixed cadence: the first turn at once, then every `seconds`.

    A slow turn does not push the next one back."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._next: float | None = None

    async def __call__(self) -> None:
        loop = asyncio.get_running_loop()
        if self._next is None:
            self._next = loop.time()
            return
        self._next = max(self._next + self.seconds, loop.time())
        await asyncio.sleep(self._next - loop.time())
