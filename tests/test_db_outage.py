"""Losing the database: the daemon keeps running, reconnects and finds work (SPEC §3)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

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
