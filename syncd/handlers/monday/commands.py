"""`syncd monday backfill|reconcile|webhooks`: the CRM commands (SPEC §11).

Their arguments are declared in `command_line.py`, which `syncd.cli` imports for every
command; this module, which loads the monday client, only when one of them runs
(`RUN` maps the name the parser sets to its function). Every call to monday goes
through the same paced `MondayClient` as the daemon's, with its shared pause.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg

from syncd import db, queries
from syncd.errors import JobError, UserError
from syncd.handlers.monday import backfill, crm_graphql, reconcile
from syncd.handlers.monday.client import Answer, MondayClient, idempotency_key
from syncd.handlers.monday.errors import MondayRefused
from syncd.handlers.monday.operations import Operation
from syncd.handlers.monday.settings import EntityMapping, MondaySettings
from syncd.terminal import printable, printable_lines

if TYPE_CHECKING:
    from syncd.config import Settings


# -- the commands ------------------------------------------------------------------------


def cmd_backfill(settings: Settings, args: argparse.Namespace) -> int:
    mapping = _mapping(settings, args.entity_type)
    priority = settings.monday.reconcile.priority if args.priority is None else args.priority

    async def work(pool: asyncpg.Pool, client: MondayClient) -> int:
        plan = await backfill.compare(
            pool, client, args.entity_type, mapping, mode="backfill", where=args.where
        )
        done = None
        if not args.dry_run:
            done = await backfill.carry_out(pool, client, mapping, plan, priority=priority)
        if args.json:
            report = plan.as_json()
            report["dry_run"] = args.dry_run
            if done is not None:
                report["done"] = vars(done)
            print(json.dumps(report, indent=2))
        else:
            print(printable_lines(plan.render()))
            if done is None:
                print("dry run: nothing was changed")
            else:
                print(
                    f"recorded {done.links} item link(s), filled {done.keys_filled} key "
                    f"column(s), enqueued {done.enqueued} job(s) at priority {priority}"
                )
                if done.keys_failed:
                    print(f"  ! items gone before their key was filled: {done.keys_failed}")
        return 0

    return _with_monday(settings, work)


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    chosen = _entities(settings, args.entity_type)

    async def work(pool: asyncpg.Pool, client: MondayClient) -> int:
        try:
            async with reconcile.exclusive(pool):
                for entity_type, mapping in chosen.items():
                    done = await reconcile.reconcile(
                        pool,
                        client,
                        entity_type,
                        mapping,
                        dry_run=args.dry_run,
                        priority=settings.monday.reconcile.priority,
                    )
                    if args.json:
                        print(json.dumps({**done.plan.summary(), "enqueued": done.enqueued}))
                    else:
                        print(printable_lines(done.plan.render()))
                        print(
                            f"  drifted {done.drifted}, enqueued {done.enqueued}"
                            + (" (dry run)" if args.dry_run else "")
                        )
        except reconcile.Busy as exc:
            raise UserError(str(exc)) from None
        return 0

    return _with_monday(settings, work)


def cmd_webhooks(settings: Settings, args: argparse.Namespace) -> int:
    chosen = _entities(settings, args.entity)
    run = {"install": install, "list": listing, "remove": remove}[args.action]

    async def work(pool: asyncpg.Pool, client: MondayClient) -> int:
        for line in await run(pool, client, settings.monday, chosen):
            print(printable(line))
        return 0

    return _with_monday(settings, work)


# -- webhooks through the API --------------------------------------------------------------


async def install(
    pool: asyncpg.Pool,
    client: MondayClient,
    settings: MondaySettings,
    entities: dict[str, EntityMapping],
) -> list[str]:
    """Subscribe each mapped board to the configured events (those not there yet)."""
    hooks = settings.webhooks
    if hooks is None:
        raise UserError("[monday.webhooks] is not configured (see README: Switching to syncd)")
    if hooks.public_url is None:
        raise UserError(
            "monday.webhooks.public_url: needed to install webhooks (where monday reaches "
            "this daemon's HTTP listener, e.g. https://syncd.example.com)"
        )
    url = hooks.public_url.rstrip("/") + hooks.resolve_path()
    ours = await _installed(pool)
    lines = []
    for board, mappings in _boards(entities).items():
        existing = await _board_webhooks(client, board)
        for event, config in _subscriptions(hooks.events, mappings):
            there = [
                h
                for h in existing
                if int(h["id"]) in ours and h.get("event") == event and _same(h, config)
            ]
            if there:
                lines.append(f"board {board} {_label(event, config)}: installed already")
                continue
            variables = {"board": str(board), "url": url, "event": event, "config": config}
            answer = await _change(client, crm_graphql.CREATE_WEBHOOK, variables, board)
            made = answer.data.get("create_webhook") or {}
            webhook_id = int(made["id"])
            await pool.execute(queries.load("monday_webhook_add"), webhook_id, board, event)
            lines.append(f"board {board} {_label(event, config)}: installed webhook {webhook_id}")
    return lines


async def listing(
    pool: asyncpg.Pool,
    client: MondayClient,
    settings: MondaySettings,
    entities: dict[str, EntityMapping],
) -> list[str]:
    """Every webhook on the mapped boards; those syncd installed are marked."""
    ours = await _installed(pool)
    lines = []
    for board in _boards(entities):
        found = await _board_webhooks(client, board)
        if not found:
            lines.append(f"board {board}: no webhooks")
        for h in found:
            mark = "syncd" if int(h["id"]) in ours else "other"
            config = f" {h['config']}" if h.get("config") else ""
            lines.append(f"board {board} webhook {h['id']} {h['event']}{config} ({mark})")
    return lines


async def remove(
    pool: asyncpg.Pool,
    client: MondayClient,
    settings: MondaySettings,
    entities: dict[str, EntityMapping],
) -> list[str]:
    """Delete the webhooks syncd installed on the mapped boards (and only those)."""
    boards = _boards(entities)
    lines = []
    for webhook_id, r in (await _installed(pool)).items():
        if r["board_id"] not in boards:
            continue
        try:
            await _change(
                client, crm_graphql.DELETE_WEBHOOK, {"id": str(webhook_id)}, r["board_id"]
            )
            lines.append(f"board {r['board_id']} {r['event']}: removed webhook {webhook_id}")
        except MondayRefused as exc:
            lines.append(f"board {r['board_id']} webhook {webhook_id}: gone already ({exc})")
        await pool.execute(queries.load("monday_webhook_forget"), webhook_id)
    return lines or ["no webhooks installed by syncd"]


async def _installed(pool: asyncpg.Pool) -> dict[int, asyncpg.Record]:
    """The webhooks syncd installed (`monday_webhooks`), by id: the only ones `remove`
    deletes, and those `install` and `list` call syncd's."""
    return {r["webhook_id"]: r for r in await pool.fetch(queries.load("monday_webhook_list"))}


