"""The fake monday.com API server (``POST /v2``): what tests and `syncd demo` talk to.

One request goes through the same gates as on monday, in this order: faults a test
injected, the ``Authorization`` token, the ``API-Version``, the GraphQL document
against the published schema, ``Idempotency-Key`` replay, the daily / per-minute /
concurrency limits, the complexity budget, then execution. Errors come in monday's
unified format (``errors[].extensions.code``), or in the legacy top-level
``error_code`` format for API versions before 2024-10.

Everything a test may want to assert on is counted: `requests`, the requests that
arrived while the fake had told a client to wait (`requests_during_pause`), every
`received` request with its headers and document, the `limit_hits` by code, and
each timed board lock with the mutations that arrived while it held (`locks`).

Besides monday's own answers, faults can make it answer as monday (or something in
between) should not: any status with any body and headers (a 429 naming an absurd or
infinite wait, a 413), raw bytes (garbage, or hundreds of MiB streamed without being
held), and redirects to another host.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from syncd.fake_monday import graph
from syncd.fake_monday.boards import Boards, MondayError
from syncd.fake_monday.faults import Faults
from syncd.fake_monday.limits import Limits
from syncd.fake_monday.webhooks import Webhooks

TOKEN = "fake-monday-token"
CURRENT_VERSION = "2026-10"
VERSIONS = frozenset(
    {
        "2023-10", "2024-01", "2024-04", "2024-07", "2024-10", "2025-01", "2025-04",
        "2025-07", "2025-10", "2026-01", "2026-04", "2026-07", "2026-10",
    }
)  # fmt: skip
UNIFIED_SINCE = "2024-10"
IDEMPOTENCY_TTL = 30 * 60.0
ACCOUNT_ID = 424242


@dataclass
class Received:
    """One request as the fake saw it."""

    at: float
    headers: dict[str, str]
    body: bytes
    during_pause: bool
    query: str | None = None
    fields: list[str] = field(default_factory=list)
    status: int | None = None


@dataclass
class Lock:
    """One lock of a board: from when to when, and the mutations that came meanwhile."""

    board_id: int
    since: float
    until: float
    # Mutations of the board that arrived while it was locked, after the one that
    # locked it: a client that heeds Retry-After sends none once it has the answer.
    arrived: list[float] = field(default_factory=list)


@dataclass
class Stored:
    digest: str
    pending: bool = True
    status: int = 200
    body: Any = None
    expires: float = 0.0


class FakeMonday:
    """An in-process monday.com: boards, items, limits, idempotency and faults."""

    def __init__(
        self,
        *,
        tokens: tuple[str, ...] = (TOKEN,),
        limits: Limits | None = None,
        versions: frozenset[str] = VERSIONS,
        signing_secret: str | None = None,
    ) -> None:
        self.tokens = set(tokens)
        self.limits = limits or Limits()
        self.versions = versions
        self.boards = Boards()
        # Registered through the API; called when an item changes.
        self.webhooks = Webhooks(self.boards, signing_secret)
        self.faults = Faults()
        self.requests = 0
        self.requests_during_pause = 0
        self.received: list[Received] = []
        self.limit_hits: Counter[str] = Counter()
        # Every timed board lock (Faults.lock_board(seconds=...)), oldest first.
        self.locks: list[Lock] = []
        # The latest moment the fake told any client to come back at (monotonic).
        self.paused_until = 0.0
        self._stored: dict[tuple[str, str], Stored] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- serving -------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2", self._handle)
        app.router.add_post("/v2/", self._handle)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on `host:port` (0: any free port); returns the API URL."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        assert sockets, "the fake's server did not bind"
        bound = sockets[0].getsockname()
        self.url = f"http://{host}:{bound[1]}/v2"
        return self.url

    async def stop(self) -> None:
        await self.webhooks.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeMonday:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- what tests read -----------------------------------------------------------

    @property
    def documents(self) -> list[str]:
        """Every GraphQL document received, in order."""
        return [r.query for r in self.received if r.query is not None]

    def calls(self, root_field: str) -> list[Received]:
        return [r for r in self.received if root_field in r.fields]

    def cost_of(self, query: str) -> int:
        import graphql

        document = graphql.parse(query)
        operation = graphql.get_operation_ast(document)
        assert operation is not None
        return graph.cost(document, operation)

    # -- one request -----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        self.requests += 1
        during_pause = now < self.paused_until
        if during_pause:
            self.requests_during_pause += 1
        record = Received(now, dict(request.headers), await request.read(), during_pause)
        self.received.append(record)
        self.limits.in_flight += 1
        try:
            response = await self._answer(request, record)
        finally:
            self.limits.in_flight -= 1
        if response is None:  # the connection was dropped on purpose
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        record.status = response.status
        return response

    async def _answer(self, request: web.Request, record: Received) -> web.StreamResponse | None:
        import graphql

        version = request.headers.get("API-Version", "")
        legacy = version in self.versions and version < UNIFIED_SINCE
        try:
            body = json.loads(record.body)
            query = body["query"]
            variables = body.get("variables") or {}
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return self._error(400, "JsonParseException", "No query string was present", legacy)
        record.query = query
        try:
            document = graphql.parse(query)
        except graphql.GraphQLError as exc:
            return self._json(200, {"errors": [_graphql_error(exc, "GRAPHQL_PARSE_FAILED")]})
        operation = graphql.get_operation_ast(document, body.get("operationName"))
        if operation is None:
            return self._error(200, "GRAPHQL_VALIDATION_FAILED", "Unknown operation", legacy)
        record.fields = [
            s.name.value
            for s in operation.selection_set.selections
            if isinstance(s, graphql.FieldNode)
        ]
        is_mutation = operation.operation == graphql.OperationType.MUTATION

        delay = self.faults.take("delay", record.fields)
        if delay is not None:
            await asyncio.sleep(delay.seconds)
        if self.faults.take("drop", record.fields) is not None:
            return None
        failure = self.faults.take("status", record.fields)
        if failure is not None:
            if failure.body is not None:
                response = self._json(failure.status, failure.body)
            else:
                response = self._error(
                    failure.status, "INTERNAL_SERVER_ERROR", "Internal server error", legacy
                )
            response.headers.update(failure.headers)
            return response
        redirect = self.faults.take("redirect", record.fields)
        if redirect is not None:
            return web.Response(status=redirect.status, headers=redirect.headers)
        raw = self.faults.take("raw", record.fields)
        if raw is not None:
            return await _stream(request, raw.status, raw.headers, raw.body, raw.size)

        token = request.headers.get("Authorization", "")
        if token.removeprefix("Bearer ") not in self.tokens:
            return self._error(401, "UNAUTHENTICATED", "Not Authenticated", legacy)
        if version not in self.versions:
            return self._error(
                400,
                "InvalidApiVersionException",
                f"API-Version {version!r} is not supported; use one of YYYY-MM "
                f"up to {CURRENT_VERSION}",
                legacy=False,
            )
        problems = graphql.validate(graph.schema(), document)
        if problems:
            return self._json(
                200, {"errors": [_graphql_error(e, "GRAPHQL_VALIDATION_FAILED") for e in problems]}
            )

        key = request.headers.get("Idempotency-Key") if is_mutation else None
        stored: Stored | None = None
        if key:
            digest = hashlib.sha256(
                json.dumps({"q": query, "v": variables}, sort_keys=True).encode()
            ).hexdigest()
            stored = self._stored.get((token, key))
            if stored is not None and stored.expires and stored.expires < time.monotonic():
                stored = None
            if stored is not None:
                if stored.digest != digest:
                    return self._error(
                        409,
                        "IDEMPOTENCY_KEY_REUSED",
                        "This Idempotency-Key was already used with a different request",
                        legacy,
                    )
                if stored.pending:
                    response = self._error(
                        409, "IDEMPOTENCY_REQUEST_IN_PROGRESS",
                        "A request with this Idempotency-Key is still being processed", legacy,
                    )  # fmt: skip
                    response.headers["Retry-After"] = "1"
                    return response
                response = self._json(stored.status, stored.body)
                response.headers["Idempotency-Replayed"] = "true"
                return response

        limited = self._limited(graph.cost(document, operation), legacy)
        if limited is not None:
            return limited
        cost = graph.cost(document, operation)
        window = self.limits.windows["complexity"]
        before = int(window.remaining())
        for name, w in self.limits.windows.items():
            w.spend(cost if name == "complexity" else 1)
        if key:
            stored = self._stored[(token, key)] = Stored(digest)

        lock_fields = record.fields

        def check_lock(board_id: int) -> None:
            if not is_mutation:
                return
            now = time.monotonic()
            held = next(
                (k for k in reversed(self.locks) if k.board_id == board_id and now < k.until), None
            )
            if held is not None:
                held.arrived.append(now)
                raise _locked(held.until - now)
            fault = self.faults.take("lock", lock_fields, {board_id})
            if fault is not None:
                if fault.seconds > 0:
                    self.locks.append(Lock(board_id, now, now + fault.seconds))
                raise _locked(fault.seconds or None)

        context = graph.Context(
            self.boards,
            {
                "before": before,
                "after": int(window.remaining()),
                "query": cost,
                "reset_in_x_seconds": window.reset_in(),
            },
            check_lock,
            webhooks=self.webhooks,
        )
        result = graphql.execute(
            graph.schema(), document, None, context, variables, body.get("operationName")
        )
        if inspect.isawaitable(result):  # create_webhook calls the URL first
            result = await result
        status, answer, retry_after = self._result(result, legacy)
        if stored is not None:
            if status == 423:  # nothing happened: a retry must run, not replay
                self._stored.pop((token, key or ""), None)
            else:
                stored.pending, stored.status, stored.body = False, status, answer
                stored.expires = time.monotonic() + IDEMPOTENCY_TTL
        if self.faults.take("lose_response", record.fields) is not None:
            return None
        return self._json(status, answer, retry_after=retry_after)

    def _limited(self, cost: int, legacy: bool) -> web.Response | None:
        """A 429 when any limit is reached, else None. Nothing is spent here."""
        limits = self.limits
        daily = limits.windows.get("daily")
        if daily is not None and not daily.fits(1):
            return self._too_many(
                "DAILY_LIMIT_EXCEEDED", "Daily limit exceeded", daily.reset_in(), legacy
            )
        minute = limits.windows.get("minute")
        if minute is not None and not minute.fits(1):
            return self._too_many(
                "MINUTE_RATE_LIMIT_EXCEEDED", "Rate Limit Exceeded", minute.reset_in(), legacy
            )
        if limits.concurrency is not None and limits.in_flight > limits.concurrency:
            return self._too_many("MAX_CONCURRENCY_EXCEEDED", "Max concurrency exceeded", 1, legacy)
        window = limits.windows["complexity"]
        if not window.fits(cost):
            reset = window.reset_in()
            if legacy:
                message = (
                    f"Complexity budget exhausted, query cost {cost} budget remaining "
                    f"{int(window.remaining())} out of {window.limit} reset in {reset} seconds"
                )
                self._hit("ComplexityException", reset)
                return self._json(
                    429,
                    {
                        "error_code": "ComplexityException",
                        "status_code": 429,
                        "error_message": message,
                        "error_data": {},
                        "errors": [message],
                        "account_id": ACCOUNT_ID,
                    },
                    retry_after=reset,
                )
            return self._too_many(
                "COMPLEXITY_BUDGET_EXHAUSTED", "Complexity budget exhausted", reset, legacy
            )
        return None

    def _too_many(self, code: str, message: str, retry: int, legacy: bool) -> web.Response:
        retry = max(retry, 1)
        self._hit(code, retry)
        if legacy:
            body: dict[str, Any] = {
                "error_code": code,
                "status_code": 429,
                "error_message": message,
                "error_data": {"retry_in_seconds": retry},
                "account_id": ACCOUNT_ID,
            }
        else:
            body = {
                "errors": [
                    {"message": message, "extensions": {"code": code, "retry_in_seconds": retry}}
                ]
            }
        return self._json(429, body, retry_after=retry)

    def _hit(self, code: str, retry: float) -> None:
        self.limit_hits[code] += 1
        self.paused_until = max(self.paused_until, time.monotonic() + retry)

    def _result(self, result: Any, legacy: bool) -> tuple[int, dict[str, Any], float | None]:
        """The status, the body and the Retry-After (seconds) of an executed request."""
        errors = []
        for error in result.errors or []:
            original = error.original_error
            if isinstance(original, graph.HttpFailure):
                body = _unified(original.code, original.message, original.status)
                return original.status, body, original.retry_after
            if isinstance(original, MondayError):
                errors.append((original, error))
            else:
                errors.append((MondayError("INTERNAL_SERVER_ERROR", str(error)), error))
        if not errors:
            return 200, {"data": result.data}, None
        first, _ = errors[0]
        status = first.status
        if legacy:
            legacy_body = {
                "error_code": first.code,
                "error_message": first.message,
                "error_data": first.data,
                "status_code": status,
                "account_id": ACCOUNT_ID,
            }
            return status, legacy_body, None
        formatted = []
        for original, error in errors:
            item = error.formatted
            item["extensions"] = {
                "code": original.code,
                "status_code": original.status,
                "error_data": original.data,
            }
            formatted.append(item)
        return status, {"data": result.data, "errors": formatted}, None

    def _error(self, status: int, code: str, message: str, legacy: bool) -> web.Response:
        if legacy:
            return self._json(
                status,
                {
                    "error_code": code,
                    "error_message": message,
                    "error_data": {},
                    "status_code": status,
                    "account_id": ACCOUNT_ID,
                },
            )
        return self._json(status, _unified(code, message, status))

    def _json(self, status: int, body: Any, retry_after: float | None = None) -> web.Response:
        headers = self.limits.headers()
        if retry_after is not None:
            headers["Retry-After"] = str(math.ceil(retry_after))
        return web.json_response(body, status=status, headers=headers)


def _locked(retry_after: float | None) -> graph.HttpFailure:
    # monday's words for a board another process is changing (its error table, 423).
    return graph.HttpFailure(
        423,
        "ResourceLockedException",
        "Resource is currently locked, please try again later",
        retry_after,
    )


async def _stream(
    request: web.Request, status: int, headers: dict[str, str], head: bytes, size: int
) -> web.StreamResponse:
    response = web.StreamResponse(status=status, headers=headers)
    await response.prepare(request)
    try:
        await response.write(head)
        chunk = b"x" * (256 * 1024)
        left = size
        while left > 0:
            await response.write(chunk[:left])
            left -= len(chunk)
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client stopped reading: what a bounded client does
    return response


def _unified(code: str, message: str, status: int) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, "status_code": status}}]}


def _graphql_error(error: Any, code: str) -> dict[str, Any]:
    item: dict[str, Any] = error.formatted
    item["extensions"] = {"code": code}
    return item
