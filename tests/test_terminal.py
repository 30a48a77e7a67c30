"""Text from outside never reaches a terminal raw (SPEC §7): not in the daemon's console
log lines, not in the demo's lines (`syncd status` and the CLI's errors: test_cli.py)."""

from __future__ import annotations

import io
import json

import pytest

from syncd import logs
from syncd.demo.show import Show
from syncd.terminal import printable

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\rforged line\n\u202egnp.exe\x9b31m"
ESCAPED = "\\x1b]0;pwned\\x07\\x1b[2J\\rforged line\\n\\u202egnp.exe\\x9b31m"


def test_control_characters_are_written_as_their_escapes() -> None:
    assert printable(HOSTILE) == ESCAPED
    assert printable("Grüße, 東京 ✓ C:\\path") == "Grüße, 東京 ✓ C:\\path"


@pytest.fixture
def console() -> io.StringIO:
    out = io.StringIO()
    logs.setup("info", "console", stream=out)
    return out


def test_console_log_lines_escape_what_came_from_outside(console: io.StringIO) -> None:
    """structlog's console renderer shows each value as its repr: already escaped."""
    logs.get().warning("job.retry_scheduled", error=HOSTILE, storage_path=f"in/{HOSTILE}.pdf")
    line = console.getvalue()
    # The renderer's own colours remain; nothing a terminal would obey beyond them.
    assert "\x1b]" not in line and "\x07" not in line and "\r" not in line
    assert line.count("\n") == 1 and "\u202e" not in line
    assert ESCAPED in line and f"in/{ESCAPED}.pdf" in line


def test_json_log_lines_stay_json() -> None:
    out = io.StringIO()
    logs.setup("info", "json", stream=out)
    logs.get().warning("job.retry_scheduled", error=HOSTILE)
    assert json.loads(out.getvalue())["error"] == HOSTILE


def test_the_demo_escapes_errors_and_names() -> None:
    show = Show(colour=False)
    line = show(
        None,
        "warning",
        {
            "event": "job.failed",
            "queue": "sync",
            "entity_type": f"contact{HOSTILE}",
            "entity_id": "7f0c",
            "error": f"monday: {HOSTILE}",
            "permanent": True,
            "timestamp": "2026-01-01T10:00:00+00:00",
        },
    )
    assert "\x1b" not in line and "\n" not in line and "\u202e" not in line
    assert f"failed for good: monday: {ESCAPED}" in line
    assert f"contact{ESCAPED}" in line
