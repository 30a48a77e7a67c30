"""The monday.com API client: one HTTP session, paced spending, and a shared pause.

Every call goes through the same four steps, in this order:

1. wait for a slot on the board (``board_concurrency``: monday advises against
   concurrent mutations of one board, they end in 423 locks);
2. wait until the call fits in monday's budgets (`pacing.Pacer`), or snooze the job
   when that is further off than ``max_wait``;
3. check in ``monday_pauses`` that the board is not locked (a 423 leaves it alone
   until the time monday named, whatever ``board_concurrency``) and that no pause is
   in force for the token (another syncd process may have hit a limit a moment ago,
   or an operator may have ended the pause with ``syncd monday resume``);
4. send, read at most ``max_response_bytes`` of the answer (redirects are not
   followed: a mutation is never re-posted elsewhere), learn the cost and the
   budgets from it, and turn errors into syncd's three kinds (`errors.classify`).
   A limit hit writes a shared pause; a board lock snoozes that board's jobs.

Beside the calls, never in their way, a client with a pool reports what its pacer
knows of the budgets to the database, for the console (`budgets.BudgetReporter`).

The token goes into the ``Authorization`` header of each request and nowhere else:
not into the session's defaults, not into a log event, not into an error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog
from pydantic import SecretStr

from syncd.errors import RateLimited
from syncd.handlers.monday import errors
from syncd.handlers.monday.budgets import BudgetReporter
from syncd.handlers.monday.operations import Operation
from syncd.handlers.monday.pacing import COMPLEXITY, Pacer, Ticket, WaitTooLong
from syncd.handlers.monday.pauses import DatabasePauses, PauseStore, token_id
from syncd.handlers.monday.settings import MondaySettings

if TYPE_CHECKING:
    import asyncpg

log = structlog.get_logger("syncd.monday")


@dataclass(frozen=True, slots=True)
class Answer:
    data: dict[str, Any]
    # True when monday served a stored answer for a repeated Idempotency-Key.
    replayed: bool = False


def idempotency_key(job_id: object, document: Operation, variables: Mapping[str, Any]) -> str:
    """The Idempotency-Key of one mutation of one job.

    It covers the job (not the attempt: a retry must replay, not repeat) and the
    exact document and variables (changed data must never get a stale answer).
    """
    exact = json.dumps(
        {"job": str(job_id), "query": document.text, "variables": variables},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return "syncd-" + hashlib.sha256(exact.encode()).hexdigest()


class MondayClient:
    """A `syncd.handlers.Service`: the daemon opens it with the pool and closes it."""

    def __init__(
        self,
        settings: MondaySettings,
        *,
        pauses: PauseStore | None = None,
        token: SecretStr | None = None,
    ) -> None:
        self.settings = settings
        self.pacer = Pacer(settings.reserve)
        # requests, limit_hits, replayed: for `syncd status`, the bench and tests.
        self.stats: Counter[str] = Counter()
        self._token = token
        self._pauses = pauses
        self._session: aiohttp.ClientSession | None = None
        self._budgets: BudgetReporter | None = None
        self._boards: dict[int, asyncio.Semaphore] = {}
        self._pause_reason = ""
        self._pause_seen = False  # a pause was in force: log monday.resumed after it
        self.waits = errors.Waits(
            max_pause=settings.max_pause,
            max_daily_pause=settings.max_daily_pause,
            lock_pause=settings.lock_pause,
        )

    def __repr__(self) -> str:
        return f"MondayClient(api_url={self.settings.api_url!r})"

    # -- for the metrics -----------------------------------------------------------

    def budget_remaining(self) -> float:
        """Complexity points left in this window, as far as the answers told (NaN:
        not known yet, before the first answer or after a reset)."""
        budget = self.pacer.budgets.get(COMPLEXITY)
        if budget is None or budget.remaining == float("inf"):
            return float("nan")
        return budget.remaining

    async def paused_for(self) -> float:
        """Seconds left in the token's pause in force, from any process; 0: none."""
        assert self._pauses is not None, "MondayClient.start() was not called"
        pause = await self._pauses.current()
        return 0.0 if pause is None else max(0.0, pause.remaining)

    # -- Service ---------------------------------------------------------------

    async def start(self, pool: asyncpg.Pool | None) -> None:
        if self._token is None:
            self._token = self.settings.resolve_token()
        token = token_id(self._token.get_secret_value())
        if self._pauses is None:
            if pool is None:
                raise ValueError("a MondayClient without a pause store needs the pool")
            self._pauses = DatabasePauses(pool, token)
        if pool is not None and self._budgets is None:
            # For the console, which cannot see this process's pacer (budgets.py).
            reporter = f"{socket.gethostname()}:{os.getpid()}"
            self._budgets = BudgetReporter(pool, self.pacer, token, reporter)
            self._budgets.start()
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.settings.max_connections),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
            )

    async def stop(self) -> None:
        if self._budgets is not None:
            await self._budgets.stop()
            self._budgets = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- calls -------------------------------------------------------------------

    async def call(
        self,
        document: Operation,
        variables: Mapping[str, Any],
        *,
        board_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> Answer:
        """Send one document; return its data or raise one of the `errors` kinds."""
        async with self._board(board_id):
            try:
                ticket = await self.pacer.acquire(document.name, self.settings.max_wait)
            except WaitTooLong as exc:
                log.debug("monday.paced", budget=exc.budget, wait_s=round(exc.seconds, 3))
                raise RateLimited(str(exc), self._wall(exc.seconds)) from None
            try:
                await self._check_board(board_id)
                await self._check_pause()
                return await self._send(document, variables, idempotency_key, ticket, board_id)
            finally:
                await self.pacer.release(ticket)

    @contextlib.asynccontextmanager
    async def _board(self, board_id: int | None) -> AsyncIterator[None]:
        if board_id is None:
            yield
            return
        slot = self._boards.setdefault(board_id, asyncio.Semaphore(self.settings.board_concurrency))
        async with slot:
            yield

    async def _check_board(self, board_id: int | None) -> None:
        """Refuse to send to a board monday said is locked, until the time it named."""
        if board_id is None:
            return
        assert self._pauses is not None, "MondayClient.start() was not called"
        lock = await self._pauses.current(board_id)
        if lock is not None:
            left = min(lock.remaining, self.waits.max_pause)
            raise errors.BoardLocked(
                f"monday board {board_id} is locked for {_for_how_long(left)} ({lock.reason})",
                self._wall(left),
                lock.reason,
            )

    async def _check_pause(self) -> None:
        """Refuse to send while a pause is in force, from this process or another.

        The database is asked every time, not a copy kept here: an operator's
        ``syncd monday resume`` must take effect at once in every process.
        """
        assert self._pauses is not None, "MondayClient.start() was not called"
        pause = await self._pauses.current()
        if pause is not None:
            # A pause written before max_pause existed (or by a bug) still ends in time.
            left = min(pause.remaining, self.waits.longest)
            if not self._pause_seen:
                # Learnt from the database: another process hit the limit.
                log.info(
                    "monday.rate_limited",
                    reason=pause.reason,
                    retry_in_s=round(left, 3),
                    until=self._wall(left).isoformat(),
                    shared=True,
                )
            self._pause_seen, self._pause_reason = True, pause.reason
            raise errors.MondayLimited(
                f"monday work is paused for {_for_how_long(left)} ({pause.reason})",
                self._wall(left),
                pause.reason,
            )
        if self._pause_seen:
            self._pause_seen = False
            log.info("monday.resumed", reason=self._pause_reason)

    async def _send(
        self,
        document: Operation,
        variables: Mapping[str, Any],
        key: str | None,
        ticket: Ticket,
        board_id: int | None,
    ) -> Answer:
        assert self._session is not None and self._token is not None
        headers = {
            "Authorization": self._token.get_secret_value(),
            "API-Version": self.settings.api_version,
            "Content-Type": "application/json",
        }
        if key is not None and document.is_mutation:
            headers["Idempotency-Key"] = key
        body = {"query": document.text, "variables": dict(variables)}
        self.stats["requests"] += 1
        ticket.sent = True
        try:
            # No redirects: monday's API has no reason to send one, and following it
            # would re-post the mutation, its data and its Idempotency-Key elsewhere.
            async with self._session.post(
                self.settings.api_url, json=body, headers=headers, allow_redirects=False
            ) as r:
                status, answer_headers = r.status, r.headers
                if 300 <= status < 400:
                    raise errors.MondayUnavailable(
                        f"monday HTTP {status} {errors.phrase(status)}: {document.name} was "
                        f"redirected to {r.headers.get('Location', '(no Location)')[:200]!r}; "
                        "syncd does not follow redirects (check monday.api_url)"
                    )
                raw = await self._read(r, document)
        except TimeoutError:
            raise errors.MondayUnavailable(
                f"monday did not answer {document.name} within {self.settings.timeout:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise errors.MondayUnavailable(
                f"monday {document.name}: {type(exc).__name__}: {exc}"
            ) from None
        parsed = _parse(raw)
        data = parsed.get("data") if isinstance(parsed, dict) else None
        self.pacer.observe(
            ticket,
            _as_dict(data.get("complexity")) if isinstance(data, dict) else None,
            answer_headers,
        )
        replayed = answer_headers.get("Idempotency-Replayed", "").lower() == "true"
        if replayed:
            self.stats["replayed"] += 1
        found = errors.problems(status, None if parsed is _NOT_JSON else parsed, answer_headers)
        if found:
            await self._failed(document, status, found, board_id)
        if parsed is _NOT_JSON:
            raise errors.MondayUnavailable(
                f"monday HTTP {status}: the answer to {document.name} is not JSON "
                f"({len(raw)} bytes: {raw[:60].decode('utf-8', 'replace')!r})"
            )
        if not isinstance(data, dict):
            raise errors.MondayUnavailable(
                f"monday HTTP {status}: the answer to {document.name} has an unexpected "
                f"shape (no data object: {_shape(parsed)})"
            )
        return Answer(data, replayed)

    async def _read(self, response: aiohttp.ClientResponse, document: Operation) -> bytes:
        """The body, streamed and cut off past ``max_response_bytes`` (a sane answer is
        a few KiB; an endless one must not take the memory of the host)."""
        limit = self.settings.max_response_bytes
        too_large = (
            f"monday HTTP {response.status}: the answer to {document.name} is larger than "
            f"max_response_bytes ({limit} bytes); not read"
        )
        if response.content_length is not None and response.content_length > limit:
            raise errors.MondayUnavailable(too_large)
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > limit:
                raise errors.MondayUnavailable(too_large)
        return bytes(body)

    async def _failed(
        self, document: Operation, status: int, found: list[errors.Problem], board_id: int | None
    ) -> None:
        now = datetime.now(UTC)
        if status == 409 and not any(p.code in errors.REFUSED_CODES for p in found):
            # The same mutation is still running on monday (an earlier attempt that
            # timed out here): come back when it has finished, and replay it.
            wait = self.waits.seconds(found[0].retry_in, 5.0)
            raise RateLimited(
                f"monday {document.name}: the same request is still running", self._wall(wait)
            )
        # A limit outranks the other errors of the same answer.
        classified = [errors.classify(p, now, self.waits) for p in found]
        error = next((e for e in classified if isinstance(e, errors.MondayLimited)), classified[0])
        if isinstance(error, errors.BoardLocked):
            await self._lock(board_id, error, now)
        elif isinstance(error, errors.MondayLimited):
            await self._pause(error, now)
        raise error

    async def _lock(self, board_id: int | None, error: errors.BoardLocked, now: datetime) -> None:
        """Leave a locked board alone until monday's time, in every process, whatever
        board_concurrency; other boards go on."""
        assert self._pauses is not None
        seconds = (error.until - now).total_seconds()
        if board_id is not None:
            await self._pauses.extend(seconds, error.code, board_id)
        log.warning(
            "monday.board_locked",
            board_id=board_id,
            retry_in_s=round(seconds, 3),
            until=error.until.isoformat(),
        )

    async def _pause(self, error: errors.MondayLimited, now: datetime) -> None:
        """Stop all monday work with this token until `error.until`, in every process."""
        assert self._pauses is not None
        self.stats["limit_hits"] += 1
        seconds = max((error.until - now).total_seconds(), 0.0)
        await self._pauses.extend(seconds, error.code)
        self._pause_reason = error.code
        self._pause_seen = True
        log.warning(
            "monday.rate_limited",
            reason=error.code,
            retry_in_s=round(seconds, 3),
            until=error.until.isoformat(),
            shared=False,
        )

    def _wall(self, seconds: float) -> datetime:
        """The moment `seconds` from now, the wait capped at the longest pause allowed."""
        seconds = self.waits.seconds(seconds, self.waits.lock_pause, cap=self.waits.longest)
        return datetime.now(UTC) + timedelta(seconds=seconds)


class _NotJson:
    """The parse of an answer that is not JSON (``None`` is JSON's ``null``)."""


_NOT_JSON: Any = _NotJson()


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _NOT_JSON


def _as_dict(value: object) -> dict[str, object] | None:
    return value if isinstance(value, dict) else None


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return f"an object with keys {sorted(map(str, value))[:5]}"
    return f"a {type(value).__name__}"


def _for_how_long(seconds: float) -> str:
    """How much longer a pause lasts, in words: never "0.0 s more" for the last moments."""
    if seconds < 0.1:
        return "a moment more"
    return f"{seconds:.1f} s more"
