"""Rows to work on, made with plain INSERTs as an application makes them."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg


async def add_contact(conn: asyncpg.Connection, **fields: Any) -> uuid.UUID:
    values = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", **fields}
    cols = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    row_id: uuid.UUID = await conn.fetchval(
        f"INSERT INTO contacts ({cols}) VALUES ({params}) RETURNING id", *values.values()
    )
    return row_id


async def add_document(conn: asyncpg.Connection, storage_path: str = "a.txt") -> uuid.UUID:
    doc_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO documents (filename, content_type, storage_path) "
        "VALUES ($1, 'text/plain', $1) RETURNING id",
        storage_path,
    )
    return doc_id


async def enqueue(
    conn: asyncpg.Connection,
    entity_type: str = "contact",
    entity_id: uuid.UUID | None = None,
    **columns: Any,
) -> uuid.UUID | None:
    """A plain INSERT, as an application makes it; returns the job it made or merged into."""
    values = {"entity_type": entity_type, "entity_id": entity_id or uuid.uuid4(), **columns}
    cols = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    job_id: uuid.UUID | None = await conn.fetchval(
        f"INSERT INTO sync_queue ({cols}) VALUES ({params}) RETURNING id", *values.values()
    )
    if job_id is None:  # a pending job: the merge trigger inserted (or merged) it
        job_id = await conn.fetchval(
            # A daemon may have claimed it already: the newest job for the entity.
            "SELECT id FROM sync_queue WHERE entity_type = $1 AND entity_id = $2 "
            "AND direction = $3 ORDER BY status = 'pending' DESC, created_at DESC LIMIT 1",
            values["entity_type"],
            values["entity_id"],
            values.get("direction", "to_monday"),
        )
    return job_id


async def job_row(conn: asyncpg.Connection, job_id: uuid.UUID, table: str = "sync_queue") -> Any:
    return await conn.fetchrow(f"SELECT * FROM {table} WHERE id = $1", job_id)


async def keep_processing(conn: asyncpg.Connection, job_id: uuid.UUID) -> None:
    """A constraint such as a host might add, which refuses any write that would move
    the sync job out of `processing`: the database refusing one row of a batch."""
    await conn.execute(
        f"ALTER TABLE sync_queue ADD CONSTRAINT ck_test_keep_{job_id.hex}"
        f" CHECK (id <> '{job_id}' OR status = 'processing') NOT VALID"
    )
