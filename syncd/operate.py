"""The operator's job commands: `syncd jobs`, `syncd job`, and the bulk forms of `retry`
and `cancel` (same filters, `--dry-run`). cli.py registers them; this module parses
their filters and prints their answers."""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from syncd import inspect
from syncd.inspect import BadFilter, Filters
from syncd.queues import QUEUES
from syncd.status import duration
from syncd.terminal import printable


def add_filters(p: argparse.ArgumentParser, *, status: bool = True) -> None:
    """The filters of SPEC §9, shared by `jobs` and the bulk actions."""
    if status:
        p.add_argument("--status", choices=inspect.STATUSES, help="only jobs in this status")
    who = p.add_mutually_exclusive_group()
    for queue in QUEUES.values():
        who.add_argument(
            queue.about_option, metavar="ID", type=_uuid, help=f"one {queue.about}'s jobs"
        )
    kinds = " or ".join(f"{q.kind_label} ({q.name})" for q in QUEUES.values())
    p.add_argument("--kind", metavar="K", help=f"{kinds}, e.g. contact")
    p.add_argument(
        "--error", metavar="TEXT", help="error message contains TEXT (failed jobs by default)"
    )
    p.add_argument("--since", metavar="DURATION", help="created within, e.g. 30m, 6h, 2d")


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


def filters_from(
    args: argparse.Namespace, *, status: str | None = None, limit: int = 50
) -> Filters:
    queue = QUEUES[args.queue]
    for other in QUEUES.values():
        given = getattr(args, other.about_option.removeprefix("--"))
        if given is not None and other is not queue:
            raise BadFilter(
                f"{other.about_option} is for the {other.name} queue; "
                f"{queue.name} take {queue.about_option}"
            )
    return Filters(
        status=status or getattr(args, "status", None),
        subject=getattr(args, queue.about_option.removeprefix("--")),
        kind=args.kind,
        error=args.error,
        since=inspect.parse_since(args.since) if args.since else None,
        limit=limit,
        before=inspect.parse_cursor(args.before) if getattr(args, "before", None) else None,
    )


def add_jobs_command(sub: Any) -> None:
    js = sub.add_parser("jobs", help="list jobs, newest first, with filters")
    js.add_argument("queue", choices=list(QUEUES), metavar="QUEUE", help=" or ".join(QUEUES))
    add_filters(js)
    js.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default 50)")
    js.add_argument(
        "--before", metavar="CURSOR", help="the next page: the cursor the previous page printed"
    )
    js.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    jb = sub.add_parser("job", help="one job: its columns, attempt history and monday item")
    jb.add_argument("queue", choices=list(QUEUES), metavar="QUEUE", help=" or ".join(QUEUES))
    jb.add_argument("job_id", type=_uuid, metavar="JOB_ID", help="the job's id")
    jb.add_argument("--json", action="store_true", help="one JSON object, for scripts")


