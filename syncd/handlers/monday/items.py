"""``monday_items``: which monday item each entity was pushed to, and what was sent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
) -> None:
    await pool.execute(
        queries.load("monday_item_remember"), entity_type, entity_id, board_id, item_id, values_hash
    )


async def forget(pool: asyncpg.Pool, entity_type: str, entity_id: uuid.UUID, board_id: int) -> None:
    await pool.execute(queries.load("monday_item_forget"), entity_type, entity_id, board_id)
