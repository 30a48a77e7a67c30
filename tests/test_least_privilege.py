"""The least-privilege roles (README: "Database roles and privileges").

With nothing but the GRANTs in syncd/sql/grants.sql, the runtime role runs the daemon (both
handlers, retries, snoozes, rescue, retention, heartbeats) and the operator commands,
and the application's role enqueues, merges included, with INSERT alone: the merge
trigger runs as the queue's owner (syncd/migrations/0007), with its search_path pinned to
pg_catalog and pg_temp and its table named with the queue's schema, so no operator,
function or table another role makes can run or be written to with the owner's rights.
Neither role can change the schema or read what it was not given. An owner role that is
no superuser migrates and grants.

Roles belong to the whole cluster, so every test makes its own, with unique names,
and drops them at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest

from syncd import actions as jobs
from syncd import db, handlers, migrate, queries, status
from syncd.fake_monday import FakeMonday
from syncd.queues import QUEUES
from tests.support import (
    add_contact,
    add_document,
    capture_logs,
    connected,
    events,
    job_row,
    make_settings,
    running_worker,
    wait_for,
    wait_status,
)
from tests.support.daemons import REPO, syncd
from tests.support.database import grants_sql
from tests.support.documents import write
from tests.support.monday import CONTACTS_BOARD, fake, monday_config

CHANNELS = [q.channel for q in QUEUES.values()]

__all__ = ["fake"]

DOCUMENTS = "document_processing_queue"


def as_role(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{host}"))


class Roles:
    """Login roles made for one test in the database at `admin_url`, dropped by `drop`."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.password = secrets.token_hex(12)
        self.tag = uuid.uuid4().hex[:10]
        self.made: list[str] = []

    async def make(self, kind: str) -> str:
        name = f"syncd_{kind}_{self.tag}"
        await self.admin(f"CREATE ROLE {name} LOGIN PASSWORD '{self.password}'")
        self.made.append(name)
        return name

    def url(self, role: str) -> str:
        return as_role(self.admin_url, role, self.password)

    async def admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def drop(self) -> None:
        if self.made:
            # What they own or were granted here goes first, or DROP ROLE refuses.
            names = ", ".join(self.made)
            await self.admin(f"DROP OWNED BY {names}; DROP ROLE {names}")


@dataclass(frozen=True)
class Granted:
    """Where each role logs in to the test's database."""

    runtime_url: str
    app_url: str


@pytest.fixture
async def granted(database_url: str) -> AsyncIterator[Granted]:
    """A runtime and an application role with exactly the GRANTs of syncd/sql/grants.sql."""
    roles = Roles(database_url)
    try:
        runtime, app = await roles.make("runtime"), await roles.make("app")
        await roles.admin(grants_sql(runtime=runtime, app=app))
        yield Granted(roles.url(runtime), roles.url(app))
    finally:
        await roles.drop()


@pytest.fixture
async def app(granted: Granted) -> AsyncIterator[asyncpg.Connection]:
    async with connected(granted.app_url) as conn:
        yield conn


@pytest.fixture
async def runtime(granted: Granted) -> AsyncIterator[asyncpg.Connection]:
    async with connected(granted.runtime_url) as conn:
        yield conn


async def _async(value: Any) -> Any:
    return value


def readme_mapping(fake: FakeMonday) -> dict[str, Any]:
    """The test mappings, with the contact title not pulled, as in the README's example."""
    config = monday_config(fake)
    config["entities"]["contact"]["columns"]["title"]["direction"] = "to_monday"
    return config


def too_many(retry: int) -> dict[str, Any]:
    return {
        "errors": [
            {
                "message": "Rate Limit Exceeded",
                "extensions": {"code": "MINUTE_RATE_LIMIT_EXCEEDED", "retry_in_seconds": retry},
            }
        ]
    }


async def enqueued_by_app(
    app: asyncpg.Connection, conn: asyncpg.Connection, table: str, **columns: Any
) -> uuid.UUID:
    """The application's plain INSERT, as its own role; returns the job, found as the owner.

    The application may not read the queues, not even `RETURNING id`.
    """
    names = ", ".join(columns)
    params = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    await app.execute(f"INSERT INTO {table} ({names}) VALUES ({params})", *columns.values())
    match = " AND ".join(f"{name} = ${i}" for i, name in enumerate(columns, 1))
    job_id: uuid.UUID = await conn.fetchval(
        f"SELECT id FROM {table} WHERE {match} ORDER BY created_at DESC LIMIT 1",
        *columns.values(),
    )
    return job_id


