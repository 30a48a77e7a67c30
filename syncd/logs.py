"""Structured logs: one JSON object per line for journald, colour on a terminal.

Event names are stable (the README lists them); fields are plain keys so that
`journalctl -o cat | jq 'select(.job_id == "...")'` answers questions.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
LEVELS["error"] = logging.ERROR

# The level below which events are dropped. Loggers read it at every call rather
# than at creation (as structlog's filtering loggers do), so that SIGHUP can change
# it for the loggers every part of the daemon already holds.
_threshold = logging.INFO


class _Logger(structlog.BoundLoggerBase):
    def _at(self, level: int, method: str, event: str, kw: dict[str, Any]) -> Any:
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
    set_level(level)
    out = stream or sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if renderer is not None:
        processors.append(renderer)
    elif use_console:
        processors.append(structlog.dev.ConsoleRenderer(colors=True))
    else:
        processors += [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(default=str),
        ]
    structlog.configure(
        processors=processors,
        wrapper_class=_Logger,
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def get(name: str = "syncd", **fields: Any) -> Any:
    return structlog.get_logger(name).bind(**fields)
