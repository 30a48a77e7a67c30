"""`syncd status`: each queue's health and the daemons working it, for an operator and
for scripts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from syncd import inspect, pauses, queries
from syncd.queues import QUEUES
from syncd.terminal import printable

RECENT_FAILURES = 5
# A daemon that talks to monday reports its budgets every few seconds
# (handlers/monday/budgets.py); a report older than this is from one that has gone
# quiet, or gone.
OLD_REPORT = 120.0


async def gather(conn: asyncpg.Connection, rescue_after: float) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for name, queue in QUEUES.items():
        row = await conn.fetchrow(queue.sql("status"))
        assert row is not None
        failures = await conn.fetch(queue.sql("recent_failures"), RECENT_FAILURES)
        entry = {k: _plain(v) for k, v in dict(row).items()}
        entry["recent_failures"] = [
            {
                "job_id": str(f["id"]),
                "status": f["status"],
                "attempts": f["attempts"],
                "max_attempts": f["max_attempts"],
                "subject": inspect.subject(name, f),
                "error": f["error_message"],
                "last_attempt": _plain(f["last_attempt"]),
                "next_retry": _plain(f["next_retry"]),
            }
            for f in failures
        ]
        report[name] = entry
    workers = await conn.fetch(queries.load("workers"))
    report["workers"] = [
        {
            "worker_id": str(w["id"]),
            "host": w["hostname"],
            "pid": w["pid"],
            "started_at": _plain(w["started_at"]),
            "up_s": w["up_s"],
            "heard_from_s": w["heard_from_s"],
            "holding": w["holding"],
            # Its jobs are due to be taken back by a live worker's next poll.
            "stale": w["holding"] > 0 and w["heard_from_s"] > rescue_after,
        }
        for w in workers
    ]
    report["unowned_running_jobs"] = await conn.fetchval(queries.load("unowned"))
    report["monday_reconcile"] = [
        {k: _plain(v) for k, v in dict(r).items()}
        for r in await conn.fetch(queries.load("monday_reconcile_last"))
    ]
    report["monday_pauses"] = [
        {
            "token": p["token"],
            "board_id": p["board_id"],
            "until": _plain(p["paused_until"]),
            "remaining_s": p["remaining"],
            "reason": p["reason"],
        }
        for p in await conn.fetch(queries.load("monday_pauses_active"))
    ]
    report["monday_budgets"] = await monday_budgets(conn)
    report["pauses"] = await pauses.listing(conn)
    report["rescue_after_s"] = rescue_after
    return report


async def monday_budgets(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """monday's budgets as the daemons last reported them, complexity first."""
    return [
        {
            "token": b["token"],
            "budget": b["budget"],
            "remaining": b["remaining"],
            "limit": b["budget_limit"],
            "resets_at": _plain(b["resets_at"]),
            "resets_in_s": b["resets_in_s"],
            "reported_at": _plain(b["updated_at"]),
            "age_s": b["age_s"],
            "reported_by": b["reported_by"],
            # The window the report saw is over: the budget has refilled since.
            "refilled": b["resets_in_s"] is not None and b["resets_in_s"] <= 0,
            "old": b["age_s"] > OLD_REPORT,
        }
        for b in await conn.fetch(queries.load("monday_budgets"))
    ]


