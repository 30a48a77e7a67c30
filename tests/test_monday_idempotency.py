"""A create is idempotent: a lost answer never leaves two items, and changed data never replays."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
import structlog

from syncd import logs as syncd_logs
from syncd.fake_monday import TOKEN, Column, FakeMonday
from syncd.handlers import Registry
from syncd.handlers.monday import install, operations
from syncd.handlers.monday.client import MondayClient, idempotency_key
from syncd.handlers.monday.errors import MondayRefused, MondayUnavailable
from syncd.handlers.monday.handler import MondaySync
from syncd.handlers.monday.pauses import MemoryPauses
from tests.support import add_contact, enqueue, job_row, running_worker, wait_status
from tests.support.monday import (
    CONTACTS_BOARD,
    context,
    daemon_settings,
    fake,
    monday_settings,
    sync_job,
)

__all__ = ["fake"]

CREATE = {
    "board": str(CONTACTS_BOARD),
    "group": "topics",
    "name": "Ada",
    "values": json.dumps({"text_syncd_id": "x"}),
}


async def started(fake: FakeMonday) -> MondayClient:
    client = MondayClient(monday_settings(fake), pauses=MemoryPauses())
    await client.start(None)
    return client


def test_the_key_covers_the_job_and_the_exact_mutation_not_the_attempt() -> None:
    job = uuid.uuid4()
    key = idempotency_key(job, operations.CREATE_ITEM, CREATE)
    assert key == idempotency_key(job, operations.CREATE_ITEM, dict(CREATE))
    assert key != idempotency_key(uuid.uuid4(), operations.CREATE_ITEM, CREATE)
    assert key != idempotency_key(job, operations.CREATE_ITEM, {**CREATE, "name": "Ada L."})
    assert key != idempotency_key(job, operations.UPDATE_ITEM, CREATE)


async def test_a_repeated_mutation_is_replayed_not_repeated(fake: FakeMonday) -> None:
    client = await started(fake)
    key = idempotency_key(uuid.uuid4(), operations.CREATE_ITEM, CREATE)
    try:
        fake.faults.lose_response(when="create_item")
        with pytest.raises(MondayUnavailable):
            await client.call(
                operations.CREATE_ITEM, CREATE, board_id=CONTACTS_BOARD, idempotency_key=key
            )
        answer = await client.call(
            operations.CREATE_ITEM, CREATE, board_id=CONTACTS_BOARD, idempotency_key=key
        )
    finally:
        await client.stop()
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    assert answer.replayed and answer.data["create_item"]["id"] == str(item.id)
    assert [r.headers["Idempotency-Key"] for r in fake.received] == [key, key]


async def test_a_key_reused_with_other_data_is_refused_with_409(fake: FakeMonday) -> None:
    client = await started(fake)
    try:
        await client.call(
            operations.CREATE_ITEM, CREATE, board_id=CONTACTS_BOARD, idempotency_key="k"
        )
        with pytest.raises(MondayRefused, match="IDEMPOTENCY_KEY_REUSED"):
            await client.call(
                operations.CREATE_ITEM,
                {**CREATE, "name": "Someone else"},
                board_id=CONTACTS_BOARD,
                idempotency_key="k",
            )
    finally:
        await client.stop()
    assert fake.received[-1].status == 409
    assert len(fake.boards.on_board(CONTACTS_BOARD)) == 1


async def test_queries_carry_no_idempotency_key(fake: FakeMonday) -> None:
    client = await started(fake)
    try:
        await client.call(
            operations.FIND_ITEM,
            {"board": str(CONTACTS_BOARD), "column": "text_syncd_id", "value": "x"},
            idempotency_key="ignored",
        )
    finally:
        await client.stop()
    assert "Idempotency-Key" not in fake.received[0].headers


async def new_row(conn: asyncpg.Connection, entity_type: str) -> uuid.UUID:
    if entity_type == "contact":
        return await add_contact(conn, phone="202-555-0169", title="Countess")
    org: uuid.UUID = await conn.fetchval(
        "INSERT INTO organizations (name, website, industry, country) "
        "VALUES ('Acme', 'https://acme.test', 'Retail', 'Germany') RETURNING id"
    )
    return org


async def lost_create_then_retry(
    handler: MondaySync,
    pool: asyncpg.Pool,
    fake: FakeMonday,
    entity_id: uuid.UUID,
    between: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """The first attempt's create is applied and its answer lost; then the retry runs."""
    job = sync_job(entity_id, entity_type=handler.entity_type)
    fake.faults.lose_response(when="create_item")
    with pytest.raises(MondayUnavailable):
        await handler(job, context(pool))
    if between is not None:
        await between()
    retry = sync_job(entity_id, entity_type=handler.entity_type, attempt=2, job_id=job.id)
    await handler(retry, context(pool))


