"""The one way a test waits: `wait_for` a check to come true, on the test's event loop.

A check may be a coroutine function (a query) or a plain one (a look at a daemon's
log); either way the loop keeps running while the test waits, so the servers a test
runs in-process (the fake monday.com, a proxy) go on answering. The timeout is a hang
guard, not a speed claim: nothing here asserts timing.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import asyncpg

from tests.support import timings
from tests.support.rows import job_row

if TYPE_CHECKING:
    from tests.support.daemons import Daemon


async def wait_for(
    check: Callable[[], Any], timeout: float = timings.WAIT, every: float = timings.EVERY
) -> Any:
    """Call `check` (awaiting it when it is async) until it returns something truthy;
    fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(every)


async def wait_status(
    conn: asyncpg.Connection,
    job_id: uuid.UUID,
    status: str,
    table: str = "sync_queue",
    timeout: float = timings.WAIT,
) -> Any:
    async def check() -> Any:
        row = await job_row(conn, job_id, table)
        return row if row is not None and row["status"] == status else None

    return await wait_for(check, timeout)


async def event(daemon: Daemon, name: str, timeout: float = timings.WAIT, count: int = 1) -> Any:
    """The daemon's `count`-th `name` event; fails at once if the daemon has exited."""

    def seen() -> Any:
        found = daemon.named(name)
        if len(found) >= count:
            return found[count - 1]
        if daemon.proc.poll() is not None:
            raise AssertionError(f"the daemon exited before {name}:\n{daemon.tail()}")
        return None

    try:
        return await wait_for(seen, timeout)
    except AssertionError as exc:
        if "within" not in str(exc):
            raise
        raise AssertionError(f"no {name} event within {timeout} s:\n{daemon.tail()}") from None


async def ready(*daemons: Daemon) -> None:
    for daemon in daemons:
        await event(daemon, "daemon.ready")
