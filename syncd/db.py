"""Connections: one bounded pool per process, plus one listener connection.

The pool serves claims, outcome writes and handlers, whatever the concurrency.
The listener connection LISTENs for new work and carries the daemon's periodic
poll and heartbeat, so a busy pool never delays the signs of life that keep
our jobs from being rescued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg

from syncd import speedups
from syncd.config import Settings


async def init_connection(conn: asyncpg.Connection) -> None:
    for jsontype in ("json", "jsonb"):
        await conn.set_type_codec(
            jsontype, encoder=json.dumps, decoder=speedups.json_loads(), schema="pg_catalog"
        )


def _server_settings(settings: Settings, name: str = "syncd") -> dict[str, str]:
    d = settings.daemon
    # The server's side of the keepalives: a syncd host that vanishes has its
    # sessions (and their locks) closed within seconds, not hours.
    return {
        "application_name": name,
        "tcp_keepalives_idle": str(int(d.keepalive_idle)),
        "tcp_keepalives_interval": str(int(d.keepalive_interval)),
        "tcp_keepalives_count": str(d.keepalive_count),
    }


# Server process ids of pooled connections whose last use was one of syncd's own
# statements (claims, outcome writes). Those leave no session state behind, so
# handing the connection back skips asyncpg's RESET ALL / UNLISTEN * / CLOSE ALL
# round trip, which otherwise doubles the cost of every claim. A handler's use
# of the pool is not marked and gets the full reset.
_clean: set[int] = set()


async def _reset(conn: asyncpg.Connection) -> None:
    pid = conn.get_server_pid()
    if pid in _clean:
        _clean.discard(pid)
        return
    await conn.reset()


@contextlib.asynccontextmanager
async def clean_connection(
    pool: asyncpg.Pool, timeout: float | None = None
) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for statements that leave no session state behind."""
    async with pool.acquire(timeout=timeout) as conn:
        yield conn
        pid = conn.get_server_pid()
        _clean.add(pid)
    # Consumed by the reset on release, unless the pool closed the connection
    # instead (max_queries, expiry): then a later session with the same pid must
    # not inherit the mark.
    _clean.discard(pid)


async def create_pool(settings: Settings) -> asyncpg.Pool:
    async def init(conn: asyncpg.Connection) -> None:
        set_keepalive(conn, settings, settings.database.tcp_user_timeout)
        await init_connection(conn)

    pool: asyncpg.Pool = await asyncpg.create_pool(
        settings.database_url(),
        min_size=1,
        max_size=settings.database.pool_size,
        init=init,
        reset=_reset,
        timeout=settings.database.connect_timeout,
        statement_cache_size=settings.database.statement_cache_size,
        server_settings=_server_settings(settings),
    )
    return pool


async def connect(
    settings: Settings, url: str | None = None, name: str = "syncd"
) -> asyncpg.Connection:
    """A single connection (the listener, or a CLI command's)."""
    conn: asyncpg.Connection = await asyncpg.connect(
        url or settings.database_url(),
        timeout=settings.database.connect_timeout,
        statement_cache_size=settings.database.statement_cache_size,
        server_settings=_server_settings(settings, name),
    )
    set_keepalive(conn, settings)
    await init_connection(conn)
    return conn


def set_keepalive(
    conn: asyncpg.Connection, settings: Settings, user_timeout: float | None = None
) -> None:
    """Turn on TCP keepalives for our side of `conn`, and bound unacknowledged writes.

    If the network silently drops packets (a pulled cable, a dropping firewall),
    nothing fails until the kernel gives up: for a connection that only waits to
    receive, as the listener does, that is when keepalive probes go unanswered
    (after 2 hours by default); for a statement in flight, after some 15 minutes of
    retransmission. Meanwhile the daemon is deaf, or a claim or an outcome write
    hangs and holds its slot. So probe after a few seconds of silence, and give up
    on unacknowledged data after `user_timeout` seconds (0: leave it to the kernel;
    None: as long as the probes take, the listener's choice, as it only sends
    small statements). A long-running query is not affected: the server's kernel
    answers the probes while it runs. A peer that is alive but does not read (a
    full receive window) is, which is why pooled connections get a longer bound.
    """
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # a Unix socket cannot go half-open
    d = settings.daemon
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", d.keepalive_idle),
        ("TCP_KEEPINTVL", d.keepalive_interval),
        ("TCP_KEEPCNT", d.keepalive_count),
    ):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), max(1, int(value)))
    if user_timeout is None:
        user_timeout = d.keepalive_idle + d.keepalive_interval * d.keepalive_count
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(user_timeout * 1000))


class ListenerConnection:
    """The listener connection: LISTEN on syncd's channels, plus serialised queries.

    asyncpg refuses two operations at once on one connection; the lock lets the
    poller and the heartbeat share it.
    """

    def __init__(
        self,
        settings: Settings,
        on_notify: Callable[[str], None],
        on_lost: Callable[[str], None],
        channels: dict[str, str],
    ) -> None:
        self._settings = settings
        self._on_notify = on_notify
        self._on_lost = on_lost
        # What on_notify is told -> the channel to LISTEN on: each queue's name and
        # its trigger's channel, and the pauses' channel; empty: LISTEN off.
        self._channels = channels
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def connect(self) -> None:
        # Its own application_name, so operators (and tests) can tell it apart.
        conn = await connect(self._settings, self._settings.listen_url(), "syncd-listener")
        conn.add_termination_listener(self._terminated)
        for queue, channel in self._channels.items():
            await conn.add_listener(channel, self._notified(queue))
        self._conn = conn

    def _notified(self, queue: str) -> Callable[..., None]:
        def callback(*_: Any) -> None:
            self._on_notify(queue)

        return callback

    def _terminated(self, conn: asyncpg.Connection) -> None:
        if conn is self._conn:
            self._conn = None
            # The kernel's keepalives or TCP_USER_TIMEOUT gave up, the server
            # closed the session, or the network reset it.
            self._on_lost("the connection closed")

    def drop(self, why: str) -> None:
        """Abandon a connection found to be broken (a query timed out on it)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()
            self._on_lost(why)

    async def fetchrow(self, query: str, *args: Any, timeout: float) -> asyncpg.Record | None:
        # The timeout covers the wait for the lock too: behind a query stuck on a
        # frozen link, the wait is as much a sign of that link as the query itself.
        async with asyncio.timeout(timeout), self._lock:
            if self._conn is None:
                raise ConnectionError("listener connection is not open")
            return await self._conn.fetchrow(query, *args)

    async def execute(self, query: str, *args: Any, timeout: float) -> None:
        async with asyncio.timeout(timeout), self._lock:
            if self._conn is None:
                raise ConnectionError("listener connection is not open")
            await self._conn.execute(query, *args)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), timeout=5)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                conn.terminate()


# Errors that mean "the database went away", as opposed to a bad statement.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.ConnectionDoesNotExistError,
    # What asyncpg raises on a pool connection caught mid-operation when its server
    # session was terminated; the pool replaces the connection on release.
    asyncpg.exceptions.InternalClientError,
)

# Errors a statement may meet that say nothing about the statement itself: the same
# write succeeds when tried again (a deadlock or serialization failure, a statement
# timeout, the server short of resources), as after a lost connection.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    asyncpg.TransactionRollbackError,  # 40001 serialization failure, 40P01 deadlock
    asyncpg.QueryCanceledError,  # 57014 statement_timeout
    asyncpg.InsufficientResourcesError,  # 53xxx
)
