"""`syncd monday ...`: an operator's commands for the monday.com sync.

``resume`` ends a monday pause early: after a plan upgrade lifted the daily limit, or
when monday named a wait that makes no sense. Every daemon asks the database before
each request, so the work resumes at once everywhere, and the jobs that were snoozed
until the pause's end are made due now.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import structlog

from syncd import queries

if TYPE_CHECKING:
    import asyncpg

log = structlog.get_logger("syncd.monday")
P = TypeVar("P", bound=argparse.ArgumentParser)


@dataclass(frozen=True, slots=True)
class Ended:
    """A pause that `resume` ended, and how many sync jobs it made due."""

    token: str  # a prefix of the token's SHA-256
    paused_until: datetime
    reason: str
    woken: int


def add_parser(
    sub: argparse._SubParsersAction[P], parser_class: type[P]
) -> argparse._SubParsersAction[P]:
    """The ``monday`` group with ``resume``; returns its actions, for the others to join."""
    monday = sub.add_parser(
        "monday", help="steer the monday.com sync: resume, backfill, reconcile, webhooks"
    )
    actions = monday.add_subparsers(
        dest="monday_action", metavar="ACTION", parser_class=parser_class
    )
    actions.required = True
    actions.add_parser(
        "resume",
        help="end a monday pause (rate limit, daily limit) now; snoozed jobs become due",
    )
    return actions


async def resume(conn: asyncpg.Connection) -> list[Ended]:
    """End every monday pause in force; one `monday.resumed` event per pause ended."""
    rows = await conn.fetch(queries.load("monday_pause_end"))
    ended = [Ended(r["token"], r["paused_until"], r["reason"], r["woken"]) for r in rows]
    for pause in ended:
        log.info(
            "monday.resumed",
            reason=pause.reason,
            early=True,
            paused_until=pause.paused_until.isoformat(),
            jobs_due=pause.woken,
        )
    return ended


async def run(conn: asyncpg.Connection, args: argparse.Namespace) -> str:
    """Carry out `syncd monday ACTION`; the text to print."""
    assert args.monday_action == "resume"
    ended = await resume(conn)
    if not ended:
        return "no monday pause in force"
    lines = [
        f"ended the monday pause of token {p.token}... "
        f"until {p.paused_until.isoformat()} ({p.reason})"
        for p in ended
    ]
    lines.append(f"{ended[0].woken} snoozed sync job(s) due now")
    return "\n".join(lines)
