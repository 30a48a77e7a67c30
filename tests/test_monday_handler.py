"""The monday handler: rows pushed as items, unchanged rows skipped, deletes, pulls back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from syncd.errors import PermanentError
from syncd.fake_monday import FakeMonday
from syncd.handlers import Registry
from syncd.handlers.monday import install
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.handler import MondaySync
from syncd.handlers.monday.pauses import MemoryPauses
from tests.support import (
    add_contact,
    capture_logs,
    enqueue,
    job_row,
    make_settings,
    running_worker,
    wait_status,
)
from tests.support.monday import (
    CONTACTS_BOARD,
    ORGANIZATIONS_BOARD,
    context,
    daemon_settings,
    fake,
    monday_settings,
    sync_job,
)

__all__ = ["fake"]


@pytest.fixture
async def handlers(fake: FakeMonday) -> AsyncIterator[dict[str, MondaySync]]:
    settings = monday_settings(fake)
    client = MondayClient(settings, pauses=MemoryPauses())
    await client.start(None)
    try:
        yield {name: MondaySync(name, m, client) for name, m in settings.entities.items()}
    finally:
        await client.stop()


async def item_of(pool: asyncpg.Pool, entity_id: object) -> int | None:
    value = await pool.fetchval("SELECT item_id FROM monday_items WHERE entity_id = $1", entity_id)
    return None if value is None else int(value)


async def test_an_upsert_creates_the_item_and_remembers_it(
    fake: FakeMonday, handlers: dict[str, MondaySync], pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    contact = await add_contact(conn, phone="202-555-0169", title="Countess")
    await handlers["contact"](sync_job(contact), context(pool))
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    assert item.name == "Ada Lovelace" and item.group_id == "topics"
    assert item.values["text_syncd_id"] == str(contact)
    assert item.values["email"]["email"] == "ada@example.com"
    assert item.values["phone"] == {"phone": "2025550169", "countryShortName": "US"}
    assert item.values["text_title"] == "Countess"
    assert await item_of(pool, contact) == item.id


async def test_an_unchanged_row_is_not_pushed_again(
    fake: FakeMonday, handlers: dict[str, MondaySync], pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    contact = await add_contact(conn)
    await handlers["contact"](sync_job(contact), context(pool))
    sent = fake.requests
    await handlers["contact"](sync_job(contact), context(pool))
    assert fake.requests == sent


async def test_a_changed_row_updates_the_item_and_null_clears_a_column(
    fake: FakeMonday, handlers: dict[str, MondaySync], pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    contact = await add_contact(conn, title="Countess")
    await handlers["contact"](sync_job(contact), context(pool))
    await conn.execute(
        "UPDATE contacts SET last_name = 'King', title = NULL WHERE id = $1", contact
    )
    await handlers["contact"](sync_job(contact), context(pool))
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    assert item.name == "Ada King" and "text_title" not in item.values
    assert len(fake.calls("change_multiple_column_values")) == 1
    assert len(fake.calls("create_item")) == 1


async def test_an_item_deleted_on_monday_is_created_again(
    fake: FakeMonday, handlers: dict[str, MondaySync], pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    contact = await add_contact(conn)
    await handlers["contact"](sync_job(contact), context(pool))
    [first] = fake.boards.on_board(CONTACTS_BOARD)
    fake.boards.delete(first.id)
    await conn.execute("UPDATE contacts SET title = 'Analyst' WHERE id = $1", contact)
    await handlers["contact"](sync_job(contact), context(pool))
    [second] = fake.boards.on_board(CONTACTS_BOARD)
    assert second.id != first.id and second.values["text_title"] == "Analyst"
    assert await item_of(pool, contact) == second.id


async def test_an_upsert_of_a_missing_row_fails_permanently(
    handlers: dict[str, MondaySync], pool: asyncpg.Pool
) -> None:
    import uuid

    with pytest.raises(PermanentError, match="not found in table contacts"):
        await handlers["contact"](sync_job(uuid.uuid4()), context(pool))


async def test_data_monday_refuses_fails_permanently_with_its_message(
    fake: FakeMonday, handlers: dict[str, MondaySync], pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    org = await conn.fetchval(
        "INSERT INTO organizations (name, industry, country) VALUES ('Acme', 'Aerospace', 'DE') "
        "RETURNING id"
    )
    with pytest.raises(PermanentError, match=r"ColumnValueException.*label does not exist"):
        await handlers["organization"](sync_job(org, entity_type="organization"), context(pool))
    assert fake.boards.on_board(ORGANIZATIONS_BOARD) == []


async def test_an_organization_is_pushed_with_link_status_and_country(
    fake: FakeMonday, handlers: dict[str, MondaySync], pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    org = await conn.fetchval(
        "INSERT INTO organizations (name, website, industry, country) "
        "VALUES ('Acme', 'https://acme.test', 'Retail', 'Germany') RETURNING id"
    )
    await handlers["organization"](sync_job(org, entity_type="organization"), context(pool))
    [item] = fake.boards.on_board(ORGANIZATIONS_BOARD)
    assert item.values["country"] == {"countryCode": "DE", "countryName": "Germany"}
    assert item.values["status"]["label"] == "Retail"
    assert item.values["link"]["url"] == "https://acme.test"


@pytest.mark.parametrize("mode", ["archive", "delete"])
async def test_a_delete_archives_or_deletes_the_item_and_forgets_it(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection, mode: str
) -> None:
    settings = monday_settings(fake)
    mapping = settings.entities["contact"].model_copy(update={"delete": mode})
    client = MondayClient(settings, pauses=MemoryPauses())
    await client.start(None)
    handler = MondaySync("contact", mapping, client)
    try:
        contact = await add_contact(conn)
        await handler(sync_job(contact), context(pool))
        await handler(sync_job(contact, operation="delete"), context(pool))
        # Gone already: a second delete is a no-op.
        await handler(sync_job(contact, operation="delete"), context(pool))
    finally:
        await client.stop()
    [item] = fake.boards.on_board(CONTACTS_BOARD, state="all")
    assert item.state == ("archived" if mode == "archive" else "deleted")
    assert await item_of(pool, contact) is None
    assert len(fake.calls(f"{mode}_item")) == 1


async def test_a_delete_of_an_entity_never_pushed_is_a_no_op(
    fake: FakeMonday, handlers: dict[str, MondaySync], pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    contact = await add_contact(conn)
    await handlers["contact"](sync_job(contact, operation="delete"), context(pool))
    assert fake.calls("archive_item") == [] and fake.calls("delete_item") == []


async def test_to_npd_applies_mondays_values_to_the_mapped_fields(
    fake: FakeMonday, handlers: dict[str, MondaySync], pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    contact = await add_contact(conn, title="Countess")
    await conn.execute(
        "UPDATE contacts SET updated_at = now() - interval '1 hour' WHERE id = $1", contact
    )
    await handlers["contact"](sync_job(contact), context(pool))
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    fake.boards.change_values(
        CONTACTS_BOARD,
        item.id,
        json.dumps({"email": {"email": "ada@analytical.engine", "text": ""}, "text_title": ""}),
    )
    await handlers["contact"](sync_job(contact, direction="to_npd"), context(pool))
    row = await conn.fetchrow(
        "SELECT email, title, first_name FROM contacts WHERE id = $1", contact
    )
    assert dict(row) == {"email": "ada@analytical.engine", "title": None, "first_name": "Ada"}
    # The row and the item now agree: the echo upsert sends nothing.
    sent = fake.requests
    await handlers["contact"](sync_job(contact), context(pool))
    assert fake.requests == sent


async def test_to_npd_keeps_a_row_changed_after_the_item_and_pushes_it(
    fake: FakeMonday, handlers: dict[str, MondaySync], pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    contact = await add_contact(conn, title="Countess")
    await handlers["contact"](sync_job(contact), context(pool))
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    fake.boards.change_values(CONTACTS_BOARD, item.id, json.dumps({"text_title": "From monday"}))
    await conn.execute(
        "UPDATE contacts SET title = 'From the CRM', updated_at = now() + interval '1 minute' "
        "WHERE id = $1",
        contact,
    )
    await handlers["contact"](sync_job(contact, direction="to_npd"), context(pool))
    assert (
        await conn.fetchval("SELECT title FROM contacts WHERE id = $1", contact) == "From the CRM"
    )
    assert fake.boards.item(item.id).values["text_title"] == "From the CRM"


async def test_install_registers_each_entity_type_and_the_daemon_runs_them(
    fake: FakeMonday, database_url: str, conn: asyncpg.Connection
) -> None:
    settings = daemon_settings(database_url, fake)
    registry = Registry()
    install(registry, settings)
    assert registry.kinds("sync") == ["contact", "organization"]
    assert len(registry.services) == 1
    contact = await add_contact(conn)
    with capture_logs() as logs:
        async with running_worker(settings, registry):
            job_id = await enqueue(conn, entity_id=contact)
            assert job_id is not None
            await wait_status(conn, job_id, "completed")
    assert len(fake.boards.on_board(CONTACTS_BOARD)) == 1
    assert (await job_row(conn, job_id))["attempts"] == 1
    assert not [e for e in logs if fake_token_in(e)]


def fake_token_in(event: dict[str, object]) -> bool:
    from syncd.fake_monday import TOKEN

    return TOKEN in json.dumps(event, default=str)


def test_nothing_is_installed_without_entities() -> None:
    registry = Registry()
    install(registry, make_settings("postgresql:///unused"))
    assert registry.kinds("sync") == [] and registry.services == []
