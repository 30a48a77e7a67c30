"""Losing PostgreSQL: a restart, a listener gone silent, a network cut (SPEC §3).

The daemons reach PostgreSQL through a TCP proxy (tests/faults/proxy.py) where the
network must misbehave, and through a private server where it must go away, so
the session's server (or CI's system PostgreSQL) is never stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from secrets import token_hex
from urllib.parse import urlsplit

import asyncpg
import pytest

from syncd import db
from tests.faults.proxy import Proxy
from tests.faults.support import (
    Fleet,
    Private,
    Secrets,
    drained,
    insert_probes,
    server_log,
    value,
    when,
)
from tests.support import add_contact, enqueue, event, ready, wait_for, wait_status

pytestmark = pytest.mark.faults

LISTENER_PORT = (
    "SELECT client_port FROM pg_stat_activity "
    "WHERE application_name = 'syncd-listener' AND datname = current_database()"
)


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await db.init_connection(conn)
    return conn


@pytest.fixture
async def admin(private: Private) -> AsyncIterator[list[asyncpg.Connection]]:
    """The test's own connection to the private server (replaced after a restart)."""
    held = [await connect(private.admin_url)]
    try:
        yield held
    finally:
        for conn in held:
            await conn.close()


@pytest.fixture
def proxy(database_url: str) -> Iterator[Proxy]:
    """Between the daemons and the session's server (set up first: it goes last)."""
    parts = urlsplit(database_url)
    assert parts.hostname is not None and parts.port is not None
    proxy = Proxy(parts.hostname, parts.port)
    try:
        yield proxy
    finally:
        proxy.close()


async def assert_each_job_ran_to_the_end_alone(conn: asyncpg.Connection, jobs: int) -> None:
    """Every job completed, with a finished run; no job ran twice at once.

    A run cut off by the outage never records its end; it cannot be told apart
    from one still running, so only finished runs are compared.
    """
    assert await value(conn, "SELECT count(*) FROM sync_queue WHERE status = 'completed'") == jobs
    finished = "SELECT count(DISTINCT job_id) FROM probe_runs WHERE finished_at IS NOT NULL"
    assert await value(conn, finished) == jobs
    overlapping = await value(
        conn,
        "SELECT count(*) FROM probe_runs a JOIN probe_runs b "
        "ON a.job_id = b.job_id AND a.run_id < b.run_id "
        "AND a.started_at < b.finished_at AND b.started_at < a.finished_at",
    )
    assert overlapping == 0


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_a_postgres_restart_mid_flow_is_survived_and_listen_resumes(
    private_fleet: Fleet, private: Private, admin: list[asyncpg.Connection], mode: str
) -> None:
    conn = admin[0]
    # The suite's server trades durability for speed (synchronous_commit=off): a crash
    # loses the last commits it acknowledged, which no client can make up for. This
    # database commits as a production server does, so that only the crash is tested.
    name = await value(conn, "SELECT current_database()")
    await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = on')
    await conn.execute("SET synchronous_commit = on")
    # No poll for a minute: after the restart only a LISTEN can bring work in fast.
    daemon = private_fleet.start(private.syncd_url, SYNCD_DAEMON__POLL_INTERVAL="60")
    await ready(daemon)
    await insert_probes(conn, 200, sleep=0.02)
    await wait_for(lambda: value(conn, "SELECT count(*) >= 30 FROM probe_runs"))

    # fast: an orderly stop (sessions ended, a shutdown checkpoint); immediate: a
    # crash (every process quits at once, the restart replays the WAL).
    logged = len(server_log(private.server))
    await asyncio.to_thread(private.server.stop, mode)
    await asyncio.sleep(1)
    await asyncio.to_thread(private.server.start)
    recovered = "automatic recovery in progress" in server_log(private.server)[logged:]
    assert recovered == (mode == "immediate")
    conn = admin[0] = await connect(private.admin_url)
    await insert_probes(conn, 20, sleep=0)  # their notification may reach nobody
    await event(daemon, "listener.reconnected", timeout=60)
    await drained(conn)

    job = await enqueue(conn, "probe")
    await wait_status(conn, job, "completed")
    pickup = await value(
        conn,
        "SELECT r.started_at - q.created_at FROM probe_runs r JOIN sync_queue q "
        "ON q.id = r.job_id WHERE q.id = $1",
        job,
    )
    assert pickup < timedelta(seconds=1)
    assert daemon.proc.poll() is None and not daemon.named("daemon.loop_died")
    assert daemon.named("listener.lost")
    await assert_each_job_ran_to_the_end_alone(conn, 221)
    assert private_fleet.stop() == [0]


