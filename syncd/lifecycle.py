"""How the daemon comes up and goes down, around the fetch loop in worker.py.

Coming up waits out a database that is not there yet (systemd may start us before
PostgreSQL). Going down, once the running jobs are done or given back, is a row of
steps each bounded by `STEP_TIMEOUT`: a loop caught in a driver's wait (asyncpg
hands a connection back only once the server confirmed a cancel) or a service that
does not stop must not keep the process from exiting; systemd would kill it at
TimeoutStopSec instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

from syncd import db, loops, queries
from syncd.backoff import Doubling, until_done
from syncd.config import Settings
from syncd.errors import describe
from syncd.handlers import Registry
from syncd.loops.listener import Listener

# How long one step of a stop may take once the running jobs are done.
STEP_TIMEOUT = 10.0


async def connect(
    settings: Settings,
    listener: Listener,
    waiting: Callable[[], None],
    stop: asyncio.Event,
    log: structlog.stdlib.BoundLogger,
) -> asyncpg.Pool | None:
    """The pool, with the listener connected too; None if stopped while waiting.

    `waiting` is called at every failed try (the systemd STATUS line says so)."""
    pool: asyncpg.Pool | None = None

    async def once() -> None:
        nonlocal pool
        try:
            pool = await db.create_pool(settings)
            await listener.connect_once()
        except db.CONNECTION_ERRORS:
            await close(listener, pool)
            pool = None
            waiting()
            raise

    def unavailable(exc: BaseException, delay: float) -> None:
        log.warning("db.unavailable", error=describe(exc), retry_in_s=delay)

    wait = Doubling(0.5, settings.daemon.reconnect_max_delay)
    try:
        await until_done(once, db.CONNECTION_ERRORS, wait, unavailable, stop=stop)
    except db.CONNECTION_ERRORS:
        return None  # stopped while waiting
    return pool


async def wind_down(
    side_loops: list[asyncio.Task[None]],
    stop_http: Callable[[], Awaitable[None]] | None,
    registry: Registry,
    pool: asyncpg.Pool | None,
    worker_id: uuid.UUID,
    log: structlog.stdlib.BoundLogger,
) -> None:
    """The steps of a stop after the jobs: side loops, HTTP, services, our row."""
    for task in await loops.stop(side_loops, STEP_TIMEOUT):
        log.warning("daemon.stop_slow", step=f"the {task.get_name()} loop")
    if stop_http is not None:
        await stop_http()
    try:
        await asyncio.wait_for(registry.stop(), timeout=STEP_TIMEOUT)
    except Exception as exc:  # TimeoutError, or a service's own failure
        error = {} if isinstance(exc, TimeoutError) else {"error": describe(exc)}
        log.warning("daemon.stop_slow", step="the handlers' services", **error)
    if pool is not None:
        try:
            await pool.execute(queries.load("forget_worker"), worker_id, timeout=5)
        except Exception as exc:  # best effort: the pruner forgets us in a day anyway
            log.warning("db.write_failed", error=describe(exc))


async def close(listener: Listener, pool: asyncpg.Pool | None) -> None:
    await listener.close()
    if pool is not None:
        with contextlib.suppress(*db.CONNECTION_ERRORS):
            await asyncio.wait_for(pool.close(), timeout=STEP_TIMEOUT)
        pool.terminate()
