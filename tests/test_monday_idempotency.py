"""A create is idempotent: a lost answer never leaves two items, and changed data never replays."""

from __future__ import annotations

import io
import json
import uuid

import asyncpg
import pytest
import structlog

from syncd import logs as syncd_logs
from syncd.fake_monday import TOKEN, FakeMonday
from syncd.handlers import Registry
from syncd.handlers.monday import MondaySync, documents, install
from syncd.handlers.monday.client import MondayClient, idempotency_key
from syncd.handlers.monday.errors import MondayRefused, MondayUnavailable
from syncd.handlers.monday.pauses import MemoryPauses
from tests.monday_support import (
    CONTACTS_BOARD,
    context,
    daemon_settings,
    fake,
    monday_settings,
    sync_job,
)
from tests.support import add_contact, enqueue, job_row, running_worker, wait_status

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
    key = idempotency_key(job, documents.CREATE_ITEM, CREATE)
    assert key == idempotency_key(job, documents.CREATE_ITEM, dict(CREATE))
    assert key != idempotency_key(uuid.uuid4(), documents.CREATE_ITEM, CREATE)
    assert key != idempotency_key(job, documents.CREATE_ITEM, {**CREATE, "name": "Ada L."})
    assert key != idempotency_key(job, documents.UPDATE_ITEM, CREATE)


async def test_a_repeated_mutation_is_replayed_not_repeated(fake: FakeMonday) -> None:
    client = await started(fake)
    key = idempotency_key(uuid.uuid4(), documents.CREATE_ITEM, CREATE)
    try:
        fake.faults.lose_response(when="create_item")
        with pytest.raises(MondayUnavailable):
            await client.call(
                documents.CREATE_ITEM, CREATE, board_id=CONTACTS_BOARD, idempotency_key=key
            )
        answer = await client.call(
            documents.CREATE_ITEM, CREATE, board_id=CONTACTS_BOARD, idempotency_key=key
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
            documents.CREATE_ITEM, CREATE, board_id=CONTACTS_BOARD, idempotency_key="k"
        )
        with pytest.raises(MondayRefused, match="IDEMPOTENCY_KEY_REUSED"):
            await client.call(
                documents.CREATE_ITEM,
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
            documents.FIND_ITEM,
            {"board": str(CONTACTS_BOARD), "column": "text_syncd_id", "value": "x"},
            idempotency_key="ignored",
        )
    finally:
        await client.stop()
    assert "Idempotency-Key" not in fake.received[0].headers


async def test_a_retry_after_a_lost_create_finds_the_item_instead_of_making_another(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    settings = monday_settings(fake)
    client = MondayClient(settings, pauses=MemoryPauses())
    await client.start(None)
    handler = MondaySync("contact", settings.entities["contact"], client)
    contact = await add_contact(conn)
    job = sync_job(contact)
    fake.faults.lose_response(when="create_item")
    try:
        with pytest.raises(MondayUnavailable):
            await handler(job, context(pool))
        retry = sync_job(contact, attempt=2, job_id=job.id)
        await handler(retry, context(pool))
    finally:
        await client.stop()
    [item] = fake.boards.on_board(CONTACTS_BOARD)
    assert len(fake.calls("create_item")) == 1
    assert len(fake.calls("items_page_by_column_values")) == 1
    assert await pool.fetchval("SELECT item_id FROM monday_items") == item.id


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