async def finished_long_ago(conn: asyncpg.Connection, table: str, **columns: Any) -> uuid.UUID:
    values = {"status": "completed", **columns}
    names = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    job_id: uuid.UUID = await conn.fetchval(
        f"INSERT INTO {table} ({names}, completed_at) "
        f"VALUES ({params}, now() - interval '30 days') RETURNING id",
        *values.values(),
    )
    return job_id


def test_the_readme_shows_grants_sql_as_it_is() -> None:
    """The README's "Database roles and privileges" embeds the file whole."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    after = readme.split("[`syncd/sql/grants.sql`](syncd/sql/grants.sql)", 1)[1]
    shown = after.split("```sql\n", 1)[1].split("```\n", 1)[0]
    assert shown == migrate.grants_file().read_text(encoding="utf-8")


async def test_the_daemon_does_all_its_work_as_the_runtime_role(
    granted: Granted,
    app: asyncpg.Connection,
    conn: asyncpg.Connection,
    fake: FakeMonday,
    tmp_path: Path,
) -> None:
    storage = tmp_path / "storage"
    write(storage, "report.md", b"# Report\n\nQuarterly numbers.\n")
    write(storage, "orphan.md", b"# Orphan\n\nLeft behind by a dead worker.\n")
    settings = make_settings(
        granted.runtime_url,
        monday=readme_mapping(fake),
        documents={"storage_root": str(storage)},
        retry={"delays": [0.5]},
        http={"listen": "127.0.0.1:0"},
    )
    # As the host application's owner: rows to work on, and what a dead worker and
    # old jobs left behind, for the rescue and retention.
    contact = await add_contact(conn, phone="202-555-0169", title="Countess")
    await conn.execute(
        "UPDATE contacts SET updated_at = now() - interval '1 hour' WHERE id = $1", contact
    )
    organization = await conn.fetchval(
        "INSERT INTO organizations (name, website, industry) "
        "VALUES ('Analytical Engines', 'https://example.com', 'Software') RETURNING id"
    )
    report, late, orphan_doc = (
        await add_document(conn, "report.md"),
        await add_document(conn, "late.md"),
        await add_document(conn, "orphan.md"),
    )
    orphan = await conn.fetchval(
        "INSERT INTO document_processing_queue "
        "(document_id, operation, status, attempts, started_at, worker_id) "
        "VALUES ($1, 'extract', 'processing', 1, now() - interval '1 hour', gen_random_uuid()) "
        "RETURNING id",
        orphan_doc,
    )
    old = [
        await finished_long_ago(conn, "sync_queue", entity_type="contact", entity_id=contact),
        await finished_long_ago(conn, DOCUMENTS, document_id=report, operation="extract"),
    ]
    gone_worker = await conn.fetchval(
        "INSERT INTO syncd_workers (id, hostname, pid, heartbeat_at) "
        "VALUES (gen_random_uuid(), 'gone', 1, now() - interval '2 days') RETURNING id"
    )

    with capture_logs() as logs:
        async with running_worker(settings, handlers.load(settings)) as worker:
            # Heartbeats: the worker registers itself.
            await wait_for(
                lambda: conn.fetchval("SELECT count(*) FROM syncd_workers WHERE id = $1", worker.id)
            )
            # Rescue: the dead worker's job is taken back and run.
            await wait_status(conn, orphan, "completed", table=DOCUMENTS)
            # Retention: old finished jobs and long-gone workers are deleted.
            await wait_for(
                lambda: conn.fetchval(
                    "SELECT NOT EXISTS (SELECT 1 FROM sync_queue WHERE id = $1) "
                    "AND NOT EXISTS (SELECT 1 FROM document_processing_queue WHERE id = $2) "
                    "AND NOT EXISTS (SELECT 1 FROM syncd_workers WHERE id = $3)",
                    *old,
                    gone_worker,
                )
            )

            # The application enqueues, with its own role; the daemon works it off.
            extract = await enqueued_by_app(
                app, conn, DOCUMENTS, document_id=report, operation="extract"
            )
            await wait_status(conn, extract, "completed", table=DOCUMENTS)

            retried = await enqueued_by_app(
                app, conn, DOCUMENTS, document_id=late, operation="extract"
            )
            await wait_for(
                lambda: conn.fetchval(
                    "SELECT status = 'pending' AND attempts = 1 FROM document_processing_queue "
                    "WHERE id = $1",
                    retried,
                )
            )
            write(storage, "late.md", b"# Late\n\nLanded after the first attempt.\n")
            await wait_status(conn, retried, "completed", table=DOCUMENTS)

            pushed = await enqueued_by_app(
                app, conn, "sync_queue", entity_type="contact", entity_id=contact
            )
            await wait_status(conn, pushed, "completed")
            # The monday client reports its budgets for the console (within 5 s).
            await wait_for(lambda: conn.fetchval("SELECT count(*) FROM monday_budgets"))
            [item] = fake.boards.on_board(CONTACTS_BOARD)
            fake.boards.change_values(
                CONTACTS_BOARD,
                item.id,
                json.dumps(
                    {
                        "email": {"email": "ada@analytical.engine", "text": ""},
                        "text_title": "Changed on monday",
                    }
                ),
            )
            pulled = await enqueued_by_app(
                app,
                conn,
                "sync_queue",
                entity_type="contact",
                entity_id=contact,
                direction="to_npd",
            )
            await wait_status(conn, pulled, "completed")

            fake.faults.fail(429, body=too_many(retry=1))
            snoozed = await enqueued_by_app(
                app, conn, "sync_queue", entity_type="organization", entity_id=organization
            )
            await wait_status(conn, snoozed, "completed")

            missing = await enqueued_by_app(
                app, conn, "sync_queue", entity_type="contact", entity_id=uuid.uuid4()
            )
            await wait_status(conn, missing, "failed")

            # A scrape and a readiness probe: the queue snapshot, the monday pause and
            # drift are read as the runtime role (a refused read logs metrics.read_failed).
            [listening] = events(logs, "http.listening")
            base = f"http://{listening['listen']}"
            async with aiohttp.ClientSession() as session:
                async with session.get(base + "/readyz") as ready:
                    assert ready.status == 200, await ready.text()
                async with session.get(base + "/metrics") as scrape:
                    scraped = await scrape.text()

            # A pause made with the runtime role reaches the daemon, which re-reads it.
            syncd(granted.runtime_url, "pause", "documents", "--kind", "extract")
            await wait_for(
                lambda: _async(worker.queues["documents"].paused == frozenset({"extract"}))
            )
            syncd(granted.runtime_url, "resume", "documents")
            await wait_for(lambda: _async(not worker.queues["documents"].paused))

    assert (await job_row(conn, orphan, DOCUMENTS))["attempts"] == 2
    assert events(logs, "job.rescued")
    assert (await job_row(conn, retried, DOCUMENTS))["attempts"] == 2
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM document_extractions WHERE document_id = any($1)", [report, late]
        )
        == 2
    )
    assert (
        await conn.fetchval("SELECT item_id FROM monday_items WHERE entity_id = $1", contact)
        == item.id
    )
    # to_npd wrote the pulled column and left the one mapped with pull = false.
    row = await conn.fetchrow("SELECT email, title FROM contacts WHERE id = $1", contact)
    assert dict(row) == {"email": "ada@analytical.engine", "title": "Countess"}
    # The 429 paused the token in the database and snoozed the job without an attempt.
    assert await conn.fetchval("SELECT count(*) FROM monday_pauses") == 1
    assert events(logs, "monday.budget_write_failed") == []
    assert (await job_row(conn, snoozed))["attempts"] == 1 and events(logs, "job.snoozed")
    # A clean stop forgets the worker.
    assert await conn.fetchval("SELECT count(*) FROM syncd_workers") == 0
    assert 'syncd_queue_jobs{queue="sync",status="failed"} 1.0' in scraped
    assert "syncd_monday_paused_seconds" in scraped
    refused = [e for e in logs if "permission denied" in json.dumps(e, default=str)]
    assert not refused
    for name in (
        "claim.failed",
        "daemon.loop_died",
        "db.write_failed",
        "pruner.failed",
        "poll.failed",
        "pauses.read_failed",
    ):
        assert not events(logs, name), name


async def test_the_operator_commands_work_as_the_runtime_role(
    granted: Granted, conn: asyncpg.Connection
) -> None:
    url = granted.runtime_url
    contact = await add_contact(conn)
    dead = await conn.fetchval(
        "INSERT INTO sync_queue (entity_type, entity_id, status, attempts, error_message) "
        "VALUES ('contact', $1, 'failed', 5, 'monday said no') RETURNING id",
        contact,
    )
    doc = await add_document(conn)
    dead_doc = await conn.fetchval(
        "INSERT INTO document_processing_queue (document_id, operation, status, attempts) "
        "VALUES ($1, 'extract', 'failed', 5) RETURNING id",
        doc,
    )
    old = await finished_long_ago(conn, "sync_queue", entity_type="contact", entity_id=contact)

    report = json.loads(syncd(url, "status", "--json").stdout)
    assert report["sync"]["failed"] == 1
    assert report["sync"]["recent_failures"][0]["error"] == "monday said no"

    syncd(url, "retry", "sync", str(dead))
    assert (await job_row(conn, dead))["status"] == "pending"
    syncd(url, "cancel", "sync", str(dead))
    assert (await job_row(conn, dead))["status"] == "cancelled"
    assert syncd(url, "retry", "documents", "--failed").stdout.startswith("1 failed")
    assert (await job_row(conn, dead_doc, DOCUMENTS))["status"] == "pending"
    # The bulk action's audit trail, and the reading commands.
    assert await conn.fetchval("SELECT job_ids FROM syncd_audit") == [dead_doc]
    listed = json.loads(syncd(url, "jobs", "documents", "--json").stdout)
    assert [j["id"] for j in listed["jobs"]] == [str(dead_doc)]
    assert str(dead) in syncd(url, "job", "sync", str(dead)).stdout
    doctor = syncd(url, "doctor", check=False).stdout
    assert "OK   schema: current" in doctor
    assert "OK   privileges: role " in doctor

    assert "sync: deleted 1" in syncd(url, "purge").stdout
    assert await job_row(conn, old) is None

    first = syncd(url, "enqueue", "sync", "contact", str(contact)).stdout.strip()
    again = syncd(url, "enqueue", "sync", "contact", str(contact), "--priority", "5")
    assert again.stdout.strip() == f"{first} (merged into the pending job)"
    queued = syncd(url, "enqueue", "document", str(doc), "extract").stdout.strip()
    assert (await job_row(conn, uuid.UUID(queued), DOCUMENTS))["status"] == "pending"

    # A monday pause shows in status, and `monday resume` (a DELETE) ends it.
    await conn.execute(
        "INSERT INTO monday_pauses (token_id, paused_until, reason) "
        "VALUES ('abc', now() + interval '1 hour', 'DAILY_LIMIT_EXCEEDED')"
    )
    report = json.loads(syncd(url, "status", "--json").stdout)
    assert [p["reason"] for p in report["monday_pauses"]] == ["DAILY_LIMIT_EXCEEDED"]
    assert "DAILY_LIMIT_EXCEEDED" in syncd(url, "monday", "resume").stdout
    assert await conn.fetchval("SELECT count(*) FROM monday_pauses") == 0

    # A queue's pause: written (and audited), shown, lifted.
    assert syncd(url, "pause", "sync", "--reason", "maintenance").stdout.startswith("paused")
    report = json.loads(syncd(url, "status", "--json").stdout)
    assert [p["reason"] for p in report["pauses"]] == ["maintenance"]
    assert syncd(url, "resume", "sync").stdout.strip() == "resumed the sync queue"
    assert await conn.fetchval("SELECT count(*) FROM syncd_pauses") == 0


async def test_backfill_reconcile_and_webhook_records_work_as_the_runtime_role(
    granted: Granted, fake: FakeMonday, conn: asyncpg.Connection
) -> None:
    from syncd.handlers.monday import backfill, reconcile
    from syncd.handlers.monday.client import MondayClient
    from syncd.handlers.monday.pauses import MemoryPauses

    settings = make_settings(granted.runtime_url, monday=readme_mapping(fake))
    await add_contact(conn)
    pool = await db.create_pool(settings)
    client = MondayClient(settings.monday, pauses=MemoryPauses())
    await client.start(None)
    try:
        mapping = settings.monday.entities["contact"]
        plan = await backfill.compare(pool, client, "contact", mapping, mode="backfill")
        done = await backfill.carry_out(pool, client, mapping, plan, priority=-10)
        assert done.enqueued == 1
        await reconcile.reconcile(pool, client, "contact", mapping)
        async with reconcile.exclusive(pool):
            pass
        await pool.execute(queries.load("monday_webhook_add"), 1, CONTACTS_BOARD, "create_item")
        assert len(await pool.fetch(queries.load("monday_webhook_list"))) == 1
        await pool.execute(queries.load("monday_webhook_forget"), 1)
        async with pool.acquire() as reader:
            report = await status.gather(reader, 3.0)
        assert report["monday_reconcile"][0]["entity_type"] == "contact"
    finally:
        await client.stop()
        await pool.close()


async def pending(conn: asyncpg.Connection, entity_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM sync_queue WHERE entity_id = $1 AND status = 'pending'", entity_id
    )


APP_INSERT = (
    "INSERT INTO sync_queue (entity_type, entity_id, operation, priority, payload) "
    "VALUES ('contact', $1, $2, $3, $4)"
)


async def test_the_application_role_enqueues_and_merges_with_insert_alone(
    app: asyncpg.Connection, conn: asyncpg.Connection
) -> None:
    heard: set[str] = set()
    for channel in CHANNELS:
        await conn.add_listener(channel, lambda _c, _pid, name, _payload: heard.add(name))

    entity = uuid.uuid4()
    await app.execute(APP_INSERT, entity, "upsert", 5, {"v": 1})
    [first] = await pending(conn, entity)
    # A job waiting out a retry's backoff, as the daemon leaves it.
    await conn.execute(
        "UPDATE sync_queue SET attempts = 2, next_retry = now() + interval '1 hour' WHERE id = $1",
        first["id"],
    )
    # A second change merges into the pending job, as the owner would merge it.
    await app.execute(APP_INSERT, entity, "delete", 1, {"v": 2})
    [row] = await pending(conn, entity)
    assert row["id"] == first["id"]
    assert row["operation"] == "delete"
    assert row["priority"] == 5
    assert row["next_retry"] is None
    assert row["attempts"] == 2
    assert row["payload"] == {"v": 2}

    await app.execute(APP_INSERT, entity, "upsert", 9, {"v": 3})
    [row] = await pending(conn, entity)
    assert (row["id"], row["operation"], row["priority"], row["payload"]) == (
        first["id"],
        "delete",
        9,
        {"v": 3},
    )

    doc = await add_document(conn)
    await app.execute(
        "INSERT INTO document_processing_queue (document_id, operation) VALUES ($1, 'extract')",
        doc,
    )
    assert (
        await conn.fetchval(
            "SELECT status FROM document_processing_queue WHERE document_id = $1", doc
        )
        == "pending"
    )

    # The NOTIFY triggers need nothing more than the INSERT either.
    await wait_for(lambda: asyncio.sleep(0, result=heard == set(CHANNELS)))


async def test_the_application_names_what_to_do_and_when(
    app: asyncpg.Connection, conn: asyncpg.Connection
) -> None:
    """Every column an application may write, at once: syncd's columns stay its own."""
    sync_id, doc_job, entity = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await app.execute(
        "INSERT INTO sync_queue (id, entity_type, entity_id, direction, operation, priority,"
        " payload, max_attempts, next_retry)"
        " VALUES ($1, 'contact', $2, 'to_npd', 'delete', 4, '{}', 9, now() + interval '1 hour')",
        sync_id,
        entity,
    )
    doc = await add_document(conn)
    await app.execute(
        "INSERT INTO document_processing_queue (id, document_id, operation, priority,"
        " max_attempts, next_retry) VALUES ($1, $2, 'extract', 2, 3, NULL)",
        doc_job,
        doc,
    )
    for table, job_id in (("sync_queue", sync_id), (DOCUMENTS, doc_job)):
        row = await conn.fetchrow(f"SELECT * FROM {table} WHERE id = $1", job_id)
        assert (row["status"], row["attempts"], row["error_message"]) == ("pending", 0, None)


