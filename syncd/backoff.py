"""How long to wait before trying again: a failed job's retry schedule, and the
doubling wait every reconnecting loop uses."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def retry_delay(attempt: int, delays: Sequence[float], jitter: float = 0.0) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    The first failure waits ``delays[0]``; past the end of the list the last delay
    repeats. ``jitter`` is a fraction: 0.1 spreads each delay by up to +-10 %, so a
    burst of failures does not come back as a burst.
    """
    if not delays:
        return 0.0
    base = float(delays[min(max(attempt, 1), len(delays)) - 1])
    if jitter <= 0:
        return base
    return max(0.0, base * (1.0 + random.uniform(-jitter, jitter)))


class Doubling:
    """A wait that doubles with every failure, up to `most`, and starts over on success."""

    def __init__(self, first: float, most: float) -> None:
        self.first = first
        self.most = most
        self.next = first

    def failed(self) -> float:
        """The wait before the next try; the one after it is twice as long."""
        delay = self.next
        self.next = min(delay * 2, self.most)
        return delay

    def succeeded(self) -> None:
        self.next = self.first


async def pause(seconds: float, stop: asyncio.Event | None = None) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def until_done(
    attempt: Callable[[], Awaitable[T]],
    errors: tuple[type[BaseException], ...],
    wait: Doubling,
    on_error: Callable[[BaseException, float], None],
    *,
    stop: asyncio.Event | None = None,
    patience: float | None = None,
) -> T:
    """Run `attempt` until it does not raise one of `errors`, waiting `wait` between.

    `on_error(error, retry_in_s)` hears of each failure (to log it). With `stop`,
    a set event ends the waiting early and the last error is raised; with
    `patience`, so does running out of that many seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = None if patience is None else loop.time() + patience
    while True:
        try:
            result = await attempt()
        except errors as exc:
            delay = wait.failed()
            if (stop is not None and stop.is_set()) or (
                deadline is not None and loop.time() + delay > deadline
            ):
                raise
            on_error(exc, delay)
            await pause(delay, stop)
            continue
        wait.succeeded()
        return result
