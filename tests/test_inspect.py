"""Looking at jobs (SPEC §9): `syncd jobs`, `syncd job`, the bulk retry and cancel with
their filters and --dry-run, the audit trail, and reads that never scan a queue."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from syncd import inspect, queries
from syncd.queues import QUEUES, SYNC_QUEUE
from tests.support import add_document, enqueue
from tests.support.daemons import syncd

HISTORY = [
    {"attempt": 1, "at": "2026-12-06T10:00:00Z", "outcome": "retry", "error": "HTTP 502",
     "duration_ms": 40, "worker": "11111111-2222-3333-4444-555555555555"},
    {"attempt": 2, "at": "2026-12-06T10:01:00Z", "outcome": "failed",
     "error": "ColumnValueException: bad email", "duration_ms": 35, "worker": "w2"},
]  # fmt: skip


async def _failed(
    conn: asyncpg.Connection, entity_type: str = "contact", **cols: object
) -> uuid.UUID:
    job = await enqueue(
        conn,
        entity_type,
        status="failed",
        attempts=2,
        error_message=cols.pop("error_message", "ColumnValueException: bad email"),
        **cols,
    )
    assert job is not None
    return job


async def test_jobs_lists_newest_first_with_filters_and_pages(
    database_url: str, conn: asyncpg.Connection
) -> None:
    old = await _failed(conn, created_at=datetime.now(UTC) - timedelta(days=3))
    dead = await _failed(conn)
    other = await _failed(conn, "organization", error_message="HTTP 500")
    pending = await enqueue(conn)
    out = json.loads(syncd(database_url, "jobs", "sync", "--json").stdout)
    assert [j["id"] for j in out["jobs"]] == [str(pending), str(other), str(dead), str(old)]
    assert out["next_cursor"] is None

    failed = json.loads(syncd(database_url, "jobs", "sync", "--status", "failed", "--json").stdout)
    assert {j["id"] for j in failed["jobs"]} == {str(old), str(dead), str(other)}
    by_error = json.loads(
        syncd(database_url, "jobs", "sync", "--error", "bad EMAIL", "--json").stdout
    )
    assert {j["id"] for j in by_error["jobs"]} == {str(old), str(dead)}
    recent = json.loads(
        syncd(database_url, "jobs", "sync", "--error", "bad", "--since", "1d", "--json").stdout
    )
    assert [j["id"] for j in recent["jobs"]] == [str(dead)]
    kind = json.loads(
        syncd(database_url, "jobs", "sync", "--kind", "organization", "--json").stdout
    )
    assert [j["id"] for j in kind["jobs"]] == [str(other)]

    # Keyset pages: two, then the rest, nothing twice.
    first = json.loads(syncd(database_url, "jobs", "sync", "--limit", "2", "--json").stdout)
    assert first["next_cursor"]
    rest = json.loads(
        syncd(database_url, "jobs", "sync", "--before", first["next_cursor"], "--json").stdout
    )
    assert [j["id"] for j in first["jobs"] + rest["jobs"]] == [j["id"] for j in out["jobs"]]

    table = syncd(database_url, "jobs", "sync", "--status", "failed").stdout
    assert table.splitlines()[0].startswith("JOB")
    assert f"{dead}  failed" in table
    assert "! ColumnValueException: bad email" in table


async def test_jobs_filters_by_entity_and_document(
    database_url: str, conn: asyncpg.Connection
) -> None:
    entity = uuid.uuid4()
    mine = await enqueue(conn, entity_id=entity)
    await enqueue(conn)
    out = json.loads(syncd(database_url, "jobs", "sync", "--entity", str(entity), "--json").stdout)
    assert [j["id"] for j in out["jobs"]] == [str(mine)]
    doc = await add_document(conn)
    job = await conn.fetchval(
        "INSERT INTO document_processing_queue (document_id, operation) VALUES ($1, 'extract') "
        "RETURNING id",
        doc,
    )
    out = json.loads(
        syncd(database_url, "jobs", "documents", "--document", str(doc), "--json").stdout
    )
    assert [j["id"] for j in out["jobs"]] == [str(job)]
    wrong = syncd(database_url, "jobs", "documents", "--entity", str(entity), check=False)
    assert wrong.returncode == 1
    assert wrong.stderr == "syncd: --entity is for the sync queue; documents take --document\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since 'yesterday': expected a duration such as 30m, 6h, 2d"),
        (["--limit", "0"], "limit must be between 1 and 1000"),
        (["--before", "nope"], "not a cursor printed by `syncd jobs`: 'nope'"),
    ],
)
def test_bad_filters_are_one_line(database_url: str, args: list[str], message: str) -> None:
    proc = syncd(database_url, "jobs", "sync", *args, check=False)
    assert (proc.returncode, proc.stderr) == (1, f"syncd: {message}\n")


async def test_job_shows_columns_history_and_monday_item(
    database_url: str, conn: asyncpg.Connection
) -> None:
    entity = uuid.uuid4()
    earlier = await enqueue(conn, entity_id=entity, status="completed")
    dead = await _failed(conn, entity_id=entity, attempts_log=json.dumps(HISTORY))
    await conn.execute(
        "INSERT INTO monday_items (entity_type, entity_id, board_id, item_id, values_hash) "
        "VALUES ('contact', $1, 4242, 9001, 'h')",
        entity,
    )
    out = json.loads(syncd(database_url, "job", "sync", str(dead), "--json").stdout)
    assert out["status"] == "failed"
    assert [a["outcome"] for a in out["attempts_log"]] == ["retry", "failed"]
    assert out["monday_items"] == [
        {"board_id": 4242, "item_id": 9001, "synced_at": out["monday_items"][0]["synced_at"]}
    ]
    assert [o["id"] for o in out["other_jobs"]] == [str(earlier)]

    text = syncd(database_url, "job", "sync", str(dead)).stdout
    assert "monday item   9001 on board 4242" in text
    assert "#1  2026-12-06T10:00:00Z  retry      40 ms  worker 11111111  ! HTTP 502" in text
    assert "#2  2026-12-06T10:01:00Z  failed" in text
    missing = syncd(database_url, "job", "sync", str(uuid.uuid4()), check=False)
    assert missing.returncode == 1 and missing.stderr.startswith("syncd: no job ")


async def test_text_from_outside_is_escaped_on_a_terminal(
    database_url: str, conn: asyncpg.Connection
) -> None:
    dead = await _failed(conn, error_message="boom\x1b[2J\x07")
    listing = syncd(database_url, "jobs", "sync").stdout
    page = syncd(database_url, "job", "sync", str(dead)).stdout
    for text in (listing, page):
        assert "\x1b" not in text and "\x07" not in text
        assert "boom\\x1b[2J\\x07" in text


async def test_bulk_retry_with_filters_dry_run_and_audit(
    database_url: str, conn: asyncpg.Connection
) -> None:
    contacts = [await _failed(conn) for _ in range(3)]
    org = await _failed(conn, "organization")
    dry = syncd(database_url, "retry", "sync", "--failed", "--kind", "contact", "--dry-run").stdout
    assert dry.splitlines()[0] == "would retry 3 failed sync job(s)"
    assert await conn.fetchval("SELECT count(*) FROM sync_queue WHERE status = 'failed'") == 4
    assert await conn.fetchval("SELECT count(*) FROM syncd_audit") == 0

    out = syncd(database_url, "retry", "sync", "--failed", "--kind", "contact").stdout
    assert out == "3 failed sync job(s) due now\n"
    rows = await conn.fetch("SELECT id, status FROM sync_queue")
    assert {r["id"] for r in rows if r["status"] == "pending"} == set(contacts)
    assert {r["id"] for r in rows if r["status"] == "failed"} == {org}
    audit = await conn.fetchrow("SELECT * FROM syncd_audit")
    assert (audit["action"], audit["queue"]) == ("retry", "sync")
    assert set(audit["job_ids"]) == set(contacts)
    assert audit["actor"].startswith("cli")


async def test_bulk_cancel_of_pending_jobs(database_url: str, conn: asyncpg.Connection) -> None:
    keep = await enqueue(conn, "organization")
    gone = [await enqueue(conn) for _ in range(2)]
    out = syncd(database_url, "cancel", "sync", "--pending", "--kind", "contact").stdout
    assert out == "2 pending sync job(s) cancelled\n"
    rows = await conn.fetch("SELECT id, status FROM sync_queue")
    assert {r["id"]: r["status"] for r in rows} == {
        keep: "pending",
        gone[0]: "cancelled",
        gone[1]: "cancelled",
    }
    single = syncd(database_url, "cancel", "sync", str(keep), "--dry-run", check=False)
    assert single.returncode == 1
    assert single.stderr == "syncd: filters and --dry-run go with --pending, not with one JOB_ID\n"


def _plan(rows: list[asyncpg.Record]) -> str:
    return "\n".join(r[0] for r in rows)


@pytest.mark.parametrize(
    "filters",
    [
        inspect.Filters(),
        inspect.Filters(status="failed"),
        inspect.Filters(status="pending"),
        inspect.Filters(error="HTTP 500"),
        inspect.Filters(subject=uuid.uuid4()),
    ],
    ids=["newest", "failed", "pending", "error", "entity"],
)
async def test_job_lists_read_an_index_not_the_table(
    conn: asyncpg.Connection, filters: inspect.Filters
) -> None:
    # The planner must pick an index even on an empty table: it would anyway at 10 M
    # rows (bench/observe.py times that); here seq scans are priced out to ask it which.
    await conn.execute("SET enable_seqscan = off")
    await inspect.reading_session(conn)
    sql = queries.load("jobs_list_sync")
    plan = _plan(await conn.fetch(f"EXPLAIN {sql}", *filters.query_args()))
    assert "Seq Scan" not in plan
    if filters.status or filters.error:
        assert "ix_sync_queue_live" in plan, plan


async def test_status_reads_no_queue_table_whole(conn: asyncpg.Connection) -> None:
    await conn.execute("SET enable_seqscan = off")
    for queue in QUEUES.values():
        plan = _plan(await conn.fetch("EXPLAIN " + queue.sql("status")))
        assert f"Seq Scan on {queue.table}" not in plan, plan
        assert "Disabled" not in plan, plan


async def test_status_counts_stay_exact_for_a_small_queue(conn: asyncpg.Connection) -> None:
    for status in ("completed", "completed", "failed", "cancelled", "pending"):
        await enqueue(conn, status=status)
    row = await conn.fetchrow(SYNC_QUEUE.sql("status"))
    assert (row["pending"], row["completed"], row["failed"], row["cancelled"]) == (1, 2, 1, 1)
    assert row["completed_estimated"] is False


async def test_status_estimates_completed_past_ten_thousand(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO sync_queue (entity_type, entity_id, status, completed_at)"
        " SELECT 'contact', gen_random_uuid(), 'completed', now() - interval '2 hours'"
        " FROM generate_series(1, 12000)"
    )
    await enqueue(conn, status="failed")
    await conn.execute("ANALYZE sync_queue")
    row = await conn.fetchrow(SYNC_QUEUE.sql("status"))
    assert row["completed_estimated"] is True
    # The planner's estimate after ANALYZE, less the exact counts of the others.
    assert 11_000 <= row["completed"] <= 13_000
    assert row["failed"] == 1
