"""Running `syncd run` as real processes, with the test plugin installed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def plugin_path() -> str:
    """A directory whose dist-info declares tests.plugin as a syncd handler plugin."""
    root = Path(tempfile.mkdtemp(prefix="syncd-plugin-"))
    info = root / "syncd_test_plugin-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: syncd-test-plugin\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[syncd.handlers]\nprobe = tests.plugin:install\n")
    return str(root)


class Daemon:
    """One `syncd run` process; its JSON log lines are collected as they come."""

    def __init__(self, database_url: str, *args: str, wrap: Sequence[str] = (), **env: str) -> None:
        """`syncd [args] run`; `wrap` is a command prefix (`ip netns exec NAME`, say)."""
        environ = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([plugin_path(), str(REPO)]),
            "SYNCD_DATABASE__URL": database_url,
            "SYNCD_LOG__FORMAT": "json",
            "SYNCD_LOG__LEVEL": "info",
            "SYNCD_DAEMON__RESCUE_AFTER": "3",
            "SYNCD_DAEMON__POLL_INTERVAL": "5",
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
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw.append(line)
            with contextlib.suppress(json.JSONDecodeError):
                self.events.append(json.loads(line))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("event") == event]

    def wait_event(self, event: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.named(event)
            if found:
                return found[0]
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no {event} event; log:\n{''.join(self.raw[-30:])}{self.stderr()}")

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
        self._reader.join(5)
        return code

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()
