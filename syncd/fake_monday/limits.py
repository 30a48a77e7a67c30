"""monday's budgets as the fake enforces them: fixed windows that refill all at once.

Per token: complexity points per window, requests per minute, requests per day, and
requests in flight at once. As monday documents it, a per-minute window opens with
the first call and resets a minute after it; the next one opens with the next call.
Every answer reports each window in the ``RateLimit-Policy`` and ``RateLimit``
headers; resets are whole seconds rounded up, so a client that waits as long as it
was told never arrives early.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Opened:
    """One window as it went: when it opened and what was spent in it."""

    at: float
    spent: float = 0.0


@dataclass
class Window:
    name: str
    limit: int
    seconds: float
    clock: Callable[[], float] = time.monotonic
    # True: a window opens with the first call counted after the previous one ended,
    # and resets `seconds` later (monday's per-minute budgets "reset 60 seconds after
    # the first API call was made"). False: windows follow each other back to back
    # from the first one, as a clock-aligned budget (the daily limit) does.
    opens_on_call: bool = True
    used: float = 0.0
    started: float | None = None
    # Every window so far, oldest first: what a bench measures spending against.
    history: list[Opened] = field(default_factory=list)

    def _roll(self) -> None:
        if self.started is None:
            return
        now = self.clock()
        if now < self.started + self.seconds:
            return
        self.used = 0.0
        if self.opens_on_call:
            self.started = None
            return
        self.started += math.floor((now - self.started) / self.seconds) * self.seconds
        self.history.append(Opened(self.started))

    def remaining(self) -> float:
        self._roll()
        return max(0.0, self.limit - self.used)

    def reset_in(self) -> int:
        """Seconds until the window resets; with none open, a whole one (a call opens it)."""
        self._roll()
        if self.started is None:
            return math.ceil(self.seconds)
        return max(0, math.ceil(self.started + self.seconds - self.clock()))

    def fits(self, cost: float) -> bool:
        return self.remaining() >= cost

    def spend(self, cost: float) -> None:
        self._roll()
        if self.started is None:
            self.started = self.clock()
            self.history.append(Opened(self.started))
        self.used += cost
        self.history[-1].spent += cost


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
            # monday's daily limit resets at midnight UTC, not a day after a call.
            self.windows["daily"] = Window(
                "daily", self.daily, self.day_window, self.clock, opens_on_call=False
            )

    def headers(self) -> dict[str, str]:
        policy = ", ".join(f'"{w.name}";q={w.limit};w={w.seconds:g}' for w in self.windows.values())
        state = ", ".join(
            f'"{w.name}";r={int(w.remaining())};t={w.reset_in()}' for w in self.windows.values()
        )
        return {"RateLimit-Policy": policy, "RateLimit": state}
