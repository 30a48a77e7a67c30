"""Running `syncd run` as real processes, with the test plugin installed.

The plugin is declared by a dist-info checked in under plugin_dist/ (its entry point
names tests.plugin:install): on the daemon's PYTHONPATH, syncd finds it the way it finds
an installed plugin, and no test leaves a directory behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from tests.support import timings
from tests.support.waiting import event

REPO = Path(__file__).resolve().parents[2]
PLUGIN_PATH = str(Path(__file__).resolve().parent / "plugin_dist")


class Daemon:
    """One `syncd run` process; its JSON log lines (stdout) and its stderr are collected
    as they come, each by a thread of its own, so that neither pipe fills up."""

    def __init__(self, database_url: str, *args: str, wrap: Sequence[str] = (), **env: str) -> None:
        """`syncd [args] run`; `wrap` is a command prefix (`ip netns exec NAME`, say)."""
        environ = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([PLUGIN_PATH, str(REPO)]),
            "SYNCD_DATABASE__URL": database_url,
            "SYNCD_LOG__FORMAT": "json",
            "SYNCD_LOG__LEVEL": "info",
            **timings.daemon_env(),
            "SYNCD_HTTP__LISTEN": "",  # daemons of one run would share a port
            **env,
        }
        environ.pop("SYNCD_CONFIG", None)
        self.proc = subprocess.Popen(
            [*wrap, sys.executable, "-m", "syncd", *args, "run"],
            env=environ,
            cwd=tempfile.gettempdir(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[str] | None, logs: bool) -> None:
        assert stream is not None
        for line in stream:
            if not logs:
                self.errors.append(line)
                continue
            self.raw.append(line)
            with contextlib.suppress(json.JSONDecodeError):
                self.events.append(json.loads(line))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("event") == event]

    def job_ids(self, event: str) -> list[str]:
        return [e["job_id"] for e in self.named(event)]

    def wait_event(self, name: str, timeout: float = timings.WAIT) -> dict[str, Any]:
        """`await waiting.event(daemon, name)` for a plain (not async) test. An async test
        awaits `event` itself: this would stall its loop, and what runs on it."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop: a plain test
            found: dict[str, Any] = asyncio.run(event(self, name, timeout))
            return found
        raise AssertionError(f"an async test awaits event(daemon, {name!r})")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        for reader in self._readers:
            reader.join(5)
        return code

    def stderr(self) -> str:
        return "".join(self.errors)

    def output(self) -> str:
        return "".join(self.raw) + self.stderr()

    def tail(self) -> str:
        """The last lines of both streams, for a failure message."""
        return "".join(self.raw[-30:]) + "".join(self.errors[-30:])


def syncd(database_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`syncd [args]` on the test's database, run to its end, with its output."""
    env = {**os.environ, "SYNCD_DATABASE__URL": database_url}
    env.pop("SYNCD_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", *args], capture_output=True, text=True, env=env
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc
