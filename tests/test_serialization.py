"""No two jobs for one entity run at once, across all workers (SPEC §3)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg

from syncd.queues import DOCUMENT_QUEUE, SYNC_QUEUE
from syncd.store import Store
from tests.support import add_document, enqueue
from tests.support.worker import registered_store


async def test_an_entity_with_a_running_job_is_skipped(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    a, b = await registered_store(pool), await registered_store(pool)
    entity = uuid.uuid4()
    await enqueue(conn, entity_id=entity, direction="to_monday")
    await enqueue(conn, entity_id=entity, direction="to_npd")
    other = await enqueue(conn)
    first = await a.claim(SYNC_QUEUE, 10)
    assert len([j for j in first if j.entity_id == entity]) == 1
    second = await b.claim(SYNC_QUEUE, 10)
    assert [j.id for j in second if j.entity_id == entity] == []
    assert other in {j.id for j in first + second}
    await a.complete(SYNC_QUEUE, [j for j in first if j.entity_id == entity])
    [last] = await b.claim(SYNC_QUEUE, 10)
    assert last.entity_id == entity


async def test_one_extraction_per_document_at_a_time(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    store = await registered_store(pool)
    doc = await add_document(conn)
    for _ in range(3):
        await conn.execute(
            "INSERT INTO document_processing_queue (document_id, operation) VALUES ($1, 'extract')",
            doc,
        )
    assert len(await store.claim(DOCUMENT_QUEUE, 10)) == 1
    assert await store.claim(DOCUMENT_QUEUE, 10) == []


async def test_racing_claims_never_run_one_entity_twice(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    entities = [uuid.uuid4() for _ in range(20)]
    for e in entities:
        await enqueue(conn, entity_id=e, direction="to_monday")
        await enqueue(conn, entity_id=e, direction="to_npd")
    stores: list[Store] = [await registered_store(pool) for _ in range(4)]

    async def claim_all(store: Store) -> list[uuid.UUID]:
        seen = []
        for _ in range(10):
            # The database may refuse a racing claim: then nothing was taken.
            with contextlib.suppress(asyncpg.UniqueViolationError):
                seen += [j.entity_id for j in await store.claim(SYNC_QUEUE, 5)]
        return [e for e in seen if e is not None]

    results = await asyncio.gather(*(claim_all(s) for s in stores))
    claimed = [e for r in results for e in r]
    assert sorted(claimed) == sorted(set(claimed))  # each entity at most once while running
    running = await conn.fetchval("SELECT count(*) FROM sync_queue WHERE status = 'processing'")
    assert running == len(entities)
