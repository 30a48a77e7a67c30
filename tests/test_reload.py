"""SIGHUP re-reads the config: log level and concurrency change in place, nothing else."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg

from syncd import logs
from syncd.config import ConfigError, Settings
from syncd.job import Job
from tests.support import (
    capture_logs,
    enqueue,
    events,
    make_settings,
    registry_with,
    running_worker,
    wait_for,
)
from tests.support.daemons import Daemon
from tests.support.notify_socket import notify_socket


async def test_a_reload_raises_the_limit_under_running_jobs_and_changes_the_level(
    database_url: str, conn: asyncpg.Connection
) -> None:
    gate = asyncio.Event()
    running: list[Job] = []

    async def held(job: Job, ctx: object) -> None:
        running.append(job)
        await gate.wait()

    async def started(n: int) -> bool:
        return len(running) == n

    settings = make_settings(database_url, daemon={"concurrency": 2}, log={"level": "info"})
    logs.set_level("info")
    newer = make_settings(
        database_url,
        daemon={"concurrency": 5},
        log={"level": "debug"},
        database={"pool_size": 9},
    )
    for _ in range(6):
        await enqueue(conn)
    with capture_logs() as captured:
        async with running_worker(settings, registry_with(sync={"contact": held})) as worker:
            worker.reread = lambda: newer
            await wait_for(lambda: started(2))
            worker.reload()
            await wait_for(lambda: started(5))  # the two first ones still running
            assert worker.queues["sync"].limit == 10 and settings.daemon.concurrency == 5
            gate.set()
            await wait_for(
                lambda: conn.fetchval(
                    "SELECT count(*) = 6 FROM sync_queue WHERE status = 'completed'"
                )
            )
    logs.set_level("info")
    (reloaded,) = events(captured, "config.reloaded")
    assert reloaded["applied"] == ["daemon.concurrency", "log.level"]
    assert reloaded["needs_restart"] == ["database.pool_size"]
    assert events(captured, "config.restart_needed")[0]["keys"] == ["database.pool_size"]
    assert events(captured, "job.started")  # a debug event, shown after the reload


async def test_a_config_that_no_longer_validates_is_refused_whole(database_url: str) -> None:
    settings = make_settings(database_url, daemon={"concurrency": 3})

    def broken() -> Settings:
        raise ConfigError("daemon.concurrency: Input should be a valid integer")

    with capture_logs() as captured:
        async with running_worker(settings, registry_with()) as worker:
            worker.reread = broken
            worker.reload()
            assert settings.daemon.concurrency == 3
    (invalid,) = events(captured, "config.invalid")
    assert "daemon.concurrency" in invalid["error"]
    assert not events(captured, "config.reloaded")


def test_syncd_run_tells_systemd_ready_watchdog_reloading_stopping_in_order(
    database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "syncd.toml"
    config.write_text("[daemon]\nconcurrency = 3\n")
    with notify_socket() as sock:
        daemon = Daemon(database_url, "--config", str(config), **sock.env(watchdog_usec=2_000_000))
        try:
            sock.wait_for("READY=1")
            sock.wait_for("WATCHDOG=1")
            config.write_text("[daemon]\nconcurrency = 7\n\n[database]\npool_size = 3\n")
            daemon.signal(signal.SIGHUP)
            reloaded = daemon.wait_event("config.reloaded")
            sock.wait_for("RELOADING=1")
            config.write_text("[daemon]\nconcurrency = 'lots'\n")
            daemon.signal(signal.SIGHUP)
            daemon.wait_event("config.invalid")
            daemon.signal(signal.SIGTERM)
            assert daemon.stop(timeout=30) == 0
        finally:
            daemon.stop(timeout=30)
        sock.wait_for("STOPPING=1")
    assert reloaded["applied"] == ["daemon.concurrency"]
    assert reloaded["needs_restart"] == ["database.pool_size"]
    assert sock.order("READY=1", "WATCHDOG=1", "RELOADING=1", "STOPPING=1")
    seen = sock.assignments()
    # READY=1 again once the reload is done, before shutting down.
    assert "READY=1" in seen[seen.index("RELOADING=1") :]
    assert seen.index("STOPPING=1") > max(i for i, a in enumerate(seen) if a == "READY=1")
    assert any(a.startswith("MONOTONIC_USEC=") for a in seen)
