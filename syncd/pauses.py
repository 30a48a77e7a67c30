"""Pause and resume (SPEC §9): stop new claims on a queue, or on one kind of its jobs.

`syncd pause QUEUE [--kind KIND]` writes a row in syncd_pauses (kind '*': the
whole queue; KIND is the entity type for sync, the operation for documents). Its
trigger NOTIFYs on `syncd_pauses` in the same transaction; every daemon's listener
hears it and re-reads the table (loops/pauses.py), and the periodic poll brings
the same set (poll.sql), the backstop for a daemon with LISTEN off or one that
missed the notification. A daemon then claims nothing for a paused queue, and its
claim statement skips the paused kinds. Running jobs finish.

Jobs claimed ahead (slots.py) and not started yet when a pause arrives are given
back at once: released, their attempt not counted. An operator pauses to have
nothing more start, often because what the jobs talk to is in trouble; held, up
to `daemon.claim_batch` of them would still start after the pause took effect.

`syncd resume` deletes the rows; every daemon wakes the queue at once.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from syncd import inspect, queries
from syncd.job import Job
from syncd.queues import Queue

if TYPE_CHECKING:
    from syncd.slots import QueueState

WHOLE = "*"  # the kind that stands for the whole queue
CHANNEL = "syncd_pauses"  # the trigger of migration 0012 notifies here


class NotPaused(ValueError):
    """`resume` of something that is not paused."""


def kind_of(queue: Queue, kind: str | None) -> str:
    """The row's kind for `--kind`: WHOLE when none is given; a clear error for a blank."""
    if kind is None:
        return WHOLE
    if not kind.strip():
        raise ValueError(f"--kind needs a value: the {queue.kind_label} to pause")
    if kind == WHOLE:
        raise ValueError(f"{WHOLE!r} stands for the whole queue: leave out --kind")
    return kind


def what(queue: Queue, kind: str) -> str:
    """A pause's subject in words: the whole queue, or one kind of its jobs."""
    if kind == WHOLE:
        return f"the {queue.name} queue"
    return f"{queue.kind_label} {kind!r} of the {queue.name} queue"


async def pause(
    conn: asyncpg.Connection,
    queue: Queue,
    kind: str | None,
    actor: str,
    reason: str | None = None,
    via: str = "cli",
) -> bool:
    """Pause `queue` (or one kind of it), audited; False when that pause was in force."""
    row_kind = kind_of(queue, kind)
    async with conn.transaction():
        added = await conn.fetchval(
            queries.load("pause_add"), queue.name, row_kind, actor, reason or None
        )
        if added is not None:
            await inspect.audit(
                conn, actor, "pause", queue, [], kind=row_kind, reason=reason, via=via
            )
    return added is not None


async def resume(
    conn: asyncpg.Connection, queue: Queue, kind: str | None, actor: str, via: str = "cli"
) -> list[str]:
    """Lift the pause of one kind, or every pause of `queue` (kind None), audited.

    Returns the kinds lifted; raises NotPaused, saying what is paused, if none was."""
    if kind is not None:
        kind = kind_of(queue, kind)
    async with conn.transaction():
        rows = await conn.fetch(queries.load("pause_lift"), queue.name, kind)
        lifted = sorted(r["kind"] for r in rows)
        if lifted:
            await inspect.audit(conn, actor, "resume", queue, [], kinds=lifted, via=via)
    if not lifted:
        raise NotPaused(await _not_paused(conn, queue, kind))
    return lifted


async def _not_paused(conn: asyncpg.Connection, queue: Queue, kind: str | None) -> str:
    paused = (await in_force(conn)).get(queue.name, [])
    if kind is None or not paused:
        return f"{what(queue, kind or WHOLE)} is not paused"
    others = ", ".join("the whole queue" if k == WHOLE else repr(k) for k in paused)
    return (
        f"{what(queue, kind)} is not paused (paused: {others};"
        f" `syncd resume {queue.name}` lifts them all)"
    )


