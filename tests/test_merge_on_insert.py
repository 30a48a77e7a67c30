"""A second change for an entity with a pending job merges into that job (SPEC §2)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from tests.support import enqueue


async def pending(conn: asyncpg.Connection, entity_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM sync_queue WHERE entity_id = $1 AND status = 'pending'", entity_id
    )


async def test_second_insert_merges_delete_wins_priority_max_due_now(
    conn: asyncpg.Connection,
) -> None:
    entity = uuid.uuid4()
    first = await enqueue(conn, entity_id=entity, priority=5, payload={"v": 1})
    await conn.execute(
        "UPDATE sync_queue SET attempts = 2, next_retry = now() + interval '1 hour' WHERE id = $1",
        first,
    )
    merged = await enqueue(conn, entity_id=entity, operation="delete", priority=1, payload={"v": 2})
    assert merged == first  # no second row
    [row] = await pending(conn, entity)
    assert row["id"] == first
    assert row["operation"] == "delete"
    assert row["priority"] == 5
    assert row["next_retry"] is None
    assert row["attempts"] == 2
    assert row["payload"] == {"v": 2}

    await enqueue(conn, entity_id=entity, operation="upsert", priority=9)
    [row] = await pending(conn, entity)
    assert (row["operation"], row["priority"]) == ("delete", 9)


async def test_other_direction_and_finished_jobs_do_not_merge(conn: asyncpg.Connection) -> None:
    entity = uuid.uuid4()
    first = await enqueue(conn, entity_id=entity)
    await enqueue(conn, entity_id=entity, direction="to_npd")
    await conn.execute("UPDATE sync_queue SET status = 'completed' WHERE id = $1", first)
    await enqueue(conn, entity_id=entity)
    assert len(await pending(conn, entity)) == 2


async def test_concurrent_inserts_for_one_entity_leave_one_pending_job(database_url: str) -> None:
    entity = uuid.uuid4()
    conns = [await asyncpg.connect(database_url) for _ in range(8)]
    try:

        async def insert_many(c: asyncpg.Connection, n: int) -> None:
            for i in range(n):
                await c.execute(
                    "INSERT INTO sync_queue (entity_type, entity_id, priority) "
                    "VALUES ('contact', $1, $2)",
                    entity,
                    i,
                )

        await asyncio.gather(*(insert_many(c, 25) for c in conns))
        rows = await pending(conns[0], entity)
        assert len(rows) == 1
        assert rows[0]["priority"] == 24
    finally:
        for c in conns:
            await c.close()


async def test_a_bulk_insert_of_any_size_merges_without_running_out_of_locks(
    conn: asyncpg.Connection,
) -> None:
    entities = [uuid.uuid4() for _ in range(1000)]
    await conn.execute(
        "INSERT INTO sync_queue (entity_type, entity_id, priority) "
        "SELECT 'contact', e, n FROM unnest($1::uuid[]) e, generate_series(1, 30) n",
        entities,
    )
    rows = await conn.fetch("SELECT entity_id, priority FROM sync_queue")
    assert len(rows) == 1000
    assert {r["priority"] for r in rows} == {30}


async def test_an_insert_made_by_an_application_trigger_still_merges(
    conn: asyncpg.Connection,
) -> None:
    await conn.execute(
        """
        CREATE FUNCTION enqueue_contact() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO sync_queue (entity_type, entity_id) VALUES ('contact', NEW.id);
            RETURN NEW;
        END $$;
        CREATE TRIGGER contacts_enqueue AFTER INSERT OR UPDATE ON contacts
            FOR EACH ROW EXECUTE FUNCTION enqueue_contact();
        """
    )
    contact = await conn.fetchval("INSERT INTO contacts (email) VALUES ('a@b.c') RETURNING id")
    await conn.execute("UPDATE contacts SET email = 'x@y.z' WHERE id = $1", contact)
    assert len(await pending(conn, contact)) == 1