async def test_a_table_of_the_applications_own_cannot_take_the_merge(
    app: asyncpg.Connection, conn: asyncpg.Connection
) -> None:
    """The merge runs as the owner and names sync_queue with the queue's schema (its
    search_path is pg_catalog, then pg_temp), so a temporary lookalike of sync_queue,
    which would otherwise come first, is never the table the owner writes to."""
    columns = await app.fetchval(
        "SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', '"
        "                  ORDER BY attnum)"
        "  FROM pg_attribute"
        " WHERE attrelid = 'sync_queue'::regclass AND attnum > 0 AND NOT attisdropped"
    )
    await app.execute(f"CREATE TEMPORARY TABLE sync_queue ({columns})")
    await app.execute(
        "CREATE UNIQUE INDEX ON pg_temp.sync_queue (entity_type, entity_id, direction) "
        "WHERE status = 'pending'"
    )
    entity = uuid.uuid4()
    for operation, priority in (("upsert", 1), ("delete", 3)):
        await app.execute(
            APP_INSERT.replace("sync_queue", "public.sync_queue"), entity, operation, priority, {}
        )

    assert await app.fetchval("SELECT count(*) FROM pg_temp.sync_queue") == 0
    [row] = await pending(conn, entity)
    assert (row["operation"], row["priority"]) == ("delete", 3)


