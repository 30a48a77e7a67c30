"""The daemon's HTTP listener (`[http] listen`, SPEC §10): a running daemon scraped and
probed over HTTP, and its readiness through a database outage."""

from __future__ import annotations

import asyncio
import math
import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest

from syncd import queries
from syncd.config import Settings
from syncd.errors import PermanentError
from syncd.handlers import Registry
from syncd.handlers.documents import install as install_documents
from syncd.handlers.monday import install
from syncd.handlers.monday.pauses import DatabasePauses, token_id
from syncd.job import Job
from tests.faults.proxy import Proxy
from tests.plugin import SETUP_SQL
from tests.support import (
    Recorded,
    add_contact,
    add_document,
    capture_logs,
    enqueue,
    event,
    events,
    make_settings,
    registry_with,
    running_worker,
    wait_for,
    wait_status,
)
from tests.support.daemons import Daemon
from tests.support.documents import write
from tests.support.monday import CONTACTS_BOARD, TOKEN, daemon_settings, running_fake


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def listening(logs: list[dict[str, object]]) -> str:
    """The daemon's base URL, once it says where it listens (port 0: any free one)."""
    [event] = await wait_for(lambda: _named(logs, "http.listening"))
    return f"http://{event['listen']}"


async def _named(logs: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return events(logs, name)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a scrape, whatever the labels' order."""
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if found == labels:
            return float(match[3])
    return None


async def test_a_scrape_counts_what_the_daemon_did_and_what_the_queues_hold(
    database_url: str, conn: asyncpg.Connection
) -> None:
    settings = make_settings(database_url, http={"listen": "127.0.0.1:0"})

    async def refuse(job: Job) -> None:
        raise PermanentError("no such account")

    registry = registry_with(sync={"contact": Recorded(), "invoice": Recorded(refuse)})
    with capture_logs() as logs:
        async with running_worker(settings, registry):
            base = await listening(logs)
            done = [await enqueue(conn) for _ in range(3)]
            failed = await enqueue(conn, entity_type="invoice")
            for job_id in done:
                await wait_status(conn, job_id, "completed")
            await wait_status(conn, failed, "failed")

            async def counted() -> str | None:
                _, text = await get(base + "/metrics")
                jobs = sample(
                    text, "syncd_jobs_total", queue="sync", kind="invoice", outcome="failed"
                )
                return text if jobs == 1 else None

            text = await wait_for(counted)
            await conn.execute(
                "INSERT INTO syncd_pauses (queue, kind, paused_by)"
                " VALUES ('sync', 'invoice', 'test')"
            )
            _, paused = await get(base + "/metrics")
            assert (await get(base + "/healthz"))[0] == 200
            assert (await get(base + "/readyz")) == (200, "ready\n")
        port = int(base.rpartition(":")[2])
    completed = {"queue": "sync", "kind": "contact", "outcome": "completed"}
    assert sample(text, "syncd_jobs_total", **completed) == 3
    assert sample(text, "syncd_job_duration_seconds_count", queue="sync", kind="contact") == 3
    assert sample(text, "syncd_job_duration_seconds_count", queue="sync", kind="invoice") == 1
    assert sample(text, "syncd_queue_jobs", queue="sync", status="completed") == 3
    assert sample(text, "syncd_queue_jobs", queue="sync", status="failed") == 1
    assert sample(text, "syncd_queue_jobs", queue="documents", status="pending") == 0
    assert sample(text, "syncd_queue_oldest_due_seconds", queue="sync") == 0
    assert sample(text, "syncd_running_jobs", queue="sync") == 0
    assert sample(text, "syncd_queue_paused", queue="sync", kind="invoice") is None
    assert sample(paused, "syncd_queue_paused", queue="sync", kind="invoice") == 1
    assert sample(text, "syncd_listener_connected") == 1
    # Shutdown closed the listener with the rest.
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(f"http://127.0.0.1:{port}/healthz")


async def test_running_jobs_and_the_oldest_due_job_are_read_at_scrape_time(
    database_url: str, conn: asyncpg.Connection
) -> None:
    settings = make_settings(
        database_url, http={"listen": "127.0.0.1:0"}, queues={"sync": {"concurrency": 1}}
    )
    release = asyncio.Event()

    async def hold(job: Job) -> None:
        await release.wait()

    with capture_logs() as logs:
        async with running_worker(settings, registry_with(sync={"contact": Recorded(hold)})):
            base = await listening(logs)
            first = await enqueue(conn)
            await wait_status(conn, first, "processing")
            await enqueue(conn)  # waits: the one slot is taken
            await conn.execute("UPDATE sync_queue SET created_at = now() - interval '1 minute'")
            _, text = await get(base + "/metrics")
            release.set()
    assert sample(text, "syncd_running_jobs", queue="sync") == 1
    assert sample(text, "syncd_queue_jobs", queue="sync", status="pending") == 1
    oldest = sample(text, "syncd_queue_oldest_due_seconds", queue="sync")
    assert oldest is not None and oldest >= 60


async def test_rescued_jobs_are_counted_as_rescued(
    database_url: str, conn: asyncpg.Connection
) -> None:
    settings = make_settings(database_url, http={"listen": "127.0.0.1:0"})
    # A job left `processing` by a worker that is gone (no heartbeat at all).
    job_id = await enqueue(conn)
    await conn.execute(
        "UPDATE sync_queue SET status = 'processing', attempts = 1,"
        " worker_id = gen_random_uuid() WHERE id = $1",
        job_id,
    )
    with capture_logs() as logs:
        async with running_worker(settings, registry_with(sync={"contact": Recorded()})):
            base = await listening(logs)
            await wait_status(conn, job_id, "completed")
            _, text = await get(base + "/metrics")
    assert sample(text, "syncd_jobs_total", queue="sync", kind="contact", outcome="rescued") == 1
    assert sample(text, "syncd_jobs_total", queue="sync", kind="contact", outcome="completed") == 1


async def test_not_ready_while_the_database_is_away_and_ready_again_after(
    database_url: str,
) -> None:
    parts = urlsplit(database_url)
    if parts.hostname is None or parts.port is None:
        pytest.skip("the database is not reached over TCP: no proxy can cut it")
    proxy = Proxy(parts.hostname, parts.port)
    try:
        await wait_for(lambda: _bound(proxy))
        settings = make_settings(
            proxy.url(database_url),
            http={"listen": "127.0.0.1:0"},
            daemon={"reconnect_max_delay": 0.5},
        )
        with capture_logs() as logs:
            async with running_worker(settings, registry_with(sync={"contact": Recorded()})):
                base = await listening(logs)
                assert (await get(base + "/readyz"))[0] == 200
                proxy.cut(refuse=True)

                async def unready() -> str | None:
                    status, text = await get(base + "/readyz")
                    return text if status == 503 else None

                why = await wait_for(unready)
                assert why.startswith("not ready: ")
                assert "listener" in why or "database" in why
                assert (await get(base + "/healthz"))[0] == 200  # alive all along
                _, text = await get(base + "/metrics")  # still served, without the queues
                assert sample(text, "syncd_listener_connected") == 0
                proxy.restore()

                async def ready() -> bool:
                    return (await get(base + "/readyz"))[0] == 200

                await wait_for(ready, timeout=30)
    finally:
        proxy.close()


async def _bound(proxy: Proxy) -> bool:
    return proxy.port != 0


async def test_a_real_syncd_run_serves_its_metrics(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await conn.execute(SETUP_SQL)
    listen = f"127.0.0.1:{free_port()}"
    daemon = Daemon(database_url, SYNCD_HTTP__LISTEN=listen)
    try:
        await event(daemon, "daemon.ready")
        assert (await event(daemon, "http.listening"))["listen"] == listen
        ok = await enqueue(conn, entity_type="probe")
        refused = await enqueue(conn, entity_type="probe", payload={"fail": "permanent"})
        await wait_status(conn, ok, "completed")
        await wait_status(conn, refused, "failed")

        async def counted() -> str | None:
            _, text = await get(f"http://{listen}/metrics")
            failed = sample(text, "syncd_jobs_total", queue="sync", kind="probe", outcome="failed")
            return text if failed == 1 else None

        text = await wait_for(counted)
        assert (await get(f"http://{listen}/readyz"))[0] == 200
    finally:
        assert daemon.stop() == 0
    assert sample(text, "syncd_jobs_total", queue="sync", kind="probe", outcome="completed") == 1
    assert sample(text, "syncd_job_duration_seconds_count", queue="sync", kind="probe") == 2
    assert sample(text, "syncd_queue_jobs", queue="sync", status="completed") == 1
    assert sample(text, "syncd_extractor_restarts_total") == 0
    assert sample(text, "syncd_monday_paused_seconds") == 0


def test_a_taken_port_stops_the_daemon_with_a_clear_event(database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        daemon = Daemon(database_url, SYNCD_HTTP__LISTEN=listen)
        try:
            failed = daemon.wait_event("http.failed")
            code = daemon.proc.wait(30)  # it stops on its own, not by our SIGTERM
        finally:
            daemon.stop()
    assert code == 1
    assert failed["listen"] == listen and failed["level"] == "error"
    assert not daemon.named("daemon.ready")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_listen_is_checked_and_empty_turns_it_off(database_url: str) -> None:
    assert Settings().http.listen == "127.0.0.1:9187"
    assert make_settings(database_url, http={"listen": ""}).http.listen == ""
    with pytest.raises(ValueError, match="HOST:PORT"):
        make_settings(database_url, http={"listen": "9187"})


async def test_monday_budget_pause_and_drift_come_from_the_handler(
    database_url: str, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    async with running_fake() as fake:
        settings = daemon_settings(database_url, fake)
        settings.http.listen = "127.0.0.1:0"
        registry = Registry()
        install(registry, settings)
        await conn.execute(
            queries.load("monday_reconcile_record"),
            "contact",
            CONTACTS_BOARD,
            datetime.now(UTC),
            40,
            3,
            3,
            False,
        )
        contact = await add_contact(conn, title="Countess")
        with capture_logs() as logs:
            async with running_worker(settings, registry):
                base = await listening(logs)
                _, before = await get(base + "/metrics")
                job_id = await enqueue(conn, entity_id=contact)
                await wait_status(conn, job_id, "completed")
                await DatabasePauses(pool, token_id(TOKEN)).extend(600, "test")
                _, after = await get(base + "/metrics")
    assert math.isnan(sample(before, "syncd_monday_budget_remaining") or 0.0)  # no answer yet
    assert sample(before, "syncd_monday_paused_seconds") == 0
    budget = sample(after, "syncd_monday_budget_remaining")
    assert budget is not None and 0 < budget < 10_000_000
    paused = sample(after, "syncd_monday_paused_seconds")
    assert paused is not None and 590 < paused <= 600
    assert sample(after, "syncd_monday_drift", entity_type="contact") == 3


async def test_a_replaced_extractor_process_is_counted(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url,
        http={"listen": "127.0.0.1:0"},
        documents={"storage_root": str(tmp_path), "recycle_after": 1, "workers": 1},
    )
    registry = Registry()
    install_documents(registry, settings)
    write(tmp_path, "a.txt", b"ordinary words")
    document = await add_document(conn, "a.txt")
    job_id = await conn.fetchval(
        "INSERT INTO document_processing_queue (document_id, operation)"
        " VALUES ($1, 'extract') RETURNING id",
        document,
    )
    with capture_logs() as logs:
        async with running_worker(settings, registry):
            base = await listening(logs)
            await wait_status(conn, job_id, "completed", table="document_processing_queue")
            _, text = await get(base + "/metrics")
    # recycle_after = 1: the process that read the file was replaced after it.
    assert sample(text, "syncd_extractor_restarts_total") == 1
    assert (
        sample(text, "syncd_jobs_total", queue="documents", kind="extract", outcome="completed")
        == 1
    )
