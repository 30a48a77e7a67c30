"""Comparing a board with the rows: the backfill that adopts a board's existing items,
and the reconcile that finds drift (SPEC §11).

Both read every row of the entity type (or those an operator's ``--where`` names)
and page through every item of the board, within the budget, through the same paced
client the daemon uses. Then each row is paired with its item:

1. by ``monday_items`` (the item syncd already knows for it) and by the key column,
   which holds the entity id of every item syncd made;
2. a backfill only: for a row without an item, by the entity's ``match`` field
   (email, website, name) among the items whose key column is empty.

Nothing is guessed. Two items for one row, or one item that matches two rows, is a
*duplicate*: reported with both ids and left alone (no link, no job) for a person to
resolve on the board.

Each pair is then compared as the handler would: would a push change the item (the
CRM-owned columns and the name), would a pull change the row (the monday-owned and
shared fields, the entity's conflict rule deciding the shared ones)? The result is a
`Plan`: rows to create, items to update, rows to pull, pairs unchanged, items of no
row, duplicates. Carrying it out records every pair in ``monday_items`` (so the next
push updates instead of creating a second item), fills the key column of adopted
items, and enqueues only what differs, at a low priority so that live changes go
first. A second run finds every pair unchanged and does nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import structlog

from syncd import queries
from syncd.errors import RateLimited
from syncd.handlers.monday import columns, crm_graphql, rows
from syncd.handlers.monday.client import Answer, MondayClient, idempotency_key
from syncd.handlers.monday.errors import ItemGone
from syncd.handlers.monday.handler import pushed, winner
from syncd.handlers.monday.operations import Operation
from syncd.handlers.monday.settings import EntityMapping

log = structlog.get_logger("syncd.monday")

Mode = Literal["backfill", "reconcile"]
# The longest a command waits out a spent budget or a shared pause before it stops
# (a run stopped half way is safe to start again: it carries on where it was).
MAX_WAIT = 15 * 60.0
SEVERAL_ITEMS = "several items for one row"
SEVERAL_ROWS = "one item for several rows"


class Stopped(Exception):
    """monday cannot be used for longer than MAX_WAIT, or the board is not there."""


@dataclass(frozen=True, slots=True)
class Duplicate:
    kind: str
    entity_ids: list[uuid.UUID]
    item_ids: list[int]


@dataclass(frozen=True, slots=True)
class Link:
    entity_id: uuid.UUID
    item_id: int
    values_hash: str
    pushed_values: dict[str, Any] | None


@dataclass
class Plan:
    entity_type: str
    board_id: int
    mode: Mode
    match: str | None = None
    rows: int = 0
    items: int = 0
    create: list[uuid.UUID] = field(default_factory=list)
    update: list[uuid.UUID] = field(default_factory=list)
    pull: list[uuid.UUID] = field(default_factory=list)
    unchanged: int = 0
    # Pairs made through the match field: their key column is filled.
    adopted: int = 0
    unmatched_items: list[int] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    # Rows whose values cannot be written to their columns (the push would fail).
    invalid: dict[uuid.UUID, str] = field(default_factory=dict)
    # Reconcile: rows never linked to an item (a backfill's business, not drift).
    unlinked: int = 0
    # What carrying the plan out writes.
    links: list[Link] = field(default_factory=list)
    fill_key: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    stale: list[uuid.UUID] = field(default_factory=list)
    # Reconcile: what differs, per entity, for the monday.drift events.
    drift: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)

    @property
    def changes(self) -> int:
        """Everything carrying the plan out would write or enqueue (0: nothing to do)."""
        return (
            len(self.create)
            + len(self.update)
            + len(self.pull)
            + len(self.links)
            + len(self.fill_key)
            + len(self.stale)
        )

    def summary(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "board_id": self.board_id,
            "mode": self.mode,
            "rows": self.rows,
            "items": self.items,
            "create": len(self.create),
            "update": len(self.update),
            "pull": len(self.pull),
            "unchanged": self.unchanged,
            "adopted": self.adopted,
            "unmatched_items": len(self.unmatched_items),
            "duplicates": len(self.duplicates),
            "invalid": len(self.invalid),
            "unlinked_rows": self.unlinked,
            "links_to_record": len(self.links),
            "keys_to_fill": len(self.fill_key),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "duplicate_pairs": [
                {
                    "kind": d.kind,
                    "entity_ids": [str(e) for e in d.entity_ids],
                    "item_ids": d.item_ids,
                }
                for d in self.duplicates
            ],
            "unmatched_item_ids": self.unmatched_items,
            "invalid_rows": {str(e): why for e, why in self.invalid.items()},
        }

    def render(self) -> str:
        s = self.summary()
        lines = [
            f"{self.mode} {self.entity_type} (board {self.board_id}): "
            f"{self.rows} rows, {self.items} items",
            f"  {'create':<16}{s['create']:>8}   rows with no item: pushed as new items",
            f"  {'update':<16}{s['update']:>8}   items that differ from their row: pushed",
            f"  {'pull':<16}{s['pull']:>8}   rows that differ in monday-owned fields: pulled",
            f"  {'unchanged':<16}{s['unchanged']:>8}",
            f"  {'adopted':<16}{s['adopted']:>8}   matched by {self._match()}: key column filled",
            f"  {'unmatched items':<16}{s['unmatched_items']:>8}   items of no row: left alone",
            f"  {'duplicates':<16}{s['duplicates']:>8}   left alone: resolve them on the board",
        ]
        if self.mode == "reconcile":
            lines.append(f"  {'unlinked rows':<16}{self.unlinked:>8}   never pushed: see backfill")
        if self.invalid:
            lines.append(f"  {'invalid rows':<16}{len(self.invalid):>8}   their push would fail")
        for d in self.duplicates:
            lines.append(
                f"  ! {d.kind}: {self.entity_type} "
                + ", ".join(str(e) for e in d.entity_ids)
                + "; items "
                + ", ".join(str(i) for i in d.item_ids)
            )
        for entity_id, why in list(self.invalid.items())[:20]:
            lines.append(f"  ! invalid {self.entity_type} {entity_id}: {why}")
        return "\n".join(lines)

    def _match(self) -> str:
        if self.mode == "reconcile":
            return "nothing (a reconcile adopts no item)"
        return self.match or "nothing (no match field is configured)"


# -- talking to monday --------------------------------------------------------------


async def call(
    client: MondayClient,
    document: Operation,
    variables: dict[str, Any],
    *,
    board_id: int | None = None,
    key: str | None = None,
) -> Answer:
    """One call from a command, which has no job to snooze: a spent budget or a
    shared pause is waited out (up to MAX_WAIT), never hammered."""
    waited = 0.0
    while True:
        try:
            return await client.call(document, variables, board_id=board_id, idempotency_key=key)
        except RateLimited as exc:
            wait = max((exc.until - datetime.now(UTC)).total_seconds(), 0.05)
            if waited + wait > MAX_WAIT:
                raise Stopped(f"{exc}; run the command again later") from None
            log.info("monday.waiting", wait_s=round(wait, 3), reason=str(exc))
            await asyncio.sleep(wait)
            waited += wait


async def board_items(client: MondayClient, mapping: EntityMapping) -> list[dict[str, Any]]:
    """Every active item of the mapping's board, with the key and mapped columns."""
    wanted = [mapping.key_column, *(c.column for c in mapping.columns.values())]
    limit = crm_graphql.PAGE_SIZE
    answer = await call(
        client,
        crm_graphql.FIRST_PAGE,
        {"board": str(mapping.board_id), "limit": limit, "columns": wanted},
    )
    boards = answer.data.get("boards") or []
    if not boards or not isinstance(boards[0], dict):
        raise Stopped(f"monday has no board {mapping.board_id} (or the token cannot see it)")
    page = boards[0].get("items_page") or {}
    found = list(page.get("items") or [])
    cursor = page.get("cursor")
    while cursor:
        answer = await call(
            client, crm_graphql.NEXT_PAGE, {"cursor": cursor, "limit": limit, "columns": wanted}
        )
        page = answer.data.get("next_items_page") or {}
        found.extend(page.get("items") or [])
        cursor = page.get("cursor")
    return [i for i in found if isinstance(i, dict)]