def planted(schema: str) -> str:
    """What a role with CREATE on `schema` can plant there for the merge to pick up.

    Operators for the comparisons the merge makes (`NEW.status <> 'pending'`,
    `sync_queue.operation = 'delete'`, the ON CONFLICT clause's `status = 'pending'`):
    pg_catalog has `=` and `<>` for (text, text) only, so one for (varchar, varchar) is
    an exact match that wins wherever the schema is searched. And functions named like
    those the merge calls. Each records who ran it, in a table and in a warning (which
    reaches the client even when the statement then fails), then does what the real
    one does.
    """
    statements = [
        f"CREATE TABLE {schema}.ran_as (who name, what text)",
        f"GRANT INSERT ON {schema}.ran_as TO PUBLIC",
        f"CREATE FUNCTION {schema}.record(what text) RETURNS void LANGUAGE plpgsql AS $$"
        f" BEGIN INSERT INTO {schema}.ran_as VALUES (current_user, what);"
        "        RAISE WARNING '% ran as %', what, current_user; END $$",
    ]
    comparisons = [(op, t) for op in ("=", "<>") for t in ("varchar", "text")]
    for n, (op, t) in enumerate(comparisons):
        statements += [
            f"CREATE FUNCTION {schema}.compare_{n}(a {t}, b {t}) RETURNS boolean"
            f" LANGUAGE plpgsql AS $$ BEGIN PERFORM {schema}.record('{op} ({t}, {t})');"
            f" RETURN a::text OPERATOR(pg_catalog.{op}) b::text; END $$",
            f"CREATE OPERATOR {schema}.{op}"
            f" (leftarg = {t}, rightarg = {t}, function = {schema}.compare_{n})",
        ]
    functions = [
        ("current_setting", "name text, missing_ok boolean", "text"),
        ("set_config", "name text, value text, is_local boolean", "text"),
        ("now", "", "timestamptz"),
    ]
    for name, params, returns in functions:
        args = ", ".join(p.split()[0] for p in params.split(", ") if p)
        statements.append(
            f"CREATE FUNCTION {schema}.{name}({params}) RETURNS {returns} LANGUAGE plpgsql"
            f" AS $$ BEGIN PERFORM {schema}.record('{name}()');"
            f" RETURN pg_catalog.{name}({args}); END $$"
        )
    return ";\n".join(statements)


