"""monday's budgets as the fake enforces them: fixed windows that refill all at once.

Per token: complexity points per window, requests per minute, requests per day, and
requests in flight at once. Every answer reports each window in the
``RateLimit-Policy`` and ``RateLimit`` headers; resets are whole seconds rounded up,
so a client that waits as long as it was told never arrives early.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Window:
    name: str
    limit: int
    seconds: float
    clock: Callable[[], float] = time.monotonic
    used: float = 0.0
    started: float | None = None

    def _roll(self) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        elif now >= self.started + self.seconds:
            # Windows are aligned on the first one, as a fixed-window counter is.
            periods = math.floor((now - self.started) / self.seconds)
            self.started += periods * self.seconds
            self.used = 0.0

    def remaining(self) -> float:
        self._roll()
        return max(0.0, self.limit - self.used)

    def reset_in(self) -> int:
        self._roll()
        assert self.started is not None
        return max(0, math.ceil(self.started + self.seconds - self.clock()))

    def fits(self, cost: float) -> bool:
        return self.remaining() >= cost

    def spend(self, cost: float) -> None:
        self._roll()
        self.used += cost


@dataclass
class Limits:
    """The budgets of one token. None turns a limit off."""

    complexity: int = 10_000_000
    complexity_window: float = 60.0
    per_minute: int | None = 5_000
    minute_window: float = 60.0
    daily: int | None = None
    day_window: float = 86_400.0
    concurrency: int | None = 40
    clock: Callable[[], float] = time.monotonic
    windows: dict[str, Window] = field(init=False)
    in_flight: int = 0

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Fresh windows (after a test changes the limits)."""
        self.windows = {
            "complexity": Window("complexity", self.complexity, self.complexity_window, self.clock)
        }
        if self.per_minute is not None:
            self.windows["minute"] = Window(
                "minute", self.per_minute, self.minute_window, self.clock
            )
        if self.daily is not None:
            self.windows["daily"] = Window("daily", self.daily, self.day_window, self.clock)

    def headers(self) -> dict[str, str]:
        policy = ", ".join(f'"{w.name}";q={w.limit};w={w.seconds:g}' for w in self.windows.values())
        state = ", ".join(
            f'"{w.name}";r={int(w.remaining())};t={w.reset_in()}' for w in self.windows.values()
        )
        return {"RateLimit-Policy": policy, "RateLimit": state}
