"""Adopting a board's existing items: the plan, the backfill, and a second run that
does nothing (SPEC §11)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from syncd.fake_monday import TOKEN, FakeMonday
from syncd.handlers.monday import backfill, crm_graphql
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.handler import MondaySync
from syncd.handlers.monday.pauses import MemoryPauses
from syncd.handlers.monday.settings import MondaySettings
from tests.support import add_contact
from tests.support.monday import (
    CONTACTS_BOARD,
    assert_valid,
    context,
    fake,
    monday_config,
    sync_job,
)

__all__ = ["fake"]


def crm_settings(fake: FakeMonday) -> MondaySettings:
    config = monday_config(fake)
    config["entities"]["contact"]["match"] = "email"
    # The CRM owns the title: a title that differs on the board is an update.
    config["entities"]["contact"]["columns"]["title"]["direction"] = "to_monday"
    config["entities"]["organization"]["match"] = "name"
    return MondaySettings(**config)


@pytest.fixture
async def client(fake: FakeMonday) -> AsyncIterator[MondayClient]:
    c = MondayClient(crm_settings(fake), pauses=MemoryPauses())
    await c.start(None)
    try:
        yield c
    finally:
        await c.stop()


def person_item(fake: FakeMonday, name: str, **values: Any) -> int:
    """An item made on the board by a person (or the system syncd replaces)."""
    return fake.boards.create_item(CONTACTS_BOARD, "topics", name, json.dumps(values)).id


def email(address: str) -> dict[str, str]:
    return {"email": address, "text": address}


async def board_with_history(fake: FakeMonday, conn: asyncpg.Connection) -> dict[str, Any]:
    """Rows and items in every situation a backfill meets."""
    ada = await add_contact(conn, email="ada@example.com", title="Countess")
    grace = await add_contact(
        conn, first_name="Grace", last_name="Hopper", email="grace@navy.mil", title="Admiral"
    )
    alan = await add_contact(
        conn, first_name="Alan", last_name="Turing", email="alan@bletchley.uk", title=None
    )
    new = await add_contact(conn, first_name="Edsger", last_name="Dijkstra", email="ed@tue.nl")
    twice = await add_contact(conn, first_name="Barbara", last_name="Liskov", email="bl@mit.edu")
    shared_a = await add_contact(conn, first_name="Tom", last_name="A", email="team@corp.test")
    shared_b = await add_contact(conn, first_name="Tim", last_name="B", email="team@corp.test")
    items = {
        # The old sync wrote our id in the key column, and the same values.
        "ada": person_item(
            fake,
            "Ada Lovelace",
            text_syncd_id=str(ada),
            email=email("ada@example.com"),
            text_title="Countess",
        ),
        # Keyed, but its title differs from the row's.
        "grace": person_item(
            fake,
            "Grace Hopper",
            text_syncd_id=str(grace),
            email=email("grace@navy.mil"),
            text_title="Captain",
        ),
        # Made by hand: no key, found by its email (in another case).
        "alan": person_item(fake, "Alan Turing", email=email("alan@bletchley.uk")),
        "stranger": person_item(fake, "Someone Else", email=email("who@nowhere.test")),
        "twice_1": person_item(fake, "Barbara Liskov", email=email("bl@mit.edu")),
        "twice_2": person_item(fake, "B. Liskov", email=email("bl@mit.edu")),
        "shared": person_item(fake, "The Team", email=email("team@corp.test")),
    }
    return {
        "ada": ada,
        "grace": grace,
        "alan": alan,
        "new": new,
        "twice": twice,
        "shared": {shared_a, shared_b},
        "items": items,
    }


async def test_the_plan_pairs_rows_and_items_and_changes_nothing(
    fake: FakeMonday, client: MondayClient, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    world = await board_with_history(fake, conn)
    mapping = client.settings.entities["contact"]
    plan = await backfill.compare(pool, client, "contact", mapping, mode="backfill")
    summary = plan.summary()
    assert summary["rows"] == 7 and summary["items"] == 7
    assert plan.create == [world["new"]]
    assert plan.update == [world["grace"]]
    assert summary["unchanged"] == 2  # ada by key, alan by email
    assert summary["adopted"] == 1
    assert plan.fill_key == [(world["alan"], world["items"]["alan"])]
    assert plan.unmatched_items == [world["items"]["stranger"]]
    duplicates = {(d.kind, tuple(d.item_ids)): set(d.entity_ids) for d in plan.duplicates}
    items = world["items"]
    assert duplicates == {
        (backfill.SEVERAL_ITEMS, (items["twice_1"], items["twice_2"])): {world["twice"]},
        (backfill.SEVERAL_ROWS, (items["shared"],)): world["shared"],
    }
    # A plan is only read: no link, no job, no mutation.
    assert await conn.fetchval("SELECT count(*) FROM monday_items") == 0
    assert await conn.fetchval("SELECT count(*) FROM sync_queue") == 0
    assert not fake.calls("change_simple_column_value")
    text = plan.render()
    assert "several items for one row" in text and str(world["twice"]) in text


async def test_a_backfill_adopts_then_a_second_run_changes_nothing(
    fake: FakeMonday, client: MondayClient, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    world = await board_with_history(fake, conn)
    mapping = client.settings.entities["contact"]
    plan = await backfill.compare(pool, client, "contact", mapping, mode="backfill")
    done = await backfill.carry_out(pool, client, mapping, plan, priority=-10)
    assert done.keys_filled == 1 and done.enqueued == 2
    alan_item = fake.boards.item(world["items"]["alan"])
    assert alan_item.values["text_syncd_id"] == str(world["alan"])
    [fill] = fake.calls("change_simple_column_value")
    assert fill.headers.get("Idempotency-Key", "").startswith("syncd-")
    links = dict(await conn.fetch("SELECT entity_id, item_id FROM monday_items"))
    assert links == {
        world["ada"]: world["items"]["ada"],
        world["grace"]: world["items"]["grace"],
        world["alan"]: world["items"]["alan"],
    }
    jobs = await conn.fetch("SELECT entity_id, direction, priority FROM sync_queue")
    assert {(j["entity_id"], j["direction"], j["priority"]) for j in jobs} == {
        (world["grace"], "to_monday", -10),
        (world["new"], "to_monday", -10),
    }

    # The daemon works the jobs off: grace's item is updated, not made again.
    handler = MondaySync("contact", mapping, client)
    before = len(fake.boards.on_board(CONTACTS_BOARD))
    for job in jobs:
        await handler(sync_job(job["entity_id"]), context(pool))
    assert len(fake.boards.on_board(CONTACTS_BOARD)) == before + 1  # the new contact only
    assert fake.boards.item(world["items"]["grace"]).values["text_title"] == "Admiral"
    await conn.execute("UPDATE sync_queue SET status = 'completed'")

    again = await backfill.compare(pool, client, "contact", mapping, mode="backfill")
    assert again.changes == 0
    assert again.summary()["unchanged"] == 4
    redone = await backfill.carry_out(pool, client, mapping, again, priority=-10)
    assert (redone.links, redone.keys_filled, redone.enqueued) == (0, 0, 0)
    assert await conn.fetchval("SELECT count(*) FROM sync_queue WHERE status = 'pending'") == 0


async def test_an_organization_is_matched_by_its_name(
    fake: FakeMonday, client: MondayClient, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    org = await conn.fetchval("INSERT INTO organizations (name) VALUES ('Acme') RETURNING id")
    item = fake.boards.create_item(1002, None, "acme ", "{}")
    mapping = client.settings.entities["organization"]
    plan = await backfill.compare(pool, client, "organization", mapping, mode="backfill")
    assert plan.fill_key == [(org, item.id)] and plan.create == []


async def test_where_limits_the_rows_and_is_read_only(
    fake: FakeMonday, client: MondayClient, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await add_contact(conn, email="a@x.test")
    kept = await add_contact(conn, first_name="Kept", email="k@x.test")
    mapping = client.settings.entities["contact"]
    plan = await backfill.compare(
        pool, client, "contact", mapping, mode="backfill", where="first_name = 'Kept'"
    )
    assert plan.create == [kept]
    await conn.execute("CREATE SEQUENCE side_effect")
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await backfill.compare(
            pool, client, "contact", mapping, mode="backfill", where="nextval('side_effect') > 0"
        )


async def test_pages_are_followed_with_cursors(
    fake: FakeMonday, client: MondayClient, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    for i in range(crm_graphql.PAGE_SIZE + 3):
        person_item(fake, f"Person {i}")
    found = await backfill.board_items(client, client.settings.entities["contact"])
    assert len(found) == crm_graphql.PAGE_SIZE + 3
    assert len(fake.calls("next_items_page")) == 1


def test_every_crm_document_validates_against_mondays_published_schema() -> None:
    assert_valid([document.text for document in crm_graphql.ALL])


async def syncd_cli(database_url: str, fake: FakeMonday, *args: str) -> tuple[int, str, str]:
    """`syncd ARGS` in a child process while this loop keeps serving the fake."""
    config = crm_settings(fake).model_dump(mode="json")
    env = {
        **os.environ,
        "SYNCD_DATABASE__URL": database_url,
        "SYNCD_MONDAY__API_URL": fake.url,
        "SYNCD_MONDAY__TOKEN": TOKEN,
        "SYNCD_MONDAY__ENTITIES": json.dumps(config["entities"]),
    }
    env.pop("SYNCD_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "syncd",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_command_prints_the_plan_and_a_dry_run_changes_nothing(
    fake: FakeMonday, database_url: str, conn: asyncpg.Connection
) -> None:
    world = await board_with_history(fake, conn)
    code, out, err = await syncd_cli(
        database_url, fake, "monday", "backfill", "contact", "--dry-run", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert (report["create"], report["update"], report["unchanged"]) == (1, 1, 2)
    assert report["duplicates"] == 2 and report["unmatched_items"] == 1
    assert report["dry_run"] is True
    assert await conn.fetchval("SELECT count(*) FROM monday_items") == 0

    code, out, err = await syncd_cli(database_url, fake, "monday", "backfill", "contact")
    assert code == 0, err
    assert "create" in out and "enqueued 2 job(s) at priority -10" in out
    assert await conn.fetchval("SELECT count(*) FROM sync_queue") == 2
    assert str(world["new"]) not in out  # the table has counts, duplicates are named

    code, _, err = await syncd_cli(database_url, fake, "monday", "backfill", "nobody")
    assert code == 1 and err.startswith("syncd: unknown entity type 'nobody'")
    assert "Traceback" not in err


async def test_reconcile_and_webhooks_commands(
    fake: FakeMonday, database_url: str, conn: asyncpg.Connection
) -> None:
    await board_with_history(fake, conn)
    code, out, err = await syncd_cli(database_url, fake, "monday", "backfill", "contact")
    assert code == 0, err
    await conn.execute("UPDATE contacts SET title = 'Changed by SQL' WHERE first_name = 'Ada'")
    code, out, err = await syncd_cli(
        database_url, fake, "monday", "reconcile", "contact", "--dry-run", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    # Ada's row changed by SQL; Grace's push, enqueued by the backfill, has not run yet.
    assert (report["update"], report["enqueued"]) == (2, 0)
    code, out, err = await syncd_cli(database_url, fake, "status")
    assert code == 0 and "monday reconcile contact: last" in out and "(dry run)" in out

    # Webhooks need [monday.webhooks]: one line, no traceback.
    code, _, err = await syncd_cli(database_url, fake, "monday", "webhooks", "install")
    assert code == 1 and err.startswith("syncd: [monday.webhooks] is not configured")
    code, out, err = await syncd_cli(database_url, fake, "monday", "webhooks", "list")
    assert code == 0 and "board 1001: no webhooks" in out
