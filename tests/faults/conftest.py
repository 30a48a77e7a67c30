"""Fixtures of the fault suite: a password role, the fake monday.com, the daemons' fleet,
and a private PostgreSQL server for the scenarios that restart or refuse it.

The private server is never the session's (nor CI's system PostgreSQL, which must not
be restarted): an embedded server of the suite's own, which also insists on the
role's password, so a daemon that did not read its credential could not connect.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from syncd import db, migrate
from syncd.embedded import EmbeddedPostgres
from tests.faults.support import Fleet, Monday, Private, Secrets, grant
from tests.plugin import SETUP_SQL
from tests.support import timings
from tests.support.database import admin, with_database


@pytest.fixture(scope="session")
def secrets() -> Secrets:
    return Secrets.generate(f"syncd_faults_{os.getpid()}")


@pytest.fixture(scope="session")
def role(server_url: str, secrets: Secrets) -> Iterator[str]:
    """The daemons' role on the session's server: a login with a password, no superuser
    (and the application's role that syncd/sql/grants.sql names beside it)."""
    asyncio.run(_create_roles(server_url, secrets))
    try:
        yield secrets.role
    finally:
        asyncio.run(_drop_roles(server_url, secrets))


async def _create_roles(admin_url: str, secrets: Secrets) -> None:
    await _drop_roles(admin_url, secrets)
    await admin(
        admin_url,
        f"CREATE ROLE {secrets.role} LOGIN PASSWORD '{secrets.password}'",
        f"CREATE ROLE {secrets.app_role} NOLOGIN",
    )


async def _drop_roles(admin_url: str, secrets: Secrets) -> None:
    await admin(
        admin_url,
        f"DROP ROLE IF EXISTS {secrets.role}",
        f"DROP ROLE IF EXISTS {secrets.app_role}",
    )


async def _prepare(conn: asyncpg.Connection, secrets: Secrets) -> None:
    await conn.execute(SETUP_SQL)  # probe_runs, for the test plugin's probe handler
    await grant(conn, secrets)


@pytest.fixture
async def syncd_url(
    database_url: str, conn: asyncpg.Connection, role: str, secrets: Secrets
) -> str:
    """The test's database as the daemons reach it: as the role, password from a credential."""
    await _prepare(conn, secrets)
    return secrets.url(database_url)


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    root.mkdir()
    return root


@pytest.fixture
def monday(secrets: Secrets) -> Iterator[Monday]:
    server = Monday(secrets.token)
    try:
        yield server
    finally:
        server.close()


def _fleet(secrets: Secrets, monday: Monday, storage: Path, tmp_path: Path) -> Iterator[Fleet]:
    env = {
        "CREDENTIALS_DIRECTORY": str(secrets.write(tmp_path / "credentials")),
        "SYNCD_DATABASE__POOL_SIZE": str(timings.POOL_SIZE),
        "SYNCD_DAEMON__SHUTDOWN_GRACE": f"{timings.SHUTDOWN_GRACE:g}",
        "SYNCD_RETRY__DELAYS": json.dumps(timings.FAULT_RETRY_DELAYS),
        "SYNCD_DOCUMENTS__STORAGE_ROOT": str(storage),
        **monday.env(),
    }
    fleet = Fleet(secrets, env)
    try:
        yield fleet
    finally:
        fleet.stop()
        for daemon in fleet.daemons:  # pytest shows it only when the test failed
            print(f"-- pid {daemon.proc.pid}, last lines --\n" + daemon.output()[-6000:])
    fleet.assert_no_secrets()


@pytest.fixture
def fleet(
    syncd_url: str, secrets: Secrets, monday: Monday, storage: Path, tmp_path: Path
) -> Iterator[Fleet]:
    """The test's daemons; stopped before its database goes, their output checked."""
    yield from _fleet(secrets, monday, storage, tmp_path)


# -- the private server ---------------------------------------------------------------


@pytest.fixture(scope="session")
def private_server(secrets: Secrets) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres()
    server.init()
    hba = server.data / "pg_hba.conf"
    # First match wins: our role must give its password, postgres stays trusted.
    hba.write_text(f"host all {secrets.role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    server.start()
    try:
        asyncio.run(_create_roles(server.url, secrets))
        yield server
    finally:
        server.cleanup()


@pytest.fixture
async def private(private_server: EmbeddedPostgres, secrets: Secrets) -> AsyncIterator[Private]:
    """A migrated database of the test's own on the private server."""
    name = f"syncd_private_{uuid.uuid4().hex[:12]}"
    await admin(private_server.url, f"CREATE DATABASE {name}")
    admin_url = with_database(private_server.url, name)
    await asyncio.to_thread(migrate.apply, admin_url)
    conn = await asyncpg.connect(admin_url)
    try:
        await db.init_connection(conn)
        await _prepare(conn, secrets)
    finally:
        await conn.close()
    try:
        yield Private(private_server, admin_url, secrets.url(admin_url))
    finally:
        if not (private_server.data / "postmaster.pid").exists():
            private_server.start()  # a test that stopped it failed half-way
        await admin(private_server.url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def private_fleet(
    private: Private, secrets: Secrets, monday: Monday, storage: Path, tmp_path: Path
) -> Iterator[Fleet]:
    yield from _fleet(secrets, monday, storage, tmp_path)
