"""`syncd web`: the operator console (SPEC §10), an aiohttp process of its own.

Access: it refuses a non-loopback `listen` without auth; auth is a token (a Bearer
header, or a cookie set by /login) or HTTP Basic against a user:password file;
`read_only` hides the actions and refuses their POSTs; every form carries a CSRF
token derived from a per-process secret and the user, so a page elsewhere cannot
post on the user's behalf.

Live: one LISTEN connection on the queues' channels and one cheap poll a second
feed every open page through server-sent events; the page then fetches its own
main section again. The poll is needed because the triggers NOTIFY only on insert
and on a job becoming pending: a job that starts or ends sends nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from syncd import actions, db, inspect, overview, pauses, queries, status
from syncd.config import ConfigError, Settings
from syncd.queues import QUEUES
from syncd.web import pages

log = structlog.get_logger("syncd.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
CONSOLE: web.AppKey[Console] = web.AppKey("console", object)  # type: ignore[arg-type]
COOKIE = "syncd_console"
KEEPALIVE = 15.0
CLOSE = ""  # sent to the event streams at shutdown


class Console:
    """The process's shared state: the pool, the live feed and who may come in."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.web = settings.web
        self.secret = secrets.token_bytes(32)
        self.token: str | None = None
        self.users: dict[str, str] = {}
        self.pool: asyncpg.Pool | None = None
        self.listener: asyncpg.Connection | None = None
        self.subscribers: set[asyncio.Queue[str]] = set()
        self._poller: asyncio.Task[None] | None = None
        self.closing = False
        self.local_hosts = {"127.0.0.1", "localhost", "::1", "[::1]", self.web.host_port()[0]}
        self._load_credentials()

    def _load_credentials(self) -> None:
        w = self.web
        if w.auth == "none":
            if not w.is_loopback():
                raise ConfigError(
                    f"web.listen = {w.listen!r} is not a loopback address: set web.auth to "
                    '"token" or "password" before the console listens beyond this host'
                )
            return
        try:
            path = w.credential(w.auth)
            text = path.read_text(encoding="utf-8")
        except (ValueError, OSError) as exc:
            raise ConfigError(f"web.auth: {exc}") from None
        if w.auth == "token":
            self.token = text.strip()
            if len(self.token) < 16:
                raise ConfigError(f"web.token_file {path}: the token needs 16 characters or more")
            return
        for line in text.splitlines():
            user, sep, password = line.strip().partition(":")
            if sep and user and not user.startswith("#"):
                self.users[user] = password
        if not self.users:
            raise ConfigError(f"web.password_file {path}: no user:password line")

    # -- who is it ---------------------------------------------------------------

    def who(self, request: web.Request) -> str | None:
        w = self.web
        if w.auth == "none":
            return "local"
        header = request.headers.get("Authorization", "")
        if w.auth == "token":
            assert self.token is not None
            given = header.removeprefix("Bearer ").strip() or request.cookies.get(COOKIE, "")
            return "token" if given and hmac.compare_digest(given, self.token) else None
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None
            known = self.users.get(user)
            if known is not None and hmac.compare_digest(known, password):
                return user
        return None

    def csrf(self, who: str) -> str:
        return hmac.new(self.secret, who.encode(), hashlib.sha256).hexdigest()[:40]

    # -- live feed ------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        self.pool = await asyncpg.create_pool(
            s.database_url(),
            min_size=1,
            max_size=4,
            init=db.init_connection,
            timeout=s.database.connect_timeout,
            # The job list's optional filters fold away only in custom plans.
            server_settings={
                "application_name": "syncd-web",
                "plan_cache_mode": "force_custom_plan",
            },
        )
        if s.database.listen:
            try:
                self.listener = await db.connect(s, s.listen_url(), "syncd-web-listener")
                for channel in [q.channel for q in QUEUES.values()] + [pauses.CHANNEL]:
                    await self.listener.add_listener(channel, self._notified)
            except (OSError, asyncpg.PostgresError, *db.CONNECTION_ERRORS) as exc:
                # The poll still notices every change, a second later.
                log.warning("web.listen_failed", error=str(exc))
        self._poller = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self.listener is not None:
            await self.listener.close()
        if self.pool is not None:
            await self.pool.close()

    async def close_feeds(self, _app: web.Application) -> None:
        """At shutdown: end every open event stream, so stopping takes no time."""
        self.closing = True
        self.broadcast(CLOSE)

    def _notified(self, _conn: Any, _pid: int, channel: str, _payload: str) -> None:
        self.broadcast(channel)

    def broadcast(self, what: str) -> None:
        for queue in self.subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(what)

    async def _poll(self) -> None:
        seen: dict[str, Any] = {}
        while True:
            await asyncio.sleep(self.web.poll_interval)
            if not self.subscribers:
                continue
            try:
                assert self.pool is not None
                async with self.pool.acquire() as conn:
                    for name, queue in QUEUES.items():
                        row = tuple(await conn.fetchrow(queue.sql("console_changes")))
                        if seen.get(name) not in (None, row):
                            self.broadcast(name)
                        seen[name] = row
            except (OSError, asyncpg.PostgresError, *db.CONNECTION_ERRORS) as exc:
                log.warning("web.poll_failed", error=str(exc))


