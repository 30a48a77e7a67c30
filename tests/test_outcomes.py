"""What an attempt comes to (SPEC §3), decided as a value before anything is written."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from syncd.errors import PermanentError, RateLimited, RetryableError, Snooze
from syncd.job import SYNC, Job
from syncd.outcomes import (
    COMPLETED,
    FAILED,
    RELEASED,
    RETRY,
    SNOOZED,
    Outcome,
    RetryPolicy,
    attempt,
    decide,
)

POLICY = RetryPolicy(delays=[60, 300, 900, 3600], jitter=0.0, timeout_s=30.0)
UNTIL = datetime(2030, 1, 1, tzinfo=UTC)


def job(attempt: int = 1, max_attempts: int = 5) -> Job:
    return Job(SYNC, uuid.uuid4(), attempt, max_attempts, "upsert", "contact", uuid.uuid4())


def test_returning_completes() -> None:
    assert decide(job(), None, POLICY, duration_ms=2.5) == Outcome(COMPLETED, duration_ms=2.5)


def test_a_passing_fault_retries_on_the_schedule() -> None:
    for n, delay in [(1, 60), (2, 300), (4, 3600)]:
        outcome = decide(job(n), RetryableError("HTTP 503"), POLICY)
        assert (outcome.kind, outcome.delay_s, outcome.error) == (RETRY, delay, "HTTP 503")
        assert outcome.attempt_counted


def test_an_unexpected_error_retries_with_its_type_in_the_message() -> None:
    outcome = decide(job(), ConnectionResetError("peer"), POLICY)
    assert (outcome.kind, outcome.error) == (RETRY, "ConnectionResetError: peer")


def test_the_last_attempt_fails_not_permanently() -> None:
    outcome = decide(job(5, 5), RetryableError("HTTP 503"), POLICY)
    assert (outcome.kind, outcome.permanent) == (FAILED, False)


def test_a_permanent_error_fails_at_once() -> None:
    outcome = decide(job(1), PermanentError("entity gone"), POLICY)
    assert (outcome.kind, outcome.permanent, outcome.error) == (FAILED, True, "entity gone")


def test_a_raised_snooze_waits_without_counting_the_attempt() -> None:
    outcome = decide(job(), Snooze(UNTIL, "board locked"), POLICY)
    assert (outcome.kind, outcome.until, outcome.error) == (SNOOZED, UNTIL, "board locked")
    assert not outcome.attempt_counted


def test_a_returned_snooze_is_a_snooze_too() -> None:
    outcome = decide(job(), Snooze(UNTIL), POLICY)
    assert (outcome.kind, outcome.until) == (SNOOZED, UNTIL)


def test_a_rate_limit_is_a_snooze_even_on_the_last_attempt() -> None:
    outcome = decide(job(5, 5), RateLimited("HTTP 429", UNTIL), POLICY)
    assert (outcome.kind, outcome.until) == (SNOOZED, UNTIL)


def test_a_cancelled_attempt_is_released() -> None:
    outcome = decide(job(), asyncio.CancelledError(), POLICY)
    assert outcome.kind == RELEASED and not outcome.attempt_counted


def test_a_timeout_retries_and_says_so() -> None:
    outcome = decide(job(), TimeoutError(), POLICY, timed_out=True, duration_ms=30000.0)
    assert (outcome.kind, outcome.timed_out, outcome.error) == (
        RETRY,
        True,
        "timed out after 30 s",
    )
    last = decide(job(5, 5), TimeoutError(), POLICY, timed_out=True)
    assert (last.kind, last.timed_out, last.permanent) == (FAILED, True, False)


def test_a_handler_may_choose_its_backoff() -> None:
    chosen = RetryPolicy([60], 0.0, 30.0, override=lambda j: 7.0 * j.attempt)
    assert decide(job(3), RetryableError("x"), chosen).delay_s == 21.0


def test_a_handler_backoff_of_none_keeps_the_schedule() -> None:
    chosen = RetryPolicy([60, 300], 0.0, 30.0, override=lambda j: None)
    assert decide(job(2), RetryableError("x"), chosen).delay_s == 300


def test_a_broken_handler_backoff_falls_back_to_the_schedule() -> None:
    def broken(j: Job) -> float:
        raise ZeroDivisionError

    chosen = RetryPolicy([60, 300], 0.0, 30.0, override=broken)
    assert decide(job(2), RetryableError("x"), chosen).delay_s == 300


async def test_attempt_runs_the_handler_under_the_timeout() -> None:
    async def slow() -> None:
        await asyncio.sleep(30)

    policy = RetryPolicy([60], 0.0, timeout_s=0.05)
    outcome = await attempt(job(), slow, policy)
    assert (outcome.kind, outcome.timed_out) == (RETRY, True)
    assert outcome.duration_ms is not None


async def test_attempt_turns_a_returned_snooze_into_its_outcome() -> None:
    async def later() -> Snooze:
        return Snooze(datetime.now(UTC) + timedelta(minutes=5))

    assert (await attempt(job(), later, POLICY)).kind == SNOOZED


async def test_attempt_gives_a_cancellation_back_as_released() -> None:
    started = asyncio.Event()

    async def stuck() -> None:
        started.set()
        await asyncio.sleep(30)

    task = asyncio.create_task(attempt(job(), stuck, POLICY))
    await started.wait()
    task.cancel()
    assert (await task).kind == RELEASED
