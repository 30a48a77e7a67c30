"""Retention (SPEC §3): every completed or cancelled job past its age is deleted, however
it finished; the age runs from when it finished (syncd/migrations/0009 stamps it)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from syncd import migrate
from syncd.loops.pruner import prune
from syncd.store import Store
from tests.support import add_document, connected, make_settings

QUEUES = ["sync_queue", "document_processing_queue"]


async def pending_job(conn: asyncpg.Connection, table: str) -> uuid.UUID:
    if table == "sync_queue":
        # The merge trigger inserts a pending sync job itself: RETURNING sees no row.
        entity = uuid.uuid4()
        await conn.execute(
            "INSERT INTO sync_queue (entity_type, entity_id) VALUES ('contact', $1)", entity
        )
        job_id: uuid.UUID = await conn.fetchval(
            "SELECT id FROM sync_queue WHERE entity_id = $1", entity
        )
    else:
        job_id = await conn.fetchval(
            "INSERT INTO document_processing_queue (document_id, operation) "
            "VALUES ($1, 'extract') RETURNING id",
            await add_document(conn),
        )
    return job_id


@pytest.mark.parametrize("table", QUEUES)
async def test_a_job_the_application_cancels_itself_is_pruned_once_old(
    database_url: str, conn: asyncpg.Connection, pool: asyncpg.Pool, table: str
) -> None:
    job_id = await pending_job(conn, table)
    # The application's own cancel: it knows nothing of completed_at.
    await conn.execute(f"UPDATE {table} SET status = 'cancelled' WHERE id = $1", job_id)
    cancelled_at = await conn.fetchval(f"SELECT completed_at FROM {table} WHERE id = $1", job_id)
    assert cancelled_at is not None

    settings = make_settings(database_url, retention={"cancelled_after": 1})
    store = Store(pool, uuid.uuid4())
    assert sum((await prune(store, settings)).values()) == 0  # not old yet
    await asyncio.sleep(1.2)
    assert sum((await prune(store, settings)).values()) == 1
    assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", job_id) == 0


async def test_syncd_own_finishing_times_are_kept(conn: asyncpg.Connection) -> None:
    job_id = await pending_job(conn, "sync_queue")
    await conn.execute(
        "UPDATE sync_queue SET status = 'completed', completed_at = '2020-01-01' WHERE id = $1",
        job_id,
    )
    stamped = await conn.fetchval("SELECT completed_at::date::text FROM sync_queue")
    assert stamped == "2020-01-01"


async def test_jobs_cancelled_before_the_upgrade_age_from_their_last_attempt(
    empty_database: str,
) -> None:
    migrate.apply(empty_database)
    # Back to before 0009, whatever came after it.
    while (rolled := migrate.rollback(empty_database)) != "0009.finished-at":
        assert rolled is not None
    async with connected(empty_database) as conn:
        await conn.execute(
            "INSERT INTO sync_queue (entity_type, entity_id, status, last_attempt, created_at) "
            "VALUES ('contact', gen_random_uuid(), 'cancelled', now() - interval '40 days',"
            "        now() - interval '50 days'),"
            "       ('contact', gen_random_uuid(), 'cancelled', NULL, now() - interval '45 days'),"
            "       ('contact', gen_random_uuid(), 'cancelled', NULL, now() - interval '1 day')"
        )
        assert await conn.fetchval("SELECT count(completed_at) FROM sync_queue") == 0
    migrate.apply(empty_database)
    async with connected(empty_database) as conn:
        ages = await conn.fetch(
            "SELECT extract(day FROM now() - completed_at)::int AS days FROM sync_queue"
            " ORDER BY days"
        )
        assert [r["days"] for r in ages] == [1, 40, 45]
