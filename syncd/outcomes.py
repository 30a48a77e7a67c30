"""One attempt, and what it came to, decided before anything is written.

`attempt` runs a job's handler under its queue's timeout; `decide` is a pure
function that takes what the handler did (returned, returned or raised a snooze,
raised, was cut short) with the job and its retry policy, and gives the `Outcome`
as a value. Writing it is the outcome writer's business (loops/writer.py), one
batch and one statement for every kind alike. So the rules of SPEC §3 sit in one
function that a test can call with no database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from syncd.backoff import retry_delay
from syncd.errors import Kind, Snooze, classify, describe
from syncd.job import Job

if TYPE_CHECKING:
    from syncd.config import Settings

COMPLETED = "completed"
RETRY = "retry"
FAILED = "failed"
SNOOZED = "snoozed"
RELEASED = "released"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end of one attempt, as the row will take it."""

    kind: str  # completed | retry | failed | snoozed | released
    error: str | None = None
    # retry: seconds from the moment it is written (the database's clock: the
    # time of the failure, as SPEC §3 says). The row's own max_attempts has the
    # last word: a retry of a row with no attempts left is written as failed.
    delay_s: float | None = None
    until: datetime | None = None  # snoozed
    duration_ms: float | None = None
    timed_out: bool = False  # a retry (or failure) because the queue's timeout ran out
    permanent: bool = False  # failed because the error said so, not for want of attempts

    @property
    def attempt_counted(self) -> bool:
        """Snoozes and releases give the attempt back (SPEC §3)."""
        return self.kind not in (SNOOZED, RELEASED)


# How long to wait before a failed job's next attempt, when a handler says so:
# seconds, or None for the configured schedule (River's NextRetry, Oban's backoff/1).
BackoffOverride = Callable[[Job], "float | None"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    delays: Sequence[float]
    jitter: float
    timeout_s: float
    override: BackoffOverride | None = None

    @classmethod
    def of(cls, settings: Settings, queue: str, override: BackoffOverride | None) -> RetryPolicy:
        """The configured policy of `queue`'s jobs."""
        timeout = settings.queue(queue).timeout
        return cls(settings.retry.delays, settings.retry.jitter, timeout, override)

    def delay(self, job: Job) -> float:
        if self.override is not None:
            try:
                chosen = self.override(job)
                if chosen is not None:
                    return max(0.0, float(chosen))
            except Exception:
                # A handler's broken backoff must not lose the job's outcome:
                # the configured schedule stands in for it.
                pass
        return retry_delay(job.attempt, self.delays, self.jitter)


def decide(
    job: Job,
    result: object,
    policy: RetryPolicy,
    *,
    timed_out: bool = False,
    duration_ms: float | None = None,
) -> Outcome:
    """The outcome of `job`'s attempt, which returned `result` or raised it."""
    if isinstance(result, asyncio.CancelledError):
        # Shutdown ran out of grace: the attempt did not fail, it was cut short.
        return Outcome(RELEASED, duration_ms=duration_ms)
    if isinstance(result, Snooze):  # returned or raised: the job is not ready yet
        return Outcome(SNOOZED, describe(result), until=result.until, duration_ms=duration_ms)
    if not isinstance(result, BaseException):
        return Outcome(COMPLETED, duration_ms=duration_ms)
    if timed_out:
        error = f"timed out after {policy.timeout_s:g} s"
        kind = Kind.RETRYABLE
    else:
        error = describe(result)
        kind = classify(result)
    if kind == Kind.PERMANENT or job.attempt >= job.max_attempts:
        return Outcome(
            FAILED,
            error,
            duration_ms=duration_ms,
            timed_out=timed_out,
            permanent=kind == Kind.PERMANENT,
        )
    return Outcome(
        RETRY, error, delay_s=policy.delay(job), duration_ms=duration_ms, timed_out=timed_out
    )


class _Deadline:
    """asyncio.timeout's rules for one attempt, for a fraction of its cost.

    asyncio.timeout looks up the running loop and the current task (a getpid()
    system call each, on Python 3.11) and goes through a state machine; per
    no-op job that was a tenth of the daemon's CPU time. This one timer does
    the same: cancel the task when the time is up, and on the way out turn that
    cancellation, and only that one, into a timeout."""

    __slots__ = ("_cancelling", "_handle", "_task", "expired")

    def __init__(self, seconds: float, task: asyncio.Task[Any] | None) -> None:
        task = task or asyncio.current_task()
        assert task is not None, "an attempt runs in a task"
        self._task = task
        self._cancelling = task.cancelling()
        self.expired = False
        self._handle = task.get_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        self.expired = True
        self._task.cancel()

    def end(self, cut: BaseException | None) -> bool:
        """Stop the timer; True when `cut` (what the call raised) is our timeout."""
        self._handle.cancel()
        if not self.expired:
            return False
        # Ours if no one else asked for a cancellation meanwhile (asyncio.timeout's rule).
        return self._task.uncancel() <= self._cancelling and isinstance(cut, asyncio.CancelledError)


async def attempt(
    job: Job,
    call: Callable[[], Awaitable[object]],
    policy: RetryPolicy,
    task: asyncio.Task[Any] | None = None,
) -> Outcome:
    """Run `call` (the handler on `job`) under the queue's timeout; its outcome.

    `task` is the one running this, when the caller knows it (looking it up
    costs a system call on Python 3.11).

    A cancellation from outside (shutdown ran out of grace) is not raised but
    comes back as the `released` outcome: the caller hands it to the writer
    before it lets the cancellation go on.
    """
    started = time.monotonic()
    deadline = _Deadline(policy.timeout_s, task)
    result: object
    try:
        result = await call()
    except BaseException as exc:
        if deadline.end(exc):
            result = TimeoutError()
        elif isinstance(exc, asyncio.CancelledError):
            return decide(job, exc, policy)
        elif isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        else:
            result = exc
    else:
        deadline.end(None)
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    return decide(job, result, policy, timed_out=deadline.expired, duration_ms=duration_ms)
