"""The daemon's own HTTP listener (`[http] listen`, SPEC §10): metrics and health.

- ``GET /metrics``: Prometheus' text format (syncd/metrics.py).
- ``GET /healthz``: 200 while the event loop turns. The answer itself is the
  proof: a loop that is stuck answers nothing, and the probe times out.
- ``GET /readyz``: 200 while the database answers and the listener is connected;
  otherwise 503 with the reason, so a load balancer or Kubernetes stops counting
  on this instance while it waits out an outage (it keeps running and reconnects).

It runs inside the daemon's event loop, beside the fetch loop: a scrape costs one
small query (the queue snapshot), never a table scan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from syncd import logs
from syncd.config import parse_listen  # where [http] listen is checked
from syncd.errors import describe
from syncd.metrics import Metrics, QueueSnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A scrape or a readiness probe never waits longer than this on the database.
DB_TIMEOUT = 2.0


class Endpoints:
    def __init__(
        self,
        listen: str,
        metrics: Metrics,
        snapshot: Callable[[], Awaitable[Mapping[str, QueueSnapshot]]],
        unready: Callable[[], Awaitable[str | None]],
    ) -> None:
        """`snapshot` reads the queues for a scrape; `unready` says why this
        instance should get no traffic, or None when it is ready."""
        self.host, self.port = parse_listen(listen)
        self._metrics = metrics
        self._snapshot = snapshot
        self._unready = unready
        self.app = web.Application()
        self.app.router.add_get("/metrics", self._scrape)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:  # any free port (tests): learn the one the kernel gave
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _scrape(self, request: web.Request) -> web.Response:
        try:
            queues = await asyncio.wait_for(self._snapshot(), DB_TIMEOUT)
        except Exception as exc:
            # The process's own counters still count; the queue figures are left
            # out rather than made up, and syncd_listener_connected tells why.
            logs.get().debug("metrics.read_failed", error=describe(exc))
            queues = {}
        body = self._metrics.render(queues)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        try:
            why = await asyncio.wait_for(self._unready(), DB_TIMEOUT)
        except TimeoutError:
            why = f"the database did not answer within {DB_TIMEOUT:g} s"
        except Exception as exc:
            why = f"the database check failed: {type(exc).__name__}"
        if why is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {why}\n")
