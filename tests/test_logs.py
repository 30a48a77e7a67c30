"""Severities where journald reads them (SPEC §7): `journalctl -p err` shows failures and
config refusals and nothing routine, `-p warning` adds retries and snoozes, and the
libraries' log records take the same way as syncd's own events."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg

from tests.plugin import SETUP_SQL
from tests.support import enqueue

REPO = Path(__file__).resolve().parent.parent
# journald's SyslogLevelPrefix=: a line opening with <0> to <7> is filed at that
# priority, the prefix removed.
PREFIX = re.compile(r"^<([0-7])>")
ERR, WARNING, INFO = 3, 4, 6


def journal(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The lines as journald files them: (priority, the JSON message); no prefix is info."""
    entries = []
    for line in path.read_text().splitlines():
        match = PREFIX.match(line)
        priority = int(match.group(1)) if match else INFO
        entries.append((priority, json.loads(line[match.end() if match else 0 :])))
    return entries


def run_as_a_service(tmp_path: Path, *args: str, **env: str) -> tuple[int, Path]:
    """`python ARGS` with stdout into the journal, as systemd runs syncd: $JOURNAL_STREAM
    names that stream's device and inode (here a file stands in for the socket)."""
    out = tmp_path / "journal.log"
    with out.open("w") as stream:
        st = os.fstat(stream.fileno())
        proc = subprocess.run(
            [sys.executable, *args],
            stdout=stream, stderr=subprocess.DEVNULL, cwd=tmp_path, timeout=120,
            env={**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}", **env},
        )  # fmt: skip
    return proc.returncode, out


def write_plugin(tmp_path: Path) -> str:
    """The test plugin (tests/plugin.py) installed through its entry point."""
    info = tmp_path / "site" / "syncd_test_plugin-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: syncd-test-plugin\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[syncd.handlers]\nprobe = tests.plugin:install\n")
    return os.pathsep.join([str(tmp_path / "site"), str(REPO)])


def test_a_refused_config_is_an_error_in_the_journal(tmp_path: Path) -> None:
    code, out = run_as_a_service(tmp_path, "-m", "syncd", "run", SYNCD_RETRY__DELAYS="[1,")
    assert code == 78
    assert [(p, e["event"]) for p, e in journal(out)] == [(ERR, "config.invalid")]


async def test_failures_are_errors_retries_and_snoozes_warnings_the_rest_info(
    tmp_path: Path, database_url: str, conn: asyncpg.Connection
) -> None:
    await conn.execute(SETUP_SQL)
    await enqueue(conn, "probe", payload={"fail": "permanent"})
    await enqueue(conn, "probe", payload={"fail": "retry"})
    await enqueue(conn, "probe")
    (tmp_path / "syncd.toml").write_text("")
    code, out = run_as_a_service(
        tmp_path, "-m", "syncd", "run", "--once",
        PYTHONPATH=write_plugin(tmp_path), SYNCD_DATABASE__URL=database_url,
        SYNCD_LOG__FORMAT="json", SYNCD_CONFIG=str(tmp_path / "syncd.toml"),
    )  # fmt: skip
    assert code == 0, out.read_text()
    entries = journal(out)
    priorities = {e["event"]: p for p, e in entries}
    assert priorities["job.failed"] == ERR
    assert priorities["job.retry_scheduled"] == WARNING
    assert priorities["job.completed"] == INFO
    assert priorities["daemon.started"] == INFO
    # `journalctl -p err`: the failure and nothing routine.
    assert [e["event"] for p, e in entries if p <= ERR] == ["job.failed"]


def test_snoozes_are_warnings_and_library_records_take_the_same_way(tmp_path: Path) -> None:
    emit = (
        "import logging; from syncd import logs; logs.setup('info', 'auto'); "
        "logs.get().info('job.snoozed', job_id='j'); "
        "logging.getLogger('asyncpg.pool').warning('connection %s lost', 'c1'); "
        "logging.getLogger('yoyo').info('routine chatter'); "
        "logging.getLogger('aiohttp.client').error('refused')"
    )
    code, out = run_as_a_service(tmp_path, "-c", emit)
    assert code == 0
    assert [(p, e["event"], e.get("logger")) for p, e in journal(out)] == [
        (WARNING, "job.snoozed", None),
        (WARNING, "connection c1 lost", "asyncpg.pool"),
        (ERR, "refused", "aiohttp.client"),
    ]


def test_off_the_journal_the_lines_are_bare_json() -> None:
    emit = "from syncd import logs; logs.setup('info', 'auto'); logs.get().error('job.failed')"
    proc = subprocess.run(
        [sys.executable, "-c", emit], capture_output=True, text=True, check=True, timeout=60,
        env={**os.environ, "JOURNAL_STREAM": "1:2"},
    )  # fmt: skip
    assert json.loads(proc.stdout)["event"] == "job.failed"
