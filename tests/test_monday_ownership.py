"""Field ownership and conflicts: who writes which field, and who wins (SPEC §11)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from pydantic import ValidationError

from syncd.fake_monday import FakeMonday
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.handler import MondaySync
from syncd.handlers.monday.pauses import MemoryPauses
from syncd.handlers.monday.settings import ColumnMapping, EntityMapping, MondaySettings
from tests.support import add_contact, capture_logs, events
from tests.support.monday import CONTACTS_BOARD, context, fake, monday_config, sync_job

__all__ = ["fake"]

Handler = Callable[..., Any]


@pytest.fixture
async def handler_for(fake: FakeMonday) -> AsyncIterator[Handler]:
    """A contact handler made with changes to the test mapping."""
    clients: list[MondayClient] = []

    async def make(**contact: Any) -> MondaySync:
        config = monday_config(fake)
        for key, value in contact.items():
            if key in ("email", "phone", "title"):
                config["entities"]["contact"]["columns"][key]["direction"] = value
            else:
                config["entities"]["contact"][key] = value
        settings = MondaySettings(**config)
        client = MondayClient(settings, pauses=MemoryPauses())
        await client.start(None)
        clients.append(client)
        return MondaySync("contact", settings.entities["contact"], client)

    try:
        yield make
    finally:
        for client in clients:
            await client.stop()


def edit(fake: FakeMonday, **values: Any) -> None:
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    fake.boards.change_values(CONTACTS_BOARD, item.id, json.dumps(values))


async def contact_row(conn: asyncpg.Connection, contact: Any) -> dict[str, Any]:
    return dict(await conn.fetchrow("SELECT email, title FROM contacts WHERE id = $1", contact))


async def test_a_push_never_writes_a_field_monday_owns(
    fake: FakeMonday, handler_for: Handler, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    handler = await handler_for(title="to_npd")
    contact = await add_contact(conn, title="Countess")
    await handler(sync_job(contact), context(pool))
    edit(fake, text_title="From monday")
    await conn.execute("UPDATE contacts SET title = 'CRM title', email = 'a@b.test'")
    await handler(sync_job(contact), context(pool))
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    assert "text_title" not in json.dumps(fake.calls("create_item")[0].body.decode())
    assert item.values["text_title"] == "From monday"
    assert item.values["email"]["email"] == "a@b.test"


async def test_a_pull_never_writes_a_field_the_crm_owns(
    fake: FakeMonday, handler_for: Handler, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    handler = await handler_for(title="to_monday", email="to_npd")
    contact = await add_contact(conn, title="Countess")
    await handler(sync_job(contact), context(pool))
    edit(fake, text_title="From monday", email={"email": "new@monday.test", "text": ""})
    await handler(sync_job(contact, direction="to_npd"), context(pool))
    assert await contact_row(conn, contact) == {"email": "new@monday.test", "title": "Countess"}
    # The CRM owns the title: the pull put the row's back on the item.
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    assert item.values["text_title"] == "Countess"


@pytest.mark.parametrize(
    ("conflict", "row_later", "title"),
    [
        ("crm_wins", False, "CRM title"),
        ("monday_wins", True, "From monday"),
        ("newest_wins", True, "CRM title"),
        ("newest_wins", False, "From monday"),
    ],
)
async def test_a_field_changed_on_both_sides_follows_the_conflict_rule(
    fake: FakeMonday,
    handler_for: Handler,
    pool: asyncpg.Pool,
    conn: asyncpg.Connection,
    conflict: str,
    row_later: bool,
    title: str,
) -> None:
    handler = await handler_for(title="both", conflict=conflict)
    contact = await add_contact(conn, title="Countess")
    await handler(sync_job(contact), context(pool))
    edit(fake, text_title="From monday")
    shift = "interval '1 minute'" if row_later else "interval '-1 minute'"
    await conn.execute(
        f"UPDATE contacts SET title = 'CRM title', updated_at = now() + {shift} WHERE id = $1",
        contact,
    )
    with capture_logs() as logs:
        await handler(sync_job(contact, direction="to_npd"), context(pool))
    assert (await contact_row(conn, contact))["title"] == title
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    assert item.values["text_title"] == title  # both sides agree afterwards
    conflicts = events(logs, "monday.conflict")
    if conflict == "newest_wins":
        [logged] = conflicts
        assert logged["winner"] == ("crm" if row_later else "monday")
        assert logged["fields"] == ["title"] and logged["row_updated_at"]
        assert logged["item_updated_at"] and logged["crm_values"] == {"title": "CRM title"}
    else:
        assert conflicts == []


async def test_without_a_change_in_the_crm_mondays_value_is_taken(
    fake: FakeMonday, handler_for: Handler, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    handler = await handler_for(title="both", conflict="crm_wins")
    contact = await add_contact(conn, title="Countess")
    await handler(sync_job(contact), context(pool))
    edit(fake, text_title="From monday")
    await handler(sync_job(contact, direction="to_npd"), context(pool))
    assert (await contact_row(conn, contact))["title"] == "From monday"


@pytest.mark.parametrize("action", ["nothing", "unlink", "mark"])
async def test_a_deleted_item_follows_on_item_deleted(
    fake: FakeMonday,
    handler_for: Handler,
    pool: asyncpg.Pool,
    conn: asyncpg.Connection,
    action: str,
) -> None:
    await conn.execute("ALTER TABLE contacts ADD COLUMN gone_from_monday timestamptz")
    handler = await handler_for(on_item_deleted=action, deleted_field="gone_from_monday")
    contact = await add_contact(conn)
    await handler(sync_job(contact), context(pool))
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    fake.boards.archive(item.id)
    await handler(sync_job(contact, direction="to_npd", operation="delete"), context(pool))
    linked = await conn.fetchval("SELECT count(*) FROM monday_items")
    marked = await conn.fetchval("SELECT gone_from_monday IS NOT NULL FROM contacts")
    assert (linked, marked) == {
        "nothing": (1, False),
        "unlink": (0, False),
        "mark": (0, True),
    }[action]


def test_pull_is_read_as_a_direction() -> None:
    assert ColumnMapping(column="c", type="text", pull=False).direction == "to_monday"
    assert ColumnMapping(column="c", type="text", pull=True).direction == "both"
    assert ColumnMapping(column="c", type="text").direction == "to_monday"
    with pytest.raises(ValidationError, match="contradicts direction"):
        ColumnMapping(column="c", type="text", pull=False, direction="to_npd")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"conflict": "newest_wins"}, "needs updated_at_field"),
        ({"on_item_deleted": "mark"}, "needs deleted_field"),
        ({"match": "phone"}, "neither a mapped field"),
    ],
)
def test_bad_ownership_settings_are_refused(changes: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "table": "contacts",
        "board_id": 1,
        "key_column": "k",
        "columns": {"email": {"column": "e", "type": "email"}},
    }
    with pytest.raises(ValidationError, match=message):
        EntityMapping(**base, **changes)


def test_a_webhook_path_must_be_unguessable() -> None:
    from syncd.handlers.monday.settings import WebhookSettings

    with pytest.raises(ValidationError, match="unguessable"):
        WebhookSettings(path="/hooks")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unguessable"):  # long, but its secret is "x"
        WebhookSettings(path="/monday-webhooks-receiver/x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="path: required"):
        WebhookSettings()