async def test_no_operator_or_function_a_role_makes_runs_in_the_merge(
    database_url: str, app: asyncpg.Connection, conn: asyncpg.Connection
) -> None:
    """The merge runs as the owner (a superuser here), so an operator or function of
    another role's making that it picked would run with the owner's rights. With
    search_path pinned to pg_catalog, then pg_temp (never searched for operators or
    functions), and every table named with its schema, none can be picked, even by a
    role that may create in the queue's own schema (PUBLIC may, in `public`, before
    PostgreSQL 15)."""
    schema = await conn.fetchval(
        "SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = 'sync_queue'::regclass"
    )
    roles = Roles(database_url)
    try:
        planter = await roles.make("planter")
        await roles.admin(f"GRANT CREATE ON SCHEMA {schema} TO {planter}")
        async with connected(roles.url(planter)) as c:
            await c.execute(planted(schema))

        warnings: list[str] = []
        app.add_log_listener(lambda _c, message: warnings.append(str(message)))
        entity = uuid.uuid4()
        failed: asyncpg.PostgresError | None = None
        try:
            await app.execute(APP_INSERT, entity, "upsert", 5, {"v": 1})
            await app.execute(APP_INSERT, entity, "delete", 1, {"v": 2})
        except asyncpg.PostgresError as error:
            failed = error

        # The owner's own checks must not pick the planted operators either.
        await conn.execute("SET search_path = pg_catalog, pg_temp")
        ran = await conn.fetch(f"SELECT who, what FROM {schema}.ran_as")
        rows = await conn.fetch(
            f"SELECT operation, priority, payload FROM {schema}.sync_queue WHERE entity_id = $1",
            entity,
        )
        assert warnings == []
        assert [tuple(r) for r in ran] == []
        assert failed is None
        assert [tuple(r) for r in rows] == [("delete", 5, {"v": 2})]
    finally:
        await roles.drop()


