"""The kinds of job error, and the words an error leaves in `error_message`.

Every handler failure ends up as exactly one of three kinds, decided here and
nowhere else: a *permanent* error fails the job at once, a *snooze* (the remote
asked us to wait: `RateLimited`) reschedules it for the time named without
counting the attempt, and anything else is *retryable* and waits out the backoff
schedule (backoff.py). outcomes.decide turns the kind into the job's outcome.
"""

from __future__ import annotations

from datetime import datetime


class UserError(Exception):
    """A mistake the user of a command can fix: `syncd` prints it as one line, exit 1.

    Here rather than in cli.py so that a handler's own commands can raise it without
    importing the command line (and, through it, the daemon).
    """


class JobError(Exception):
    """Base of the errors a handler raises on purpose."""


class PermanentError(JobError):
    """The job can never succeed as it stands (bad data, entity gone, unsafe path)."""


class RetryableError(JobError):
    """A passing fault (network, timeout, 5xx, board lock, file not there yet)."""


class Snooze(JobError):
    """Run this job again at `until`, without counting this attempt.

    A handler may raise it, or return it (nothing went wrong: the job is just
    not ready yet).
    """

    def __init__(self, until: datetime, message: str = "") -> None:
        super().__init__(message or f"snoozed until {until.isoformat()}")
        self.until = until


class RateLimited(Snooze):
    """The remote asked us to wait until `until`; the attempt does not count."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(until, message)


def describe(error: BaseException) -> str:
    """The message recorded in `error_message`: the error's own words, with its type."""
    text = str(error).strip()
    if isinstance(error, JobError):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Kind:
    """The three kinds of failed attempt."""

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
    if isinstance(error, Snooze):
        return Kind.RATE_LIMITED
    if isinstance(error, PermanentError):
        return Kind.PERMANENT
    return Kind.RETRYABLE
