"""Inbound webhooks: the handshake, verification, events into to_npd jobs, echo
suppression, install/list/remove, and a person's edit reaching the CRM row (SPEC §11)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from syncd.fake_monday import FakeMonday
from syncd.fake_monday.webhooks import jwt
from syncd.handlers import Registry
from syncd.handlers.monday import commands, install
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.handler import MondaySync
from syncd.handlers.monday.pauses import MemoryPauses
from syncd.handlers.monday.settings import MondaySettings
from syncd.handlers.monday.webhooks import WebhookReceiver
from tests.support import (
    add_contact,
    capture_logs,
    events,
    running_worker,
    wait_for,
)
from tests.support.monday import (
    CONTACTS_BOARD,
    context,
    daemon_settings,
    monday_config,
    running_fake,
    sync_job,
)

PATH = "/monday/hooks/0123456789abcdef0123456789abcdef"
SECRET = "the-apps-signing-secret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeMonday]:
    async with running_fake(signing_secret=SECRET) as server:
        yield server


def hooks_config(fake: FakeMonday, public_url: str | None = None, **more: Any) -> dict[str, Any]:
    webhooks = {"path": PATH, "signing_secret": SECRET, **more}
    if public_url is not None:
        webhooks["public_url"] = public_url
    return monday_config(fake, webhooks=webhooks)


@contextlib.asynccontextmanager
async def receiving(settings: MondaySettings, pool: asyncpg.Pool) -> AsyncIterator[str]:
    """The receiver on a local port, as the daemon's HTTP listener would serve it."""
    app = web.Application()
    WebhookReceiver(settings, pool).add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def post(url: str, body: Any, token: str | None = None) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": token}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as r,
    ):
        return r.status, await r.json(content_type=None)


def signed(secret: str = SECRET) -> str:
    now = int(time.time())
    return jwt({"accountId": 1, "iat": now, "exp": now + 60}, secret)


