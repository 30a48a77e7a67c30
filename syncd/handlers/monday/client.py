"""The monday.com API client: one HTTP session, paced spending, and a shared pause.

Every call goes through the same four steps, in this order:

1. wait for a slot on the board (``board_concurrency``: monday advises against
   concurrent mutations of one board, they end in 423 locks);
2. wait until the call fits in monday's budgets (`pacing.Pacer`), or snooze the job
   when that is further off than ``max_wait``;
3. check that no pause is in force for the token, locally or in ``monday_pauses``
   (another syncd process may have hit a limit a moment ago);
4. send, learn the cost and the budgets from the answer, and turn errors into
   syncd's three kinds (`errors.classify`). A limit hit writes a shared pause.

The token goes into the ``Authorization`` header of each request and nowhere else:
not into the session's defaults, not into a log event, not into an error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
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
from syncd.handlers.monday.documents import Document
from syncd.handlers.monday.pacing import Pacer, Ticket, WaitTooLong
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


def idempotency_key(job_id: object, document: Document, variables: Mapping[str, Any]) -> str:
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
        self._boards: dict[int, asyncio.Semaphore] = {}
        self._paused_until = 0.0  # monotonic; a pause this process already knows of
        self._pause_reason = ""
        self._pause_seen = False  # a pause was in force: log monday.resumed after it

    def __repr__(self) -> str:
        return f"MondayClient(api_url={self.settings.api_url!r})"

    # -- Service ---------------------------------------------------------------

    async def start(self, pool: asyncpg.Pool | None) -> None:
        if self._token is None:
            self._token = self.settings.resolve_token()
        if self._pauses is None:
            if pool is None:
                raise ValueError("a MondayClient without a pause store needs the pool")
            self._pauses = DatabasePauses(pool, token_id(self._token.get_secret_value()))
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.settings.max_connections),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
            )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- calls -------------------------------------------------------------------

    async def call(
        self,
        document: Document,
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
                raise RateLimited(str(exc), _wall(exc.seconds)) from None
            try:
                await self._check_pause()
                return await self._send(document, variables, idempotency_key, ticket)
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

    async def _check_pause(self) -> None:
        """Refuse to send while a pause is in force, here or in another process."""
        assert self._pauses is not None, "MondayClient.start() was not called"
        loop = asyncio.get_running_loop()
        left = self._paused_until - loop.time()
        reason = self._pause_reason
        if left <= 0:
            pause = await self._pauses.current()
            if pause is not None:
                left, reason = pause.remaining, pause.reason
                if not self._pause_seen:
                    # Learnt from the database: another process hit the limit.
                    log.info(
                        "monday.rate_limited",
                        reason=reason,
                        retry_in_s=round(left, 3),
                        until=_wall(left).isoformat(),
                        shared=True,
                    )
                self._paused_until, self._pause_reason = loop.time() + left, reason
        if left > 0:
            self._pause_seen = True
            raise errors.MondayLimited(
                f"monday work is paused for {left:.1f} s more ({reason})", _wall(left), reason
            )
        if self._pause_seen:
            self._pause_seen = False
            log.info("monday.resumed", reason=self._pause_reason)

    async def _send(
        self, document: Document, variables: Mapping[str, Any], key: str | None, ticket: Ticket
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
            async with self._session.post(self.settings.api_url, json=body, headers=headers) as r:
                status, answer_headers = r.status, r.headers
                text = await r.text()
        except TimeoutError:
            raise errors.MondayUnavailable(
                f"monday did not answer {document.name} within {self.settings.timeout:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise errors.MondayUnavailable(
                f"monday {document.name}: {type(exc).__name__}: {exc}"
            ) from None
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        data = parsed.get("data") if isinstance(parsed, dict) else None
        data = data if isinstance(data, dict) else {}
        self.pacer.observe(ticket, data.get("complexity"), answer_headers)
        replayed = answer_headers.get("Idempotency-Replayed", "").lower() == "true"
        if replayed:
            self.stats["replayed"] += 1
        found = errors.problems(status, parsed, answer_headers)
        if not found:
            if parsed is None:
                raise errors.MondayUnavailable(f"monday {document.name}: not JSON: {text[:200]!r}")
            return Answer(data, replayed)
        await self._failed(document, status, found)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _failed(self, document: Document, status: int, found: list[errors.Problem]) -> None:
        now = datetime.now(UTC)
        if status == 409 and not any(p.code in errors.REFUSED_CODES for p in found):
            # The same mutation is still running on monday (an earlier attempt that
            # timed out here): come back when it has finished, and replay it.
            wait = found[0].retry_in or 5.0
            raise RateLimited(
                f"monday {document.name}: the same request is still running", _wall(wait)
            )
        # A limit outranks the other errors of the same answer.
        problem = next(
            (p for p in found if isinstance(errors.classify(p, now), errors.MondayLimited)),
            found[0],
        )
        error = errors.classify(problem, now)
        if isinstance(error, errors.MondayLimited):
            await self._pause(error, now)
        raise error

    async def _pause(self, error: errors.MondayLimited, now: datetime) -> None:
        """Stop all monday work with this token until `error.until`, in every process."""
        assert self._pauses is not None
        self.stats["limit_hits"] += 1
        seconds = max((error.until - now).total_seconds(), 0.0)
        left = await self._pauses.extend(seconds, error.code)
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + left)
        self._pause_reason = error.code
        self._pause_seen = True
        log.warning(
            "monday.rate_limited",
            reason=error.code,
            retry_in_s=round(seconds, 3),
            until=error.until.isoformat(),
            shared=False,
        )


def _wall(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)
