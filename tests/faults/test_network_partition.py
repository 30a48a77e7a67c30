"""A network that falls silent: packets dropped, nothing refused or reset (SPEC §3).

The daemon runs in a network namespace of its own, a second host on this machine
(tests/faults/network.py), and reaches PostgreSQL through the proxy at this host's
end of the link. Silencing the link drops every packet both ways, so neither
kernel learns anything: the half-open case as a pulled cable or a dropping
firewall makes it. Unlike the proxy's `freeze`, no acknowledgement comes back
either, so it is the TCP keepalives and TCP_USER_TIMEOUT that syncd puts on its
sockets that must notice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.faults.network import Namespace, unavailable
from tests.faults.proxy import Proxy
from tests.faults.support import Fleet, drained, insert_probes, value, when
from tests.support import enqueue, event, ready, wait_for, wait_status
from tests.support.timings import RESCUE_AFTER

pytestmark = pytest.mark.faults

# The daemon on the far side: keepalives after 2 s of silence, 1 s apart, 2
# unanswered, so a dead link is known within 4 s (and the listener gives up on
# unacknowledged bytes after as long); quick to try connecting again.
FAR_SIDE = {
    "SYNCD_DAEMON__KEEPALIVE_IDLE": "2",
    "SYNCD_DAEMON__KEEPALIVE_INTERVAL": "1",
    "SYNCD_DAEMON__KEEPALIVE_COUNT": "2",
    "SYNCD_DATABASE__CONNECT_TIMEOUT": "2",
    "SYNCD_DAEMON__RECONNECT_MAX_DELAY": "1",
}
NOTICED_WITHIN = 2 + 1 * 2


@pytest.fixture(scope="module")
def namespace() -> Iterator[Namespace]:
    why = unavailable()
    if why:
        pytest.skip(why)
    with Namespace.create() as space:
        yield space


@pytest.fixture
def link(namespace: Namespace, database_url: str) -> Iterator[Proxy]:
    """PostgreSQL as the namespace reaches it: through a proxy on this host's end."""
    parts = urlsplit(database_url)
    assert parts.hostname is not None and parts.port is not None
    proxy = Proxy(parts.hostname, parts.port, listen=namespace.gateway)
    try:
        yield proxy
    finally:
        namespace.restore_quietly()
        proxy.close()


async def test_a_silent_network_is_noticed_by_keepalives_and_work_resumes(
    namespace: Namespace, link: Proxy, fleet: Fleet, syncd_url: str, conn: asyncpg.Connection
) -> None:
    # No poll for a minute and no job held (so no heartbeat): only the kernel's
    # keepalive probes on the listener can find out that the link is gone.
    daemon = fleet.start(
        link.url(syncd_url),
        wrap=namespace.run,
        SYNCD_DAEMON__POLL_INTERVAL="60",
        **FAR_SIDE,
    )
    await ready(daemon)
    await wait_status(conn, await enqueue(conn, "probe"), "completed")
    await asyncio.sleep(2)  # past the poll that follows a claim

    namespace.silence()
    silenced_at = time.time()
    lost = await event(daemon, "listener.lost", timeout=30)
    assert when(lost) - silenced_at <= NOTICED_WITHIN + 2  # a margin for a loaded host
    assert lost["reason"] == "the connection closed"  # by the kernel: no poll ran
    assert not daemon.named("poll.failed") and not daemon.named("heartbeat.failed")
    await insert_probes(conn, 20)  # their notifications reach nobody
    await asyncio.sleep(3)  # the daemon tries to reconnect into the silence
    assert not daemon.named("listener.reconnected")

    namespace.restore()
    restored_at = time.time()
    back = await event(daemon, "listener.reconnected", timeout=30)
    await drained(conn, timeout=30)
    # Reconnecting looks for due jobs: the 20 inserted meanwhile are not left to the poll.
    assert when(back) - restored_at <= 5
    last = await value(conn, "SELECT max(finished_at) FROM probe_runs")
    assert last.timestamp() - restored_at <= 10
    job = await enqueue(conn, "probe")  # and LISTEN works again
    await wait_status(conn, job, "completed", timeout=5)
    assert daemon.proc.poll() is None and not daemon.named("daemon.loop_died")
    assert await value(conn, "SELECT count(*) FROM sync_queue WHERE status = 'completed'") == 22
    assert fleet.stop() == [0]


async def test_a_worker_cut_off_by_a_silent_network_loses_its_jobs_and_is_fenced(
    namespace: Namespace, link: Proxy, fleet: Fleet, syncd_url: str, conn: asyncpg.Connection
) -> None:
    """Its heartbeats stop, a live worker rescues its jobs; back on the network, its
    late outcome writes are refused and it runs the jobs again as new attempts."""
    cut_off = fleet.start(
        link.url(syncd_url),
        wrap=namespace.run,
        SYNCD_DATABASE__TCP_USER_TIMEOUT="4",
        SYNCD_DAEMON__SHUTDOWN_GRACE="1",
        **FAR_SIDE,
    )
    # On this host, beside the database: it only rescues, it runs nothing.
    watcher = fleet.start(syncd_url, SYNCD_QUEUES__SYNC__ENABLED="false")
    await ready(cut_off, watcher)
    await insert_probes(conn, 5, sleep=3)
    await wait_for(lambda: value(conn, "SELECT count(*) = 5 FROM probe_runs"))

    namespace.silence()
    silenced_at = time.time()
    await event(watcher, "job.rescued", count=5, timeout=30)
    lost = await event(cut_off, "listener.lost", timeout=30)
    # The kernel's probes, or a heartbeat's timeout on the listener (half a beat,
    # rescue_after / 8) when one went out first: unacknowledged data holds the probes.
    assert when(lost) - silenced_at <= NOTICED_WITHIN + RESCUE_AFTER / 8 + 2
    # The jobs end at 3 s and record it through the pool: those statements get no
    # acknowledgement and fail at tcp_user_timeout (4 s), not when the network is
    # back; their outcome writes are retried.
    await event(cut_off, "db.write_failed", timeout=30)
    await asyncio.sleep(max(0.0, silenced_at + 12 - time.time()))
    restored_at = time.time()
    assert when(cut_off.named("db.write_failed")[0]) < restored_at
    namespace.restore()

    await event(cut_off, "job.fenced", count=5, timeout=30)
    await drained(conn, timeout=60)
    assert cut_off.stop() == 0 and watcher.stop() == 0
    rows = await conn.fetch("SELECT status, attempts, worker_id FROM sync_queue")
    assert [tuple(r) for r in rows] == [("completed", 2, None)] * 5
    assert len(watcher.named("job.rescued")) == 5  # the second attempts kept their jobs
    assert len(cut_off.named("job.completed")) == 5
    assert {e["attempt"] for e in cut_off.named("job.completed")} == {2}
    assert {e["attempt"] for e in cut_off.named("job.fenced")} == {1}
    # The first attempts ran on, cut off; each was run once more, to its end.
    runs = await conn.fetch("SELECT attempt, finished_at IS NOT NULL AS done FROM probe_runs")
    assert sorted(r["attempt"] for r in runs) == [1] * 5 + [2] * 5
    assert all(r["done"] for r in runs if r["attempt"] == 2)
