"""The demo's fourth wave: a person edits an item on the board, and the CRM row follows.

The webhook receiver is served here, in the demo's own loop, as the daemon's HTTP
listener serves it; `syncd monday webhooks install` registers it with the fake
monday.com (which answers its challenge first). From then on every change on the
boards, syncd's own pushes included, is POSTed to it: the pushes are recognised as
echoes and enqueue nothing, and a person's edit becomes a to_npd job that the daemon
pulls into the row.
"""

from __future__ import annotations

import contextlib
import json

import asyncpg
from aiohttp import web

from syncd import db
from syncd.config import Settings
from syncd.demo import monday
from syncd.fake_monday import FakeMonday
from syncd.handlers.monday import commands
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.webhooks import WebhookReceiver

# Who the person edits, and the title they give her.
EDITED = "grace@mark-one.example"
NEW_TITLE = "Commodore"


async def serve(settings: Settings, stack: contextlib.AsyncExitStack) -> WebhookReceiver:
    """Serve the receiver on a free local port and install the boards' webhooks."""
    assert settings.monday.webhooks is not None
    pool = await db.create_pool(settings)
    stack.push_async_callback(pool.close)
    receiver = WebhookReceiver(settings.monday, pool)
    app = web.Application()
    receiver.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    hooks = settings.monday.webhooks.model_copy(update={"public_url": base})
    monday_settings = settings.monday.model_copy(update={"webhooks": hooks})
    client = MondayClient(monday_settings)
    await client.start(pool)
    try:
        await commands.install(pool, client, monday_settings, monday_settings.entities)
    finally:
        await client.stop()
    return receiver


async def person_edits(fake: FakeMonday, conn: asyncpg.Connection) -> str:
    """Change the title on the item, as a person would on the board; returns who."""
    row = await conn.fetchrow(
        "SELECT c.id, c.first_name || ' ' || c.last_name AS name, m.item_id "
        "FROM contacts c JOIN monday_items m ON m.entity_id = c.id WHERE c.email = $1",
        EDITED,
    )
    assert row is not None, "the contact was pushed in the second wave"
    fake.boards.change_values(
        monday.CONTACTS_BOARD, row["item_id"], json.dumps({"text_title": NEW_TITLE})
    )
    return str(row["name"])


async def row_followed(conn: asyncpg.Connection) -> bool:
    title = await conn.fetchval("SELECT title FROM contacts WHERE email = $1", EDITED)
    return bool(title == NEW_TITLE)