@pytest.mark.parametrize("entity_type", ["contact", "organization"])
async def test_a_retry_finds_the_item_the_lost_create_made_and_sends_no_update(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection, entity_type: str
) -> None:
    settings = monday_settings(fake)
    client = MondayClient(settings, pauses=MemoryPauses())
    await client.start(None)
    handler = MondaySync(entity_type, settings.entities[entity_type], client)
    entity_id = await new_row(conn, entity_type)
    try:
        await lost_create_then_retry(handler, pool, fake, entity_id)
        assert [r.fields for r in fake.received] == [
            ["create_item", "complexity"],
            ["items_page_by_column_values", "complexity"],
        ]
        # Remembered as a push: the same row is now unchanged, and not sent again.
        await handler(sync_job(entity_id, entity_type=entity_type), context(pool))
    finally:
        await client.stop()
    [item] = fake.boards.on_board(settings.entities[entity_type].board_id)
    assert await pool.fetchval("SELECT item_id FROM monday_items") == item.id
    assert fake.requests == 2 and fake.calls("change_multiple_column_values") == []


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE contacts SET title = 'Analyst' WHERE id = $1",
        "UPDATE contacts SET title = NULL WHERE id = $1",
        "UPDATE contacts SET last_name = 'King' WHERE id = $1",
        "the item was edited on monday",
    ],
    ids=["title changed", "title cleared", "name changed", "item edited on monday"],
)
async def test_a_retry_updates_an_item_that_differs_from_the_row(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection, change: str
) -> None:
    settings = monday_settings(fake)
    client = MondayClient(settings, pauses=MemoryPauses())
    await client.start(None)
    handler = MondaySync("contact", settings.entities["contact"], client)
    contact = await new_row(conn, "contact")

    async def between() -> None:
        if change.startswith("UPDATE"):
            await conn.execute(change, contact)
        else:
            [made] = fake.boards.on_board(CONTACTS_BOARD)
            fake.boards.change_values(CONTACTS_BOARD, made.id, '{"text_title": "Edited"}')

    try:
        await lost_create_then_retry(handler, pool, fake, contact, between)
        # The item now holds the row: another push is unchanged.
        await handler(sync_job(contact), context(pool))
    finally:
        await client.stop()
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    row = await conn.fetchrow("SELECT last_name, title FROM contacts WHERE id = $1", contact)
    assert len(fake.calls("change_multiple_column_values")) == 1
    assert item.name == f"Ada {row['last_name']}"
    assert item.values.get("text_title") == row["title"]
    assert await pool.fetchval("SELECT item_id FROM monday_items") == item.id


@pytest.mark.parametrize(
    ("board_type", "mapped_type"),
    [
        # monday stores a dropdown's option ids, not the labels syncd sends.
        (Column("tags", "dropdown", "Tags", ["Countess", "Engineer"]), "dropdown"),
        # The board's column is not of the type the mapping says.
        (Column("tags", "text", "Tags"), "numbers"),
    ],
    ids=["dropdown", "type not the mapping's"],
)
async def test_a_retry_updates_when_the_column_type_leaves_it_unsure(
    fake: FakeMonday,
    pool: asyncpg.Pool,
    conn: asyncpg.Connection,
    board_type: Column,
    mapped_type: str,
) -> None:
    fake.boards.add_board(1003, {"text_syncd_id": "text", "tags": board_type})
    entities = {
        "contact": {
            "table": "contacts",
            "board_id": 1003,
            "item_name": "{first_name}",
            "key_column": "text_syncd_id",
            "columns": {"title": {"column": "tags", "type": mapped_type}},
        }
    }
    settings = monday_settings(fake, entities=entities)
    client = MondayClient(settings, pauses=MemoryPauses())
    await client.start(None)
    handler = MondaySync("contact", settings.entities["contact"], client)
    title = "Countess" if mapped_type == "dropdown" else "42"
    contact = await add_contact(conn, title=title)
    try:
        await lost_create_then_retry(handler, pool, fake, contact)
    finally:
        await client.stop()
    [item] = fake.boards.on_board(1003)
    assert len(fake.calls("items_page_by_column_values")) == 1
    assert len(fake.calls("change_multiple_column_values")) == 1
    assert await pool.fetchval("SELECT item_id FROM monday_items") == item.id


def test_the_lookup_with_values_costs_less_than_the_update_it_saves() -> None:
    fake = FakeMonday()
    lookup = fake.cost_of(operations.FIND_ITEM.text)
    with_values = fake.cost_of(operations.FIND_ITEM_VALUES.text)
    update = fake.cost_of(operations.UPDATE_ITEM.text)
    assert with_values < update
    # The values add under 1 % of an update: worth it if one retry in a hundred skips one.
    assert with_values - lookup < update / 100


async def test_lost_answers_under_the_daemon_leave_one_item_per_contact(
    fake: FakeMonday, database_url: str, conn: asyncpg.Connection
) -> None:
    settings = daemon_settings(database_url, fake)
    registry = Registry()
    install(registry, settings)
    contacts = [await add_contact(conn, email=f"c{i}@example.com") for i in range(6)]
    fake.faults.lose_response(when="create_item", times=3)
    fake.faults.fail(500, when="change_multiple_column_values", times=1)
    stream = io.StringIO()
    syncd_logs.setup("debug", "json", stream)
    try:
        async with running_worker(settings, registry):
            jobs = [await enqueue(conn, entity_id=c) for c in contacts]
            for job_id in jobs:
                assert job_id is not None
                await wait_status(conn, job_id, "completed", timeout=60)
    finally:
        structlog.reset_defaults()
    keys = [i.values["text_syncd_id"] for i in fake.boards.on_board(CONTACTS_BOARD)]
    assert sorted(keys) == sorted(str(c) for c in contacts)
    retried = [await job_row(conn, j) for j in jobs]
    assert sum(r["attempts"] for r in retried) >= len(jobs) + 3
    # The token appears in no log line.
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    names = {line["event"] for line in lines}
    assert {"job.completed", "job.retry_scheduled", "monday.item_created"} <= names
    assert TOKEN not in stream.getvalue()
    errors = await conn.fetch("SELECT error_message FROM sync_queue")
    assert all(TOKEN not in (r["error_message"] or "") for r in errors)
