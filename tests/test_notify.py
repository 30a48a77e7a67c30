"""The NOTIFY triggers: one wake-up per statement, and when a row becomes pending again."""

from __future__ import annotations

import asyncio

import asyncpg


async def collect(conn: asyncpg.Connection, channel: str) -> list[str]:
    received: list[str] = []
    await conn.add_listener(channel, lambda *args: received.append(args[1]))
    return received


async def settle(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT 1")  # notifications arrive before the next reply
    await asyncio.sleep(0.2)


async def test_a_10000_row_insert_notifies_once(database_url: str) -> None:
    listener = await asyncpg.connect(database_url)
    writer = await asyncpg.connect(database_url)
    try:
        received = await collect(listener, "syncd_sync_queue")
        await writer.execute(
            "INSERT INTO sync_queue (entity_type, entity_id) "
            "SELECT 'contact', gen_random_uuid() FROM generate_series(1, 10000)"
        )
        await settle(listener)
        assert len(received) == 1
    finally:
        await listener.close()
        await writer.close()


async def test_becoming_pending_notifies_but_completing_does_not(database_url: str) -> None:
    listener = await asyncpg.connect(database_url)
    writer = await asyncpg.connect(database_url)
    try:
        doc = await writer.fetchval("INSERT INTO documents (filename) VALUES ('a') RETURNING id")
        await writer.execute(
            "INSERT INTO document_processing_queue (document_id, operation, status) "
            "SELECT $1, 'extract', 'failed' FROM generate_series(1, 100)",
            doc,
        )
        received = await collect(listener, "syncd_document_queue")
        await writer.execute("UPDATE document_processing_queue SET status = 'completed'")
        await settle(listener)
        assert received == []
        await writer.execute("UPDATE document_processing_queue SET status = 'pending'")
        await settle(listener)
        assert len(received) == 1  # 100 rows, one transaction: one notification
    finally:
        await listener.close()
        await writer.close()