async def test_the_merge_keeps_to_the_schema_the_migrations_ran_in(empty_database: str) -> None:
    roles = Roles(empty_database)
    try:
        app = await roles.make("app")
        await roles.admin('CREATE SCHEMA "Sync-Q"')
        migrate.apply(empty_database + "?options=-csearch_path%3D%22Sync-Q%22")
        await roles.admin(
            f'GRANT USAGE ON SCHEMA "Sync-Q" TO {app}; GRANT INSERT ON "Sync-Q".sync_queue TO {app}'
        )
        entity = uuid.uuid4()
        async with connected(roles.url(app)) as c:
            # The application's own search_path does not name the schema at all.
            assert await c.fetchval("SELECT current_schema()") == "public"
            for operation in ("upsert", "delete"):
                await c.execute(
                    APP_INSERT.replace("sync_queue", '"Sync-Q".sync_queue'),
                    entity,
                    operation,
                    0,
                    {},
                )
        async with connected(empty_database) as c:
            rows = await c.fetch(
                'SELECT operation FROM "Sync-Q".sync_queue WHERE entity_id = $1', entity
            )
            assert [r["operation"] for r in rows] == ["delete"]
            merge = await c.fetchrow(
                "SELECT prosecdef, proconfig, prosrc FROM pg_proc"
                " WHERE proname = 'sync_queue_merge_pending'"
            )
            assert merge["prosecdef"]
            assert merge["proconfig"] == ["search_path=pg_catalog, pg_temp"]
            assert 'INSERT INTO "Sync-Q".sync_queue VALUES' in merge["prosrc"]
    finally:
        await roles.drop()


