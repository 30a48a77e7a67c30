"""Spend monday's budgets no faster than they refill, so that no limit is hit.

monday meters a token with budgets that refill in fixed windows: complexity points
per minute, requests per minute, requests per day. Every answer says where each one
stands, in the body's ``complexity { query before after reset_in_x_seconds }`` and in
the ``RateLimit-Policy`` / ``RateLimit`` headers (IETF httpapi-ratelimit-headers:
``"complexity";q=5000000;w=60`` and ``"complexity";r=4990000;t=42``).

The pacer keeps, per budget, what is left and when the window resets, and lets a
request go only when its expected cost fits in what is left after the requests
already in flight. Otherwise the request waits for the reset. A request's cost is
what the same document cost last time (every call asks for ``complexity``); a
document whose cost is not known yet goes alone.

When the window resets is known only as an interval, and the pacer waits for its
latest moment, so that it never sends into the old window by mistake:

- resets are reported in whole seconds: an answer's ``t`` puts the reset in
  ``(seen + t - 1, seen + t]``, and each answer narrows the interval down;
- the request an answer is for was counted in a window that had opened before the
  answer came, so that window resets no later than the answer plus one window;
- monday opens a per-minute window with the first call after the previous one
  ended, and resets it a minute after that call. So once a window is over, the next
  reset is unknown until the first answer from the new window (then the bound
  above makes it exact to within that call's round trip).

An answer that cannot be placed in the current window (its request was sent
before the window changed), or a request that got no answer at all (a timeout, a
lost response: monday may well have run and counted it), is taken as spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

COMPLEXITY = "complexity"
PROBE = "first call"
# Sent a little after the computed reset: clocks tick at slightly different rates.
MARGIN = 0.05
# monday's budgets are per minute: the window when no RateLimit-Policy says.
MINUTE = 60.0


class WaitTooLong(Exception):
    """The budget refills later than a job should wait inside its attempt."""

    def __init__(self, seconds: float, budget: str) -> None:
        super().__init__(f"monday {budget} budget is spent; it refills in {seconds:.1f} s")
        self.seconds = seconds
        self.budget = budget


@dataclass(slots=True)
class Budget:
    """One metered quota: what is left, and the window in which it refills."""

    name: str
    remaining: float
    reset_lo: float  # the window resets no earlier than this (monotonic seconds)
    reset_hi: float  # ...and no later than this; inf: not known until the next answer
    limit: float | None = None
    window: float | None = None
    in_flight: float = 0.0
    # Counts the windows seen: an answer to a request sent in an earlier one cannot
    # say which window counted it.
    epoch: int = 0

    @property
    def period(self) -> float:
        return self.window or MINUTE

    def roll_over(self, now: float) -> None:
        """A window whose reset has passed starts again full, as far as we know."""
        if now < self.reset_hi:
            return
        # Refilled, if the limit is known (else the next answer says how far). The
        # next window resets a period after it opens, at the earliest a period
        # after this one reset: when exactly, the first answer from it tells.
        self.remaining = self.limit if self.limit is not None else math.inf
        self.reset_lo += self.period
        self.reset_hi = math.inf
        self.epoch += 1

    def observe(self, remaining: float, reset_in: float, now: float) -> None:
        lo, hi = now + reset_in - 1.0, now + min(reset_in, self.period)
        if self.limit is not None and remaining >= self.limit:
            # Nothing spent: the window is over (the next call opens one) or has only
            # just opened. Either way its reset is for a later answer to tell.
            if not math.isinf(self.reset_hi):
                self.epoch += 1
            self.remaining, self.reset_hi = remaining, math.inf
            return
        if lo > self.reset_hi + 0.5:  # a later window than the one we knew
            self.remaining, self.reset_lo, self.reset_hi = remaining, lo, hi
            self.epoch += 1
            return
        self.remaining = min(self.remaining, remaining)
        self.reset_lo, self.reset_hi = max(self.reset_lo, lo), min(self.reset_hi, hi)
        if self.reset_lo > self.reset_hi:  # inconsistent clocks: trust the newest
            self.reset_lo, self.reset_hi = lo, hi

    def spent(self, cost: float) -> None:
        """`cost` was (or may have been) counted, though no answer said so."""
        self.remaining = max(0.0, self.remaining - cost)


@dataclass(slots=True)
class Ticket:
    """The budget one request holds while it is in flight."""

    document: str
    costs: dict[str, float] = field(default_factory=dict)
    epochs: dict[str, int] = field(default_factory=dict)
    probe: bool = False
    sent: bool = False  # it left for monday: from now on it may be counted
    answered: set[str] = field(default_factory=set)  # budgets its answer placed it in


class Pacer:
    def __init__(self, reserve: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.reserve = reserve
        self.clock = clock
        self.budgets: dict[str, Budget] = {}
        self.costs: dict[str, float] = {}
        self._in_flight = 0
        self._changed = asyncio.Condition()

    # -- before a request --------------------------------------------------------

    async def acquire(self, document: str, max_wait: float) -> Ticket:
        """Wait until `document` fits in every budget, then hold its cost."""
        async with self._changed:
            while True:
                wait, budget = self._wait_for(document)
                if wait <= 0:
                    return self._hold(document)
                if math.isinf(wait):  # an answer on its way will tell
                    await self._changed.wait()
                    continue
                if wait > max_wait:
                    raise WaitTooLong(wait, budget)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=wait)

    def _wait_for(self, document: str) -> tuple[float, str]:
        """How long `document` must wait, and for which budget (inf: for an answer)."""
        now = self.clock()
        cost = self._cost(document)
        if cost is None:  # the first call of its kind goes alone
            return (0.0 if self._in_flight == 0 else math.inf, PROBE)
        longest, which = 0.0, ""
        for budget in self.budgets.values():
            budget.roll_over(now)
            if math.isinf(budget.remaining) and self._in_flight:
                return math.inf, budget.name  # refilled to a level only an answer tells
            need = budget.in_flight + (cost if budget.name == COMPLEXITY else 1.0)
            spare = budget.remaining - self.reserve * (budget.limit or 0.0)
            if need <= spare:
                continue
            whole = budget.limit is not None and budget.remaining >= budget.limit
            if whole and budget.in_flight == 0:
                # Bigger than a whole window: it goes alone into a fresh one
                # rather than wait forever.
                continue
            if math.isinf(budget.reset_hi):
                if self._in_flight:
                    return math.inf, budget.name
                # Nothing will answer: whatever window counted our calls opened
                # before now, so it resets within a period from now.
                budget.reset_hi = now + budget.period
            wait = budget.reset_hi + MARGIN - now
            if wait > longest:
                longest, which = wait, budget.name
        return longest, which

    def _cost(self, document: str) -> float | None:
        if document in self.costs:
            return self.costs[document]
        return max(self.costs.values(), default=None)

    def _hold(self, document: str) -> Ticket:
        cost = self._cost(document)
        ticket = Ticket(document, probe=cost is None)
        for budget in self.budgets.values():
            held = (cost or 0.0) if budget.name == COMPLEXITY else 1.0
            budget.in_flight += held
            ticket.costs[budget.name] = held
            ticket.epochs[budget.name] = budget.epoch
        self._in_flight += 1
        return ticket

    # -- after a request ---------------------------------------------------------

    async def release(self, ticket: Ticket) -> None:
        async with self._changed:
            for name, held in ticket.costs.items():
                budget = self.budgets.get(name)
                if budget is None:
                    continue
                budget.in_flight = max(0.0, budget.in_flight - held)
                if ticket.sent and name not in ticket.answered:
                    budget.spent(held)
            self._in_flight -= 1
            self._changed.notify_all()

    def observe(
        self,
        ticket: Ticket,
        complexity: Mapping[str, object] | None,
        headers: Mapping[str, str],
    ) -> None:
        """Learn from the answer to `ticket`: its cost and where each budget stands."""
        now = self.clock()
        policies = parse_fields(headers.get("RateLimit-Policy", ""))
        states = parse_fields(headers.get("RateLimit", ""))
        if complexity:
            query = _number(complexity.get("query"))
            if query is not None:
                self.costs[ticket.document] = query
            after = _number(complexity.get("after"))
            before = _number(complexity.get("before"))
            reset = _number(complexity.get("reset_in_x_seconds"))
            if after is not None and reset is not None and COMPLEXITY not in states:
                self._observe(ticket, COMPLEXITY, after, reset, now, limit=before)
        for name, state in states.items():
            remaining, reset = _number(state.get("r")), _number(state.get("t"))
            if remaining is None or reset is None:
                continue
            policy = policies.get(name, {})
            self._observe(
                ticket,
                name,
                remaining,
                reset,
                now,
                limit=_number(policy.get("q")),
                window=_number(policy.get("w")),
            )

    def _observe(
        self,
        ticket: Ticket,
        name: str,
        remaining: float,
        reset_in: float,
        now: float,
        limit: float | None = None,
        window: float | None = None,
    ) -> None:
        budget = self.budgets.get(name)
        if budget is None:
            budget = self.budgets[name] = Budget(name, remaining, -math.inf, math.inf)
        if limit is not None:
            budget.limit = max(budget.limit or 0.0, limit)
        if window is not None:
            budget.window = window
        if ticket.epochs.get(name, budget.epoch) != budget.epoch:
            return  # sent in an earlier window: release() counts it as spent
        budget.observe(remaining, reset_in, now)
        ticket.answered.add(name)


def parse_fields(header: str) -> dict[str, dict[str, str]]:
    """``"a";q=1;w=60, "b";r=2`` -> ``{"a": {"q": "1", "w": "60"}, "b": {"r": "2"}}``."""
    parsed: dict[str, dict[str, str]] = {}
    for item in header.split(","):
        parts = [part.strip() for part in item.split(";")]
        if not parts or not parts[0]:
            continue
        name = parts[0].strip('"')
        params = {}
        for part in parts[1:]:
            key, _, value = part.partition("=")
            params[key.strip()] = value.strip().strip('"')
        parsed[name] = params
    return parsed


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(str(value))
    except ValueError:
        return None
