"""The handler registry: how operations and entity types plug into the daemon.

The worker's loop never names a handler. It looks one up here by queue and *kind*:
for the sync queue the kind is the job's `entity_type` (each entity type can go to
a different place), for the document queue it is the job's `operation`.

Handlers arrive through the `syncd.handlers` entry-point group. Each entry point is
an ``install(registry, settings)`` function; syncd's own monday.com and document
handlers are installed the same way as a deployment's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from syncd.retry import PermanentError

if TYPE_CHECKING:
    import asyncpg

    from syncd.config import Settings

SYNC = "sync"
DOCUMENTS = "documents"
ENTRY_POINT_GROUP = "syncd.handlers"


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed attempt of a job, as a handler sees it."""

    queue: str
    id: uuid.UUID
    attempt: int
    max_attempts: int
    operation: str
    # sync queue
    entity_type: str | None = None
    entity_id: uuid.UUID | None = None
    direction: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    # document queue
    document_id: uuid.UUID | None = None

    @property
    def kind(self) -> str:
        """What the registry routes on: entity type for syncs, operation for documents."""
        if self.queue == SYNC:
            return self.entity_type or ""
        return self.operation

    @property
    def subject(self) -> dict[str, Any]:
        """The fields that name what the job is about, for log events."""
        if self.queue == SYNC:
            return {
                "entity_type": self.entity_type,
                "entity_id": str(self.entity_id),
                "direction": self.direction,
                "operation": self.operation,
            }
        return {"document_id": str(self.document_id), "operation": self.operation}


@dataclass(slots=True)
class Context:
    """What a running handler may use: the shared pool, the settings, a bound logger."""

    pool: asyncpg.Pool
    settings: Settings
    log: structlog.stdlib.BoundLogger


class Handler(Protocol):
    """Runs one attempt of a job. Returning means success.

    Raise `syncd.retry.PermanentError` for a job that can never succeed,
    `syncd.retry.RateLimited` when the remote asked for a pause, and anything else
    (or `RetryableError`) for a passing fault.
    """

    async def __call__(self, job: Job, ctx: Context) -> None: ...


class Service(Protocol):
    """Something handlers share that must be opened and closed with the daemon
    (an HTTP session, a process pool)."""

    async def start(self, pool: asyncpg.Pool) -> None: ...

    async def stop(self) -> None: ...


Installer = Callable[["Registry", "Settings"], None]


class PluginError(Exception):
    """An installed handler plugin cannot be loaded: the daemon refuses to start."""


class Registry:
    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str], Handler] = {}
        self.services: list[Service] = []

    def add(self, queue: str, kind: str, handler: Handler) -> None:
        if queue not in (SYNC, DOCUMENTS):
            raise ValueError(f"unknown queue {queue!r}: expected 'sync' or 'documents'")
        self._handlers[(queue, kind)] = handler

    def add_service(self, service: Service) -> None:
        self.services.append(service)

    def kinds(self, queue: str) -> list[str]:
        return sorted(kind for q, kind in self._handlers if q == queue)

    def find(self, job: Job) -> Handler:
        handler = self._handlers.get((job.queue, job.kind))
        if handler is not None:
            return handler
        what = "entity type" if job.queue == SYNC else "operation"
        known = ", ".join(self.kinds(job.queue)) or "none"
        raise PermanentError(
            f"unknown {what} {job.kind!r}: no handler is registered for it (known: {known})"
        )

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