async def test_a_frozen_listener_is_noticed_within_its_bound_and_replaced(
    proxy: Proxy, fleet: Fleet, syncd_url: str, conn: asyncpg.Connection
) -> None:
    poll_interval, query_timeout = 2.0, 2.0
    daemon = fleet.start(
        proxy.url(syncd_url),
        SYNCD_DAEMON__POLL_INTERVAL=str(poll_interval),
        SYNCD_DATABASE__CONNECT_TIMEOUT=str(query_timeout),
    )
    await ready(daemon)
    await wait_status(conn, await enqueue(conn, "probe"), "completed")
    frozen_port = await value(conn, LISTENER_PORT)

    proxy.freeze(frozen_port)
    frozen_at = time.time()
    lost = await event(daemon, "listener.lost", timeout=60)
    # TCP cannot tell (both kernels still acknowledge): the periodic check on the
    # listener connection can, within one poll interval and one query timeout.
    assert when(lost) - frozen_at <= poll_interval + query_timeout + 3
    await event(daemon, "listener.reconnected")
    await wait_status(conn, await enqueue(conn, "probe"), "completed")
    assert await value(conn, LISTENER_PORT + " AND client_port <> $1", frozen_port)
    assert fleet.stop() == [0]


async def test_a_frozen_listener_does_not_cost_a_live_worker_its_job(
    proxy: Proxy, fleet: Fleet, syncd_url: str, conn: asyncpg.Connection
) -> None:
    """Heartbeats must not wait on a frozen listener until rescue_after has passed (it
    did: the worker then rescued its own live job; fixed in 5fda4ab)."""
    # A query on the frozen listener takes connect_timeout to fail, longer than
    # rescue_after (3 s): as with the defaults, where a timed-out heartbeat and the
    # next poll on the listener take longer than rescue_after (20 s).
    busy = fleet.start(
        proxy.url(syncd_url),
        SYNCD_DAEMON__POLL_INTERVAL="30",
        SYNCD_DATABASE__CONNECT_TIMEOUT="4",
        SYNCD_DAEMON__SHUTDOWN_GRACE="1",
    )
    await ready(busy)
    job = await enqueue(conn, "probe", payload={"sleep": 8})
    await wait_for(lambda: value(conn, "SELECT count(*) = 1 FROM probe_runs"))
    await asyncio.sleep(0.5)  # past the poll that follows a claim
    proxy.freeze(await value(conn, LISTENER_PORT))
    await wait_for(lambda: busy.named("job.rescued") or busy.named("job.completed"), timeout=60)
    assert not busy.named("job.rescued")
    assert await value(conn, "SELECT attempts FROM sync_queue WHERE id = $1", job) == 1


