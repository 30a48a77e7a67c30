"""What the monday handler adds to the daemon's HTTP listener: its gauges on
/metrics and, with ``[monday.webhooks]``, the webhook route (SPEC §10, §11).

Both are hooked in through the registry (`Registry.add_gauges`, `add_routes`), so
the daemon serves them without knowing monday. The pause and the drift live in
the database (every daemon on the token shares them), so they are read at scrape
time, never polled; the budget is this process's own pacer's view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncd import queries

if TYPE_CHECKING:
    import asyncpg
    from aiohttp import web

    from syncd.handlers.monday.client import MondayClient
    from syncd.handlers.monday.settings import MondaySettings
    from syncd.metrics import Metrics


def watch(client: MondayClient, metrics: Metrics, pool: asyncpg.Pool) -> None:
    metrics.watch(metrics.monday_budget, client.budget_remaining)

    async def pause() -> None:
        metrics.monday_paused.set(await client.paused_for())

    async def drift() -> None:
        for run in await pool.fetch(queries.load("monday_reconcile_last")):
            metrics.monday_drift.labels(run["entity_type"]).set(run["drifted"])

    metrics.refresh_with(pause)
    metrics.refresh_with(drift)


def receive_webhooks(settings: MondaySettings, app: web.Application, pool: asyncpg.Pool) -> None:
    from syncd.handlers.monday.webhooks import WebhookReceiver

    WebhookReceiver(settings, pool).add_routes(app)
