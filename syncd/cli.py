"""The `syncd` command line: parse, call, print. One-line errors, never a traceback
for a user mistake, non-zero exit on any error (78 for a bad config)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

import asyncpg

from syncd import __version__, actions, config, db, logs, monday_commands, operate, pauses
from syncd.config import EX_CONFIG, ConfigError, Settings
from syncd.errors import UserError
from syncd.inspect import BadFilter
from syncd.inspect import parse_since as inspect_since
from syncd.job import DOCUMENTS, SYNC
from syncd.queues import QUEUES
from syncd.terminal import printable, printable_lines

EX_ERROR = 1


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


def _payload(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"payload is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("payload must be a JSON object")
    return value


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"syncd: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="syncd", description="PostgreSQL job daemon: monday.com sync and documents.")
    p.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $SYNCD_CONFIG, ./syncd.toml, /etc/syncd/syncd.toml)",
    )
    p.add_argument("--version", action="version", version=f"syncd {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--once", action="store_true", help="work off what is due, then exit")

    mig = sub.add_parser("migrate", help="apply the database migrations")
    g = mig.add_mutually_exclusive_group()
    g.add_argument("--rollback", action="store_true", help="roll back the newest migration")
    g.add_argument("--list", action="store_true", help="list migrations and whether applied")
    mig.add_argument(
        "--yes", action="store_true", help="--rollback: drop a queue table that holds rows"
    )

    st = sub.add_parser("status", help="per-queue counts, due jobs, retries, recent failures")
    st.add_argument("--json", action="store_true", help="one JSON object, for scripts")

    enq = sub.add_parser("enqueue", help="add a job")
    enq_sub = enq.add_subparsers(dest="queue", metavar="QUEUE", parser_class=Parser)
    enq_sub.required = True
    es = enq_sub.add_parser("sync", help="push (or pull) one entity")
    es.set_defaults(queue_name=SYNC)
    es.add_argument("entity_type", help="as mapped in [monday.entities.*], e.g. contact")
    es.add_argument("entity_id", type=_uuid, help="the entity's id (a UUID)")
    es.add_argument("--operation", choices=["upsert", "delete"], default="upsert")
    es.add_argument("--direction", choices=["to_monday", "to_npd"], default="to_monday")
    es.add_argument("--priority", type=int, default=0, help="larger runs first (default 0)")
    es.add_argument("--payload", type=_payload, default=None, help="a JSON object")
    ed = enq_sub.add_parser("document", help="process one document")
    ed.set_defaults(queue_name=DOCUMENTS)
    ed.add_argument("document_id", type=_uuid, help="the document's id (a UUID)")
    ed.add_argument("operation", help="for example: extract")
    ed.add_argument("--priority", type=int, default=0)

    rt = sub.add_parser("retry", help="make a failed job (or all of them) due now")
    rt.add_argument("queue", choices=list(QUEUES), metavar="QUEUE", help=QUEUE_HELP)
    which = rt.add_mutually_exclusive_group(required=True)
    which.add_argument("job_id", nargs="?", type=_uuid, help="the job's id")
    which.add_argument("--failed", action="store_true", help="every failed job in QUEUE")
    operate.add_filters(rt, status=False)
    rt.add_argument("--dry-run", action="store_true", help="with --failed: only say which")

    cn = sub.add_parser("cancel", help="cancel a pending or failed job")
    cn.add_argument("queue", choices=list(QUEUES), metavar="QUEUE", help=QUEUE_HELP)
    which = cn.add_mutually_exclusive_group(required=True)
    which.add_argument("job_id", nargs="?", type=_uuid, help="the job's id")
    which.add_argument("--pending", action="store_true", help="every pending job in QUEUE")
    operate.add_filters(cn, status=False)
    cn.add_argument("--dry-run", action="store_true", help="with --pending: only say which")

    operate.add_jobs_command(sub)
    pauses.add_commands(sub)

    pg = sub.add_parser("purge", help="delete completed and cancelled jobs past retention now")
    pg.add_argument(
        "--older-than",
        metavar="DURATION",
        help="instead of [retention]: jobs that ended longer ago than this, e.g. 3d",
    )
    pg.add_argument("--dry-run", action="store_true", help="only count what would go")

    cf = sub.add_parser("config", help="check or show the configuration")
    cf.add_argument(
        "action", choices=["check", "show"], help="check: validate; show: print, secrets redacted"
    )

    from syncd.handlers.monday.command_line import add_commands

    add_commands(monday_commands.add_parser(sub, Parser))

    dm = sub.add_parser(
        "demo",
        help="watch the daemon work on an embedded PostgreSQL and a fake monday.com",
        description=(
            "Start an embedded PostgreSQL and a fake monday.com, seed contacts, "
            "organizations and documents (some of them bad), and run the real daemon "
            "until every job is completed or failed, one line per event; then print "
            "`syncd status`. Takes 10 to 15 seconds. Ctrl-C stops it at any point and "
            "leaves nothing running. It reads no syncd.toml: it writes its own."
        ),
        epilog=(
            "With --dir the demo's data is kept and its PostgreSQL stopped at the end. "
            "To look at it again: `syncd demo --dir DIR --serve` starts that PostgreSQL "
            "(and the fake monday.com) on the ports in DIR/syncd.toml until Ctrl-C; "
            "meanwhile `syncd --config DIR/syncd.toml status` (or retry, run...) works "
            "against it."
        ),
    )
    dm.add_argument(
        "--dir",
        metavar="DIR",
        type=Path,
        help="keep the demo in DIR (empty or new) instead of a temporary directory",
    )
    dm.add_argument(
        "--serve",
        action="store_true",
        help="start the demo kept in --dir DIR again, until Ctrl-C; runs no jobs",
    )

    sub.add_parser(
        "web",
        help="serve the operator console ([web] listen, default 127.0.0.1:8765)",
        description="The operator console: overview, jobs, workers, monday, audit, actions.",
    )

    dr = sub.add_parser("doctor", help="check config, database, LISTEN, tables, monday, storage")
    dr.description = "One line per check: OK, WARN or FAIL with a fix. Exits 1 when any FAILs."

    _config_after_the_command(p)
    return p


QUEUE_HELP = "sync or documents"


def _config_after_the_command(parser: argparse.ArgumentParser) -> None:
    """`syncd status --config PATH` works like `syncd --config PATH status` (SPEC §6)."""
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for sub in getattr(action, "choices", {}).values():
            if "--config" not in sub._option_string_actions:
                sub.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                                 help="config file (also accepted before the command)")  # fmt: skip
            _config_after_the_command(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        # The demo writes and reads a config of its own: a syncd.toml nearby, or a
        # broken one, must not change or stop it.
        if args.serve and args.dir is None:
            parser.error("demo --serve needs --dir DIR, the directory a demo was kept in")
        return _run(lambda: cmd_demo(args), args)
    if args.command == "doctor":
        from syncd import doctor

        # The doctor reports a bad config as one of its findings instead of stopping.
        return _run(lambda: doctor.run(args.config), args)
    try:
        settings = config.load(args.config)
    except ConfigError as exc:
        return _config_invalid(exc, args)
    logs.setup(
        settings.log.level,
        settings.log.format,
        stream=sys.stderr if args.command != "run" else None,
    )
    return _run(lambda: COMMANDS[args.command](settings, args), args)


def _run(command: Callable[[], int], args: argparse.Namespace) -> int:
    """Run a command; a user's mistake or a database error becomes one line."""
    try:
        return command()
    except ConfigError as exc:
        return _config_invalid(exc, args)
    except (UserError, BadFilter) as exc:
        print(f"syncd: {printable(exc)}", file=sys.stderr)
        return EX_ERROR
    except (OSError, asyncpg.PostgresError, *db.CONNECTION_ERRORS) as exc:
        print(f"syncd: database error: {printable(_one_line(exc))}", file=sys.stderr)
        return EX_ERROR
    except KeyboardInterrupt:
        return 130


