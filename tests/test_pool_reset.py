"""The pool skips asyncpg's reset round trip only after syncd's own statements."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from syncd import db
from syncd.config import Settings
from syncd.queues import SYNC_QUEUE
from syncd.store import Store
from tests.support import enqueue


@pytest.fixture
async def one_connection_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    # One connection, so every acquire hands back the same session.
    settings.database.pool_size = 1
    pool = await db.create_pool(settings)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def resets(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The server pids of the connections the pool resets on their way back."""
    seen: list[int] = []
    real_reset = asyncpg.Connection.reset

    async def counting_reset(self: asyncpg.Connection, *, timeout: float | None = None) -> None:
        seen.append(self.get_server_pid())
        await real_reset(self, timeout=timeout)

    monkeypatch.setattr(asyncpg.Connection, "reset", counting_reset)
    return seen


async def test_a_handlers_session_state_does_not_leak_to_the_next_user(
    one_connection_pool: asyncpg.Pool,
) -> None:
    async with one_connection_pool.acquire() as conn:
        await conn.execute("SET application_name = 'left behind by a handler'")
        await conn.execute("LISTEN some_channel")
    async with one_connection_pool.acquire() as conn:
        assert await conn.fetchval("SHOW application_name") == "syncd"
        assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0


async def test_syncd_statements_hand_the_connection_back_without_a_reset(
    one_connection_pool: asyncpg.Pool, conn: asyncpg.Connection, resets: list[int]
) -> None:
    store = Store(one_connection_pool, uuid.uuid4())
    await enqueue(conn)
    jobs = await store.claim(SYNC_QUEUE, 10)
    assert await store.complete(SYNC_QUEUE, jobs) == {j.id for j in jobs}
    assert resets == []

    await one_connection_pool.fetchval("SELECT 1")  # anyone else's use is reset
    assert len(resets) == 1


async def test_a_failed_statement_still_gets_the_reset(
    one_connection_pool: asyncpg.Pool, resets: list[int]
) -> None:
    store = Store(one_connection_pool, uuid.uuid4())
    with pytest.raises(asyncpg.PostgresError):
        await store._fetch("SELECT 1 / 0")
    assert len(resets) == 1


async def test_claims_keep_one_connection_and_a_lost_one_is_replaced(
    settings: Settings, conn: asyncpg.Connection
) -> None:
    pool = await db.create_pool(settings)
    try:
        store = Store(pool, uuid.uuid4())
        async with store.keeping_a_connection():
            await enqueue(conn)
            assert len(await store.claim(SYNC_QUEUE, 10)) == 1
            kept = store._claiming
            assert kept is not None
            await enqueue(conn)
            assert len(await store.claim(SYNC_QUEUE, 10)) == 1
            assert store._claiming is kept  # no acquire and release between claims
            # Its session ends under it: that claim fails, the next takes another.
            await conn.execute("SELECT pg_terminate_backend($1)", kept.get_server_pid())
            await enqueue(conn)
            with pytest.raises((*db.CONNECTION_ERRORS, asyncpg.PostgresError)):
                await store.claim(SYNC_QUEUE, 10)
            assert store._claiming is None
            assert len(await store.claim(SYNC_QUEUE, 10)) == 1
            assert store._claiming is not None and store._claiming is not kept
        # Given back when the fetch loop stops: the pool can close at once.
        assert store._claiming is None
        assert pool.get_idle_size() == pool.get_size()
    finally:
        await asyncio.wait_for(pool.close(), 10)
