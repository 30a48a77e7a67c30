"""`syncd doctor`: every check of SPEC §9, one line each (OK / WARN / FAIL and a fix), and
the schema check `syncd run` makes before it starts.

Each check is a coroutine returning its lines; one that cannot run because an
earlier one failed (no database, no config) says so instead of raising.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from syncd import config, db, queries
from syncd.config import ConfigError, Settings
from syncd.handlers.monday.operations import Operation
from syncd.migrate import migrations_dir
from syncd.queues import QUEUES

OK, WARN, FAIL = "OK", "WARN", "FAIL"
NOTIFY_WAIT = 2.0
DEAD_SHARE_WARN = 0.2


@dataclass(frozen=True)
class Finding:
    level: str
    check: str
    text: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.level:4} {self.check}: {self.text}" + (f" -> {self.fix}" if self.fix else "")


# -- the schema --------------------------------------------------------------------


def migration_ids() -> list[str]:
    return sorted(
        p.name.removesuffix(".sql")
        for p in migrations_dir().glob("*.sql")
        if not p.name.endswith(".rollback.sql")
    )


async def missing_migrations(conn: asyncpg.Connection) -> list[str]:
    """The migrations this syncd ships that the database has not applied."""
    if await conn.fetchval("SELECT to_regclass('syncd_migrations')") is None:
        return migration_ids()
    applied = {r[0] for r in await conn.fetch(queries.load("applied_migrations"))}
    return [m for m in migration_ids() if m not in applied]


async def schema_problem(settings: Settings) -> str | None:
    """For `syncd run`: one line naming `syncd migrate` when the schema is behind.

    An unreachable database is not this check's business: the daemon starts and
    reconnects with backoff, as SPEC §3 asks.
    """
    try:
        conn = await db.connect(settings)
    except (OSError, asyncpg.PostgresError, *db.CONNECTION_ERRORS):
        return None
    try:
        missing = await missing_migrations(conn)
    except asyncpg.InsufficientPrivilegeError:
        return None  # a role without SELECT on syncd_migrations: `syncd doctor` says so
    finally:
        await conn.close()
    if not missing:
        return None
    return f"the database schema is not current (missing {_names(missing)}): run `syncd migrate`"


def _names(missing: list[str]) -> str:
    if len(missing) <= 3:
        return ", ".join(missing)
    return f"{len(missing)} migrations, {missing[0]} to {missing[-1]}"


# -- the checks ---------------------------------------------------------------------

# What the runtime role needs (sql/grants.sql), table by table.
RUNTIME_PRIVILEGES: dict[str, tuple[str, ...]] = {
    **{q.table: ("SELECT", "INSERT", "UPDATE", "DELETE") for q in QUEUES.values()},
    "syncd_workers": ("SELECT", "INSERT", "UPDATE", "DELETE"),
    "monday_items": ("SELECT", "INSERT", "UPDATE", "DELETE"),
    "monday_pauses": ("SELECT", "INSERT", "UPDATE"),
    "monday_budgets": ("SELECT", "INSERT", "UPDATE"),
    "document_extractions": ("SELECT", "INSERT", "UPDATE"),
    "syncd_audit": ("SELECT", "INSERT"),
    "syncd_pauses": ("SELECT", "INSERT", "DELETE"),
    "syncd_migrations": ("SELECT",),
}


async def check_database(settings: Settings, state: dict[str, Any]) -> list[Finding]:
    try:
        conn = await db.connect(settings)
    except (OSError, asyncpg.PostgresError, *db.CONNECTION_ERRORS) as exc:
        return [
            Finding(
                FAIL,
                "database",
                f"cannot connect: {_one_line(exc)}",
                "check [database] url and that PostgreSQL is up",
            )
        ]
    state["conn"] = conn
    version = await conn.fetchval("SHOW server_version")
    found = [Finding(OK, "database", f"reachable, PostgreSQL {version}")]
    missing = await missing_migrations(conn)
    if missing:
        found.append(Finding(FAIL, "schema", f"missing {_names(missing)}", "run `syncd migrate`"))
        return found
    state["schema"] = True
    found.append(Finding(OK, "schema", f"current ({migration_ids()[-1]})"))
    lacking = []
    # The host's tables are granted column by column (sql/grants.sql): any column will do
    # here; which columns a mapping reads is the mapping's business.
    host = {"documents", *(m.table for m in settings.monday.entities.values())}
    tables = {**{t: ("SELECT",) for t in host}, **RUNTIME_PRIVILEGES}
    for table, privileges in tables.items():
        if await conn.fetchval("SELECT to_regclass($1)", table) is None:
            lacking.append(f"{table} (no such table)")
            continue
        check = "has_any_column_privilege" if table in host else "has_table_privilege"
        missing = [
            p
            for p in privileges
            if not await conn.fetchval(f"SELECT {check}(current_user, $1, $2)", table, p)
        ]
        if missing:
            lacking.append(f"{'/'.join(missing)} on {table}")
    user = await conn.fetchval("SELECT current_user")
    if lacking:
        found.append(
            Finding(
                FAIL,
                "privileges",
                f"role {user} lacks {', '.join(lacking)}",
                "run syncd/sql/grants.sql as the tables' owner (README: Database roles)",
            )
        )
    else:
        found.append(Finding(OK, "privileges", f"role {user} has what syncd needs"))
    return found


async def check_notify(settings: Settings, state: dict[str, Any]) -> list[Finding]:
    conn: asyncpg.Connection | None = state.get("conn")
    if conn is None:
        return [Finding(WARN, "notify", "not checked: no database")]
    if not settings.database.listen:
        return [
            Finding(WARN, "notify", "LISTEN is off: jobs are found by polling only",
                    "fine behind PgBouncer; otherwise set [database] listen = true")
        ]  # fmt: skip
    try:
        listener = await db.connect(settings, settings.listen_url(), "syncd-doctor")
    except (OSError, asyncpg.PostgresError, *db.CONNECTION_ERRORS) as exc:
        return [Finding(FAIL, "notify", f"listener cannot connect: {_one_line(exc)}",
                        "check [database] listen_url")]  # fmt: skip
    channel = f"syncd_doctor_{uuid.uuid4().hex[:12]}"
    heard: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_note(*args: Any) -> None:
        if not heard.done():
            heard.set_result(args[3])

    try:
        await listener.add_listener(channel, on_note)
        await conn.execute("SELECT pg_notify($1, 'ping')", channel)
        try:
            await asyncio.wait_for(heard, NOTIFY_WAIT)
        except TimeoutError:
            return [
                Finding(
                    FAIL,
                    "notify",
                    f"no notification came back within {NOTIFY_WAIT:g} s (PgBouncer in "
                    "transaction mode drops LISTEN)",
                    "set [database] listen_url to a direct URL, or listen = false",
                )
            ]
    finally:
        await listener.close()
    return [Finding(OK, "notify", "a NOTIFY came back on the listener connection")]


async def check_tables(settings: Settings, state: dict[str, Any]) -> list[Finding]:
    conn: asyncpg.Connection | None = state.get("conn")
    if conn is None or not state.get("schema"):
        return [Finding(WARN, "tables", "not checked: no database or no schema")]
    found = []
    if await conn.fetchval("SHOW autovacuum") != "on":
        found.append(Finding(FAIL, "autovacuum", "off for the whole server",
                             "set autovacuum = on in postgresql.conf"))  # fmt: skip
    for queue in QUEUES.values():
        row = await conn.fetchrow(queries.load("table_health"), queue.table)
        if row is None:
            continue
        live, dead = row["n_live_tup"], row["n_dead_tup"]
        share = dead / (live + dead) if live + dead else 0.0
        options = row["reloptions"] or []
        last = row["last_vacuum_any"]
        since = f"last vacuumed {last:%Y-%m-%d %H:%M} UTC" if last else "never vacuumed yet"
        if "autovacuum_enabled=false" in options:
            fix = f"ALTER TABLE {queue.table} RESET (autovacuum_enabled)"
            found.append(Finding(FAIL, queue.table, "autovacuum turned off for this table", fix))
        elif share > DEAD_SHARE_WARN and dead > 10_000:
            found.append(
                Finding(
                    WARN,
                    queue.table,
                    f"{dead:,} dead rows ({share:.0%}), {since}",
                    f"VACUUM {queue.table}; look for long transactions (pg_stat_activity)",
                )
            )
        else:
            found.append(
                Finding(OK, queue.table, f"{live:,} rows, {dead:,} dead ({share:.0%}), {since}")
            )
    return found


async def check_monday(settings: Settings, state: dict[str, Any]) -> list[Finding]:
    from syncd.handlers.monday import errors
    from syncd.handlers.monday.client import MondayClient

    m = settings.monday
    if not m.entities:
        return [Finding(OK, "monday", "no entity mapped: nothing goes to monday")]
    try:
        token = m.resolve_token()
    except (ValueError, OSError) as exc:
        return [Finding(FAIL, "monday", _one_line(exc), "set [monday] token or token_file")]
    boards = sorted({e.board_id for e in m.entities.values()})
    client = MondayClient(m, pauses=_NoPauses(), token=token)
    await client.start(None)
    try:
        try:
            answer = await client.call(DOCTOR_QUERY, {"boards": [str(b) for b in boards]})
        except errors.MondayRefused as exc:
            if "board" not in str(exc).lower():
                raise
            # monday refuses the whole query for one unknown board: the token is
            # then checked on its own, and the boards named by monday's message.
            me = await client.call(TOKEN_QUERY, {})
            return [
                Finding(OK, "monday", f"token accepted ({me.data['me']['name']})"),
                Finding(FAIL, "monday boards", _one_line(exc),
                        "check board_id in each [monday.entities.*]"),
            ]  # fmt: skip
    except errors.MondayRefused as exc:
        return [Finding(FAIL, "monday", f"refused: {_one_line(exc)}",
                        "check the token (monday: Developers > My access tokens)")]  # fmt: skip
    except Exception as exc:  # network, 5xx, a limit: the check could not be made
        return [Finding(FAIL, "monday", f"no answer: {_one_line(exc)}",
                        "check [monday] api_url and the network")]  # fmt: skip
    finally:
        await client.stop()
    found = [Finding(OK, "monday", f"token accepted ({answer.data['me']['name']})")]
    seen = {int(b["id"]): b for b in answer.data.get("boards") or []}
    for entity, mapping in m.entities.items():
        board = seen.get(mapping.board_id)
        where = f"monday {entity}"
        if board is None:
            fix = "check the board id and that the token's user can see it"
            found.append(Finding(FAIL, where, f"board {mapping.board_id} not found", fix))
            continue
        columns = {c["id"]: c["type"] for c in board["columns"]}
        wrong = []
        if mapping.key_column not in columns:
            wrong.append(f"key column {mapping.key_column} missing")
        for field, col in mapping.columns.items():
            have = columns.get(col.column)
            if have is None:
                wrong.append(f"{field}: column {col.column} missing")
            elif have != col.type:
                wrong.append(f"{field}: column {col.column} is {have}, mapped as {col.type}")
        if wrong:
            found.append(Finding(FAIL, where, f"board {board['name']!r}: " + "; ".join(wrong),
                                 f"fix [monday.entities.{entity}] or the board"))  # fmt: skip
        else:
            found.append(
                Finding(OK, where, f"board {board['name']!r}: {len(mapping.columns)} column(s) fit")
            )
    return found


# One small query for the token and every mapped board's columns (SPEC §9).
DOCTOR_QUERY = Operation(
    "doctor",
    "query Doctor($boards: [ID!]) { me { id name }"
    " boards(ids: $boards, limit: 100) { id name columns { id type } }"
    " complexity { query before after reset_in_x_seconds } }",
)

TOKEN_QUERY = Operation(
    "doctor_token",
    "query Token { me { id name } complexity { query before after reset_in_x_seconds } }",
)


class _NoPauses:
    """The doctor reads no shared pause and writes none: it sends one query."""

    async def current(self, board_id: int | None = None) -> None:
        return None

    async def extend(self, seconds: float, reason: str, board_id: int | None = None) -> float:
        return seconds


async def check_storage(settings: Settings, state: dict[str, Any]) -> list[Finding]:
    return _storage(Path(settings.documents.storage_root))


def _storage(root: Path) -> list[Finding]:
    if not root.is_dir():
        return [Finding(FAIL, "storage", f"{root} is not a directory",
                        "set [documents] storage_root, or create it")]  # fmt: skip
    if not os.access(root, os.R_OK | os.X_OK):
        return [Finding(FAIL, "storage", f"{root} is not readable by this user",
                        "grant the syncd user read access")]  # fmt: skip
    return [Finding(OK, "storage", f"{root} readable")]


CHECKS: list[Callable[[Settings, dict[str, Any]], Awaitable[list[Finding]]]] = [
    check_database,
    check_notify,
    check_tables,
    check_monday,
    check_storage,
]


async def examine(settings: Settings) -> list[Finding]:
    state: dict[str, Any] = {}
    found = [Finding(OK, "config", settings.source or "defaults and environment only")]
    try:
        for check in CHECKS:
            found.extend(await check(settings, state))
    finally:
        if "conn" in state:
            await state["conn"].close()
    return found


def run(config_path: str | None, printer: Callable[[str], None] = print) -> int:
    """`syncd doctor`: print every finding; 1 when anything FAILs."""
    try:
        settings = config.load(config_path)
    except ConfigError as exc:
        printer(
            Finding(FAIL, "config", str(exc), "fix the key named, then `syncd config check`").line()
        )
        return 1
    found = asyncio.run(examine(settings))
    for f in found:
        printer(f.line())
    return 1 if any(f.level == FAIL for f in found) else 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
