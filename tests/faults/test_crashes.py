"""Daemons that die, freeze or are told to stop, with real work in their hands (SPEC §3)."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from syncd.fake_monday import Received
from tests.faults.support import (
    LONG_PDF_LINES,
    Fleet,
    Monday,
    assert_monday_matches_the_rows,
    drained,
    extractors,
    long_pdf,
    running,
    value,
    when,
)
from tests.support import add_contact, add_document, enqueue, event, ready, wait_for, wait_status
from tests.support.monday import CONTACTS_BOARD
from tests.support.timings import RESCUE_AFTER

pytestmark = pytest.mark.faults


def creates(monday: Monday) -> list[Received]:
    """The create_item requests monday has received, in order."""
    return list(monday.call(monday.fake.calls, "create_item"))


async def test_kill_9_with_ten_jobs_in_flight_is_rescued_in_bound_without_duplicates(
    fleet: Fleet, syncd_url: str, conn: asyncpg.Connection, monday: Monday
) -> None:
    # Ten requests in flight against the contacts board at once (the default is one).
    wide = {"SYNCD_MONDAY__BOARD_CONCURRENCY": "10"}
    victim = fleet.start(syncd_url, **wide)
    await ready(victim)
    # The victim's pacer sends a document of unknown cost alone: a delete of a contact
    # never pushed (one lookup, then nothing to do) teaches it a cost first.
    warm_up = await enqueue(conn, entity_id=uuid.uuid4(), operation="delete")
    await wait_status(conn, warm_up, "completed")
    contacts = [await add_contact(conn, email=f"c{i}@example.com") for i in range(10)]
    ghosts = monday.hold("create_item", times=10)
    jobs = [await enqueue(conn, entity_id=c) for c in contacts]
    # All ten creates have reached monday and wait there, unanswered, when it dies.
    await wait_for(lambda: ghosts.held == 10)
    claimed = "SELECT count(*) FROM sync_queue WHERE status = 'processing' AND id = ANY($1)"
    assert await value(conn, claimed, jobs) == 10
    survivor = fleet.start(syncd_url, **wide)
    await ready(survivor)

    victim.proc.kill()
    killed_at = time.time()
    assert victim.stop() == -9
    await event(survivor, "job.rescued", count=10, timeout=60)
    await drained(conn)
    # The dead worker's creates, received by monday before it died, are carried out
    # last: each has the Idempotency-Key of the survivor's create for the same job,
    # so monday replays the survivor's answer instead of making a second item.
    monday.release(ghosts)
    await wait_for(lambda: all(r.status for r in creates(monday)))
    assert survivor.stop() == 0

    rescued = survivor.named("job.rescued")
    assert sorted(e["job_id"] for e in rescued) == sorted(map(str, jobs))
    last_beat = await value(
        conn,
        "SELECT extract(epoch FROM heartbeat_at)::float8 FROM syncd_workers WHERE id = $1",
        uuid.UUID(victim.named("daemon.started")[0]["worker_id"]),
    )
    # Not before the victim's heartbeat was rescue_after old, and within rescue_after
    # of its death, with a margin for a loaded machine.
    assert min(when(e) for e in rescued) - last_beat >= RESCUE_AFTER
    assert max(when(e) for e in rescued) - killed_at <= RESCUE_AFTER + 5
    rows = await conn.fetch(
        "SELECT status, attempts, error_message FROM sync_queue WHERE id = ANY($1)", jobs
    )
    assert [tuple(r) for r in rows] == [("completed", 2, None)] * 10
    completed = survivor.job_ids("job.completed")
    assert sorted(completed) == sorted(map(str, jobs))  # each once, by the survivor
    assert victim.job_ids("job.completed") == [str(warm_up)]
    await assert_monday_matches_the_rows(conn, monday)
    # Twenty creates: the victim's ten ghosts first, then the survivor's ten; each
    # key twice, once by each worker, and every one answered.
    received = creates(monday)
    assert len(received) == 20 and {r.status for r in received} == {200}
    keys = [r.headers["Idempotency-Key"] for r in received]
    assert len(set(keys)) == 10 and sorted(keys[:10]) == sorted(keys[10:])
    remembered = await conn.fetch("SELECT entity_id, item_id FROM monday_items")
    assert {(r["entity_id"], r["item_id"]) for r in remembered} == {
        (uuid.UUID(i.values["text_syncd_id"]), i.id) for i in monday.items(CONTACTS_BOARD)
    }


async def test_a_frozen_daemon_is_rescued_and_its_late_writes_are_fenced(
    fleet: Fleet, syncd_url: str, conn: asyncpg.Connection, monday: Monday
) -> None:
    frozen = fleet.start(syncd_url)
    await ready(frozen)
    contact = await add_contact(conn)
    ghost = monday.hold("create_item")
    jobs = {
        "completes late": await enqueue(conn, "probe", payload={"sleep": 5}),
        "fails late": await enqueue(conn, "probe", payload={"sleep": 5, "fail": "retry"}),
        "pushes late": await enqueue(conn, entity_id=contact),
    }
    await wait_for(lambda: value(conn, "SELECT count(*) = 2 FROM probe_runs"))
    await wait_for(lambda: ghost.held)
    frozen.signal(signal.SIGSTOP)
    try:
        # The application fixed the failing job meanwhile: its next attempt succeeds.
        await conn.execute("UPDATE sync_queue SET payload = '{}'")
        other = fleet.start(syncd_url)
        await event(other, "job.rescued", count=3, timeout=60)
        await drained(conn)
    finally:
        frozen.signal(signal.SIGCONT)
    monday.release(ghost)  # the frozen push's create now gets its (replayed) answer
    await event(frozen, "job.fenced", count=3)
    assert frozen.stop() == 0 and other.stop() == 0

    ids = {str(j) for j in jobs.values()}
    assert set(frozen.job_ids("job.fenced")) == ids
    assert set(other.job_ids("job.completed")) == ids
    assert not frozen.named("job.completed") and not frozen.named("job.retry_scheduled")
    rows = await conn.fetch("SELECT status, attempts, error_message, worker_id FROM sync_queue")
    assert [tuple(r) for r in rows] == [("completed", 2, None, None)] * 3
    await assert_monday_matches_the_rows(conn, monday)
    [item] = monday.items(CONTACTS_BOARD)
    assert await value(conn, "SELECT item_id FROM monday_items") == item.id
    runs = await conn.fetch("SELECT pid, finished_at IS NOT NULL AS finished FROM probe_runs")
    assert sorted((r["pid"] == other.proc.pid, r["finished"]) for r in runs) == [
        (False, False),  # the frozen "fails late" attempt
        (False, True),  # the frozen "completes late" attempt, finished after all
        (True, True),
        (True, True),
    ]


async def test_sigterm_under_load_exits_in_the_grace_and_gives_attempts_back(
    fleet: Fleet, syncd_url: str, conn: asyncpg.Connection, monday: Monday, storage: Path
) -> None:
    grace = 2.0
    daemon = fleet.start(
        syncd_url,
        SYNCD_DAEMON__SHUTDOWN_GRACE=str(grace),
        SYNCD_DAEMON__CONCURRENCY="40",
        SYNCD_QUEUES__SYNC__CONCURRENCY="36",
    )
    await ready(daemon)
    contacts = [await add_contact(conn, email=f"c{i}@example.com") for i in range(10)]
    ghost = monday.hold("create_item")  # one push waits at monday, nine for the board
    for contact in contacts:
        await enqueue(conn, entity_id=contact)
    # Quick jobs, slow ones, and slow ones on their second attempt.
    second = {"sleep": 60, "second": True}
    await conn.executemany(
        "INSERT INTO sync_queue (entity_type, entity_id, payload, attempts) "
        "VALUES ('probe', gen_random_uuid(), $1, $2)",
        [({"sleep": 0.01}, 0)] * 300 + [({"sleep": 60}, 0)] * 10 + [(second, 1)] * 5,
    )
    for i in range(20):
        (storage / f"note{i}.txt").write_text(f"note number {i}\n")
        await add_document(conn, f"note{i}.txt")
    await conn.execute(
        "INSERT INTO document_processing_queue (document_id, operation) "
        "SELECT id, 'extract' FROM documents"
    )
    slow_running = "SELECT count(*) = 15 FROM probe_runs r JOIN sync_queue q ON q.id = r.job_id "
    await wait_for(lambda: value(conn, slow_running + "WHERE q.payload->>'sleep' = '60'"))
    await wait_for(lambda: ghost.held)

    daemon.signal(signal.SIGTERM)
    signalled = time.monotonic()
    code = await asyncio.to_thread(daemon.proc.wait, grace + 30)
    took = time.monotonic() - signalled
    assert code == 0
    assert took <= grace + 5  # the grace, and a margin for the release writes on a busy host
    released = set(daemon.job_ids("job.released"))
    rows = [
        *await conn.fetch("SELECT id, status, attempts, started_at, payload FROM sync_queue"),
        *await conn.fetch(
            "SELECT id, status, attempts, started_at, NULL AS payload "
            "FROM document_processing_queue"
        ),
    ]
    assert {r["status"] for r in rows} <= {"completed", "pending"}  # none left processing
    # Released: every job that had started and not finished, its attempt given back.
    started_not_done = {str(r["id"]) for r in rows if r["status"] == "pending" and r["started_at"]}
    assert started_not_done == released
    unfinished = await conn.fetch("SELECT job_id FROM probe_runs WHERE finished_at IS NULL")
    assert {str(r["job_id"]) for r in unfinished} <= released
    for row in rows:
        if row["status"] == "pending":
            assert row["attempts"] == (1 if (row["payload"] or {}).get("second") else 0)
    slow = {str(r["id"]) for r in rows if (r["payload"] or {}).get("sleep") == 60}
    assert len(slow) == 15 and slow <= released

    # The ghost create lands after all; the released pushes run again as attempt 1
    # under the same Idempotency-Key, and monday replays instead of duplicating.
    monday.release(ghost)
    await wait_for(lambda: all(r.status for r in monday.call(monday.fake.calls, "create_item")))
    await conn.execute("UPDATE sync_queue SET payload = '{}' WHERE payload->>'sleep' = '60'")
    again = fleet.start(syncd_url)
    await drained(conn)
    assert again.stop() == 0
    assert await value(conn, "SELECT count(*) FROM sync_queue WHERE status <> 'completed'") == 0
    pushes = await conn.fetch("SELECT attempts FROM sync_queue WHERE entity_type = 'contact'")
    assert [r["attempts"] for r in pushes] == [1] * 10
    await assert_monday_matches_the_rows(conn, monday)


async def test_sigterm_mid_extraction_gives_the_document_back_and_writes_nothing(
    fleet: Fleet, syncd_url: str, conn: asyncpg.Connection, storage: Path
) -> None:
    grace = 1.0
    daemon = fleet.start(syncd_url, SYNCD_DAEMON__SHUTDOWN_GRACE=str(grace))
    await ready(daemon)
    pages = 2000  # the default page limit: pypdf reads it for several CPU seconds
    data = long_pdf(pages)
    (storage / "long.pdf").write_bytes(data)
    document = await add_document(conn, "long.pdf")
    idle = extractors(daemon)  # started with the daemon, waiting for files
    assert idle
    job = await conn.fetchval(
        "INSERT INTO document_processing_queue (document_id, operation, attempts) "
        "VALUES ($1, 'extract', 1) RETURNING id",  # an earlier attempt counted
        document,
    )

    def parsing() -> int | None:
        """An extractor of the daemon's pool that has parsed for a CPU second."""
        used = extractors(daemon)
        return next((pid for pid in idle if used.get(pid, 0.0) - idle[pid] >= 1.0), None)

    extractor = await wait_for(parsing, timeout=60)
    row = await conn.fetchrow(
        "SELECT status, attempts FROM document_processing_queue WHERE id = $1", job
    )
    assert tuple(row) == ("processing", 2)
    daemon.signal(signal.SIGTERM)
    signalled = time.monotonic()
    code = await asyncio.to_thread(daemon.proc.wait, grace + 30)
    took = time.monotonic() - signalled
    assert code == 0
    assert took <= grace + 5  # the grace, and a margin for the release on a busy host

    # Cut short, not failed: back to pending and due, its attempt given back.
    [released] = daemon.named("job.released")
    assert (released["job_id"], released["attempt"]) == (str(job), 2)
    assert released["document_id"] == str(document)
    for name in ("job.completed", "job.retry_scheduled", "job.failed", "document.extracted"):
        assert not daemon.named(name), name
    row = await conn.fetchrow(
        "SELECT status, attempts, next_retry, worker_id, error_message "
        "FROM document_processing_queue WHERE id = $1",
        job,
    )
    assert tuple(row) == ("pending", 1, None, None, None)
    assert await value(conn, "SELECT count(*) FROM document_extractions") == 0
    # The extractor was killed with its job, not left parsing on its own.
    assert not running(extractor)

    again = fleet.start(syncd_url)
    await wait_status(conn, job, "completed", table="document_processing_queue", timeout=180)
    assert again.stop() == 0
    [completed] = again.named("job.completed")
    assert (completed["job_id"], completed["attempt"]) == (str(job), 2)
    row = await conn.fetchrow(
        "SELECT attempts, error_message FROM document_processing_queue WHERE id = $1", job
    )
    assert tuple(row) == (2, None)
    extraction = await conn.fetchrow(
        "SELECT document_id, page_count, word_count, sha256, size_bytes, detected_type "
        "FROM document_extractions"
    )
    words = pages * sum(len(line.split()) for line in LONG_PDF_LINES)
    assert tuple(extraction) == (
        document,
        pages,
        words,
        hashlib.sha256(data).hexdigest(),
        len(data),
        "pdf",
    )
