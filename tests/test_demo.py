"""`syncd demo`, as a user meets it first: run as a process, watched, interrupted.

The demo brings its own embedded PostgreSQL and fake monday.com, so these tests
need neither the session's database nor the fake fixture.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


def syncd(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "NO_COLOR": "1",
        # Meant for a real deployment: the demo must neither follow it nor fail on it.
        "SYNCD_DATABASE__URL": "postgresql://nobody@127.0.0.1:1/not_the_demo",
    }
    env.pop("SYNCD_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 60.0) -> str:
    """The output up to and including the first line that contains `marker`."""
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return "".join(seen)
        assert time.monotonic() < deadline, f"no {marker!r} within {timeout} s:\n{''.join(seen)}"
    raise AssertionError(f"the process ended before {marker!r}:\n{''.join(seen)}")


def processes_using(path: Path) -> list[str]:
    """Every process whose command line names `path` (a postgres left behind)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(path) in cmdline:
            found.append(cmdline)
    return found


def test_demo_shows_each_outcome_then_status_and_can_be_inspected_later(tmp_path: Path) -> None:
    kept = tmp_path / "demo"
    started = time.monotonic()
    proc = syncd("demo", "--dir", str(kept), cwd=tmp_path)
    out, _ = proc.communicate(timeout=90)

    assert proc.returncode == 0, out
    assert time.monotonic() - started < 60
    assert "Traceback" not in out
    # Jobs flowing: completions, with what the handler did.
    assert re.search(r"contact +\w+ \w+ +completed in \d+ ms: created monday item \d+", out)
    assert re.search(r"document +reports/q3-report.pdf +completed in \d+ ms: pdf, 1 page", out)
    assert "updated monday item" in out
    assert "archived monday item" in out
    # The fourth wave: a person's edit on the board comes back into the CRM row.
    assert "webhook: Grace Hopper changed on the board: to_npd job enqueued" in out
    assert re.search(r"contact +Grace Hopper +completed in \d+ ms: pulled title from monday", out)
    assert "the CRM row followed: Grace Hopper's title is 'Commodore'" in out
    assert re.search(r"echoes of syncd's own pushes \(no job\): [1-9]", out)
    # The injected 500: retried after the demo's short backoff.
    assert re.search(
        r"attempt 1 of 5 failed, retry in 1\.0 s: monday HTTP 500 INTERNAL_SERVER_ERROR", out
    )
    # The injected 429: every monday call pauses, caught jobs are snoozed, not failed.
    assert re.search(r"monday +rate limited \(COMPLEXITY_BUDGET_EXHAUSTED\)", out)
    assert "snoozed until" in out
    assert "attempt not counted" in out
    assert "pause over: calls resume" in out
    # Permanent failures, each with its message.
    assert "Edsger Dijkstra" in out
    assert "failed for good: monday ColumnValueException: invalid value - email" in out
    assert "failed for good: unknown entity type 'invoice'" in out
    assert "refused to read it (security): storage path '../../etc/passwd' contains '..'" in out
    assert "failed for good: encrypted PDF" in out
    assert "failed for good: corrupt PDF" in out
    # It ends with `syncd status`.
    assert "sync queue\n  pending 0  processing 0  completed 14  failed 2  cancelled 0" in out
    assert "documents queue\n  pending 0  processing 0  completed 5  failed 3  cancelled 0" in out
    # Kept, stopped, and it says how to look again.
    config = kept.resolve() / "syncd.toml"
    assert config.is_file()
    assert not (kept / "postgres" / "data" / "postmaster.pid").exists()
    assert processes_using(kept.resolve()) == []
    assert f"syncd demo --dir {kept.resolve()} --serve" in out
    assert f"syncd --config {config} status" in out

    server = syncd("demo", "--dir", str(kept), "--serve", cwd=tmp_path)
    try:
        read_until(server, "serving until Ctrl-C")
        status = subprocess.run(
            [sys.executable, "-m", "syncd", "--config", str(config), "status", "--json"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        report = json.loads(status.stdout)
        assert (report["sync"]["completed"], report["sync"]["failed"]) == (14, 2)
        assert (report["documents"]["completed"], report["documents"]["failed"]) == (5, 3)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert server.returncode == 0
    assert not (kept / "postgres" / "data" / "postmaster.pid").exists()
    assert processes_using(kept.resolve()) == []


def test_ctrl_c_mid_run_stops_everything_and_leaves_nothing(tmp_path: Path) -> None:
    proc = syncd("demo", cwd=tmp_path)
    try:
        seen = read_until(proc, "rate limited")
    except BaseException:
        proc.kill()
        raise
    where = re.search(r"started on \S+ in (\S+)/postgres", seen)
    assert where, seen
    workspace = Path(where.group(1))
    assert processes_using(workspace), "the demo's PostgreSQL should be running by now"

    proc.send_signal(signal.SIGINT)
    # Through the same text stream as read_until (communicate() with a timeout reads
    # the pipe underneath it and would skip what that stream has buffered).
    assert proc.stdout is not None
    rest = proc.stdout.read()
    proc.wait(timeout=30)
    output = seen + rest

    assert proc.returncode == 130, output
    assert "interrupted: stopping what the demo started" in rest, output
    assert re.search(r"daemon +stopped", rest), output
    assert "Traceback" not in rest, output
    assert not workspace.exists(), output
    assert processes_using(workspace) == [], output
