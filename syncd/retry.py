"""The backoff schedule and the three kinds of job error.

Every handler failure ends up as exactly one of three outcomes, decided here and
nowhere else: a *permanent* error fails the job at once, a *rate-limited* error
reschedules it for the time the remote named without counting the attempt, and
anything else is *retryable* and waits out the backoff schedule.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime


class JobError(Exception):
    """Base of the errors a handler raises on purpose."""


class PermanentError(JobError):
    """The job can never succeed as it stands (bad data, entity gone, unsafe path)."""


class RetryableError(JobError):
    """A passing fault (network, timeout, 5xx, board lock, file not there yet)."""


class RateLimited(JobError):
    """The remote asked us to wait until `until`; the attempt does not count."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


def backoff(attempt: int, delays: Sequence[float], jitter: float = 0.0) -> float:
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


def describe(error: BaseException) -> str:
    """The message recorded in `error_message`: the error's own words, with its type."""
    text = str(error).strip()
    if isinstance(error, JobError):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Kind:
    """The three outcomes of a failed attempt."""

    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    RATE_LIMITED = "rate_limited"


def classify(error: BaseException) -> str:
    """The one place that decides what kind of failure an exception is.

    Errors a handler raises on purpose say so; anything else it let escape
    (a dropped connection, a timeout, a bug that may be a race) is retried, so a
    passing fault never kills a job outright; a real bug still ends in `failed`
    once the attempts run out, with its message.
    """
    if isinstance(error, RateLimited):
        return Kind.RATE_LIMITED
    if isinstance(error, PermanentError):
        return Kind.PERMANENT
    return Kind.RETRYABLE