# -- middleware -----------------------------------------------------------------------


@web.middleware
async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
    console = request.app[CONSOLE]
    if console.web.auth == "none" and request.url.host not in console.local_hosts:
        # Without auth the console trusts being reachable from this host only; a page
        # elsewhere that rebinds its DNS name to 127.0.0.1 still sends its own Host.
        raise web.HTTPForbidden(text="unexpected Host header: open the console by its address")
    if request.path.startswith("/static/") or request.path == "/login":
        return await handler(request)
    who = console.who(request)
    if who is None:
        if console.web.auth == "password":
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="syncd"'})
        if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
            raise web.HTTPSeeOther("/login")
        raise web.HTTPUnauthorized(text="sign in first")
    request["who"] = who
    if request.method == "POST":
        if console.web.read_only:
            raise web.HTTPForbidden(text="this console is read-only")
        form = await request.post()
        given = str(form.get("csrf", "")) or request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(given, console.csrf(who)):
            raise web.HTTPForbidden(text="CSRF token missing or wrong: reload the page")
    return await handler(request)


def _page(request: web.Request) -> pages.Page:
    console = request.app[CONSOLE]
    who = request["who"]
    return pages.Page(who, console.csrf(who), console.web.read_only)


def _html(request: web.Request, title: str, body: str, active: str) -> web.Response:
    # The live script asks for the main section alone when something moved.
    if request.headers.get("X-Fragment"):
        return web.Response(text=body, content_type="text/html")
    text = _page(request).layout(title, body, active)
    return web.Response(text=text, content_type="text/html")


def _conn(request: web.Request) -> Any:
    pool = request.app[CONSOLE].pool
    assert pool is not None
    return pool.acquire()


# -- pages ----------------------------------------------------------------------------


async def overview_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    async with _conn(request) as conn:
        report = await overview.gather(conn, console.settings.daemon.rescue_after)
    body = pages.overview(_page(request), report, request.query.get("flash", ""))
    return _html(request, "Overview", body, "overview")


def _filters(args: dict[str, str], *, limit: int = 50) -> inspect.Filters:
    q = args.get("q", "").strip()
    subject = error = None
    if q:
        try:
            subject = uuid.UUID(q)
        except ValueError:
            error = q
    return inspect.Filters(
        status=args.get("status") or None,
        subject=subject,
        kind=args.get("kind") or None,
        error=error,
        since=inspect.parse_since(args["since"]) if args.get("since") else None,
        limit=limit,
        before=inspect.parse_cursor(args["before"]) if args.get("before") else None,
    )


def _queue(name: str) -> Any:
    try:
        return inspect.queue_named(name)
    except inspect.BadFilter as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


async def jobs_page(request: web.Request) -> web.Response:
    args = {k: v for k, v in request.query.items() if k != "queue" and v}
    queue = _queue(request.query.get("queue", "sync"))
    flash = args.pop("flash", "")
    try:
        filters = _filters(args)
    except inspect.BadFilter as exc:
        filters, flash = inspect.Filters(), str(exc)
    async with _conn(request) as conn:
        listing = await inspect.list_jobs(conn, queue, filters)
    body = pages.jobs_list(_page(request), queue.name, args, listing, flash)
    return _html(request, f"{queue.name} jobs", body, "jobs")


