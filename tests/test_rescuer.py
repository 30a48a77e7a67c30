"""The rescuer's one turn, driven directly: no waiting on heartbeats going stale."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from syncd.config import Settings
from syncd.loops.rescuer import Holdings, Rescuer
from syncd.queues import SYNC_QUEUE
from syncd.store import Store
from tests.support import capture_logs, enqueue, events, job_row
from tests.support.rows import keep_processing

ME = uuid.uuid4()


def rescuer_of(
    settings: Settings, pool: asyncpg.Pool, holdings: Holdings
) -> tuple[Rescuer, list[str]]:
    """The rescuer of worker ME; `due` lists the queues it found work in."""
    due: list[str] = []
    return Rescuer(settings, Store(pool, ME), holdings, due.append), due


async def processing(conn: asyncpg.Connection, worker: uuid.UUID, age_s: float) -> Any:
    job_id = await enqueue(conn, status="processing", attempts=1, worker_id=worker)
    await conn.execute(
        "UPDATE sync_queue SET last_attempt = now() - make_interval(secs => $2) WHERE id = $1",
        job_id,
        age_s,
    )
    return job_id


async def test_run_once_takes_back_a_dead_workers_jobs_and_says_what(
    settings: Settings, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    dead, alive = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO syncd_workers (id, hostname, pid, heartbeat_at) VALUES"
        " ($1, 'a', 1, now() - interval '1 hour'), ($2, 'b', 2, now())",
        dead,
        alive,
    )
    lost = await processing(conn, dead, 60)
    kept = await processing(conn, alive, 60)
    rescuer, due = rescuer_of(settings, pool, Holdings())
    with capture_logs() as logs:
        taken = await rescuer.run_once(dead=True)
    assert [(r.job.id, r.status) for r in taken] == [(lost, "pending")]
    assert [e["job_id"] for e in events(logs, "job.rescued")] == [str(lost)]
    assert due == ["sync"]
    assert (await job_row(conn, lost))["status"] == "pending"
    assert (await job_row(conn, kept))["status"] == "processing"


async def test_run_once_takes_back_what_this_worker_forgot_and_spares_what_it_holds(
    settings: Settings, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    holdings = Holdings()
    rescuer, due = rescuer_of(settings, pool, holdings)
    forgotten = await processing(conn, ME, 60)
    held = await processing(conn, ME, 60)
    young = await processing(conn, ME, 0)
    holdings.add("sync", [SYNC_QUEUE.job(await job_row(conn, held))])
    now = await conn.fetchval("SELECT now()")
    assert rescuer.forgot_some(ours=3)
    taken = await rescuer.run_once(dead=False, ours=3, looked_at=now)
    assert [r.job.id for r in taken] == [forgotten]
    assert due == ["sync"]
    statuses = {j: (await job_row(conn, j))["status"] for j in (forgotten, held, young)}
    assert statuses == {forgotten: "pending", held: "processing", young: "processing"}


async def test_run_once_looks_for_nothing_forgotten_while_a_claim_is_in_flight(
    settings: Settings, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    holdings = Holdings()
    rescuer, _ = rescuer_of(settings, pool, holdings)
    job_id = await processing(conn, ME, 60)
    now = await conn.fetchval("SELECT now()")
    with holdings.claiming():  # its answer may hold this very job
        assert not rescuer.forgot_some(ours=1)
        assert await rescuer.run_once(dead=False, ours=1, looked_at=now) == []
    assert (await job_row(conn, job_id))["status"] == "processing"


async def test_a_row_the_database_refuses_to_take_back_does_not_stop_the_rescue(
    settings: Settings, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    # A dead worker's job that a constraint of the host's keeps from going back.
    dead = uuid.uuid4()
    await conn.execute(
        "INSERT INTO syncd_workers (id, hostname, pid, heartbeat_at)"
        " VALUES ($1, 'a', 1, now() - interval '1 hour')",
        dead,
    )
    stuck = await processing(conn, dead, 60)
    await keep_processing(conn, stuck)
    document = await conn.fetchval(
        "INSERT INTO documents (filename, storage_path) VALUES ('a.txt', 'a.txt') RETURNING id"
    )
    orphan = await conn.fetchval(
        "INSERT INTO document_processing_queue (document_id, operation, status, attempts,"
        " worker_id, last_attempt) VALUES ($1, 'extract', 'processing', 1, $2,"
        " now() - interval '1 minute') RETURNING id",
        document,
        dead,
    )
    rescuer, due = rescuer_of(settings, pool, Holdings())
    with capture_logs() as logs:
        taken = await rescuer.run_once(dead=True)
    assert [r.job.id for r in taken] == [orphan]
    assert [e["queue"] for e in events(logs, "rescue.failed")] == ["sync"]
    assert due == ["documents"]
