"""`syncd doctor` (SPEC §9): one line per check, OK / WARN / FAIL with a fix, a non-zero
exit on any FAIL; and `syncd run` refusing a database whose schema is behind (78)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from syncd import doctor
from syncd.config import EX_CONFIG
from syncd.fake_monday import FakeMonday
from tests.support import make_settings
from tests.support.monday import assert_valid, fake, monday_config

__all__ = ["fake"]


def _lines(found: list[doctor.Finding]) -> dict[str, doctor.Finding]:
    return {f.check: f for f in found}


def _settings(database_url: str, tmp_path: Path, **overrides: Any) -> Any:
    return make_settings(database_url, documents={"storage_root": str(tmp_path)}, **overrides)


async def test_a_healthy_install_is_all_ok(
    database_url: str, tmp_path: Path, fake: FakeMonday
) -> None:
    found = await doctor.examine(_settings(database_url, tmp_path, monday=monday_config(fake)))
    by = _lines(found)
    assert by["schema"].level == "OK"
    assert by["privileges"].level == "OK"
    assert by["notify"].text == "a NOTIFY came back on the listener connection"
    assert by["sync_queue"].level == "OK"
    assert by["monday"].text == "token accepted (Fake User)"
    assert by["monday contact"].line() == "OK   monday contact: board 'Contacts': 3 column(s) fit"
    assert by["monday organization"].level == "OK"
    assert by["storage"].level == "OK"
    # One small query for the token and every board, valid against monday's schema.
    assert len(fake.calls("boards")) == 1
    assert_valid([doctor.DOCTOR_QUERY.text])


async def test_monday_mistakes_are_named(
    database_url: str, tmp_path: Path, fake: FakeMonday
) -> None:
    config = monday_config(fake)
    config["entities"]["contact"]["columns"]["email"]["type"] = "text"
    config["entities"]["contact"]["columns"]["title"]["column"] = "text_nope"
    by = _lines(await doctor.examine(_settings(database_url, tmp_path, monday=config)))
    assert by["monday contact"].level == "FAIL"
    assert by["monday contact"].text == (
        "board 'Contacts': email: column email is email, mapped as text; "
        "title: column text_nope missing"
    )
    assert by["monday organization"].level == "OK"

    config["entities"]["organization"]["board_id"] = 999
    by = _lines(await doctor.examine(_settings(database_url, tmp_path, monday=config)))
    assert by["monday"].level == "OK"
    assert by["monday boards"].level == "FAIL"
    assert "Board not found" in by["monday boards"].text
    assert_valid([doctor.TOKEN_QUERY.text])

    config = monday_config(fake, token="wrong")
    by = _lines(await doctor.examine(_settings(database_url, tmp_path, monday=config)))
    assert by["monday"].level == "FAIL"
    assert "monday contact" not in by


async def test_a_listener_that_hears_nothing_fails_and_names_pgbouncer(
    database_url: str, server_url: str, tmp_path: Path
) -> None:
    # NOTIFY is per database: a listener on another database hears nothing, as one
    # behind PgBouncer in transaction mode does not.
    settings = _settings(database_url, tmp_path, database={"listen_url": server_url})
    by = _lines(await doctor.examine(settings))
    assert by["notify"].level == "FAIL"
    assert "PgBouncer in transaction mode" in by["notify"].text
    assert "listen_url" in by["notify"].fix


async def test_missing_privileges_and_bloat_are_reported(
    database_url: str, tmp_path: Path, conn: asyncpg.Connection
) -> None:
    role = f"doctor_{os.getpid()}"
    await conn.execute(f"DROP ROLE IF EXISTS {role}")
    await conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        await conn.execute(f"GRANT SELECT ON syncd_migrations TO {role}")
        await conn.execute("ALTER TABLE sync_queue SET (autovacuum_enabled = false)")
        url = database_url.replace("postgres@", f"{role}@", 1)
        by = _lines(await doctor.examine(_settings(url, tmp_path)))
        assert by["privileges"].level == "FAIL"
        assert "SELECT/INSERT/UPDATE/DELETE on sync_queue," in by["privileges"].text
        assert "sql/grants.sql" in by["privileges"].fix
        by = _lines(await doctor.examine(_settings(database_url, tmp_path)))
        assert by["sync_queue"].line().startswith("FAIL sync_queue: autovacuum turned off")
    finally:
        await conn.execute(f"REVOKE ALL ON syncd_migrations FROM {role}")
        await conn.execute(f"DROP ROLE {role}")


def _syncd(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "SYNCD_DATABASE__URL": url, **env}
    environ.pop("SYNCD_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "syncd", *args], capture_output=True, text=True, env=environ
    )


def test_an_unmigrated_database_fails_doctor_and_stops_run(
    empty_database: str, tmp_path: Path
) -> None:
    out = _syncd(empty_database, "doctor", SYNCD_DOCUMENTS__STORAGE_ROOT=str(tmp_path))
    assert out.returncode == 1
    schema = next(line for line in out.stdout.splitlines() if " schema: " in line)
    assert schema.startswith("FAIL schema: missing ")
    assert schema.endswith("-> run `syncd migrate`")
    run = _syncd(empty_database, "run", "--once")
    assert run.returncode == EX_CONFIG
    assert run.stderr.count("\n") == 1
    assert "run `syncd migrate`" in run.stderr


def test_a_bad_config_is_a_finding(tmp_path: Path) -> None:
    bad = tmp_path / "syncd.toml"
    bad.write_text("[daemon]\nconcurrency = 0\n")
    out = _syncd("postgresql:///nothing", "--config", str(bad), "doctor")
    assert out.returncode == 1
    assert out.stdout.startswith("FAIL config: ")
    assert "daemon.concurrency" in out.stdout


@pytest.mark.parametrize("missing", [["0010.console"], [f"00{i:02}.x" for i in range(5)]])
def test_missing_migrations_are_named_briefly(missing: list[str]) -> None:
    text = doctor._names(missing)
    assert text == ("0010.console" if len(missing) == 1 else "5 migrations, 0000.x to 0004.x")


def test_doctor_has_help() -> None:
    out = asyncio.run(asyncio.to_thread(_syncd, "postgresql:///x", "doctor", "--help"))
    assert out.returncode == 0 and "OK, WARN or FAIL" in out.stdout
