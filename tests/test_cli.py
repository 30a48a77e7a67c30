"""The command line (SPEC §6): enqueue, status, retry, cancel, purge, migrate, errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from typing import Any

import asyncpg
import pytest

from syncd.migrate import migrations_dir
from syncd.status import duration
from tests.support import enqueue
from tests.support.daemons import syncd


async def test_enqueue_sync_and_merge(database_url: str, conn: asyncpg.Connection) -> None:
    entity = str(uuid.uuid4())
    first = syncd(database_url, "enqueue", "sync", "contact", entity, "--priority", "3")
    job_id = first.stdout.strip()
    second = syncd(database_url, "enqueue", "sync", "contact", entity, "--operation", "delete")
    assert second.stdout.strip() == f"{job_id} (merged into the pending job)"
    row = await conn.fetchrow("SELECT * FROM sync_queue WHERE id = $1", uuid.UUID(job_id))
    assert (row["operation"], row["priority"]) == ("delete", 3)


async def test_enqueue_document(database_url: str, conn: asyncpg.Connection) -> None:
    doc = await conn.fetchval("INSERT INTO documents (filename) VALUES ('a') RETURNING id")
    out = syncd(database_url, "enqueue", "document", str(doc), "extract")
    assert (
        await conn.fetchval(
            "SELECT operation FROM document_processing_queue WHERE id = $1",
            uuid.UUID(out.stdout.strip()),
        )
        == "extract"
    )
    missing = syncd(database_url, "enqueue", "document", str(uuid.uuid4()), "extract", check=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("syncd: no document")


async def test_status_reports_counts_and_failures(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await enqueue(conn)
    await enqueue(conn, status="failed", error_message="monday said no", attempts=5)
    report: dict[str, Any] = json.loads(syncd(database_url, "status", "--json").stdout)
    sync = report["sync"]
    assert (sync["pending"], sync["failed"], sync["due"]) == (1, 1, 1)
    assert sync["recent_failures"][0]["error"] == "monday said no"
    assert report["documents"]["pending"] == 0
    assert report["workers"] == [] and report["unowned_running_jobs"] == 0
    text = syncd(database_url, "status").stdout
    assert "sync queue" in text and "monday said no" in text
    assert "workers\n  none registered" in text


HOSTILE = "\x1b]0;pwned\x07\x1b[2J\rforged line\n\u202egnp.exe"
ESCAPED = "\\x1b]0;pwned\\x07\\x1b[2J\\rforged line\\n\\u202egnp.exe"


async def test_status_escapes_text_from_outside_and_json_stays_json(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await enqueue(conn, f"contact{HOSTILE}", status="failed", error_message=HOSTILE, attempts=5)
    await conn.execute(
        "INSERT INTO syncd_workers (id, hostname, pid) VALUES (gen_random_uuid(), $1, 7)",
        f"host{HOSTILE}",
    )
    text = syncd(database_url, "status").stdout
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f\u202e]", text)
    assert f"contact{ESCAPED} " in text and f": {ESCAPED}\n" in text
    assert f"host{ESCAPED}:7" in text
    report = json.loads(syncd(database_url, "status", "--json").stdout)
    assert report["sync"]["recent_failures"][0]["error"] == HOSTILE
    assert report["workers"][0]["host"] == f"host{HOSTILE}"


def test_an_error_line_escapes_what_the_user_gave(database_url: str) -> None:
    proc = syncd(database_url, "--config", f"/nonexistent/{HOSTILE}.toml", "status", check=False)
    assert proc.returncode == 78
    assert proc.stderr == f"syncd: config file /nonexistent/{ESCAPED}.toml does not exist\n"


async def test_status_names_the_workers_and_the_stale_ones(
    database_url: str, conn: asyncpg.Connection
) -> None:
    live, idle, dead = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await conn.executemany(
        "INSERT INTO syncd_workers (id, hostname, pid, started_at, heartbeat_at) "
        "VALUES ($1, $2, $3, now() - interval '2 hours' - make_interval(secs => $5), "
        "now() - make_interval(secs => $4))",  # listed oldest first
        [
            (live, "app-1", 101, 2.0, 3),
            (idle, "app-2", 102, 600.0, 2),
            (dead, "app-3", 103, 45.0, 1),
        ],
    )
    for worker, jobs in ((live, 2), (dead, 3)):
        for _ in range(jobs):
            await enqueue(conn, status="processing", attempts=1, worker_id=worker)
    await enqueue(conn, status="processing", attempts=1)  # no worker: rescued at once
    report: dict[str, Any] = json.loads(syncd(database_url, "status", "--json").stdout)
    workers = {w["host"]: w for w in report["workers"]}
    assert {h: (w["holding"], w["stale"]) for h, w in workers.items()} == {
        "app-1": (2, False),
        "app-2": (0, False),  # idle workers do not heartbeat: not stale
        "app-3": (3, True),  # silent past rescue_after (20 s) with jobs
    }
    assert workers["app-3"]["worker_id"] == str(dead) and workers["app-3"]["pid"] == 103
    assert report["unowned_running_jobs"] == 1
    text = syncd(database_url, "status").stdout.split("workers\n")[1].splitlines()
    up = r"up 2\.0 h"  # times pass while the command runs: their figures are patterns
    assert re.fullmatch(
        rf"  {str(live)[:8]} app-1:101  {up}  holding 2, heard from \d+\.\d s ago", text[0]
    )
    assert re.fullmatch(
        rf"  {str(idle)[:8]} app-2:102  {up}  idle, last claim or heartbeat 10 min ago", text[1]
    )
    assert re.fullmatch(
        rf"  ! {str(dead)[:8]} app-3:103  {up}  holding 3, silent for 4\d\.\d s \(past "
        r"rescue_after 20 s\): a live worker takes its jobs back",
        text[2],
    )
    assert text[3] == "  ! 1 running job(s) of no registered worker: a live worker takes them back"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0.0 s"),
        (4.26, "4.3 s"),
        (119.9, "119.9 s"),
        (120, "2 min"),
        (7199, "120 min"),
        (7200, "2.0 h"),
        (172799, "48.0 h"),
        (172800, "2.0 d"),
        (90 * 86400, "90.0 d"),
        (-45, "-45.0 s"),  # a pause just past its end; clocks that disagree
        (-7200, "-2.0 h"),
        (float("nan"), "-"),
        (float("inf"), "-"),
    ],
)
def test_one_duration_format_for_status_jobs_and_the_console(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


async def test_retry_and_cancel(database_url: str, conn: asyncpg.Connection) -> None:
    dead = await enqueue(conn, status="failed", attempts=5, error_message="x")
    syncd(database_url, "retry", "sync", str(dead))
    row = await conn.fetchrow("SELECT * FROM sync_queue WHERE id = $1", dead)
    assert (row["status"], row["max_attempts"]) == ("pending", 6)
    syncd(database_url, "cancel", "sync", str(dead))
    assert await conn.fetchval("SELECT status FROM sync_queue WHERE id = $1", dead) == "cancelled"
    more = [await enqueue(conn, status="failed") for _ in range(3)]
    out = syncd(database_url, "retry", "sync", "--failed")
    assert out.stdout.startswith("3 failed sync job(s)")
    statuses = await conn.fetch("SELECT status FROM sync_queue WHERE id = any($1)", more)
    assert {r["status"] for r in statuses} == {"pending"}


async def test_operator_mistakes_get_one_line_errors(database_url: str) -> None:
    cases = [
        (["retry", "sync", str(uuid.uuid4())], "no job"),
        (["cancel", "documents", "not-a-uuid"], "not a UUID"),
        (["retry", "elsewhere", "--failed"], "invalid choice"),
        (["enqueue", "sync", "contact", str(uuid.uuid4()), "--operation", "explode"], "invalid"),
        (["frobnicate"], "invalid choice"),
    ]
    for args, message in cases:
        proc = syncd(database_url, *args, check=False)
        assert proc.returncode != 0, args
        assert message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_an_unreachable_database_is_one_line() -> None:
    proc = syncd("postgresql://nobody@127.0.0.1:1/none", "status", check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("syncd: cannot connect to the database")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["migrate"], ["status"], ["enqueue"], ["enqueue", "sync"], ["retry"],
     ["cancel"], ["purge"], ["config"]],
)  # fmt: skip
def test_every_command_has_help(command: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", *command, "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert "usage: syncd" in proc.stdout


async def test_purge_deletes_old_finished_jobs_but_keeps_failed(
    database_url: str, conn: asyncpg.Connection
) -> None:
    old = "now() - interval '60 days'"
    await conn.execute(
        f"""INSERT INTO sync_queue (entity_type, entity_id, status, completed_at)
            SELECT 'contact', gen_random_uuid(), s, {old}
              FROM unnest(ARRAY['completed', 'completed', 'failed', 'cancelled']) s"""
    )
    await enqueue(conn, status="completed", completed_at=None)
    syncd(database_url, "purge")
    left = await conn.fetch("SELECT status FROM sync_queue ORDER BY status")
    assert [r["status"] for r in left] == ["completed", "failed"]


def test_migrate_list_and_twice(empty_database: str) -> None:
    assert "applied" in syncd(empty_database, "migrate").stdout
    assert syncd(empty_database, "migrate").stdout.strip() == "already up to date"
    listing = syncd(empty_database, "migrate", "--list").stdout
    assert "[x] 0001.host-tables" in listing
    rolled = syncd(empty_database, "migrate", "--rollback").stdout
    steps = migrations_dir().glob("*.sql")
    newest = sorted(p.stem for p in steps if not p.name.endswith(".rollback.sql"))
    assert f"rolled back {newest[-1]}" in rolled


async def test_the_pause_commands_escape_what_they_echo(
    database_url: str, conn: asyncpg.Connection
) -> None:
    said = syncd(database_url, "pause", "sync", "--kind", f"x{HOSTILE}", "--reason", HOSTILE).stdout
    said += syncd(database_url, "resume", "sync", "--kind", f"x{HOSTILE}").stdout
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f\u202e]", said)
    assert f"x{ESCAPED}" in said
