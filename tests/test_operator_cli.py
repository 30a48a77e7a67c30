"""The CLI as an operator uses it (issue 15.9): --config after the command, help on
positional arguments, a warning for a kind no handler takes, purge --older-than and
--dry-run, a rollback that asks before dropping jobs, and "failed for good"."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg

from syncd import migrate
from tests.support import enqueue
from tests.support.daemons import syncd


def test_config_is_accepted_after_the_command(database_url: str, tmp_path: Path) -> None:
    toml = tmp_path / "syncd.toml"
    toml.write_text(f'[database]\nurl = "{database_url}"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", "status", "--config", str(toml), "--json"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert '"sync"' in proc.stdout


def test_positional_arguments_have_help(database_url: str) -> None:
    text = syncd(database_url, "enqueue", "sync", "--help").stdout
    assert "the entity's id (a UUID)" in text
    assert "e.g. contact" in text
    assert "sync or documents" in syncd(database_url, "retry", "--help").stdout


def test_enqueue_warns_when_no_handler_takes_the_kind(database_url: str) -> None:
    out = syncd(database_url, "enqueue", "sync", "invoice", str(uuid.uuid4()))
    assert out.stderr.startswith(
        "syncd: warning: no handler is configured for entity type 'invoice'"
    )
    assert out.stdout.strip()  # enqueued all the same: the application may add a handler


async def test_purge_older_than_and_dry_run(database_url: str, conn: asyncpg.Connection) -> None:
    old = await enqueue(conn, status="completed")
    await conn.execute("UPDATE sync_queue SET completed_at = now() - interval '2 days'")
    fresh = await enqueue(conn, status="completed")
    await conn.execute("UPDATE sync_queue SET completed_at = now() WHERE id = $1", fresh)
    dry = syncd(database_url, "purge", "--older-than", "1d", "--dry-run").stdout
    assert "sync: would delete 1 completed/cancelled job(s)" in dry
    assert await conn.fetchval("SELECT count(*) FROM sync_queue") == 2
    syncd(database_url, "purge", "--older-than", "1d")
    left = await conn.fetch("SELECT id FROM sync_queue")
    assert [r["id"] for r in left] == [fresh] and old != fresh
    bad = syncd(database_url, "purge", "--older-than", "soon", check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("syncd: --older-than 'soon'")


async def test_rollback_asks_before_dropping_a_queue_that_holds_jobs(empty_database: str) -> None:
    migrate.apply(empty_database)
    while not migrate.rollback(empty_database).startswith("0004"):
        pass
    conn = await asyncpg.connect(empty_database)
    try:
        await conn.execute(
            "INSERT INTO sync_queue (entity_type, entity_id) VALUES ('contact', gen_random_uuid())"
        )
    finally:
        await conn.close()
    refused = syncd(empty_database, "migrate", "--rollback", check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("syncd: rolling back 0003.sync-queue drops sync_queue")
    assert refused.stderr.rstrip().endswith("add --yes to do it")
    done = syncd(empty_database, "migrate", "--rollback", "--yes")
    assert done.stdout == "rolled back 0003.sync-queue\n"


async def test_status_says_failed_for_good(database_url: str, conn: asyncpg.Connection) -> None:
    await enqueue(conn, status="failed", attempts=1, max_attempts=5, error_message="bad data")
    text = syncd(database_url, "status").stdout
    assert "failed for good at attempt 1 contact" in text
    assert "attempt 1/5" not in text


def test_every_positional_argument_of_every_command_has_help() -> None:
    import argparse

    from syncd import cli

    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not action.option_strings and not action.help:
                missing.append(f"{path} {action.dest}")

    walk(cli.build_parser(), "syncd")
    assert not missing
