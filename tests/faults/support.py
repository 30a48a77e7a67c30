"""The fault suite's pieces: real daemons with secrets, a watched fake monday.com, waiting.

Every daemon of the suite runs as `syncd run` in its own process, connects as a
PostgreSQL role with a password and talks to monday.com with a token, both read
from a systemd-style credentials directory; a test's `Fleet` checks at the end that
neither secret appears anywhere in what its daemons printed.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiohttp import web
from pypdf import PdfWriter

from syncd.embedded import EmbeddedPostgres
from syncd.fake_monday import FakeMonday, Item, Received
from syncd.handlers.documents.frames import EXTRACTOR_MODULE
from tests.faults.background import Background
from tests.support.daemons import Daemon
from tests.support.database import grants_sql
from tests.support.documents import pdf_bytes
from tests.support.monday import (
    CONTACTS_BOARD,
    ORGANIZATIONS_BOARD,
    add_boards,
    assert_valid,
    monday_config,
)
from tests.support.waiting import wait_for

# -- secrets and roles ------------------------------------------------------------


@dataclass(frozen=True)
class Secrets:
    """The suite's database role, its password, and the monday.com token."""

    role: str
    password: str
    token: str

    @property
    def app_role(self) -> str:
        """The application's role grants.sql names beside syncd's; nobody logs in as it."""
        return self.role + "_app"

    @classmethod
    def generate(cls, role: str) -> Secrets:
        return cls(role, "pw-" + secrets.token_hex(12), "tok-" + secrets.token_hex(16))

    def write(self, directory: Path, *, password: str | None = None) -> Path:
        """A credentials directory as systemd's LoadCredential= makes it."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "database-password").write_text((password or self.password) + "\n")
        (directory / "monday-token").write_text(self.token + "\n")
        for path in directory.iterdir():
            path.chmod(0o400)
        directory.chmod(0o500)
        return directory

    def url(self, admin_url: str) -> str:
        """`admin_url` for our role; the password is not in it, it comes from the credential."""
        parts = urlsplit(admin_url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{self.role}@{host}"))


async def grant(conn: asyncpg.Connection, secrets: Secrets) -> None:
    """What syncd needs in the database it works on, and no more: syncd/sql/grants.sql, as
    an operator runs it with psql, plus the test plugin's own table."""
    await conn.execute(grants_sql(runtime=secrets.role, app=secrets.app_role))
    await conn.execute(f"GRANT SELECT, INSERT, UPDATE ON probe_runs TO {secrets.role}")
    await conn.execute(f"GRANT USAGE ON SEQUENCE probe_runs_run_id_seq TO {secrets.role}")


@dataclass
class Private:
    """A database of the test's own on the suite's private server."""

    server: EmbeddedPostgres
    admin_url: str  # as postgres
    syncd_url: str  # as the daemons' role


def server_log(server: EmbeddedPostgres) -> str:
    """What the server has logged so far (pg_ctl appends to its log across restarts)."""
    return (server.directory / "postgres.log").read_text(errors="replace")


# -- the daemons --------------------------------------------------------------------


# Every daemon of the suite is a tests.support Daemon: both streams read as they come.
Syncd = Daemon


class Fleet:
    """The daemons of one test, sharing its credentials and settings."""

    def __init__(self, secrets: Secrets, env: dict[str, str]) -> None:
        self.secrets = secrets
        self.env = env
        self.daemons: list[Syncd] = []

    def start(self, url: str, wrap: Sequence[str] = (), **env: str) -> Syncd:
        daemon = Syncd(url, wrap=wrap, **{**self.env, **env})
        self.daemons.append(daemon)
        return daemon

    def stop(self) -> list[int]:
        return [daemon.stop() for daemon in self.daemons]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for daemon in self.daemons for e in daemon.named(name)]

    def assert_no_secrets(self, *others: str) -> None:
        for daemon in self.daemons:
            output = daemon.output()
            for secret in (self.secrets.password, self.secrets.token, *others):
                assert secret not in output, f"a secret is in the output of pid {daemon.proc.pid}"