def _config_invalid(exc: ConfigError, args: argparse.Namespace) -> int:
    if args.command == "run":
        logs.setup("info", "auto")
        logs.get().error("config.invalid", error=str(exc))
    print(f"syncd: {printable(exc)}", file=sys.stderr)
    return EX_CONFIG


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _with_connection(
    settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[int]]
) -> int:
    async def go() -> int:
        try:
            conn = await db.connect(settings)
        except (OSError, asyncpg.PostgresError, *db.CONNECTION_ERRORS) as exc:
            raise UserError(f"cannot connect to the database: {_one_line(exc)}") from None
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(go())


# -- commands ------------------------------------------------------------------


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from syncd import handlers, speedups
    from syncd.worker import Worker

    try:
        registry = handlers.load(settings)
    except handlers.PluginError as exc:
        raise UserError(str(exc)) from None
    from syncd.doctor import schema_problem

    problem = asyncio.run(schema_problem(settings))
    if problem:
        print(f"syncd: {problem}", file=sys.stderr)
        return EX_CONFIG
    worker = Worker(settings, registry, once=args.once, reread=lambda: config.load(args.config))
    speedups.run(worker.run())
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from syncd import migrate

    url = settings.database_url()
    try:
        if args.list:
            for step in migrate.listing(url):
                print(f"{'[x]' if step.applied else '[ ]'} {step.id}")
        elif args.rollback:
            if not args.yes:
                _ask_before_dropping_rows(settings)
            rolled = migrate.rollback(url)
            print(f"rolled back {rolled}" if rolled else "nothing to roll back")
        else:
            applied = migrate.apply(url)
            print("applied " + ", ".join(applied) if applied else "already up to date")
    except UserError:
        raise
    except Exception as exc:  # psycopg and yoyo errors: one line, no traceback
        raise UserError(f"migrate failed: {_one_line(exc)}") from None
    return 0


