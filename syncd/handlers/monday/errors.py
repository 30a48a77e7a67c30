"""What monday.com's answers mean for a job: each error is one of syncd's three kinds.

monday reports errors in two shapes. API versions from 2024-10 on use the GraphQL
``errors`` array with ``extensions.code``; older ones (and some gateway errors)
put ``error_code``, ``error_message`` and ``error_data`` at the top level. Both are
read into one `Problem`, and `classify` decides, in one place, what it means.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from syncd.errors import PermanentError, RateLimited, RetryableError

# The limits that pause all monday work for the token (SPEC §4).
LIMIT_CODES = frozenset(
    {
        "COMPLEXITY_BUDGET_EXHAUSTED",
        "ComplexityException",
        "MINUTE_RATE_LIMIT_EXCEEDED",
        "RATE_LIMIT_EXCEEDED",
        "MAX_CONCURRENCY_EXCEEDED",
        "DAILY_LIMIT_EXCEEDED",
        "IP_RATE_LIMIT_EXCEEDED",
        "FIELD_LIMIT_EXCEEDED",
    }
)
# The item the call named is not there (deleted, archived, or never was).
GONE_CODES = frozenset({"InvalidItemIdException", "ResourceNotFoundException", "ItemNotFound"})
# Data monday refuses: retrying the same data cannot succeed.
REFUSED_CODES = frozenset(
    {
        "ColumnValueException",
        "CorrectedValueException",
        "InvalidColumnIdException",
        "InvalidBoardIdException",
        "InvalidGroupIdException",
        "ItemNameTooLongException",
        "ItemsLimitationException",
        "JsonParseException",
        "GRAPHQL_VALIDATION_FAILED",
        "GraphQLValidationError",
        "ParseError",
        "InvalidArgumentException",
        "IDEMPOTENCY_KEY_REUSED",
    }
)

_RESET_IN = re.compile(r"reset in (\d+) seconds?", re.IGNORECASE)


class MondayRefused(PermanentError):
    """monday refused the data (ColumnValueException and the like)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class ItemGone(MondayRefused):
    """The item is not on monday any more; an upsert makes it again."""


class MondayUnavailable(RetryableError):
    """A passing fault: network, timeout, 5xx, a locked board, an unexpected answer."""


class MondayLimited(RateLimited):
    """A monday limit was hit: all work with the token waits until `until`."""

    def __init__(self, message: str, until: datetime, code: str) -> None:
        super().__init__(message, until)
        self.code = code


@dataclass(slots=True)
class Problem:
    """One error from monday, whichever shape it came in."""

    code: str
    message: str
    status: int
    retry_in: float | None = None
    data: dict[str, Any] = field(default_factory=dict)


def problems(status: int, body: Any, headers: Mapping[str, str]) -> list[Problem]:
    """The errors in one response (empty for a clean answer)."""
    found: list[Problem] = []
    retry_after = _retry_after(headers.get("Retry-After"))
    if isinstance(body, dict):
        for error in body.get("errors") or []:
            if not isinstance(error, dict):  # legacy: a list of message strings
                continue
            ext = error.get("extensions") or {}
            data = ext.get("error_data") or {}
            found.append(
                Problem(
                    code=str(ext.get("code") or "UNKNOWN"),
                    message=str(error.get("message") or "monday returned an error"),
                    status=int(ext.get("status_code") or status),
                    retry_in=_first(ext.get("retry_in_seconds"), data.get("retry_in_seconds")),
                    data=data if isinstance(data, dict) else {},
                )
            )
        if not found and (body.get("error_code") or body.get("error_message")):
            data = body.get("error_data") or {}
            message = str(body.get("error_message") or body.get("error_code"))
            match = _RESET_IN.search(message)
            found.append(
                Problem(
                    code=str(body.get("error_code") or "UNKNOWN"),
                    message=message,
                    status=int(body.get("status_code") or status),
                    retry_in=_first(
                        data.get("retry_in_seconds") if isinstance(data, dict) else None,
                        match.group(1) if match else None,
                    ),
                    data=data if isinstance(data, dict) else {},
                )
            )
    if not found and status >= 400:
        found.append(Problem(code=f"HTTP_{status}", message=f"HTTP {status}", status=status))
    for problem in found:
        if problem.retry_in is None:
            problem.retry_in = retry_after
    return found


def classify(problem: Problem, now: datetime) -> Exception:
    """The exception a job raises for `problem`: limited, refused, gone or retryable."""
    code, status = problem.code, problem.status
    text = f"monday {code}: {problem.message}"
    if code in LIMIT_CODES or status == 429:
        return MondayLimited(text, limit_until(problem, now), code)
    if code in GONE_CODES:
        return ItemGone(text, code)
    if code in REFUSED_CODES:
        return MondayRefused(text, code)
    # Board locks (423), server faults, auth trouble and anything unknown: retry.
    # A bad token is retried too: an operator fixing it should not have to
    # resurrect every job that ran meanwhile.
    return MondayUnavailable(text)


def limit_until(problem: Problem, now: datetime) -> datetime:
    if problem.retry_in is not None:
        return now + timedelta(seconds=max(problem.retry_in, 1.0))
    if problem.code == "DAILY_LIMIT_EXCEEDED":
        # The daily count resets at midnight UTC.
        tomorrow = (now.astimezone(UTC) + timedelta(days=1)).date()
        return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC)
    return now + timedelta(seconds=60)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _first(*values: Any) -> float | None:
    for value in values:
        try:
            if value is not None:
                return float(value)
        except (TypeError, ValueError):
            continue
    return None
