"""Losing the database: the daemon keeps running, reconnects and finds work (SPEC §3)."""

from __future__ import annotations

import asyncio
import socket
import uuid

import asyncpg
import pytest

from syncd import db
from syncd.config import Settings
from tests.support import (
    Recorded,
    capture_logs,
    enqueue,
    events,
    registry_with,
    running_worker,
    wait_for,
    wait_status,
)


async def terminate(conn: asyncpg.Connection, where: str) -> int:
    n: int = await conn.fetchval(
        f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE datname = current_database() AND pid <> pg_backend_pid() AND {where}"
    )
    return n


async def test_listener_killed_reconnects_and_listens_again(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    handler = Recorded()
    with capture_logs() as logs:
        async with running_worker(settings, registry_with(sync={"contact": handler})):
            first = await enqueue(conn)
            await wait_status(conn, first, "completed")
            assert await terminate(conn, "application_name = 'syncd-listener'") == 1
            await wait_for(lambda: _has(logs, "listener.reconnected"))
            second = await enqueue(conn)
            await wait_status(conn, second, "completed")
    assert events(logs, "listener.lost")
    assert len(handler.jobs) == 2


async def _has(logs: list[dict[str, object]], name: str) -> bool:
    return bool(events(logs, name))


async def test_work_inserted_while_the_listener_was_down_is_found(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    handler = Recorded()
    with capture_logs() as logs:
        async with running_worker(settings, registry_with(sync={"contact": handler})):
            await wait_for(lambda: _has(logs, "daemon.ready"))
            await terminate(conn, "application_name = 'syncd-listener'")
            job = await enqueue(conn)  # its NOTIFY may reach nobody
            await wait_status(conn, job, "completed")


async def test_every_connection_killed_mid_flow_loses_nothing(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    async def slowish(job: object) -> None:
        await asyncio.sleep(0.05)

    handler = Recorded(slowish)  # type: ignore[arg-type]
    async with running_worker(settings, registry_with(sync={"contact": handler})):
        ids = [await enqueue(conn, entity_id=uuid.uuid4()) for _ in range(40)]
        for _ in range(3):
            await asyncio.sleep(0.2)
            await terminate(conn, "application_name LIKE 'syncd%'")

        async def all_done() -> bool:
            return await conn.fetchval(
                "SELECT count(*) = 40 FROM sync_queue WHERE status = 'completed'"
            )

        await wait_for(all_done, timeout=60)
    rows = await conn.fetch("SELECT id, attempts FROM sync_queue")
    assert {r["id"] for r in rows} == set(ids)


def _tcp_options(conn: asyncpg.Connection) -> dict[str, int]:
    sock = conn._transport.get_extra_info("socket")  # type: ignore[attr-defined]
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        pytest.skip("the test server is reached over a Unix socket, which cannot go silent")
    return {
        "keepalive": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        "idle": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        "interval": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        "count": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        "user_timeout_ms": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
    }


async def test_every_connection_gives_up_on_a_silent_network_in_seconds(
    settings: Settings,
) -> None:
    """Pooled connections too, not only the listener: a claim or an outcome write in
    flight when the network goes silent fails in seconds rather than some 15 minutes
    (tests/faults/test_network_partition.py drops the packets for real)."""
    settings = settings.model_copy(
        update={
            "daemon": settings.daemon.model_copy(
                update={"keepalive_idle": 3.0, "keepalive_interval": 2.0, "keepalive_count": 4}
            ),
            "database": settings.database.model_copy(update={"tcp_user_timeout": 45.0}),
        }
    )
    probes = {"keepalive": 1, "idle": 3, "interval": 2, "count": 4}
    pool = await db.create_pool(settings)
    try:
        async with pool.acquire() as pooled:
            # Pooled: database.tcp_user_timeout, as a peer may be slow to read.
            options = _tcp_options(pooled._con)  # type: ignore[attr-defined]
            assert options == {**probes, "user_timeout_ms": 45_000}
    finally:
        await pool.close()
    single = await db.connect(settings)  # the listener's kind: as long as the probes
    try:
        assert _tcp_options(single) == {**probes, "user_timeout_ms": 3_000 + 2_000 * 4}
    finally:
        await single.close()