async def value(conn: asyncpg.Connection, sql: str, *args: Any) -> Any:
    return await conn.fetchval(sql, *args)


async def insert_probes(conn: asyncpg.Connection, count: int, sleep: float = 0.0) -> None:
    """`count` probe jobs (tests/plugin.py) that each sleep `sleep` seconds, in one go."""
    await conn.executemany(
        "INSERT INTO sync_queue (entity_type, entity_id, payload) "
        "VALUES ('probe', gen_random_uuid(), $1)",
        [({"sleep": sleep},)] * count,
    )


UNFINISHED = (
    "SELECT 'sync' AS queue, id, status, attempts, next_retry, error_message, entity_type, "
    "entity_id FROM sync_queue WHERE status IN ('pending', 'processing') "
    "UNION ALL SELECT 'documents', id, status, attempts, next_retry, error_message, "
    "operation, document_id FROM document_processing_queue "
    "WHERE status IN ('pending', 'processing')"
)


async def drained(conn: asyncpg.Connection, timeout: float = 60.0) -> None:
    """Until no job of either queue is pending or processing; on failure, say which are."""

    async def done() -> bool:
        return not await conn.fetch(UNFINISHED + " LIMIT 1")

    try:
        await wait_for(done, timeout)
    except AssertionError:
        left = [dict(r) for r in await conn.fetch(UNFINISHED + " LIMIT 20")]
        raise AssertionError(f"jobs still unfinished after {timeout} s: {left}") from None


# -- documents ------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LONG_PDF_LINES = [f"line {i} of a long report, with words enough to be read" for i in range(48)]


