"""monday.com sync: push mapped rows to boards, and pull them back (SPEC §4).

`install` is the ``syncd.handlers`` entry point: one handler per entity type
configured under ``[monday.entities.<entity_type>]``, all sharing one client, which
the daemon opens and closes with its pool.

Importing this package imports nothing else: `syncd config check` reads the
[monday] section through settings.py alone, without aiohttp.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncd.config import Settings
    from syncd.handlers import Registry


def install(registry: Registry, settings: Settings) -> None:
    """Register a sync handler for each configured entity type (none: nothing to do)."""
    from syncd.handlers import SYNC
    from syncd.handlers.monday import gauges
    from syncd.handlers.monday.client import MondayClient
    from syncd.handlers.monday.handler import MondaySync

    monday = settings.monday
    if not monday.entities:
        return
    client = MondayClient(monday)
    registry.add_service(client)
    registry.add_gauges(functools.partial(gauges.watch, client))
    if monday.webhooks is not None:
        registry.add_routes(functools.partial(gauges.receive_webhooks, monday))
    for entity_type, mapping in monday.entities.items():
        registry.add(SYNC, entity_type, MondaySync(entity_type, mapping, client))
    if monday.reconcile.every is not None:
        from syncd.handlers.monday.reconcile import Reconciler

        registry.add_service(Reconciler(monday, client))