async def _change(
    client: MondayClient, document: Operation, variables: dict[str, Any], board: int
) -> Answer:
    """A webhook made or deleted, as every mutation is sent, with an Idempotency-Key: of
    a fresh id (a command has no job to name it), the same for each try `backfill.call`
    makes while it waits out a spent budget."""
    key = idempotency_key(uuid.uuid4(), document, variables)
    return await backfill.call(client, document, variables, board_id=board, key=key)


async def _board_webhooks(client: MondayClient, board: int) -> list[dict[str, Any]]:
    answer = await backfill.call(client, crm_graphql.LIST_WEBHOOKS, {"board": str(board)})
    return [h for h in answer.data.get("webhooks") or [] if isinstance(h, dict)]


def _subscriptions(
    events: Sequence[str], mappings: list[EntityMapping]
) -> list[tuple[str, str | None]]:
    """(event, config) pairs: change_specific_column_value once per pulled column."""
    found: list[tuple[str, str | None]] = []
    for event in events:
        if event != "change_specific_column_value":
            found.append((event, None))
            continue
        for mapping in mappings:
            for column in mapping.pulled_columns().values():
                pair = (event, json.dumps({"columnId": column.column}))
                if pair not in found:
                    found.append(pair)
    return found


def _same(hook: dict[str, Any], config: str | None) -> bool:
    if config is None:
        return True
    try:
        return bool(json.loads(hook.get("config") or "null") == json.loads(config))
    except ValueError:
        return False


def _label(event: str, config: str | None) -> str:
    return event if config is None else f"{event} {config}"


def _boards(entities: dict[str, EntityMapping]) -> dict[int, list[EntityMapping]]:
    boards: dict[int, list[EntityMapping]] = {}
    for mapping in entities.values():
        boards.setdefault(mapping.board_id, []).append(mapping)
    return boards


# -- running against the database and monday ---------------------------------------------


def _mapping(settings: Settings, entity_type: str) -> EntityMapping:
    return _entities(settings, entity_type)[entity_type]


def _entities(settings: Settings, entity_type: str | None) -> dict[str, EntityMapping]:
    entities = settings.monday.entities
    if not entities:
        raise UserError("no [monday.entities.*] are configured")
    if entity_type is None:
        return dict(entities)
    if entity_type not in entities:
        known = ", ".join(sorted(entities))
        raise UserError(f"unknown entity type {entity_type!r} (configured: {known})")
    return {entity_type: entities[entity_type]}


@asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[tuple[asyncpg.Pool, MondayClient]]:
    """A pool and a started monday client, closed at the end of the block."""
    try:
        pool = await db.create_pool(settings)
    except (OSError, asyncpg.PostgresError, *db.CONNECTION_ERRORS) as exc:
        raise UserError(f"cannot connect to the database: {exc}") from None
    client = MondayClient(settings.monday)
    try:
        await client.start(pool)
        yield pool, client
    finally:
        await client.stop()
        await pool.close()


def _with_monday(
    settings: Settings, work: Callable[[asyncpg.Pool, MondayClient], Awaitable[int]]
) -> int:
    async def go() -> int:
        async with connected(settings) as (pool, client):
            try:
                return await work(pool, client)
            except backfill.Stopped as exc:
                raise UserError(str(exc)) from None
            except JobError as exc:
                raise UserError(f"monday: {exc}") from None

    try:
        return asyncio.run(go())
    except ValueError as exc:  # a token or secret file that cannot be read
        raise UserError(str(exc)) from None


RUN: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "backfill": cmd_backfill,
    "reconcile": cmd_reconcile,
    "webhooks": cmd_webhooks,
}