async def test_a_job_claimed_again_while_its_fenced_attempt_runs_is_tracked(
    proxy: Proxy, fleet: Fleet, syncd_url: str, conn: asyncpg.Connection
) -> None:
    """The fenced attempt's end must not untrack the newer one (it did: the newer one
    lost its heartbeat and was rescued again and again; fixed in 5fda4ab)."""
    busy = fleet.start(
        proxy.url(syncd_url),
        SYNCD_DAEMON__RECONNECT_MAX_DELAY="0.5",
        SYNCD_DAEMON__SHUTDOWN_GRACE="1",
    )
    watcher = fleet.start(syncd_url, SYNCD_QUEUES__SYNC__ENABLED="false")  # it only rescues
    await ready(busy, watcher)
    job = await enqueue(conn, "probe", payload={"sleep": 8})
    await wait_for(lambda: value(conn, "SELECT count(*) = 1 FROM probe_runs"))
    # Cut off past rescue_after: the watcher rescues the job, rightly; busy comes back
    # and claims it again while its first attempt (fenced by now) still sleeps.
    proxy.cut(refuse=True)
    await event(watcher, "job.rescued")
    proxy.restore()
    await wait_for(lambda: value(conn, "SELECT count(*) = 2 FROM probe_runs"))
    await wait_for(lambda: len(watcher.named("job.rescued")) > 1 or busy.named("job.completed"))
    assert len(watcher.named("job.rescued")) == 1
    await wait_status(conn, job, "completed")
    assert await value(conn, "SELECT attempts FROM sync_queue WHERE id = $1", job) == 2


async def test_every_connection_cut_for_ten_seconds_loses_nothing(
    proxy: Proxy, fleet: Fleet, syncd_url: str, conn: asyncpg.Connection
) -> None:
    daemon = fleet.start(
        proxy.url(syncd_url),
        SYNCD_DAEMON__CONCURRENCY="10",
        SYNCD_DATABASE__CONNECT_TIMEOUT="2",
        SYNCD_DAEMON__RECONNECT_MAX_DELAY="2",
    )
    await ready(daemon)
    await insert_probes(conn, 60, sleep=0.2)
    await wait_for(lambda: value(conn, "SELECT count(*) >= 10 FROM probe_runs"))

    proxy.cut(refuse=True)  # every connection reset, new ones refused...
    await insert_probes(conn, 20, sleep=0)
    await asyncio.sleep(5)
    proxy.cut(refuse=False)  # ... then accepted and reset at once
    await asyncio.sleep(5)
    proxy.restore()
    await insert_probes(conn, 20, sleep=0)
    await drained(conn, timeout=90)

    assert daemon.proc.poll() is None and not daemon.named("daemon.loop_died")
    assert daemon.named("listener.lost") and daemon.named("listener.reconnected")
    await assert_each_job_ran_to_the_end_alone(conn, 100)
    assert fleet.stop() == [0]


async def test_no_secret_is_printed_even_when_the_password_and_token_are_refused(
    private_fleet: Fleet,
    private: Private,
    admin: list[asyncpg.Connection],
    secrets: Secrets,
    tmp_path: Path,
) -> None:
    wrong_password, wrong_token = "pw-" + token_hex(12), "tok-" + token_hex(12)
    credentials = tmp_path / "wrong"
    credentials.mkdir()
    (credentials / "database-password").write_text(wrong_password)
    (credentials / "monday-token").write_text(wrong_token)
    refused = private_fleet.start(private.syncd_url, CREDENTIALS_DIRECTORY=str(credentials))
    # A refused password is not an outage to wait out: one line, and a failed exit.
    assert await asyncio.to_thread(refused.proc.wait, 30) == 1
    refused.stop()
    assert "password authentication failed" in refused.stderr()
    (credentials / "database-password").write_text(secrets.password)
    daemon = private_fleet.start(private.syncd_url, CREDENTIALS_DIRECTORY=str(credentials))
    await ready(daemon)
    conn = admin[0]
    job = await enqueue(conn, entity_id=await add_contact(conn))
    await event(daemon, "job.retry_scheduled")
    error = await value(conn, "SELECT error_message FROM sync_queue WHERE id = $1", job)
    assert "UNAUTHENTICATED" in error or "401" in error
    assert private_fleet.stop() == [1, 0]
    for secret in (wrong_password, wrong_token, secrets.password, secrets.token):
        assert secret not in error
    private_fleet.assert_no_secrets(wrong_password, wrong_token)
