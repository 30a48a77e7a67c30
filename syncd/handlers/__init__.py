"""The handler registry: how operations and entity types plug into the daemon.

The worker's loop never names a handler. It looks one up here by queue and *kind*,
what the job's queue routes on (queues.py: the sync queue's entity type, the
document queue's operation).

Handlers arrive through the `syncd.handlers` entry-point group. Each entry point is
an ``install(registry, settings)`` function; syncd's own monday.com and document
handlers are installed the same way as a deployment's own.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

import structlog

from syncd.errors import PermanentError, Snooze
from syncd.job import DOCUMENTS, SYNC, Job
from syncd.queues import QUEUES

if TYPE_CHECKING:
    import asyncpg
    from aiohttp import web

    from syncd.config import Settings
    from syncd.metrics import Metrics

ENTRY_POINT_GROUP = "syncd.handlers"
# What a plugin needs, from one place: the job and the queue names.
__all__ = [
    "DOCUMENTS",
    "ENTRY_POINT_GROUP",
    "SYNC",
    "Context",
    "Gauges",
    "Handler",
    "Installer",
    "Job",
    "PluginError",
    "Registry",
    "Routes",
    "Service",
    "load",
]


class Context:
    """What a running handler may use: the shared pool, the settings, a bound logger.

    The worker passes `bind`, which makes the logger on first use instead: binding
    a job's fields costs more than a no-op job itself, and most attempts never log."""

    __slots__ = ("_bind", "_log", "pool", "settings")

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        log: structlog.stdlib.BoundLogger | None = None,
        *,
        bind: Callable[[], structlog.stdlib.BoundLogger] | None = None,
    ) -> None:
        if (log is None) == (bind is None):
            raise TypeError("Context takes a log or a bind, one of them")
        self.pool = pool
        self.settings = settings
        self._log = log
        self._bind = bind

    @property
    def log(self) -> structlog.stdlib.BoundLogger:
        if self._log is None:
            assert self._bind is not None
            self._log = self._bind()
        return self._log


class Handler(Protocol):
    """Runs one attempt of a job. Returning means success.

    Raise `syncd.errors.PermanentError` for a job that can never succeed,
    `syncd.errors.RateLimited` when the remote asked for a pause, and anything else
    (or `RetryableError`) for a passing fault. Return (or raise) a
    `syncd.errors.Snooze` to run the job again later without counting the attempt.

    A handler may also have a ``backoff(job) -> float | None`` method: the seconds
    a failed attempt of `job` waits before the next, or None for the configured
    schedule (River's NextRetry, Oban's backoff/1).
    """

    async def __call__(self, job: Job, ctx: Context) -> Snooze | None: ...


class Service(Protocol):
    """Something handlers share that must be opened and closed with the daemon
    (an HTTP session, a process pool)."""

    async def start(self, pool: asyncpg.Pool) -> None: ...

    async def stop(self) -> None: ...


Installer = Callable[["Registry", "Settings"], None]
# Called once the pool is open, when the daemon serves HTTP ([http] listen):
# a handler's routes on the daemon's listener (monday's webhooks), and its gauges
# (Metrics.watch, Metrics.refresh_with).
Routes = Callable[["web.Application", "asyncpg.Pool"], None]
Gauges = Callable[["Metrics", "asyncpg.Pool"], None]


class PluginError(Exception):
    """An installed handler plugin cannot be loaded: the daemon refuses to start."""


class Registry:
    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str], Handler] = {}
        self.services: list[Service] = []
        self.routes: list[Routes] = []
        self.gauges: list[Gauges] = []

    def add(self, queue: str, kind: str, handler: Handler) -> None:
        if queue not in QUEUES:
            known = " or ".join(repr(n) for n in QUEUES)
            raise ValueError(f"unknown queue {queue!r}: expected {known}")
        self._handlers[(queue, kind)] = handler

    def add_service(self, service: Service) -> None:
        self.services.append(service)

    def add_routes(self, routes: Routes) -> None:
        """Routes for the daemon's HTTP listener; mounted before it starts."""
        self.routes.append(routes)

    def add_gauges(self, gauges: Gauges) -> None:
        """Metrics of a handler's own, hooked into the daemon's /metrics."""
        self.gauges.append(gauges)

    def kinds(self, queue: str) -> list[str]:
        return sorted(kind for q, kind in self._handlers if q == queue)

    def find(self, job: Job) -> Handler:
        queue = QUEUES[job.queue]
        kind = queue.kind(job)
        handler = self._handlers.get((job.queue, kind))
        if handler is not None:
            return handler
        known = ", ".join(self.kinds(job.queue)) or "none"
        raise PermanentError(
            f"unknown {queue.kind_label} {kind!r}: no handler is registered for it (known: {known})"
        )

    def backoff(self, job: Job) -> float | None:
        """The seconds a failed attempt of `job` waits, if its handler chooses."""
        handler = self._handlers.get((job.queue, QUEUES[job.queue].kind(job)))
        chosen = getattr(handler, "backoff", None)
        return None if chosen is None else chosen(job)

    async def start(self, pool: asyncpg.Pool) -> None:
        for service in self.services:
            await service.start(pool)

    async def stop(self) -> None:
        for service in reversed(self.services):
            await service.stop()


def load(settings: Settings, extra: list[Installer] | None = None) -> Registry:
    """Build the registry from every installed entry point, then `extra` (for tests)."""
    registry = Registry()
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            install: Installer = ep.load()
        except Exception as exc:
            raise PluginError(
                f"handler plugin {ep.name!r} ({ep.value}) failed to load: {exc}"
            ) from exc
        install(registry, settings)
    for install in extra or []:
        install(registry, settings)
    return registry
