"""What monday.com's answers mean for a job: each error is one of syncd's three kinds.

monday reports errors in two shapes. API versions from 2024-10 on use the GraphQL
``errors`` array with ``extensions.code``; older ones (and some gateway errors)
put ``error_code``, ``error_message`` and ``error_data`` at the top level. Both are
read into one `Problem`, and `classify` decides, in one place, what it means.

An answer is text from outside: every field is checked for its type before use, and
an answer that does not parse or has the wrong shape becomes a retryable error that
says so, never a raw ``ValueError`` or ``AttributeError``. Every wait monday names
is capped (`Waits`), and one that is not a finite number gets the default pause.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
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
# A board that another process is changing (HTTP 423, "Resource is currently
# locked"): a limit on that board only, not on the token.
LOCK_CODES = frozenset({"ResourceLockedException", "RESOURCE_LOCKED", "BoardLockedException"})
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
    """A passing fault: network, timeout, 5xx, a redirect, an unexpected answer."""


class MondayLimited(RateLimited):
    """A monday limit was hit: all work with the token waits until `until`."""

    def __init__(self, message: str, until: datetime, code: str) -> None:
        super().__init__(message, until)
        self.code = code


class BoardLocked(MondayLimited):
    """A board is locked: work on that board (only) waits until `until`."""


@dataclass(frozen=True, slots=True)
class Waits:
    """How long syncd lets monday make it wait ([monday] max_pause and friends)."""

    max_pause: float = 3600.0
    max_daily_pause: float = 86400.0
    lock_pause: float = 5.0
    # A limit that names no usable wait.
    limit_pause: float = 60.0

    @property
    def longest(self) -> float:
        """The longest pause any answer can cause."""
        return max(self.max_pause, self.max_daily_pause)

    def seconds(self, named: float | None, default: float, cap: float | None = None) -> float:
        """`named` if it is a sane number of seconds, else `default`; at most the cap."""
        if named is None or not math.isfinite(named) or named < 0:
            named = default
        return min(max(named, 1.0), self.max_pause if cap is None else cap)


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
        listed = body.get("errors")
        for error in listed if isinstance(listed, list) else []:
            if not isinstance(error, dict):  # legacy: a list of message strings
                continue
            ext = _mapping(error.get("extensions"))
            data = _mapping(ext.get("error_data"))
            found.append(
                Problem(
                    code=_code(ext.get("code")),
                    message=str(error.get("message") or "monday returned an error"),
                    status=_status(ext.get("status_code"), status),
                    retry_in=_first(ext.get("retry_in_seconds"), data.get("retry_in_seconds")),
                    data=data,
                )
            )
        if not found and (body.get("error_code") or body.get("error_message")):
            data = _mapping(body.get("error_data"))
            message = str(body.get("error_message") or body.get("error_code"))
            match = _RESET_IN.search(message)
            found.append(
                Problem(
                    code=_code(body.get("error_code")),
                    message=message,
                    status=_status(body.get("status_code"), status),
                    retry_in=_first(
                        data.get("retry_in_seconds"), match.group(1) if match else None
                    ),
                    data=data,
                )
            )
    if not found and status >= 400:
        detail = "the answer names no error" if isinstance(body, dict) else "not a JSON object"
        found.append(Problem(code=phrase(status), message=detail, status=status))
    for problem in found:
        if problem.retry_in is None:
            problem.retry_in = retry_after
    return found


def classify(problem: Problem, now: datetime, waits: Waits = Waits()) -> Exception:
    """The exception a job raises for `problem`: limited, locked, refused, gone or retryable."""
    code, status = problem.code, problem.status
    # An HTTP failure names its status, so that 500 and 503 read apart in a job's error.
    text = (
        f"monday HTTP {status} {code}: {problem.message}"
        if status >= 300
        else (f"monday {code}: {problem.message}")
    )
    if status == 413:
        return MondayRefused(f"{text} (the data is too large for monday)", code)
    if code in LOCK_CODES or status == 423:
        seconds = waits.seconds(problem.retry_in, waits.lock_pause)
        until = now + timedelta(seconds=seconds)
        return BoardLocked(_unusable(text, problem, seconds), until, code)
    if code in LIMIT_CODES or status == 429:
        return MondayLimited(
            _unusable(text, problem, waits.limit_pause), limit_until(problem, now, waits), code
        )
    if code in GONE_CODES:
        return ItemGone(text, code)
    if code in REFUSED_CODES:
        return MondayRefused(text, code)
    # Server faults, auth trouble and anything unknown: retry. A bad token is
    # retried too: an operator fixing it should not have to resurrect every job
    # that ran meanwhile.
    return MondayUnavailable(text)


def limit_until(problem: Problem, now: datetime, waits: Waits = Waits()) -> datetime:
    """When a limit ends: as monday says, capped; the daily limit at midnight UTC."""
    if problem.code == "DAILY_LIMIT_EXCEEDED":
        # The daily count resets at midnight UTC.
        tomorrow = (now.astimezone(UTC) + timedelta(days=1)).date()
        midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC)
        default = (midnight - now).total_seconds()
        seconds = waits.seconds(problem.retry_in, default, cap=waits.max_daily_pause)
    else:
        seconds = waits.seconds(problem.retry_in, waits.limit_pause)
    return now + timedelta(seconds=seconds)


def _unusable(text: str, problem: Problem, default: float) -> str:
    """`text`, saying so when monday's wait was not a usable number of seconds."""
    named = problem.retry_in
    if named is None or (math.isfinite(named) and named >= 0):
        return text
    return f"{text} (monday named a wait of {named!r} s, not a usable number: {default:g} s)"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _code(value: Any) -> str:
    # A code is a short identifier; anything else (a list, a long text) is not one.
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    text = re.sub(r"[^\w.-]", "", text, flags=re.ASCII)[:100]
    return text or "UNKNOWN"


def _status(value: Any, default: int) -> int:
    """monday's own status_code when it is one, else the HTTP status."""
    try:
        status = int(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return status if 100 <= status <= 599 else default


def phrase(status: int) -> str:
    """HTTP 502 -> BAD_GATEWAY: what a bare status is called in an error message."""
    try:
        return HTTPStatus(status).name
    except ValueError:
        return "UNKNOWN"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, with no zone said
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _first(*values: Any) -> float | None:
    for value in values:
        try:
            if value is not None and not isinstance(value, bool):
                return float(value)
        except (TypeError, ValueError, OverflowError):
            continue
    return None