def budget_words(b: Mapping[str, Any]) -> str:
    """One reported budget in words, for `syncd status` and the console alike (plain
    text, from outside: escape it)."""
    unit = "complexity points" if b["budget"] == "complexity" else "requests"
    limit = b["limit"]
    if b["refilled"]:
        to = "" if limit is None else f" to {limit:,.0f} {unit}"
        level = f"refilled{to} {duration(-b['resets_in_s'])} ago (its window reset)"
    elif b["remaining"] is None:
        level = f"refilled ({unit}: monday's next answer says how many)"
    else:
        of = "" if limit is None else f" of {limit:,.0f}"
        resets = b["resets_in_s"]
        when = "reset time not known yet" if resets is None else f"resets in {duration(resets)}"
        level = f"{b['remaining']:,.0f}{of} {unit} left, {when}"
    last = "last reported" if b["old"] else "reported"
    return f"{level}, {last} {duration(b['age_s'])} ago by {b['reported_by']}"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def render(report: dict[str, Any]) -> str:
    lines = []
    for name in QUEUES:
        q = report[name]
        lines.append(f"{name} queue")
        lines += _pauses(name, report.get("pauses", []))
        counts = "  ".join(
            f"{s} {q[s]}" for s in ("pending", "processing", "completed", "failed", "cancelled")
        )
        lines.append(f"  {counts}")
        age = q["oldest_due_age_s"]
        lines.append(
            f"  due now {q['due']}"
            + (f" (oldest waiting {duration(age)})" if age is not None else "")
            + f"   next retry {q['next_retry'] or '-'}"
        )
        lines.append(
            f"  completed last minute {q['completed_last_minute']}, "
            f"last hour {q['completed_last_hour']}; failed last hour {q['failed_last_hour']}"
        )
        for f in q["recent_failures"]:
            where = (
                f"failed for good at attempt {f['attempts']}"
                if f["status"] == "failed"
                else f"{f['status']} after attempt {f['attempts']}/{f['max_attempts']}"
            )
            lines.append(
                f"  ! {f['job_id']} {where} {printable(f['subject'])}: {printable(f['error'])}"
            )
    lines.append("workers")
    if not report["workers"]:
        lines.append("  none registered")
    for w in report["workers"]:
        host = printable(w["host"])
        where = f"{w['worker_id'][:8]} {host}:{w['pid']}  up {duration(w['up_s'])}"
        heard = duration(w["heard_from_s"])
        if w["stale"]:
            lines.append(
                f"  ! {where}  holding {w['holding']}, silent for {heard} (past rescue_after"
                f" {report['rescue_after_s']:g} s): a live worker takes its jobs back"
            )
        elif w["holding"]:
            lines.append(f"  {where}  holding {w['holding']}, heard from {heard} ago")
        else:
            lines.append(f"  {where}  idle, last claim or heartbeat {heard} ago")
    if report["unowned_running_jobs"]:
        lines.append(
            f"  ! {report['unowned_running_jobs']} running job(s) of no registered worker:"
            " a live worker takes them back"
        )
    budgets = report.get("monday_budgets", [])
    several = len({b["token"] for b in budgets}) > 1
    for b in budgets:
        token = f" (token {b['token'][:8]}…)" if several else ""
        lines.append(f"monday budget {printable(b['budget'])}{token}: {printable(budget_words(b))}")
    for p in report.get("monday_pauses", []):
        what = f"monday board {p['board_id']} locked" if p["board_id"] else "monday paused"
        lines.append(
            f"{what} until {p['until']} ({duration(p['remaining_s'])} more): {p['reason']}"
            " (`syncd monday resume` ends it)"
        )
    for r in report.get("monday_reconcile", []):
        lines.append(
            f"monday reconcile {r['entity_type']}: last {r['finished_at']}"
            f"{' (dry run)' if r['dry_run'] else ''}, checked {r['checked']}, "
            f"drifted {r['drifted']}, enqueued {r['enqueued']}"
        )
    return "\n".join(lines)


def _pauses(queue: str, in_force: list[dict[str, Any]]) -> list[str]:
    lines = []
    for p in in_force:
        if p["queue"] != queue:
            continue
        what = "PAUSED" if p["kind"] == pauses.WHOLE else f"PAUSED for {p['kind']}"
        reason = f": {printable(p['reason'])}" if p["reason"] else ""
        flag = "" if p["kind"] == pauses.WHOLE else f" --kind {printable(p['kind'])}"
        lines.append(
            f"  ! {printable(what)} since {p['paused_at']} ({duration(p['paused_s'])})"
            f" by {printable(p['paused_by'])}{reason} (`syncd resume {queue}{flag}` lifts it)"
        )
    return lines


def duration(seconds: float) -> str:
    """How long, as a person reads it: tenths of a second under two minutes (a heartbeat's
    age against `rescue_after` wants them), whole minutes under two hours, then hours and
    days to a tenth. The one duration format of `syncd status`, `syncd jobs` and the
    console; it lives here, in the core, because `status` renders with it and the app
    layer may import the core but not the other way round."""
    if not math.isfinite(seconds):
        return "-"
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
