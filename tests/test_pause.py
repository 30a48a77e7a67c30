"""Pause and resume (SPEC §9): a paused queue, or kind, starts nothing in any daemon;
running jobs finish; resume lets the jobs through at once; the pause lives in the
database, so it survives restarts and reaches daemons with LISTEN off by the poll."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg

from syncd import pauses
from syncd.config import Settings
from syncd.job import Job
from syncd.queues import DOCUMENT_QUEUE, SYNC_QUEUE
from syncd.slots import Slots
from tests.support import (
    Recorded,
    add_document,
    capture_logs,
    enqueue,
    events,
    job_row,
    make_settings,
    registry_with,
    running_worker,
    wait_for,
    wait_status,
)
from tests.test_cli import syncd

DOCUMENTS = "document_processing_queue"
# How long a test watches a paused queue for a job that should not start.
WATCH = 1.5
# Long enough that only a NOTIFY, not the periodic poll, can be what a daemon heard.
NO_POLL = {"daemon": {"poll_interval": 60}}


def quiet(database_url: str, **overrides: Any) -> Settings:
    return make_settings(database_url, **{**NO_POLL, **overrides})


async def statuses(conn: asyncpg.Connection, jobs: list[uuid.UUID]) -> list[str]:
    rows = await conn.fetch("SELECT id, status FROM sync_queue WHERE id = ANY($1)", jobs)
    by_id = {r["id"]: r["status"] for r in rows}
    return [by_id[j] for j in jobs]


async def noticed(worker: Any, queue: str, *kinds: str) -> None:
    """Until `worker` has taken in exactly these pauses of `queue`."""

    async def check() -> bool:
        return bool(worker.queues[queue].paused == frozenset(kinds))

    await wait_for(check)


async def test_a_paused_queue_starts_nothing_running_jobs_finish_and_resume_lets_them_through(
    database_url: str, conn: asyncpg.Connection
) -> None:
    release = asyncio.Event()

    async def first_blocks(job: Job) -> None:
        if job.payload.get("blocks"):
            await release.wait()

    handler = Recorded(first_blocks)
    with capture_logs() as logs:
        async with running_worker(
            quiet(database_url), registry_with(sync={"contact": handler})
        ) as worker:
            running = await enqueue(conn, payload={"blocks": True})
            assert running is not None
            await wait_status(conn, running, "processing")

            assert await pauses.pause(conn, SYNC_QUEUE, None, "test:ops", "monday is down")
            await noticed(worker, "sync", "*")
            waiting = [await enqueue(conn) for _ in range(3)]
            await asyncio.sleep(WATCH)
            assert await statuses(conn, waiting) == ["pending"] * 3  # type: ignore[list-item]
            assert len(handler.jobs) == 1

            release.set()  # the job that was running when the pause came finishes
            await wait_status(conn, running, "completed")
            await asyncio.sleep(0.3)
            assert len(handler.jobs) == 1

            assert await pauses.resume(conn, SYNC_QUEUE, None, "test:ops") == ["*"]
            for job in waiting:
                assert job is not None
                await wait_status(conn, job, "completed", timeout=10)
    assert [(e["queue"], e.get("kind")) for e in events(logs, "queue.paused")] == [("sync", None)]
    assert [e["queue"] for e in events(logs, "queue.resumed")] == ["sync"]


async def test_a_paused_kind_waits_while_other_kinds_and_queues_go_on(
    database_url: str, conn: asyncpg.Connection
) -> None:
    handler = Recorded()
    registry = registry_with(
        sync={"contact": handler, "organization": handler},
        documents={"extract": handler, "thumbnail": handler},
    )
    document = await add_document(conn)

    async def document_job(operation: str) -> uuid.UUID:
        job_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO document_processing_queue (document_id, operation)"
            " VALUES ($1, $2) RETURNING id",
            document,
            operation,
        )
        return job_id

    async with running_worker(quiet(database_url), registry) as worker:
        await pauses.pause(conn, SYNC_QUEUE, "contact", "test:ops")
        await pauses.pause(conn, DOCUMENT_QUEUE, "extract", "test:ops")
        await noticed(worker, "sync", "contact")
        await noticed(worker, "documents", "extract")
        contact = await enqueue(conn, "contact")
        organization = await enqueue(conn, "organization")
        extract = await document_job("extract")
        assert contact is not None and organization is not None
        await wait_status(conn, organization, "completed")
        thumbnail = await document_job("thumbnail")  # one job per document at a time
        await wait_status(conn, thumbnail, "completed", table=DOCUMENTS)
        await asyncio.sleep(WATCH)
        assert (await statuses(conn, [contact])) == ["pending"]
        assert (await job_row(conn, extract, DOCUMENTS))["status"] == "pending"

        await pauses.resume(conn, SYNC_QUEUE, "contact", "test:ops")
        await pauses.resume(conn, DOCUMENT_QUEUE, "extract", "test:ops")
        await wait_status(conn, contact, "completed", timeout=10)
        await wait_status(conn, extract, "completed", table=DOCUMENTS, timeout=10)


async def test_a_second_daemon_honours_a_pause_made_while_it_runs_and_one_started_after(
    database_url: str, conn: asyncpg.Connection
) -> None:
    handler = Recorded()
    registry = registry_with(sync={"contact": handler})
    async with running_worker(quiet(database_url), registry) as first:
        await pauses.pause(conn, SYNC_QUEUE, None, "test:ops")
        await noticed(first, "sync", "*")  # by its NOTIFY: the poll is a minute away
        async with running_worker(quiet(database_url), registry) as second:
            await noticed(second, "sync", "*")  # from the database, as it started
            waiting = [await enqueue(conn) for _ in range(4)]
            await asyncio.sleep(WATCH)
            assert handler.jobs == []
            await pauses.resume(conn, SYNC_QUEUE, None, "test:ops")
            for job in waiting:
                assert job is not None
                await wait_status(conn, job, "completed", timeout=10)


async def test_a_pause_survives_a_daemon_restart(
    database_url: str, conn: asyncpg.Connection
) -> None:
    handler = Recorded()
    registry = registry_with(sync={"contact": handler})
    await pauses.pause(conn, SYNC_QUEUE, None, "test:ops")
    job = await enqueue(conn)
    assert job is not None
    for _ in range(2):
        async with running_worker(quiet(database_url), registry) as worker:
            await noticed(worker, "sync", "*")
            await asyncio.sleep(WATCH / 2)
    assert handler.jobs == [] and await statuses(conn, [job]) == ["pending"]
    async with running_worker(quiet(database_url), registry):
        await pauses.resume(conn, SYNC_QUEUE, None, "test:ops")
        await wait_status(conn, job, "completed", timeout=10)


async def test_with_listen_off_the_poll_brings_pause_and_resume(
    database_url: str, conn: asyncpg.Connection
) -> None:
    handler = Recorded()
    settings = make_settings(
        database_url, database={"listen": False}, daemon={"poll_interval": 0.3}
    )
    async with running_worker(settings, registry_with(sync={"contact": handler})) as worker:
        await pauses.pause(conn, SYNC_QUEUE, None, "test:ops")
        await noticed(worker, "sync", "*")
        job = await enqueue(conn)
        assert job is not None
        await asyncio.sleep(WATCH)
        assert handler.jobs == []
        await pauses.resume(conn, SYNC_QUEUE, None, "test:ops")
        await wait_status(conn, job, "completed", timeout=10)


async def test_a_once_run_ends_with_the_paused_queue_left_alone(
    database_url: str, conn: asyncpg.Connection
) -> None:
    handler = Recorded()
    await pauses.pause(conn, SYNC_QUEUE, None, "test:ops")
    job = await enqueue(conn)
    assert job is not None
    async with running_worker(
        quiet(database_url), registry_with(sync={"contact": handler}), once=True
    ) as worker:
        await asyncio.wait_for(worker._stop.wait(), timeout=20)
    assert handler.jobs == [] and await statuses(conn, [job]) == ["pending"]


def test_jobs_claimed_ahead_under_a_pause_are_given_back(database_url: str) -> None:
    slots = Slots(make_settings(database_url))
    sync, documents = slots.states["sync"], slots.states["documents"]

    def job(queue: str, kind: str) -> Job:
        fields = (
            {
                "entity_type": kind,
                "entity_id": uuid.uuid4(),
                "direction": "to_monday",
                "payload": {},
            }
            if queue == "sync"
            else {"document_id": uuid.uuid4()}
        )
        op = kind if queue == "documents" else "upsert"
        return Job(queue=queue, id=uuid.uuid4(), attempt=1, max_attempts=5, operation=op, **fields)

    contact, organization, extract = (
        job("sync", "contact"),
        job("sync", "organization"),
        job("documents", "extract"),
    )
    sync.ready.extend([contact, organization])
    documents.ready.append(extract)
    sync.wanted = False

    log = Logged()
    assert pauses.follow(slots.states, {"sync": ["contact"]}, log)
    assert not pauses.follow(slots.states, {"sync": ["contact"]}, log)  # no news: no change
    assert pauses.unstartable(slots.states) == [contact]
    assert list(sync.ready) == [organization] and list(documents.ready) == [extract]

    pauses.follow(slots.states, {"sync": ["contact"], "documents": ["*"]}, log)
    assert pauses.unstartable(slots.states) == [extract]
    assert [s.queue.name for s in slots.hungry()] == []  # sync not wanted, documents paused

    pauses.follow(slots.states, {}, log)  # resumed: both wake at once
    assert sync.wanted and documents.wanted
    assert log.seen == [
        ("queue.paused", {"queue": "sync", "kind": "contact"}),
        ("queue.paused", {"queue": "documents"}),
        ("queue.resumed", {"queue": "sync", "kind": "contact"}),
        ("queue.resumed", {"queue": "documents"}),
    ]


class Logged:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.seen.append((event, fields))


# -- the commands -------------------------------------------------------------------------


async def test_pause_and_resume_from_the_command_line(
    database_url: str, conn: asyncpg.Connection
) -> None:
    out = syncd(database_url, "pause", "sync", "--reason", "monday is down").stdout
    assert out.strip() == "paused the sync queue: no new job starts; running jobs finish"
    again = syncd(database_url, "pause", "sync").stdout
    assert again.strip() == "the sync queue was already paused"
    kind = syncd(database_url, "pause", "documents", "--kind", "extract").stdout
    assert "operation 'extract' of the documents queue" in kind

    report = json.loads(syncd(database_url, "status", "--json").stdout)
    assert [(p["queue"], p["kind"], p["reason"]) for p in report["pauses"]] == [
        ("documents", "extract", None),
        ("sync", "*", "monday is down"),
    ]
    assert report["pauses"][1]["paused_by"].startswith("cli")
    text = syncd(database_url, "status").stdout
    assert "PAUSED since" in text and "monday is down" in text
    assert "PAUSED for extract" in text and "`syncd resume documents --kind extract`" in text

    out = syncd(database_url, "resume", "sync").stdout
    assert out.strip() == "resumed the sync queue"
    audit = await conn.fetch("SELECT actor, action, queue, detail FROM syncd_audit ORDER BY at")
    assert [(a["action"], a["queue"]) for a in audit] == [
        ("pause", "sync"),
        ("pause", "documents"),
        ("resume", "sync"),
    ]
    assert all(a["actor"].startswith("cli") for a in audit)
    # inspect.audit hands the detail over as JSON text, which a connection with syncd's
    # jsonb codec stores as a JSON string: read it either way.
    detail = audit[1]["detail"]
    assert (json.loads(detail) if isinstance(detail, str) else detail)["kind"] == "extract"
    assert await pauses.in_force(conn) == {"documents": ["extract"]}


def test_pause_and_resume_mistakes_are_one_line(database_url: str) -> None:
    def error(*args: str) -> str:
        proc = syncd(database_url, *args, check=False)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr.count("\n") == 1, proc.stderr
        return proc.stderr.strip()

    assert error("pause", "invoices") == (
        "syncd: unknown queue 'invoices': expected 'sync' or 'documents'"
    )
    assert error("resume", "sync") == "syncd: the sync queue is not paused"
    assert error("pause", "sync", "--kind", "*") == (
        "syncd: '*' stands for the whole queue: leave out --kind"
    )
    syncd(database_url, "pause", "sync")
    assert error("resume", "sync", "--kind", "contact") == (
        "syncd: entity type 'contact' of the sync queue is not paused (paused: the whole "
        "queue; `syncd resume sync` lifts them all)"
    )


async def test_in_force_gives_the_metrics_every_pause(conn: asyncpg.Connection) -> None:
    assert await pauses.in_force(conn) == {}
    await pauses.pause(conn, SYNC_QUEUE, "contact", "test")
    await pauses.pause(conn, SYNC_QUEUE, "organization", "test")
    await pauses.pause(conn, DOCUMENT_QUEUE, None, "test")
    assert await pauses.in_force(conn) == {
        "documents": ["*"],
        "sync": ["contact", "organization"],
    }


def test_systemds_status_line_says_a_queue_is_paused(database_url: str) -> None:
    from syncd.loops.watchdog import _state

    sync = Slots(make_settings(database_url)).states["sync"]
    assert _state(sync) == "due"
    sync.paused = frozenset({"contact"})
    assert _state(sync) == "due"  # one kind paused: the others still run
    sync.paused = frozenset({"*"})
    assert _state(sync) == "paused"