async def job_page(request: web.Request) -> web.Response:
    queue = _queue(request.match_info["queue"])
    try:
        job_id = uuid.UUID(request.match_info["job_id"])
    except ValueError:
        raise web.HTTPNotFound(text="not a job id") from None
    async with _conn(request) as conn:
        detail = await inspect.job_page(conn, queue, job_id)
    if detail is None:
        raise web.HTTPNotFound(text=f"no job {job_id} in the {queue.name} queue")
    body = pages.job_detail(_page(request), detail, request.query.get("flash", ""))
    return _html(request, f"job {str(job_id)[:8]}", body, "jobs")


async def workers_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    async with _conn(request) as conn:
        report = await overview.gather(conn, console.settings.daemon.rescue_after)
    body = pages.workers_page(report["workers"], report["rescue_after_s"])
    return _html(request, "Workers", body, "workers")


async def monday_page(request: web.Request) -> web.Response:
    async with _conn(request) as conn:
        pauses = [dict(r) for r in await conn.fetch(queries.load("monday_pauses_all"))]
        budgets = await status.monday_budgets(conn)
    body = pages.monday_page(_page(request), pauses, budgets, request.query.get("flash", ""))
    return _html(request, "monday", body, "monday")


async def audit_page(request: web.Request) -> web.Response:
    async with _conn(request) as conn:
        entries = [dict(r) for r in await conn.fetch(queries.load("audit_recent"), None, 200)]
    return _html(request, "Audit", pages.audit_page(entries), "audit")