async def pushed_contact(
    fake: FakeMonday, settings: MondaySettings, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> tuple[Any, int]:
    contact = await add_contact(conn, title="Countess")
    client = MondayClient(settings, pauses=MemoryPauses())
    await client.start(None)
    try:
        await MondaySync("contact", settings.entities["contact"], client)(
            sync_job(contact), context(pool)
        )
    finally:
        await client.stop()
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    return contact, item.id


def title_changed(item_id: int, title: str) -> dict[str, Any]:
    return {
        "event": {
            "type": "update_column_value",
            "boardId": CONTACTS_BOARD,
            "pulseId": item_id,
            "columnId": "text_title",
            "columnType": "text",
            "value": {"value": title},
        }
    }


async def to_npd_jobs(conn: asyncpg.Connection) -> list[Any]:
    return await conn.fetch(
        "SELECT entity_id, operation, status, payload FROM sync_queue WHERE direction = 'to_npd'"
    )


async def test_the_challenge_is_answered_and_any_other_path_gets_401(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    settings = MondaySettings(**hooks_config(fake))
    async with receiving(settings, pool) as base:
        assert await post(base + PATH, {"challenge": "3eZbrw1aB"}) == (
            200,
            {"challenge": "3eZbrw1aB"},
        )
        status, _ = await post(base + "/monday/hooks/guessed", {"challenge": "x"})
        assert status == 401
        status, _ = await post(base + "/monday/hooks/guessed", title_changed(1, "x"), signed())
        assert status == 401
    assert await to_npd_jobs(conn) == []


async def test_an_event_without_monday_signature_gets_401_and_enqueues_nothing(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    settings = MondaySettings(**hooks_config(fake))
    contact, item_id = await pushed_contact(fake, settings, pool, conn)
    async with receiving(settings, pool) as base:
        with capture_logs() as logs:
            for token in (None, signed("another secret"), "not.a.jwt", signed() + "x"):
                status, _ = await post(base + PATH, title_changed(item_id, "Queen"), token)
                assert status == 401, token
        assert len(events(logs, "monday.webhook_refused")) == 4
        assert await to_npd_jobs(conn) == []
        status, answer = await post(base + PATH, title_changed(item_id, "Queen"), signed())
    assert (status, answer) == (200, {"enqueued": 1})
    [job] = await to_npd_jobs(conn)
    assert (job["entity_id"], job["operation"]) == (contact, "upsert")
    assert job["payload"] == {"item_id": item_id, "webhook": "update_column_value"}


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iat": 0}, "the token has no exp (monday's always carry one)"),
        ({"iat": 0, "exp": float("inf")}, "the token's exp is not a time"),
        ({"iat": 0, "exp": "300"}, "the token's exp is not a time"),
        ({"iat": 0, "exp": -120}, "the token has expired"),
        ({"iat": 600, "exp": 900}, "the token was issued in the future"),
        ({"nbf": 600, "exp": 900}, "the token is not valid yet"),
    ],
    ids=["no exp", "infinite exp", "exp as text", "expired", "issued ahead", "not yet valid"],
)
async def test_a_signed_token_must_expire_and_not_come_from_the_future(
    fake: FakeMonday,
    pool: asyncpg.Pool,
    conn: asyncpg.Connection,
    claims: dict[str, Any],
    reason: str,
) -> None:
    """Times are seconds from now; monday's own tokens last five minutes."""
    settings = MondaySettings(**hooks_config(fake))
    _, item_id = await pushed_contact(fake, settings, pool, conn)
    now = int(time.time())
    moved = {k: now + v if isinstance(v, int) else v for k, v in claims.items()}
    async with receiving(settings, pool) as base:
        with capture_logs() as logs:
            status, _ = await post(base + PATH, title_changed(item_id, "Queen"), jwt(moved, SECRET))
        assert status == 401
        assert [e["reason"] for e in events(logs, "monday.webhook_refused")] == [reason]
        assert await to_npd_jobs(conn) == []
        # Within a minute of clock difference, a token from monday's future is still its own.
        ahead = jwt({"iat": now + 30, "nbf": now + 30, "exp": now + 330}, SECRET)
        assert await post(base + PATH, title_changed(item_id, "Queen"), ahead) == (
            200,
            {"enqueued": 1},
        )


async def test_without_a_signing_secret_the_secret_path_is_the_check(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    config = hooks_config(fake)
    del config["webhooks"]["signing_secret"]
    settings = MondaySettings(**config)
    _, item_id = await pushed_contact(fake, settings, pool, conn)
    async with receiving(settings, pool) as base:
        status, answer = await post(base + PATH, title_changed(item_id, "Queen"))
    assert (status, answer) == (200, {"enqueued": 1})


async def test_a_burst_of_edits_is_one_job_and_an_echo_is_none(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    settings = MondaySettings(**hooks_config(fake))
    _, item_id = await pushed_contact(fake, settings, pool, conn)
    async with receiving(settings, pool) as base:
        with capture_logs() as logs:
            # What syncd itself pushed comes back: not a job.
            assert await post(base + PATH, title_changed(item_id, "Countess"), signed()) == (
                200,
                {"enqueued": 0},
            )
            for title in ("Queen", "Empress", "Duchess"):
                await post(base + PATH, title_changed(item_id, title), signed())
    assert len(events(logs, "monday.echo_suppressed")) == 1
    assert len(await to_npd_jobs(conn)) == 1


async def test_an_echo_that_beats_the_record_of_its_push_is_still_none(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    settings = MondaySettings(**hooks_config(fake))
    contact, item_id = await pushed_contact(fake, settings, pool, conn)
    # The CRM changed the title and syncd's push of it is under way: monday already
    # calls back with "Queen", but pushed_values still holds the push before.
    await conn.execute("UPDATE contacts SET title = 'Queen' WHERE id = $1", contact)
    await conn.execute("DELETE FROM sync_queue")
    async with receiving(settings, pool) as base:
        with capture_logs() as logs:
            assert await post(base + PATH, title_changed(item_id, "Queen"), signed()) == (
                200,
                {"enqueued": 0},
            )
            # A value neither pushed nor in the row is a person's edit.
            assert await post(base + PATH, title_changed(item_id, "Empress"), signed()) == (
                200,
                {"enqueued": 1},
            )
    [suppressed] = events(logs, "monday.echo_suppressed")
    assert "the row's value" in suppressed["reason"]
    assert len(await to_npd_jobs(conn)) == 1


async def test_events_of_columns_the_crm_owns_or_of_unmapped_boards_are_ignored(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    config = hooks_config(fake)
    config["entities"]["contact"]["columns"]["title"]["direction"] = "to_monday"
    settings = MondaySettings(**config)
    _, item_id = await pushed_contact(fake, settings, pool, conn)
    other_board = title_changed(item_id, "Queen")
    other_board["event"]["boardId"] = 999
    async with receiving(settings, pool) as base:
        assert (await post(base + PATH, title_changed(item_id, "Queen"), signed()))[1] == {
            "enqueued": 0
        }
        assert (await post(base + PATH, other_board, signed()))[1] == {"enqueued": 0}
    assert await to_npd_jobs(conn) == []


async def test_a_deleted_item_enqueues_a_delete_when_an_action_is_configured(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    config = hooks_config(fake)
    config["entities"]["contact"]["on_item_deleted"] = "unlink"
    settings = MondaySettings(**config)
    contact, item_id = await pushed_contact(fake, settings, pool, conn)
    body = {"event": {"type": "delete_pulse", "boardId": CONTACTS_BOARD, "itemId": item_id}}
    async with receiving(settings, pool) as base:
        assert (await post(base + PATH, body, signed()))[1] == {"enqueued": 1}
    [job] = await to_npd_jobs(conn)
    assert (job["entity_id"], job["operation"]) == (contact, "delete")


async def test_install_list_and_remove_manage_the_boards_webhooks(
    fake: FakeMonday, pool: asyncpg.Pool
) -> None:
    settings = MondaySettings(**hooks_config(fake))
    async with receiving(settings, pool) as base:
        settings = MondaySettings(**hooks_config(fake, public_url=base))
        client = MondayClient(settings, pauses=MemoryPauses())
        await client.start(None)
        try:
            lines = await commands.install(pool, client, settings, settings.entities)
            assert len(lines) == 8 and all("installed webhook" in line for line in lines)
            # The fake sent the challenge first, to the secret path.
            assert all(d.url == base + PATH for d in fake.webhooks.delivered)
            again = await commands.install(pool, client, settings, settings.entities)
            assert all("installed already" in line for line in again)
            listed = await commands.listing(pool, client, settings, settings.entities)
            assert len(listed) == 8 and all(line.endswith("(syncd)") for line in listed)
            removed = await commands.remove(pool, client, settings, settings.entities)
            assert len(removed) == 8 and fake.webhooks.hooks == {}
        finally:
            await client.stop()
    assert [c.headers.get("Idempotency-Key") for c in fake.calls("create_webhook")].count(None) == 0


async def test_a_person_edits_an_item_and_the_crm_row_follows(
    fake: FakeMonday, database_url: str, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    """End to end through the daemon's own HTTP listener: webhooks installed on the
    fake, pointing at it, and a person's edit."""
    settings = daemon_settings(
        database_url, fake, webhooks={"path": PATH, "signing_secret": SECRET}
    )
    registry = Registry()
    install(registry, settings)
    contact = await add_contact(conn, title="Countess")
    with capture_logs() as logs:
        async with running_worker(settings, registry):
            [listening] = await wait_for(lambda: _events(logs, "http.listening"))
            base = f"http://{listening['listen']}"
            monday = MondaySettings(**hooks_config(fake, public_url=base))
            client = MondayClient(monday, pauses=MemoryPauses())
            await client.start(None)
            try:
                await commands.install(pool, client, monday, monday.entities)
            finally:
                await client.stop()
            # The fake sent the challenge first, and the daemon answered it.
            assert all(d.url == base + PATH for d in fake.webhooks.delivered)
            await conn.execute(
                "INSERT INTO sync_queue (entity_type, entity_id) VALUES ('contact', $1)",
                contact,
            )
            item = await wait_for(lambda: _item_on_board(fake))
            await wait_for(lambda: _linked(conn, contact))
            await fake.webhooks.idle()
            # syncd's own create came back as a webhook, and was not a job.
            assert await to_npd_jobs(conn) == []

            started = time.monotonic()
            fake.boards.change_values(
                CONTACTS_BOARD, item.id, json.dumps({"text_title": "Queen of Numbers"})
            )
            await wait_for(lambda: _title_is(conn, contact, "Queen of Numbers"), timeout=10)
            took = time.monotonic() - started
            await fake.webhooks.idle()
            await wait_for(lambda: _all_done(conn))
    print(f"monday edit to CRM row: {took * 1000:.0f} ms")
    assert events(logs, "monday.echo_suppressed")
    jobs = await to_npd_jobs(conn)
    assert len(jobs) == 1 and jobs[0]["status"] == "completed"
    # The pull left the item as it was: nothing echoed back to monday.
    assert fake.boards.item(item.id).values["text_title"] == "Queen of Numbers"


async def _events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return events(logs, name)


async def _item_on_board(fake: FakeMonday) -> Any:
    found = fake.boards.on_board(CONTACTS_BOARD)
    return found[0] if found else None


async def _linked(conn: asyncpg.Connection, contact: Any) -> bool:
    return bool(
        await conn.fetchval("SELECT count(*) FROM monday_items WHERE entity_id = $1", contact)
    )


async def _title_is(conn: asyncpg.Connection, contact: Any, title: str) -> bool:
    return bool(
        await conn.fetchval("SELECT title = $2 FROM contacts WHERE id = $1", contact, title)
    )


async def _all_done(conn: asyncpg.Connection) -> bool:
    return not await conn.fetchval(
        "SELECT count(*) FROM sync_queue WHERE status IN ('pending', 'processing')"
    )