REFUSED_TO_RUNTIME = [
    "DROP TABLE sync_queue",
    "ALTER TABLE sync_queue ADD COLUMN note text",
    "ALTER TABLE document_processing_queue DISABLE TRIGGER USER",
    "TRUNCATE document_processing_queue",
    "DROP FUNCTION sync_queue_merge_pending() CASCADE",
    "CREATE TABLE public.mine (id int)",
    "SELECT * FROM invoices",
    "SELECT * FROM contacts",  # organization_id is not one of the mapped fields
    "SELECT created_at FROM documents",
    "UPDATE contacts SET first_name = 'x'",
    "UPDATE contacts SET title = 'x'",  # mapped with pull = false
    "DELETE FROM contacts",
    "INSERT INTO documents (filename) VALUES ('x')",
]

SYNCD_WRITES = [
    ("status", "'processing'"),
    ("status", "'completed'"),
    ("attempts", "3"),
    ("error_message", "'forged'"),
    ("last_attempt", "now()"),
    ("started_at", "now()"),
    ("completed_at", "now()"),
    ("created_at", "now() - interval '1 year'"),
    ("worker_id", "gen_random_uuid()"),
    ("attempts_log", "'[]'"),
]

REFUSED_TO_APP = [
    "DROP TABLE sync_queue",
    "TRUNCATE sync_queue",
    "SELECT id FROM sync_queue",
    "SELECT payload FROM sync_queue",
    "UPDATE sync_queue SET status = 'completed'",
    "UPDATE sync_queue SET priority = 9, payload = '{}'",
    "DELETE FROM sync_queue",
    "SELECT id FROM document_processing_queue",
    "UPDATE document_processing_queue SET priority = 9",
    "DELETE FROM document_processing_queue",
    # RETURNING reads the row: it needs SELECT on the columns it returns.
    "INSERT INTO document_processing_queue (document_id, operation) "
    "VALUES (gen_random_uuid(), 'extract') RETURNING id",
    # Only syncd records what happened to a job: no row born processing, completed,
    # failed, tried, or carrying an error (SPEC §2's columns an application writes,
    # less those).
    *(
        f"INSERT INTO sync_queue (entity_type, entity_id, {column}) "
        f"VALUES ('contact', gen_random_uuid(), {value})"
        for column, value in SYNCD_WRITES
    ),
    *(
        f"INSERT INTO document_processing_queue (document_id, operation, {column}) "
        f"VALUES (gen_random_uuid(), 'extract', {value})"
        for column, value in SYNCD_WRITES
    ),
    "SELECT sync_queue_merge_pending()",
    "ALTER FUNCTION sync_queue_merge_pending() SECURITY INVOKER",
    "SELECT * FROM syncd_workers",
    "SELECT * FROM document_extractions",
    "DELETE FROM monday_items",
]