async def events(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    feed: asyncio.Queue[str] = asyncio.Queue(maxsize=100)
    console.subscribers.add(feed)
    try:
        await response.write(b"event: hello\ndata: {}\n\n")
        while True:
            try:
                what = await asyncio.wait_for(feed.get(), KEEPALIVE)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if what == CLOSE:
                break
            await response.write(f"event: change\ndata: {json.dumps(what)}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        console.subscribers.discard(feed)
    return response


async def login_form(request: web.Request) -> web.Response:
    return web.Response(text=pages.login_page(), content_type="text/html")


async def login(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    form = await request.post()
    token = str(form.get("token", ""))
    if console.token is None or not hmac.compare_digest(token, console.token):
        return web.Response(
            status=401, text=pages.login_page("that token is not right"), content_type="text/html"
        )
    response = web.HTTPSeeOther("/")
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
    raise response


# -- actions ---------------------------------------------------------------------------


async def pause_action(request: web.Request) -> web.Response:
    """Pause a queue, or one kind of its jobs (pauses.py): every daemon within a second."""
    form = await request.post()
    queue = _queue(str(form.get("queue", "")))
    kind = str(form.get("kind", "")).strip() or None
    reason = str(form.get("reason", "")).strip() or None
    async with _conn(request) as conn:
        try:
            added = await pauses.pause(conn, queue, kind, request["who"], reason, via="console")
        except ValueError as exc:
            flash = str(exc)
        else:
            subject = pauses.what(queue, kind or pauses.WHOLE)
            flash = f"paused {subject}" if added else f"{subject} was already paused"
    raise web.HTTPSeeOther("/?" + _flash(flash))


async def resume_action(request: web.Request) -> web.Response:
    form = await request.post()
    queue = _queue(str(form.get("queue", "")))
    kind = str(form.get("kind", "")).strip() or None
    async with _conn(request) as conn:
        try:
            lifted = await pauses.resume(conn, queue, kind, request["who"], via="console")
        except ValueError as exc:
            flash = str(exc)
        else:
            flash = "resumed " + ", ".join(pauses.what(queue, k) for k in lifted)
    raise web.HTTPSeeOther("/?" + _flash(flash))


async def monday_resume_action(request: web.Request) -> web.Response:
    from syncd import monday_commands

    async with _conn(request) as conn, conn.transaction():
        ended = await monday_commands.resume(conn)
        if ended:
            await inspect.audit(
                conn,
                request["who"],
                "monday resume",
                None,
                [],
                via="console",
                pauses=[p.reason for p in ended],
                jobs_due=ended[0].woken,
            )
    flash = (
        f"ended {len(ended)} monday pause(s); {ended[0].woken} snoozed sync job(s) due now"
        if ended
        else "no monday pause in force"
    )
    raise web.HTTPSeeOther("/monday?" + _flash(flash))


async def retry_action(request: web.Request) -> web.Response:
    return await _one_job(request, "retry")


async def cancel_action(request: web.Request) -> web.Response:
    return await _one_job(request, "cancel")


async def _one_job(request: web.Request, action: str) -> web.Response:
    form = await request.post()
    queue = _queue(str(form.get("queue", "")))
    try:
        job_id = uuid.UUID(str(form.get("job_id", "")))
    except ValueError:
        raise web.HTTPBadRequest(text="not a job id") from None
    flash = "retried: due now" if action == "retry" else "cancelled"
    async with _conn(request) as conn, conn.transaction():
        try:
            if action == "retry":
                await actions.retry(conn, queue, job_id)
            else:
                await actions.cancel(conn, queue, job_id)
        except (actions.JobNotFound, ValueError) as exc:
            flash = str(exc)
        else:
            await inspect.audit(conn, request["who"], action, queue, [job_id], via="console")
    raise web.HTTPSeeOther(f"/jobs/{queue.name}/{job_id}?" + _flash(flash))


async def bulk_retry_action(request: web.Request) -> web.Response:
    form = await request.post()
    queue = _queue(str(form.get("queue", "")))
    args = {k: str(v) for k, v in form.items() if k in ("kind", "q", "since") and v}
    try:
        filters = _filters({**args, "status": "failed"})
    except inspect.BadFilter as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    async with _conn(request) as conn, conn.transaction():
        ids = await inspect.matching_ids(conn, queue, filters)
        done = await inspect.bulk_retry(conn, queue, ids)
        if done:
            await inspect.audit(
                conn, request["who"], "bulk retry", queue, done, via="console", filters=args
            )
    flash = f"{len(done)} of {len(ids)} failed job(s) due now"
    raise web.HTTPSeeOther(
        pages.jobs_url(queue.name, status="failed", **args) + "&" + _flash(flash)
    )


def _flash(text: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"flash": text})


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ("console.css", "console.js"):
        raise web.HTTPNotFound()
    body = files("syncd.web").joinpath("static", name).read_bytes()
    kind = "text/css" if name.endswith(".css") else "application/javascript"
    return web.Response(body=body, content_type=kind, charset="utf-8")


def build(settings: Settings) -> web.Application:
    """The console's application; raises ConfigError for an unsafe or broken [web]."""
    app = web.Application(middlewares=[access])
    console = Console(settings)
    app[SETTINGS] = settings
    app[CONSOLE] = console

    async def lifecycle(app: web.Application) -> Any:
        await console.start()
        yield
        await console.stop()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(console.close_feeds)
    app.router.add_get("/", overview_page)
    app.router.add_get("/jobs", jobs_page)
    app.router.add_get("/jobs/{queue}/{job_id}", job_page)
    app.router.add_get("/workers", workers_page)
    app.router.add_get("/monday", monday_page)
    app.router.add_get("/audit", audit_page)
    app.router.add_get("/events", events)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/actions/retry", retry_action)
    app.router.add_post("/actions/cancel", cancel_action)
    app.router.add_post("/actions/bulk-retry", bulk_retry_action)
    app.router.add_post("/actions/monday-resume", monday_resume_action)
    app.router.add_post("/actions/pause", pause_action)
    app.router.add_post("/actions/resume", resume_action)
    app.router.add_get("/static/{name}", static)
    return app


def serve(settings: Settings) -> int:
    """`syncd web`: serve until Ctrl-C or SIGTERM."""
    app = build(settings)
    host, port = settings.web.host_port()
    print(f"syncd console on http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    web.run_app(app, host=host, port=port, print=None, handle_signals=True, shutdown_timeout=5)
    return 0
