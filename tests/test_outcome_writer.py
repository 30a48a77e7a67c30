"""The outcome writer: one batch, one statement, and a refused row costs only itself."""

from __future__ import annotations

import uuid

import asyncpg

from syncd.loops.rescuer import Holdings
from syncd.loops.writer import OutcomeWriter
from syncd.outcomes import COMPLETED, RETRY, Outcome
from syncd.queues import SYNC_QUEUE
from tests.support import capture_logs, connected, enqueue, events, job_row, wait_for
from tests.support.rows import keep_processing
from tests.support.worker import registered_store


async def test_a_row_the_database_refuses_costs_only_its_own_outcome(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    """A retry that a constraint of the host's refuses costs only itself: the other
    outcomes of its batch are written all the same."""
    store = await registered_store(pool)
    entity = uuid.uuid4()
    await enqueue(conn, entity_id=entity)
    await enqueue(conn)
    refused, fine = sorted(await store.claim(SYNC_QUEUE, 2), key=lambda j: j.entity_id != entity)
    await keep_processing(conn, refused.id)
    holdings = Holdings()
    holdings.add("sync", [refused, fine])
    writer = OutcomeWriter(store, holdings, lambda *_: None)
    with capture_logs() as logs:
        writer.submit(refused, Outcome(RETRY, "HTTP 503", delay_s=60))
        writer.submit(fine, Outcome(COMPLETED))
        writing = writer.start()
        try:
            await wait_for(lambda: _nothing_held(holdings))
        finally:
            writing.cancel()
    assert [e["job_id"] for e in events(logs, "job.completed")] == [str(fine.id)]
    assert [e["job_id"] for e in events(logs, "db.write_failed")] == [str(refused.id)]
    # Left `processing` for the rescuer, as if its worker had died.
    assert (await job_row(conn, refused.id))["status"] == "processing"


async def _nothing_held(holdings: Holdings) -> bool:
    return not holdings.count()


async def test_a_retry_folds_into_a_newer_job_whose_insert_it_had_to_wait_for(
    database_url: str, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    """The entity's next change is inserted in a transaction still open when the retry is
    written: the write cannot see it, waits for it on the one-pending index and is
    refused once it commits. Tried again, the write sees it and folds into it."""
    store = await registered_store(pool)
    entity = uuid.uuid4()
    job_id = await enqueue(conn, entity_id=entity)
    [job] = await store.claim(SYNC_QUEUE, 1)
    holdings = Holdings()
    holdings.add("sync", [job])
    writer = OutcomeWriter(store, holdings, lambda *_: None)
    async with connected(database_url) as app:
        inserting = app.transaction()
        await inserting.start()
        await app.execute(
            "INSERT INTO sync_queue (entity_type, entity_id) VALUES ('contact', $1)", entity
        )
        with capture_logs() as logs:
            writer.submit(job, Outcome(RETRY, "HTTP 503", delay_s=60))
            writing = writer.start()
            try:
                await wait_for(lambda: _waiting_on(conn, app))
                await inserting.commit()
                await wait_for(lambda: _nothing_held(holdings))
            finally:
                writing.cancel()
    newer = await conn.fetchval(
        "SELECT id FROM sync_queue WHERE entity_id = $1 AND status = 'pending'", entity
    )
    assert events(logs, "db.write_failed") == []
    [merged] = events(logs, "job.merged")
    assert (merged["job_id"], merged["merged_into"]) == (str(job_id), str(newer))
    row = await job_row(conn, job_id)
    merged_into = f"merged into pending job {newer}"
    assert (row["status"], row["error_message"]) == ("cancelled", merged_into)


async def _waiting_on(conn: asyncpg.Connection, other: asyncpg.Connection) -> bool:
    """Whether a statement is waiting for `other`'s transaction to end."""
    return bool(
        await conn.fetchval(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))",
            other.get_server_pid(),
        )
    )
