"""SIGTERM: stop claiming, let running jobs finish within the grace, release the rest."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import pytest

from syncd import lifecycle
from tests.plugin import SETUP_SQL
from tests.support import (
    Recorded,
    capture_logs,
    enqueue,
    event,
    events,
    make_settings,
    registry_with,
    running_worker,
    wait_for,
)
from tests.support.daemons import Daemon


async def test_sigterm_drains_quick_jobs_and_releases_slow_ones(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await conn.execute(SETUP_SQL)
    daemon = Daemon(database_url, SYNCD_DAEMON__SHUTDOWN_GRACE="1")
    await event(daemon, "daemon.ready")
    quick, slow = [await enqueue(conn, "probe", payload={"sleep": sleep}) for sleep in (0.5, 60)]
    await wait_for(lambda: conn.fetchval("SELECT count(*) = 2 FROM probe_runs"))
    daemon.signal(signal.SIGTERM)
    assert daemon.stop(timeout=30) == 0
    rows = {r["id"]: r for r in await conn.fetch("SELECT * FROM sync_queue")}
    assert rows[quick]["status"] == "completed"
    assert (rows[slow]["status"], rows[slow]["attempts"]) == ("pending", 0)
    assert await conn.fetchval("SELECT count(*) FROM sync_queue WHERE status = 'processing'") == 0
    assert [e["job_id"] for e in daemon.named("job.released")] == [str(slow)]
    names = [e["event"] for e in daemon.events]
    assert names.index("daemon.stopping") < names.index("daemon.stopped")


class _NeverStops:
    """A handler plugin's service whose stop() never returns."""

    async def start(self, pool: asyncpg.Pool) -> None:
        pass

    async def stop(self) -> None:
        await asyncio.Event().wait()


async def test_a_service_that_never_stops_does_not_keep_the_daemon_from_exiting(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "STEP_TIMEOUT", 0.5)
    registry = registry_with(sync={"noop": Recorded()})
    registry.add_service(_NeverStops())
    with capture_logs() as logs:
        async with running_worker(make_settings(database_url), registry):
            await wait_for(lambda: _logged(logs, "daemon.ready"))
    assert [e["step"] for e in events(logs, "daemon.stop_slow")] == ["the handlers' services"]
    assert events(logs, "daemon.stopped")


async def _logged(logs: list[dict[str, object]], name: str) -> bool:
    return bool(events(logs, name))
