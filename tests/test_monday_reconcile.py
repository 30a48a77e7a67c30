"""Drift reconciliation: what no job brought is found and repaired, by one process at
a time, and `syncd status` shows the last run (SPEC §11)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from syncd import status
from syncd.fake_monday import FakeMonday
from syncd.handlers import Registry
from syncd.handlers.monday import install
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.handler import MondaySync
from syncd.handlers.monday.pauses import MemoryPauses
from syncd.handlers.monday.reconcile import Reconciler, reconcile
from syncd.handlers.monday.settings import MondaySettings
from tests.support import add_contact, capture_logs, events, make_settings
from tests.support.monday import CONTACTS_BOARD, context, fake, monday_config, sync_job

__all__ = ["fake"]


@pytest.fixture
async def client(fake: FakeMonday) -> AsyncIterator[MondayClient]:
    config = monday_config(fake, reconcile={"every": "1h"})
    config["entities"]["contact"]["columns"]["title"]["direction"] = "to_monday"
    c = MondayClient(MondaySettings(**config), pauses=MemoryPauses())
    await c.start(None)
    try:
        yield c
    finally:
        await c.stop()


async def pushed(client: MondayClient, pool: asyncpg.Pool, conn: asyncpg.Connection) -> list:
    handler = MondaySync("contact", client.settings.entities["contact"], client)
    contacts = [
        await add_contact(conn, first_name=name, email=f"{name}@x.test", title="Engineer")
        for name in ("Ada", "Grace", "Alan")
    ]
    for contact in contacts:
        await handler(sync_job(contact), context(pool))
    return contacts


async def work_off(client: MondayClient, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    handler = MondaySync("contact", client.settings.entities["contact"], client)
    for job in await conn.fetch("SELECT * FROM sync_queue WHERE status = 'pending'"):
        await handler(sync_job(job["entity_id"], direction=job["direction"]), context(pool))
    await conn.execute("UPDATE sync_queue SET status = 'completed'")


async def test_reconcile_repairs_drift_and_then_finds_none(
    fake: FakeMonday, client: MondayClient, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    ada, grace, alan = await pushed(client, pool, conn)
    mapping = client.settings.entities["contact"]
    by_entity = {i.values["text_syncd_id"]: i.id for i in fake.boards.on_board(CONTACTS_BOARD)}
    # A bulk SQL update that enqueued nothing; a person's edit of a CRM-owned column
    # while no webhook listened; a change to a shared field on the board.
    await conn.execute("UPDATE contacts SET title = 'Director' WHERE id = $1", ada)
    fake.boards.change_values(CONTACTS_BOARD, by_entity[str(grace)], '{"text_title": "Intern"}')
    fake.boards.change_values(
        CONTACTS_BOARD, by_entity[str(alan)], json.dumps({"email": {"email": "alan@new.test"}})
    )
    with capture_logs() as logs:
        dry = await reconcile(pool, client, "contact", mapping, dry_run=True)
    assert dry.drifted == 3 and dry.enqueued == 0
    assert await conn.fetchval("SELECT count(*) FROM sync_queue") == 0
    drift = {e["entity_id"]: e for e in events(logs, "monday.drift")}
    assert drift[str(ada)]["repair"] == "push" and drift[str(grace)]["repair"] == "push"
    assert drift[str(alan)]["repair"] == "pull" and drift[str(alan)]["fields"] == ["email"]

    done = await reconcile(pool, client, "contact", mapping, priority=-10)
    assert done.enqueued == 3
    jobs = {
        (j["entity_id"], j["direction"], j["priority"])
        for j in await conn.fetch("SELECT * FROM sync_queue")
    }
    assert jobs == {(ada, "to_monday", -10), (grace, "to_monday", -10), (alan, "to_npd", -10)}
    await work_off(client, pool, conn)
    assert fake.boards.item(by_entity[str(ada)]).values["text_title"] == "Director"
    assert fake.boards.item(by_entity[str(grace)]).values["text_title"] == "Engineer"
    assert await conn.fetchval("SELECT email FROM contacts WHERE id = $1", alan) == "alan@new.test"

    again = await reconcile(pool, client, "contact", mapping)
    assert (again.checked, again.drifted, again.enqueued) == (3, 0, 0)
    report = await status.gather(conn, 3.0)
    assert status.render(report).splitlines()[-1].startswith("monday reconcile contact: last ")
    assert "checked 3, drifted 0, enqueued 0" in status.render(report)


async def test_only_one_process_reconciles_at_a_time(
    fake: FakeMonday, client: MondayClient, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await pushed(client, pool, conn)
    reconciler = Reconciler(client.settings, client)
    await reconciler.start(pool)
    try:
        await conn.fetchval("SELECT pg_advisory_lock(hashtext('syncd.monday.reconcile'))")
        with capture_logs() as logs:
            assert await reconciler.run_once() is None
        assert events(logs, "monday.reconcile_skipped")
        await conn.fetchval("SELECT pg_advisory_unlock(hashtext('syncd.monday.reconcile'))")
        ran = await reconciler.run_once()
        assert ran is not None and ran["contact"].checked == 3
    finally:
        await reconciler.stop()


def test_install_registers_the_periodic_reconcile_only_when_asked(fake: FakeMonday) -> None:
    registry = Registry()
    install(registry, make_settings("postgresql:///unused", monday=monday_config(fake)))
    assert not any(isinstance(s, Reconciler) for s in registry.services)
    registry = Registry()
    config = monday_config(fake, reconcile={"every": "24h"})
    install(registry, make_settings("postgresql:///unused", monday=config))
    [reconciler] = [s for s in registry.services if isinstance(s, Reconciler)]
    assert reconciler.every == 86_400
