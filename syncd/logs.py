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
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def get(name: str = "syncd", **fields: Any) -> Any:
    return structlog.get_logger(name).bind(**fields)