async def jobs(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    queue = inspect.queue_named(args.queue)
    filters = filters_from(args, limit=args.limit)
    await inspect.reading_session(conn)
    page = await inspect.list_jobs(conn, queue, filters)
    if args.json:
        print(
            json.dumps(
                {"jobs": inspect.plain(page.jobs), "next_cursor": page.next_cursor}, indent=2
            )
        )
        return 0
    print(render_jobs(queue.name, page))
    return 0


def render_jobs(queue: str, page: inspect.Page) -> str:
    if not page.jobs:
        return "no jobs match"
    now = datetime.now(UTC)
    lines = [f"{'JOB':36}  {'STATUS':10}  {'ATTEMPT':7}  {'CREATED':>11}  SUBJECT / ERROR"]
    for j in page.jobs:
        attempt = f"{j['attempts']}/{j['max_attempts']}"
        line = (
            f"{j['id']!s:36}  {j['status']:10}  {attempt:7}  "
            f"{ago(now, j['created_at']):>11}  {printable(inspect.subject(queue, j))}"
        )
        if j["error_message"]:
            line += "  ! " + printable(_short(j["error_message"]))
        lines.append(line)
    if page.next_cursor:
        lines.append(f"more: --before {page.next_cursor}")
    return "\n".join(lines)


def _short(text: str, width: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "-"
    s = (now - then).total_seconds()
    if s < 0:
        return "in " + duration(-s)
    return duration(s) + " ago"


async def job(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    queue = inspect.queue_named(args.queue)
    page = await inspect.job_page(conn, queue, args.job_id)
    if page is None:
        raise BadFilter(f"no job {args.job_id} in the {queue.name} queue")
    if args.json:
        print(
            json.dumps(
                inspect.plain(
                    {
                        **page.job,
                        "attempts_log": page.attempts,
                        "other_jobs": page.others,
                        "monday_items": page.monday_items,
                    }
                ),
                indent=2,
            )
        )
        return 0
    print(render_job(page))
    return 0


def render_job(page: inspect.JobPage) -> str:
    j = page.job
    now = datetime.now(UTC)
    lines = [
        f"{page.queue} job {j['id']}: {j['status']}",
        f"  {printable(inspect.subject(page.queue, j))}",
    ]
    lines.append(f"  attempts {j['attempts']} of {j['max_attempts']}, priority {j['priority']}")
    for name in ("created_at", "started_at", "last_attempt", "next_retry", "completed_at"):
        if j.get(name) is not None:
            lines.append(f"  {name:13} {j[name].isoformat()} ({ago(now, j[name])})")
    if j.get("error_message"):
        lines.append(f"  error         {printable(j['error_message'])}")
    for item in page.monday_items:
        lines.append(f"  monday item   {item['item_id']} on board {item['board_id']}")
    if QUEUES[page.queue].monday_items and not page.monday_items:
        lines.append("  monday item   none yet")
    lines.append("attempt history" + ("" if page.attempts else ": none recorded"))
    for a in page.attempts:
        ms = a.get("duration_ms")
        lines.append(
            f"  #{a.get('attempt', '?')}  {printable(a.get('at', '?'))}  "
            f"{printable(a.get('outcome', '?')):9}"
            + (f"  {ms} ms" if ms is not None else "")
            + (f"  worker {printable(str(a['worker'])[:8])}" if a.get("worker") else "")
            + (f"  ! {printable(_short(str(a['error'])))}" if a.get("error") else "")
        )
    if page.others:
        lines.append(f"other jobs of the same {QUEUES[page.queue].about}")
        for o in page.others:
            lines.append(f"  {o['id']}  {o['status']:10} {ago(now, o['created_at'])}")
    return "\n".join(lines)


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def bulk(conn: asyncpg.Connection, args: argparse.Namespace, action: str) -> int:
    """`retry QUEUE --failed [filters]` and `cancel QUEUE --pending [filters]`."""
    queue = inspect.queue_named(args.queue)
    status = "failed" if action == "retry" else "pending"
    filters = filters_from(args, status=status)
    await inspect.reading_session(conn)
    ids = await inspect.matching_ids(conn, queue, filters)
    if args.dry_run:
        print(f"would {action} {len(ids)} {status} {queue.name} job(s)")
        for job_id in ids[:20]:
            print(f"  {job_id}")
        if len(ids) > 20:
            print(f"  ... and {len(ids) - 20} more")
        return 0
    async with conn.transaction():
        if action == "retry":
            done = await inspect.bulk_retry(conn, queue, ids)
        else:
            done = await inspect.bulk_cancel(conn, queue, ids)
        if done:
            await inspect.audit(conn, actor(), action, queue, done, matched=len(ids))
    verb = "due now" if action == "retry" else "cancelled"
    print(f"{len(done)} {status} {queue.name} job(s) {verb}", end="")
    skipped = len(ids) - len(done)
    if skipped:
        why = (
            "their entity has a newer pending job or moved on meanwhile"
            if action == "retry"
            else "claimed by a worker meanwhile"
        )
        print(f"; {skipped} left alone ({why})", end="")
    print()
    sys.stdout.flush()
    return 0


def unhandled_kind(settings: Any, queue: str, kind: str) -> str | None:
    """A warning when no handler is configured for `kind`: such a job fails at run time."""
    from syncd import handlers

    try:
        known = handlers.load(settings).kinds(queue)
    except handlers.PluginError:
        return None  # `syncd run` reports a broken plugin; enqueueing is not the place
    if kind in known:
        return None
    what = QUEUES[queue].kind_label
    return (
        f"warning: no handler is configured for {what} {kind!r} (known: "
        f"{', '.join(known) or 'none'}); the job will fail when it runs"
    )


async def purge_counts(
    conn: asyncpg.Connection, completed: float, cancelled: float
) -> dict[str, int]:
    """What `syncd purge` would delete per queue (`--dry-run`)."""
    counts: dict[str, int] = {}
    for name, queue in QUEUES.items():
        n = 0
        for status, age in (("completed", completed), ("cancelled", cancelled)):
            n += await conn.fetchval(queue.sql("purge_count"), status, age)
        counts[name] = n
    return counts


async def rows_a_rollback_drops(conn: asyncpg.Connection, rollback_sql: str) -> dict[str, int]:
    """The queue tables that `rollback_sql` drops and that still hold rows, with a count."""
    held: dict[str, int] = {}
    for queue in QUEUES.values():
        if re.search(rf"DROP\s+TABLE\s+(IF\s+EXISTS\s+)?{queue.table}\b", rollback_sql, re.I):
            if await conn.fetchval("SELECT to_regclass($1)", queue.table) is None:
                continue
            # Only whether there are rows, and a count when cheap: EXISTS first.
            if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {queue.table})"):
                held[queue.table] = await conn.fetchval(
                    "SELECT greatest(reltuples::bigint, 1) FROM pg_class WHERE oid = $1::regclass",
                    queue.table,
                )
    return held
