"""The tests' helpers, one package: `database` (settings, connections, grants.sql),
`rows`, `waiting` (the one way to wait), `worker` (an in-process worker), `daemons`
(`syncd run` processes), `monday`, `documents`, and `timings` (every timing the tests
give syncd). The names most tests use are importable from `tests.support` itself."""

from tests.support.database import connected, make_settings
from tests.support.rows import add_contact, add_document, enqueue, job_row
from tests.support.waiting import event, ready, wait_for, wait_status
from tests.support.worker import (
    Recorded,
    capture_logs,
    events,
    registered_store,
    registry_with,
    running_worker,
)

__all__ = [
    "Recorded",
    "add_contact",
    "add_document",
    "capture_logs",
    "connected",
    "enqueue",
    "event",
    "events",
    "job_row",
    "make_settings",
    "ready",
    "registered_store",
    "registry_with",
    "running_worker",
    "wait_for",
    "wait_status",
]