async def in_force(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, list[str]]:
    """The pauses in force, {queue: [kinds]} ('*': the whole queue), for the metrics."""
    value = await conn.fetchval(queries.load("pauses_in_force"))
    return decode(value)


def decode(value: Any) -> dict[str, list[str]]:
    # A connection without syncd's jsonb codec (db.init_connection) gives the text.
    return json.loads(value) if isinstance(value, str) else dict(value or {})


async def listing(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every pause in force with when, by whom and why, for status and the console."""
    return [
        {
            "queue": r["queue"],
            "kind": r["kind"],
            "paused_at": r["paused_at"].isoformat(),
            "paused_by": r["paused_by"],
            "reason": r["reason"],
            "paused_s": r["paused_s"],
        }
        for r in await conn.fetch(queries.load("pauses_list"))
    ]


# -- in the daemon ---------------------------------------------------------------------


def follow(
    states: Mapping[str, QueueState], in_force: Mapping[str, Sequence[str]], log: Any
) -> bool:
    """Take the pauses in force into the queues' states, logging each change once;
    True when anything changed.

    A lifted pause wakes its queue: jobs may have waited for it all along."""
    changed = False
    for name, state in states.items():
        now = frozenset(in_force.get(name, ()))
        if now == state.paused:
            continue
        changed = True
        for kind in sorted(now - state.paused):
            log.info("queue.paused", **_fields(name, kind))
        for kind in sorted(state.paused - now):
            log.info("queue.resumed", **_fields(name, kind))
        if state.paused - now:
            state.wanted = state.fresh = True
        state.paused = now
    return changed


def _fields(queue: str, kind: str) -> dict[str, str]:
    return {"queue": queue} if kind == WHOLE else {"queue": queue, "kind": kind}


def unstartable(states: Mapping[str, QueueState]) -> list[Job]:
    """Jobs claimed ahead that a pause now covers, taken out of `ready` to be given back."""
    given_back: list[Job] = []
    for state in states.values():
        if not state.paused or not state.ready:
            continue
        keep: deque[Job] = deque()
        for job in state.ready:
            paused = WHOLE in state.paused or state.queue.kind(job) in state.paused
            (given_back if paused else keep).append(job)
        state.ready = keep
    return given_back


# -- the commands ------------------------------------------------------------------------


def add_commands(sub: Any) -> None:
    """`syncd pause` and `syncd resume`; cli.py registers them."""
    pa = sub.add_parser(
        "pause", help="stop new claims on a queue (or one kind) in every daemon; running finish"
    )
    pa.add_argument("queue", metavar="QUEUE", help="sync or documents")
    pa.add_argument(
        "--kind", metavar="KIND", help="only this entity type (sync) or operation (documents)"
    )
    pa.add_argument("--reason", metavar="TEXT", help="why, for status, the console and the audit")
    rs = sub.add_parser("resume", help="lift a pause: the queue's jobs start again at once")
    rs.add_argument("queue", metavar="QUEUE", help="sync or documents")
    rs.add_argument(
        "--kind", metavar="KIND", help="only this kind's pause (default: every pause of QUEUE)"
    )


async def command(conn: asyncpg.Connection, args: Any, actor: str) -> str:
    """Carry out `syncd pause` or `syncd resume`; the line to print.

    Raises ValueError (NotPaused among them) for a mistake, to print as one line."""
    from syncd.queues import named

    queue = named(args.queue)
    if args.command == "pause":
        row_kind = kind_of(queue, args.kind)
        if not await pause(conn, queue, args.kind, actor, args.reason):
            return f"{what(queue, row_kind)} was already paused"
        return f"paused {what(queue, row_kind)}: no new job starts; running jobs finish"
    lifted = await resume(conn, queue, args.kind, actor)
    return "resumed " + ", ".join(what(queue, k) for k in lifted)