async def allowed(conn: asyncpg.Connection, statements: list[str]) -> list[str]:
    """Those of `statements` the role may run (each in a transaction, rolled back)."""
    ran = []
    for sql in statements:
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError, _Undo):
            async with conn.transaction():
                await conn.execute(sql)
                ran.append(sql)
                raise _Undo
    return ran


class _Undo(Exception):
    """Rolls back a statement that should have been refused."""


async def test_neither_role_can_change_the_schema_or_read_what_it_was_not_granted(
    runtime: asyncpg.Connection, app: asyncpg.Connection, conn: asyncpg.Connection
) -> None:
    await conn.execute("CREATE TABLE invoices (id int PRIMARY KEY, amount numeric)")
    assert await allowed(runtime, REFUSED_TO_RUNTIME) == []
    assert await allowed(app, REFUSED_TO_APP) == []


async def test_an_owner_role_that_is_no_superuser_migrates_and_grants(
    empty_database: str,
) -> None:
    roles = Roles(empty_database)
    try:
        owner = await roles.make("owner")
        runtime, app = await roles.make("runtime"), await roles.make("app")
        # What the README has a superuser do once (PostgreSQL 15 and later no longer
        # let every role create in the public schema).
        await roles.admin(f"GRANT CREATE ON SCHEMA public TO {owner}")
        migrate.apply(roles.url(owner))
        await as_owner(roles.url(owner), grants_sql(runtime=runtime, app=app))

        # The merge runs as this owner, which is no superuser either.
        entity = uuid.uuid4()
        async with connected(roles.url(app)) as conn:
            await conn.execute(APP_INSERT, entity, "upsert", 0, {})
            await conn.execute(APP_INSERT, entity, "delete", 0, {})
        async with connected(roles.url(runtime)) as conn:
            merged = await conn.fetch(
                "SELECT operation FROM sync_queue WHERE entity_id = $1", entity
            )
            assert [r["operation"] for r in merged] == ["delete"]
            job_id, _ = await jobs.enqueue_sync(conn, "contact", uuid.uuid4())
            report = await status.gather(conn, rescue_after=20.0)
            assert report["sync"]["pending"] == 2
            assert await conn.fetchval("SELECT status FROM sync_queue WHERE id = $1", job_id)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("DROP TABLE sync_queue")
    finally:
        await roles.drop()


async def as_owner(url: str, sql: str) -> None:
    """Run `sql` as the owner role, having checked it is no superuser and owns every table.

    A GRANT its role may not give is only a warning ("no privileges were granted"):
    any notice at all fails the test.
    """
    notices: list[str] = []
    async with connected(url) as conn:
        assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        others = await conn.fetch(
            "SELECT tablename FROM pg_tables "
            "WHERE schemaname = 'public' AND tableowner <> current_user"
        )
        assert others == []
        conn.add_log_listener(lambda _, message: notices.append(str(message)))
        await conn.execute(sql)
    assert notices == []
