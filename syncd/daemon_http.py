"""The running daemon's HTTP listener (`[http] listen`): httpd.Endpoints fed from the worker.

What each figure is read from, and when:
- job counts and durations: the outcome writer, one `Metrics.outcomes` call per
  written batch (and the rescuer, per rescue), as they happen;
- running jobs and the listener's state: read from the worker at scrape time;
- the queues (jobs by status, the oldest due job): queries/status.sql per queue at
  scrape time, which reads indexes and statistics only;
- a handler's own figures (monday's budget and pause, the extractor restarts) and
  routes (monday's webhooks): hooked in through the registry (`add_gauges`,
  `add_routes`), so that this module never names a handler.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping

import asyncpg
import structlog

from syncd import pauses, queries
from syncd.config import Settings
from syncd.db import CONNECTION_ERRORS
from syncd.errors import describe
from syncd.handlers import Registry
from syncd.httpd import Endpoints
from syncd.loops.listener import Listener
from syncd.metrics import Metrics, QueueSnapshot
from syncd.queues import QUEUES
from syncd.slots import QueueState, Slots

# The statuses a queue snapshot reports, as queries/status.sql names its columns.
STATUSES = ("pending", "processing", "completed", "failed", "cancelled")
# /readyz: the database must answer `SELECT 1` within this (less than httpd's own
# bound, so the reason names the database rather than a timeout of the probe).
READY_TIMEOUT = 1.5


class DaemonHttp:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        pool: asyncpg.Pool,
        listener: Listener,
        slots: Slots,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._pool = pool
        self._listener = listener
        self.endpoints = Endpoints(settings.http.listen, metrics, self._snapshot, self._unready)
        for name, state in slots.states.items():
            metrics.watch(metrics.running.labels(name), functools.partial(_running, state))
        metrics.watch(metrics.listener_connected, lambda: float(listener.connection.connected))

    async def start(self, registry: Registry, log: structlog.stdlib.BoundLogger) -> bool:
        """Mount the handlers' routes and gauges, then listen (routes must come first).

        False, logged as `http.failed`, when the address cannot be had (a port
        taken, an address not ours): the daemon then exits 1 rather than run unseen.
        """
        for gauges in registry.gauges:
            gauges(self._metrics, self._pool)
        for routes in registry.routes:
            routes(self.endpoints.app, self._pool)
        try:
            await self.endpoints.start()
        except OSError as exc:
            log.error("http.failed", listen=self._settings.http.listen, error=describe(exc))
            return False
        log.info("http.listening", listen=f"{self.endpoints.host}:{self.endpoints.port}")
        return True

    async def stop(self, log: structlog.stdlib.BoundLogger, timeout: float) -> None:
        """Stop listening, within `timeout` like every step of a stop."""
        try:
            await asyncio.wait_for(self.endpoints.stop(), timeout)
        except TimeoutError:
            log.warning("daemon.stop_slow", step="the HTTP listener")

    async def _snapshot(self) -> Mapping[str, QueueSnapshot]:
        # The handlers' gauges are read alongside, on connections of their own.
        _, queues = await asyncio.gather(self._metrics.refresh(), self._queues())
        return queues

    async def _queues(self) -> dict[str, QueueSnapshot]:
        snapshot: dict[str, QueueSnapshot] = {}
        async with self._pool.acquire() as conn:
            paused = await pauses.in_force(conn)
            for name, queue in QUEUES.items():
                row = await conn.fetchrow(queue.sql("status"))
                assert row is not None
                jobs = {status: float(row[status]) for status in STATUSES}
                oldest = row["oldest_due_age_s"] or 0.0
                snapshot[name] = QueueSnapshot(jobs, oldest, paused.get(name, []))
        return snapshot

    async def _unready(self) -> str | None:
        if self._settings.database.listen and not self._listener.connection.connected:
            return "the listener connection is down (reconnecting)"
        try:
            async with asyncio.timeout(READY_TIMEOUT):  # the wait for a connection too
                await self._pool.fetchval(queries.load("ready"))
        except TimeoutError:
            return f"the database did not answer within {READY_TIMEOUT:g} s"
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            return f"the database does not answer: {describe(exc)}"
        return None


def _running(state: QueueState) -> float:
    return state.running
