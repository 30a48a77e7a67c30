"""Reading and writing an entity's row in the host application's table.

The table and its fields come from configuration, so these statements cannot live
in ``syncd/queries/`` as fixed text: they are built here, with every name quoted as
an identifier (never spliced as text) and every value passed as a parameter.

Rows travel as JSON (``to_jsonb`` out, ``jsonb_populate_record`` in) so that any
column type works: PostgreSQL itself converts between the JSON value and the
column's type, the same way in both directions.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from syncd.handlers.monday.settings import EntityMapping

if TYPE_CHECKING:
    import asyncpg


def quote(name: str) -> str:
    """A safely quoted SQL identifier: ``we"ird`` -> ``"we""ird"``."""
    return '"' + name.replace('"', '""') + '"'


def table(mapping: EntityMapping) -> str:
    return ".".join(quote(part) for part in mapping.table.split("."))


async def read(
    pool: asyncpg.Pool, mapping: EntityMapping, entity_id: uuid.UUID
) -> dict[str, Any] | None:
    """The mapping's fields of the entity's row as JSON-like values, or None when there
    is no such row.

    Only the fields the mapping names are read, never the whole row, so syncd's role
    needs SELECT on those columns alone (README: "Database roles and privileges").
    """
    fields = ", ".join(f"t.{quote(name)}" for name in mapping.fields())
    sql = (
        f"SELECT to_jsonb(r) FROM (SELECT {fields} FROM {table(mapping)} AS t "
        f"WHERE t.{quote(mapping.id_field)} = $1) AS r"
    )
    value = await pool.fetchval(sql, entity_id)
    if value is None:
        return None
    row: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
    return row


async def write(
    pool: asyncpg.Pool, mapping: EntityMapping, entity_id: uuid.UUID, values: dict[str, Any]
) -> bool:
    """Set some fields of the entity's row; False when the row is not there."""
    if not values:
        return True
    names = ", ".join(quote(name) for name in values)
    sql = (
        f"UPDATE {table(mapping)} AS t SET ({names}) = "
        f"(SELECT {names} FROM jsonb_populate_record(NULL::{table(mapping)}, $2::text::jsonb)) "
        f"WHERE t.{quote(mapping.id_field)} = $1"
    )
    status = await pool.execute(sql, entity_id, json.dumps(values))
    return bool(status.endswith(" 1"))


async def read_all(
    pool: asyncpg.Pool, mapping: EntityMapping, where: str | None = None
) -> list[dict[str, Any]]:
    """The mapping's fields of every row (or those `where`, an operator's SQL
    condition), for a backfill or a reconcile.

    `where` is the operator's own SQL, as `psql` would take it; it runs in a read-only
    transaction so that a condition with a side effect is refused, not run.
    """
    fields = ", ".join(f"t.{quote(name)}" for name in mapping.fields())
    condition = f" WHERE ({where})" if where else ""
    sql = f"SELECT to_jsonb(r) FROM (SELECT {fields} FROM {table(mapping)} AS t{condition}) AS r"
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        found = await conn.fetch(sql)
    return [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in found]