def _ask_before_dropping_rows(settings: Settings) -> None:
    """`migrate --rollback` of a step that drops a queue table holding jobs asks first."""
    from syncd import migrate

    steps = [s for s in migrate.listing(settings.database_url()) if s.applied]
    if not steps:
        return
    rollback = migrate.migrations_dir() / f"{steps[-1].id}.rollback.sql"
    if not rollback.is_file():
        return
    sql = rollback.read_text(encoding="utf-8")

    async def held_rows() -> dict[str, int]:
        conn = await db.connect(settings)
        try:
            return await operate.rows_a_rollback_drops(conn, sql)
        finally:
            await conn.close()

    held = asyncio.run(held_rows())
    if not held:
        return
    what = ", ".join(f"{t} (holding about {n:,} row(s))" for t, n in held.items())
    if not sys.stdin.isatty():
        raise UserError(f"rolling back {steps[-1].id} drops {what}: add --yes to do it")
    answer = input(f"rolling back {steps[-1].id} drops {what}. Drop them? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise UserError("rollback not done")


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from syncd import status

    async def work(conn: asyncpg.Connection) -> int:
        report = await status.gather(conn, settings.daemon.rescue_after)
        print(json.dumps(report, indent=2) if args.json else status.render(report))
        return 0

    return _with_connection(settings, work)


def cmd_enqueue(settings: Settings, args: argparse.Namespace) -> int:
    queue = QUEUES[args.queue_name]
    warning = operate.unhandled_kind(settings, queue.name, getattr(args, queue.kind_column))
    if warning:
        print(f"syncd: {warning}", file=sys.stderr)

    async def work(conn: asyncpg.Connection) -> int:
        try:
            if queue.name == SYNC:
                job_id, merged = await actions.enqueue_sync(
                    conn,
                    args.entity_type,
                    args.entity_id,
                    operation=args.operation,
                    direction=args.direction,
                    priority=args.priority,
                    payload=args.payload,
                )
                print(f"{job_id} (merged into the pending job)" if merged else job_id)
            else:
                print(
                    await actions.enqueue_document(
                        conn, args.document_id, args.operation, priority=args.priority
                    )
                )
        except asyncpg.ForeignKeyViolationError:
            raise UserError(f"no document {args.document_id} in the documents table") from None
        except (asyncpg.CheckViolationError, asyncpg.StringDataRightTruncationError) as exc:
            raise UserError(f"refused by the database: {_one_line(exc)}") from None
        return 0

    return _with_connection(settings, work)


def cmd_retry(settings: Settings, args: argparse.Namespace) -> int:
    queue = actions.queue_named(args.queue)

    async def work(conn: asyncpg.Connection) -> int:
        if args.failed:
            return await operate.bulk(conn, args, "retry")
        _single_job_only(args)
        try:
            await actions.retry(conn, queue, args.job_id)
        except (actions.JobNotFound, ValueError) as exc:
            raise UserError(str(exc)) from None
        print(f"{args.job_id} due now")
        return 0

    return _with_connection(settings, work)


def cmd_cancel(settings: Settings, args: argparse.Namespace) -> int:
    queue = actions.queue_named(args.queue)

    async def work(conn: asyncpg.Connection) -> int:
        if args.pending:
            return await operate.bulk(conn, args, "cancel")
        _single_job_only(args)
        try:
            await actions.cancel(conn, queue, args.job_id)
        except (actions.JobNotFound, ValueError) as exc:
            raise UserError(str(exc)) from None
        print(f"{args.job_id} cancelled")
        return 0

    return _with_connection(settings, work)


def _single_job_only(args: argparse.Namespace) -> None:
    used = [f for f in ("entity", "document", "kind", "error", "since") if getattr(args, f)]
    if used or args.dry_run:
        flag = "--failed" if args.command == "retry" else "--pending"
        raise UserError(f"filters and --dry-run go with {flag}, not with one JOB_ID")


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    return _with_connection(settings, lambda conn: operate.jobs(conn, args))


def cmd_job(settings: Settings, args: argparse.Namespace) -> int:
    return _with_connection(settings, lambda conn: operate.job(conn, args))


def cmd_pause(settings: Settings, args: argparse.Namespace) -> int:
    """`syncd pause` and `syncd resume` (pauses.py)."""
    try:
        actions.queue_named(args.queue)  # before connecting: a typo needs no database
    except ValueError as exc:
        raise UserError(str(exc)) from None

    async def work(conn: asyncpg.Connection) -> int:
        try:
            print(printable_lines(await pauses.command(conn, args, operate.actor())))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        return 0

    return _with_connection(settings, work)


def cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    from syncd.web.app import serve

    return serve(settings)


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    from syncd.loops.pruner import prune
    from syncd.store import Store

    if args.older_than is not None:
        try:
            age = inspect_since(args.older_than)
        except BadFilter as exc:
            raise UserError(str(exc).replace("--since", "--older-than")) from None
        settings = settings.model_copy(
            update={
                "retention": settings.retention.model_copy(
                    update={"completed_after": age, "cancelled_after": age}
                )
            }
        )
    if args.dry_run:
        r = settings.retention

        async def count(conn: asyncpg.Connection) -> int:
            counts = await operate.purge_counts(conn, r.completed_after, r.cancelled_after)
            for name, n in counts.items():
                print(f"{name}: would delete {n} completed/cancelled job(s)")
            return 0

        return _with_connection(settings, count)

    async def go() -> int:
        try:
            pool = await db.create_pool(settings)
        except (OSError, asyncpg.PostgresError, *db.CONNECTION_ERRORS) as exc:
            raise UserError(f"cannot connect to the database: {_one_line(exc)}") from None
        try:
            deleted = await prune(Store(pool, uuid.uuid4()), settings)
        finally:
            await pool.close()
        for name, n in deleted.items():
            print(f"{name}: deleted {n} completed/cancelled job(s) past retention")
        return 0

    return asyncio.run(go())


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "check":
        print(f"config ok ({settings.source or 'defaults and environment only'})")
        return 0
    print(json.dumps(config.redacted(settings), indent=2))
    return 0


def cmd_monday(settings: Settings, args: argparse.Namespace) -> int:
    # backfill, reconcile and webhooks carry their own function (handlers/monday/commands.py).
    own: str | None = getattr(args, "monday_run", None)
    if own is not None:
        from syncd.handlers.monday.commands import RUN

        return RUN[own](settings, args)

    async def work(conn: asyncpg.Connection) -> int:
        print(printable_lines(await monday_commands.run(conn, args)))
        return 0

    return _with_connection(settings, work)


def cmd_demo(args: argparse.Namespace) -> int:
    from syncd import demo

    try:
        return demo.serve(args.dir) if args.serve else demo.run(args.dir)
    except demo.DemoError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:  # a directory it cannot write, a port it cannot bind
        raise UserError(f"demo failed: {_one_line(exc)}") from None


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "run": cmd_run,
    "migrate": cmd_migrate,
    "status": cmd_status,
    "enqueue": cmd_enqueue,
    "retry": cmd_retry,
    "cancel": cmd_cancel,
    "jobs": cmd_jobs,
    "job": cmd_job,
    "pause": cmd_pause,
    "resume": cmd_pause,
    "web": cmd_web,
    "purge": cmd_purge,
    "config": cmd_config,
    "monday": cmd_monday,
}