# -- comparing ------------------------------------------------------------------------


async def compare(
    pool: asyncpg.Pool,
    client: MondayClient,
    entity_type: str,
    mapping: EntityMapping,
    *,
    mode: Mode,
    where: str | None = None,
) -> Plan:
    """What a backfill (or a reconcile) of `entity_type` would do; changes nothing."""
    board = mapping.board_id
    plan = Plan(entity_type, board, mode, mapping.match)
    by_id: dict[uuid.UUID, dict[str, Any]] = {}
    for row in await rows.read_all(pool, mapping, where):
        entity_id = as_entity_id(row.get(mapping.id_field))
        if entity_id is not None:
            by_id[entity_id] = row
    links = {
        r["entity_id"]: Link(
            r["entity_id"], int(r["item_id"]), r["values_hash"], r["pushed_values"]
        )
        for r in await pool.fetch(queries.load("monday_items_links"), entity_type, board)
    }
    found = await board_items(client, mapping)
    plan.rows, plan.items = len(by_id), len(found)
    on_board = {int(i["id"]): i for i in found}
    linked_items = {link.item_id for link in links.values()}

    # 1. What syncd knows: the key column and monday_items.
    keyed: dict[uuid.UUID, list[int]] = defaultdict(list)
    free: list[dict[str, Any]] = []
    for item in found:
        item_id, key = int(item["id"]), _text(item, mapping.key_column)
        if key:
            entity_id = as_entity_id(key)
            if entity_id in by_id:
                keyed[entity_id].append(item_id)
            else:
                plan.unmatched_items.append(item_id)
        elif item_id not in linked_items:
            free.append(item)
    candidates: dict[uuid.UUID, list[int]] = {}
    for entity_id in by_id:
        items = list(keyed.get(entity_id, []))
        link = links.get(entity_id)
        if link is not None:
            if link.item_id not in on_board:
                plan.stale.append(entity_id)
            elif link.item_id not in items:
                items.append(link.item_id)
        if items:
            candidates[entity_id] = items

    # 2. A backfill only: the match field, among the items without a key.
    held: set[uuid.UUID] = set()
    adopted: set[uuid.UUID] = set()
    if mode == "backfill" and mapping.match is not None:
        held, adopted = _match(mapping, plan, by_id, candidates, free)
    else:
        plan.unmatched_items.extend(int(i["id"]) for i in free)

    # 3. Each row with its item.
    for entity_id, row in by_id.items():
        items = candidates.get(entity_id, [])
        if len(items) > 1:
            plan.duplicates.append(Duplicate(SEVERAL_ITEMS, [entity_id], sorted(items)))
            continue
        if entity_id in held:
            continue
        if not items:
            if mode == "backfill" or entity_id in links:
                plan.create.append(entity_id)  # never made, or gone from the board
            else:
                plan.unlinked += 1
            continue
        item = on_board[items[0]]
        _pair(mapping, plan, entity_id, row, item, links.get(entity_id), entity_id in adopted)
    plan.unmatched_items.sort()
    return plan


