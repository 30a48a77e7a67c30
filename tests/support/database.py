"""The test database's helpers: admin statements, settings for a test, connections, and
syncd/sql/grants.sql as psql runs it. The fixtures (tests/conftest.py) are built on these,
and bench/common.py creates its databases with `admin` and `with_database`: so nothing
here (nor in tests/support/__init__.py) may import pytest or another test-only package."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from syncd import config, db, migrate
from syncd.config import Settings
from tests.support import timings


def with_database(url: str, name: str) -> str:
    """`url`, pointing at database `name` of the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def admin(url: str, *statements: str) -> None:
    """Run `statements` on a connection of their own (CREATE DATABASE cannot share one)."""
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test: the test's database and the test timings."""
    base: dict[str, Any] = {
        "database": {"url": database_url, "pool_size": timings.POOL_SIZE},
        "daemon": {
            "poll_interval": timings.POLL_INTERVAL,
            "rescue_after": timings.RESCUE_AFTER,
            "shutdown_grace": timings.SHUTDOWN_GRACE,
        },
        "log": {"level": "debug", "format": "json"},
        # No HTTP listener unless a test asks: daemons of one run would share a port.
        "http": {"listen": ""},
    }
    config._deep_update(base, overrides)
    return Settings(**base)


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection with syncd's JSON codecs, as the daemon's own connections have."""
    c = await asyncpg.connect(url)
    await db.init_connection(c)
    try:
        yield c
    finally:
        await c.close()


def grants_sql(**roles: str) -> str:
    """syncd/sql/grants.sql as `psql -v runtime=... -v app=...` runs it (:"name": a quoted role)."""

    def role(match: re.Match[str]) -> str:
        return '"' + roles[match.group(1)].replace('"', '""') + '"'

    return re.sub(r':"(\w+)"', role, migrate.grants_file().read_text(encoding="utf-8"))