def long_pdf(pages: int) -> bytes:
    """A real PDF of `pages` full pages of text, small on disk (the pages share one
    content stream) but read page by page: pypdf takes seconds over a thousand."""
    writer = PdfWriter(clone_from=io.BytesIO(pdf_bytes(["\n".join(LONG_PDF_LINES)])))
    for _ in range(pages - 1):
        writer.add_page(writer.pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def running(pid: int) -> bool:
    """A process of that pid exists (a zombie too: it has not been reaped)."""
    return Path(f"/proc/{pid}").exists()


def extractors(daemon: Syncd) -> dict[int, float]:
    """The daemon's extractor processes, each with the CPU time it has used (seconds)."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # it ended while we looked
            continue
        # After "(comm)": state, ppid, ... utime and stime are the 12th and 13th.
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == daemon.proc.pid and os.fsencode(EXTRACTOR_MODULE) in command:
            found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


# -- monday.com -----------------------------------------------------------------


@dataclass
class Hold:
    """Requests naming `field` wait at the fake until the test releases them."""

    field: str
    times: int
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    held: int = 0


class WatchedMonday(FakeMonday):
    """The fake monday.com, also watching for two requests about one entity at once.

    Requests are tied to the entity whose id is in the board's key column: a create
    carries it, an update or archive names an item that holds it, a lookup asks
    for it. `latency` widens every request's window, so an overlap cannot slip by.
    """

    def __init__(self, token: str) -> None:
        super().__init__(tokens=(token,))
        self.latency = 0.0
        self.in_flight: Counter[str] = Counter()
        self.overlaps: list[str] = []
        self.holds: list[Hold] = []

    def hold(self, field: str, times: int = 1) -> Hold:
        hold = Hold(field, times)
        self.holds.append(hold)
        return hold

    async def _answer(self, request: web.Request, record: Received) -> web.Response | None:
        try:
            body = json.loads(record.body)
            query, variables = str(body.get("query", "")), body.get("variables") or {}
        except (ValueError, AttributeError):
            return await super()._answer(request, record)
        hold = next((h for h in self.holds if h.held < h.times and h.field in query), None)
        if hold is not None:
            hold.held += 1
            await hold.gate.wait()
        entity = self._entity(variables)
        if entity is not None:
            self.in_flight[entity] += 1
            if self.in_flight[entity] > 1:
                self.overlaps.append(entity)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            return await super()._answer(request, record)
        finally:
            if entity is not None:
                self.in_flight[entity] -= 1

    def _entity(self, variables: dict[str, Any]) -> str | None:
        if isinstance(variables.get("values"), str) and "text_syncd_id" in variables["values"]:
            return str(json.loads(variables["values"])["text_syncd_id"])
        if "item" in variables:
            item = self.boards.items.get(int(variables["item"]))
            return None if item is None else item.values.get("text_syncd_id")
        if variables.get("column") == "text_syncd_id":
            return str(variables.get("value"))
        return None


class Monday:
    """A `WatchedMonday` serving from a thread of its own, for daemons in other processes."""

    def __init__(self, token: str) -> None:
        self.background = Background("fake-monday")
        self.fake = WatchedMonday(token)
        add_boards(self.fake)
        self.background.run(self.fake.start())

    def env(self) -> dict[str, str]:
        """The [monday] settings, as environment variables; the token is a credential."""
        config = monday_config(self.fake)
        return {
            "SYNCD_MONDAY__API_URL": config["api_url"],
            "SYNCD_MONDAY__TIMEOUT": str(config["timeout"]),
            "SYNCD_MONDAY__ENTITIES": json.dumps(config["entities"]),
        }

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.background.call(function, *args, **kwargs)

    def hold(self, field: str, times: int = 1) -> Hold:
        return self.call(self.fake.hold, field, times)

    def release(self, hold: Hold) -> None:
        self.call(hold.gate.set)

    def items(self, board_id: int, state: str = "all") -> list[Item]:
        return list(self.call(self.fake.boards.on_board, board_id, state=state))

    def requests(self, root_field: str) -> int:
        return len(self.call(self.fake.calls, root_field))

    def close(self) -> None:
        for hold in list(self.fake.holds):
            self.release(hold)
        self.background.run(self.fake.stop())
        self.background.close()
        assert_valid(sorted(set(self.fake.documents)))  # the same few texts, many times


INDUSTRIES = ["Software", "Retail", "Health"]  # the organizations board's status labels


async def add_organization(conn: asyncpg.Connection, i: int) -> uuid.UUID:
    org: uuid.UUID = await conn.fetchval(
        "INSERT INTO organizations (name, website, industry, country) "
        "VALUES ($1, $2, $3, 'DE') RETURNING id",
        f"Org {i}",
        f"https://org{i}.example.com",
        INDUSTRIES[i % 3],
    )
    return org


def active_items(monday: Monday, board_id: int) -> dict[str, Item]:
    """The board's active items by entity id, after checking no entity ever got two."""
    items = monday.items(board_id)
    keys = [i.values["text_syncd_id"] for i in items]
    assert len(keys) == len(set(keys)), "an entity has two items on monday"
    return {i.values["text_syncd_id"]: i for i in items if i.state == "active"}


async def assert_monday_matches_the_rows(conn: asyncpg.Connection, monday: Monday) -> None:
    """One item per row on each board, holding the row's values: none lost, none doubled."""
    contacts = {str(r["id"]): r for r in await conn.fetch("SELECT * FROM contacts")}
    items = active_items(monday, CONTACTS_BOARD)
    assert sorted(items) == sorted(contacts)
    for key, item in items.items():
        row = contacts[key]
        assert item.name == f"{row['first_name']} {row['last_name']}"
        assert item.values["email"]["email"] == row["email"]
        assert item.values.get("text_title") == row["title"]
    organizations = {str(r["id"]): r for r in await conn.fetch("SELECT * FROM organizations")}
    items = active_items(monday, ORGANIZATIONS_BOARD)
    assert sorted(items) == sorted(organizations)
    for key, item in items.items():
        row = organizations[key]
        assert item.name == row["name"]
        assert item.values["link"]["url"] == row["website"]
        assert item.values["status"]["label"] == row["industry"]


def when(event: dict[str, Any]) -> float:
    """The wall-clock time a log event was written (its `timestamp`)."""
    return datetime.fromisoformat(str(event["timestamp"])).timestamp()