def _match(
    mapping: EntityMapping,
    plan: Plan,
    by_id: dict[uuid.UUID, dict[str, Any]],
    candidates: dict[uuid.UUID, list[int]],
    free: list[dict[str, Any]],
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Pair rows with key-less items by the match field; returns (held, adopted):
    the rows a duplicate holds back, and the rows newly paired."""
    assert mapping.match is not None
    column = mapping.match_column()
    rows_by_value: dict[str, list[uuid.UUID]] = defaultdict(list)
    for entity_id, row in by_id.items():
        value = _normal(row.get(mapping.match))
        if value:
            rows_by_value[value].append(entity_id)
    matched: dict[uuid.UUID, list[int]] = defaultdict(list)
    held: set[uuid.UUID] = set()
    for item in free:
        item_id = int(item["id"])
        value = _normal(_match_value(mapping, item, column))
        owners = rows_by_value.get(value, []) if value else []
        if not owners:
            plan.unmatched_items.append(item_id)
        elif len(owners) > 1:
            plan.duplicates.append(Duplicate(SEVERAL_ROWS, sorted(owners), [item_id]))
            held.update(owners)
        elif owners[0] in candidates:
            # The row has its item already (by key): this one is a second item of it.
            plan.duplicates.append(
                Duplicate(SEVERAL_ITEMS, owners, sorted([*candidates[owners[0]], item_id]))
            )
        else:
            matched[owners[0]].append(item_id)
    adopted: set[uuid.UUID] = set()
    for entity_id, items in matched.items():
        if len(items) > 1:
            plan.duplicates.append(Duplicate(SEVERAL_ITEMS, [entity_id], sorted(items)))
            held.add(entity_id)
        elif entity_id not in held:
            candidates[entity_id] = items
            adopted.add(entity_id)
    return held, adopted


def _pair(
    mapping: EntityMapping,
    plan: Plan,
    entity_id: uuid.UUID,
    row: dict[str, Any],
    item: dict[str, Any],
    link: Link | None,
    adopted: bool,
) -> None:
    """Compare one row with its item, as a push and a pull would, and plan for it."""
    item_id = int(item["id"])
    if adopted:
        plan.adopted += 1
    if not _text(item, mapping.key_column):
        plan.fill_key.append((entity_id, item_id))
    try:
        name = columns.item_name(mapping, row, str(entity_id))
        values = columns.column_values(mapping, row)
    except columns.InvalidValue as exc:
        plan.invalid[entity_id] = str(exc)
        return
    digest = columns.values_hash(name, mapping.group_id, values)
    differ = columns.unheld(mapping, item, name, values)
    theirs = columns.pulled_values(mapping, item, row)
    # As in a pull: a shared field is monday's unless the row changed it too since
    # the last sync (or there was none), when the conflict rule decides.
    row_changed = link is None or link.values_hash != digest
    shared = [f for f in theirs if mapping.columns[f].direction == "both"]
    owned = [f for f in theirs if mapping.columns[f].direction == "to_npd"]
    monday_wins = bool(shared) and (not row_changed or winner(mapping, row, item)[0] == "monday")
    if owned or monday_wins:
        plan.pull.append(entity_id)
        plan.drift[entity_id] = {"item_id": item_id, "fields": sorted(theirs), "columns": differ}
        plan.links.append(Link(entity_id, item_id, "", None))
    elif differ:
        plan.update.append(entity_id)
        plan.drift[entity_id] = {"item_id": item_id, "fields": [], "columns": differ}
        plan.links.append(Link(entity_id, item_id, "", None))
    else:
        plan.unchanged += 1
        sent = pushed(name, values)
        if link is None or (link.item_id, link.values_hash, link.pushed_values) != (
            item_id,
            digest,
            sent,
        ):
            plan.links.append(Link(entity_id, item_id, digest, sent))


# -- carrying a plan out ----------------------------------------------------------------


@dataclass
class Done:
    links: int = 0
    keys_filled: int = 0
    keys_failed: list[int] = field(default_factory=list)
    forgotten: int = 0
    enqueued: int = 0


async def carry_out(
    pool: asyncpg.Pool,
    client: MondayClient,
    mapping: EntityMapping,
    plan: Plan,
    *,
    priority: int,
) -> Done:
    """Record the pairs, fill the adopted items' key column, enqueue what differs."""
    done = Done()
    board, entity_type = mapping.board_id, plan.entity_type
    run = uuid.uuid4()
    if plan.links:
        await pool.execute(
            queries.load("monday_items_record"),
            entity_type,
            board,
            [link.entity_id for link in plan.links],
            [link.item_id for link in plan.links],
            [link.values_hash for link in plan.links],
            [link.pushed_values for link in plan.links],
        )
        done.links = len(plan.links)
    if plan.stale:
        await pool.execute(queries.load("monday_items_forget_many"), entity_type, board, plan.stale)
        done.forgotten = len(plan.stale)
    for entity_id, item_id in plan.fill_key:
        variables = {
            "board": str(board),
            "item": str(item_id),
            "column": mapping.key_column,
            "value": str(entity_id),
        }
        # Per run: a retry within the run replays, a later run (a key a person
        # cleared since) writes again instead of replaying a stale answer.
        key = idempotency_key(f"backfill:{run}:{entity_id}", crm_graphql.SET_KEY, variables)
        try:
            await call(client, crm_graphql.SET_KEY, variables, board_id=board, key=key)
            done.keys_filled += 1
        except ItemGone:
            done.keys_failed.append(item_id)
    for direction, entities in (("to_monday", plan.create + plan.update), ("to_npd", plan.pull)):
        if entities:
            await pool.execute(
                queries.load("enqueue_sync_many"), entity_type, entities, direction, priority
            )
            done.enqueued += len(entities)
    return done


# -- small readings -----------------------------------------------------------------------


def as_entity_id(value: Any) -> uuid.UUID | None:
    """An entity id from a key column's text or a row's id field; None if it is none."""
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        return None


def _text(item: dict[str, Any], column: str) -> str:
    for cv in item.get("column_values") or []:
        if isinstance(cv, dict) and cv.get("id") == column:
            return str(cv.get("text") or "").strip()
    return ""


def _match_value(mapping: EntityMapping, item: dict[str, Any], column: str | None) -> Any:
    if column == "name":
        return item.get("name")
    assert mapping.match is not None
    kind = mapping.columns[mapping.match]
    for cv in item.get("column_values") or []:
        if isinstance(cv, dict) and cv.get("id") == column:
            return columns.decode(kind, cv.get("value"), cv.get("text"), None)
    return None


def _normal(value: Any) -> str:
    """What two match values are compared as: case, spaces and a trailing / aside."""
    if value is None:
        return ""
    return str(value).strip().casefold().rstrip("/")
