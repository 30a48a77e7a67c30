"""Structured logs: one JSON object per line for journald, colour on a terminal.

Event names are stable (the README lists them); fields are plain keys so that
`journalctl -o cat | jq 'select(.job_id == "...")'` answers questions.

Under journald each line starts with its syslog priority, `<3>` for an error, which
journald reads (SyslogLevelPrefix=, on by default) and strips, so that
`journalctl -p err` and `-p warning` select by severity. The prefix is written only
when the stream is the journal's, as $JOURNAL_STREAM says: a pipe into jq or a file
gets plain JSON lines. The libraries' own logging (asyncpg, aiohttp, yoyo) goes
through the same pipeline.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from syncd import speedups

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
LEVELS["error"] = logging.ERROR
# syslog priorities, as journald files them (`journalctl -p`).
PRIORITIES = {"debug": 7, "info": 6, "warning": 4, "error": 3, "exception": 3, "critical": 2}

# The severities SPEC §7 promises for these events, whichever method the code that
# logs them calls: `journalctl -p err` must show every failure and config refusal,
# and `-p warning` every retry, snooze and rescue.
SEVERITIES = {
    "config.invalid": logging.ERROR,
    "job.failed": logging.ERROR,
    "job.retry_scheduled": logging.WARNING,
    "job.snoozed": logging.WARNING,
    "job.timed_out": logging.WARNING,
    "job.rescued": logging.WARNING,
    "job.merged": logging.WARNING,
    "listener.lost": logging.WARNING,
    "monday.rate_limited": logging.WARNING,
}
_METHODS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning"}
_METHODS[logging.ERROR] = "error"

# The level below which events are dropped. Loggers read it at every call rather
# than at creation (as structlog's filtering loggers do), so that SIGHUP can change
# it for the loggers every part of the daemon already holds.
_threshold = logging.INFO


class _Logger(structlog.BoundLoggerBase):
    def _at(self, level: int, method: str, event: str, kw: dict[str, Any]) -> Any:
        promised = SEVERITIES.get(event, level)
        if promised > level:
            level, method = promised, _METHODS[promised]
        if level < _threshold:
            return None
        return self._proxy_to_logger(method, event, **kw)

    def debug(self, event: str, **kw: Any) -> Any:
        return self._at(logging.DEBUG, "debug", event, kw)

    def info(self, event: str, **kw: Any) -> Any:
        return self._at(logging.INFO, "info", event, kw)

    def warning(self, event: str, **kw: Any) -> Any:
        return self._at(logging.WARNING, "warning", event, kw)

    def error(self, event: str, **kw: Any) -> Any:
        return self._at(logging.ERROR, "error", event, kw)

    def exception(self, event: str, **kw: Any) -> Any:
        kw.setdefault("exc_info", True)
        return self._at(logging.ERROR, "error", event, kw)


def set_level(level: str) -> None:
    global _threshold
    _threshold = LEVELS[level]
    # The libraries' INFO lines (each pool connection, each migration step) are
    # noise in the journal; their warnings and errors are not.
    library = logging.INFO if _threshold == logging.DEBUG else max(_threshold, logging.WARNING)
    logging.getLogger().setLevel(library)


def is_journal(stream: TextIO) -> bool:
    """Whether `stream` is the journal's socket: systemd sets $JOURNAL_STREAM to its
    "device:inode" for a service whose output goes to the journal."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no file descriptor (a test's StringIO)
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


# Inside `batch()`: lines are written without a flush each, and flushed together at
# its end. The outcome writer logs one event per job of a batch, with no await between.
_batching = 0
_stream: TextIO | None = None


class _LinePrinter(structlog.PrintLogger):
    """structlog's PrintLogger, but one flush per batch of lines instead of one per line."""

    def msg(self, message: str) -> None:
        out = sys.stdout if self._file is sys.__stdout__ else self._file
        with self._lock:
            out.write(message + "\n")
            if not _batching:
                out.flush()

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Log several events with one write to the stream at the end (the events of one
    batch of outcomes: a flush, a system call, per job would cost more than the line)."""
    global _batching
    _batching += 1
    try:
        yield
    finally:
        _batching -= 1
        if not _batching and _stream is not None:
            out = sys.stdout if _stream is sys.__stdout__ else _stream
            with contextlib.suppress(OSError, ValueError):
                out.flush()


def enabled(level: int) -> bool:
    """Whether events at `level` are logged now: to spare building fields for nothing."""
    return level >= _threshold


def _priority_prefix(logger: WrappedLogger, method: str, line: Any) -> Any:
    """`<N>` before the rendered line, for journald's SyslogLevelPrefix=."""
    return f"<{PRIORITIES.get(method, 6)}>{line}"


def setup(
    level: str = "info",
    fmt: str = "auto",
    stream: TextIO | None = None,
    renderer: Processor | None = None,
) -> None:
    """Configure structlog for the whole process; safe to call again (SIGHUP, tests).

    `renderer`, when given, turns each event into its line in place of the JSON or
    console renderer (`syncd demo` shows the daemon's events its own way).
    """
    global _stream
    out = _stream = stream or sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendering: list[Processor]
    if renderer is not None:
        rendering = [renderer]
    elif use_console:
        rendering = [structlog.dev.ConsoleRenderer(colors=True)]
    else:
        rendering = [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(speedups.log_serializer(), default=str),
        ]
    if renderer is None and is_journal(out):
        rendering.append(_priority_prefix)
    structlog.configure(
        processors=[*shared, *rendering],
        wrapper_class=_Logger,
        logger_factory=lambda *args: _LinePrinter(out),
        cache_logger_on_first_use=False,
    )
    _route_library_logs(out, shared, rendering)
    set_level(level)


def _route_library_logs(out: TextIO, shared: list[Processor], rendering: list[Processor]) -> None:
    """The stdlib `logging` records of asyncpg, aiohttp, yoyo and the rest, rendered
    by the same processors as syncd's own events (the record's text is the event)."""
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, _plain_event],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_syncd", False):
            root.removeHandler(old)
    handler._syncd = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    # Python's warnings (a library's DeprecationWarning) too, not raw lines on stderr.
    logging.captureWarnings(True)


def _plain_event(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    # A record's message may be "%s"-formatted already; keep it one JSON string.
    event["event"] = str(event.get("event", ""))
    return event


def get(name: str = "syncd", **fields: Any) -> Any:
    return structlog.get_logger(name).bind(**fields)
