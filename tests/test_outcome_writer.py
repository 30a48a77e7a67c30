"""The outcome writer: one batch, one statement, and a refused row costs only itself."""

from __future__ import annotations

import uuid

import asyncpg

from syncd.loops.rescuer import Holdings
from syncd.loops.writer import OutcomeWriter
from syncd.outcomes import COMPLETED, RETRY, Outcome
from syncd.queues import SYNC_QUEUE
from tests.support import capture_logs, enqueue, events, job_row, wait_for
from tests.support.worker import registered_store


async def test_a_row_the_database_refuses_costs_only_its_own_outcome(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    """A retry whose entity got a new pending job meanwhile breaks the one-pending rule;
    the other outcomes of its batch are written all the same."""
    store = await registered_store(pool)
    entity = uuid.uuid4()
    await enqueue(conn, entity_id=entity)
    await enqueue(conn)
    refused, fine = sorted(await store.claim(SYNC_QUEUE, 2), key=lambda j: j.entity_id != entity)
    await enqueue(conn, entity_id=entity)  # the entity's next change, pending meanwhile
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
