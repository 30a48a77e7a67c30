"""``monday_items``: which monday item each entity was pushed to, and what was sent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncd import queries

if TYPE_CHECKING:
    import asyncpg


@dataclass(frozen=True, slots=True)
class Pushed:
    item_id: int
    values_hash: str


async def find(
    pool: asyncpg.Pool, entity_type: str, entity_id: uuid.UUID, board_id: int
) -> Pushed | None:
    row = await pool.fetchrow(queries.load("monday_item_find"), entity_type, entity_id, board_id)
    return None if row is None else Pushed(int(row["item_id"]), str(row["values_hash"]))


async def remember(
    pool: asyncpg.Pool,
    entity_type: str,
    entity_id: uuid.UUID,
    board_id: int,
    item_id: int,
    values_hash: str,
    pushed_values: dict[str, Any] | None = None,
) -> None:
    """`pushed_values`: the item name ("name") and column values that were sent."""
    await pool.execute(
        queries.load("monday_item_remember"),
        entity_type,
        entity_id,
        board_id,
        item_id,
        values_hash,
        pushed_values,
    )


@dataclass(frozen=True, slots=True)
class Link:
    """An item's entity, and what syncd last pushed to the item (None: not known)."""

    entity_type: str
    entity_id: uuid.UUID
    values_hash: str
    pushed_values: dict[str, Any] | None


async def of_item(pool: asyncpg.Pool, board_id: int, item_id: int) -> list[Link]:
    """The entities linked to one item (normally one; a mapping per entity type)."""
    found = await pool.fetch(queries.load("monday_item_of_item"), board_id, item_id)
    return [
        Link(r["entity_type"], r["entity_id"], str(r["values_hash"]), r["pushed_values"])
        for r in found
    ]


async def forget(pool: asyncpg.Pool, entity_type: str, entity_id: uuid.UUID, board_id: int) -> None:
    await pool.execute(queries.load("monday_item_forget"), entity_type, entity_id, board_id)
