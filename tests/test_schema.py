"""The schema contract of SPEC §2: what an application's INSERTs and queries rely on."""

from __future__ import annotations

import asyncpg
import pytest

from syncd import migrate

SEED_COLUMNS = [
    ("id", "uuid", "NO", "gen_random_uuid()"),
    ("document_id", "uuid", "NO", None),
    ("status", "character varying(20)", "NO", "'pending'::character varying"),
    ("operation", "character varying(20)", "NO", None),
    ("priority", "integer", "NO", "0"),
    ("attempts", "integer", "NO", "0"),
    ("max_attempts", "integer", "NO", "5"),
    ("last_attempt", "timestamp with time zone", "YES", None),
    ("next_retry", "timestamp with time zone", "YES", None),
    ("error_message", "text", "YES", None),
    ("created_at", "timestamp with time zone", "NO", "now()"),
    ("started_at", "timestamp with time zone", "YES", None),
    ("completed_at", "timestamp with time zone", "YES", None),
]

COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod),
       CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END,
       pg_get_expr(d.adbin, d.adrelid)
  FROM pg_attribute a
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""


async def test_document_queue_has_the_seed_columns(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(COLUMNS_SQL, "document_processing_queue")
    seed = [tuple(r) for r in rows][: len(SEED_COLUMNS)]
    assert seed == SEED_COLUMNS


async def test_document_queue_indexes_and_cascading_foreign_key(conn: asyncpg.Connection) -> None:
    indexes = {
        r["indexname"]: r["indexdef"]
        for r in await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'document_processing_queue'"
        )
    }
    for name in (
        "ix_document_processing_queue_document_id",
        "ix_document_processing_queue_status",
        "ix_document_processing_queue_next_retry",
        "ix_document_processing_queue_priority",
    ):
        assert name in indexes
    assert "WHERE" in indexes["ix_document_processing_queue_pending_retry"]
    assert "'pending'" in indexes["ix_document_processing_queue_pending_retry"]
    fk = await conn.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conname = 'fk_document_processing_queue_document_id'"
    )
    assert fk == "FOREIGN KEY (document_id) REFERENCES documents(id) ON DELETE CASCADE"

    doc = await conn.fetchval("INSERT INTO documents (filename) VALUES ('a') RETURNING id")
    await conn.execute(
        "INSERT INTO document_processing_queue (document_id, operation) VALUES ($1, 'extract')",
        doc,
    )
    await conn.execute("DELETE FROM documents WHERE id = $1", doc)
    assert await conn.fetchval("SELECT count(*) FROM document_processing_queue") == 0


async def test_an_application_insert_naming_only_documented_columns_works(
    conn: asyncpg.Connection,
) -> None:
    doc = await conn.fetchval("INSERT INTO documents (filename) VALUES ('a') RETURNING id")
    row = await conn.fetchrow(
        "INSERT INTO document_processing_queue (document_id, operation) "
        "VALUES ($1, 'extract') RETURNING *",
        doc,
    )
    assert (row["status"], row["attempts"], row["max_attempts"], row["priority"]) == (
        "pending",
        0,
        5,
        0,
    )
    await conn.execute(
        "INSERT INTO sync_queue (entity_type, entity_id) VALUES ('contact', gen_random_uuid())"
    )
    sync = await conn.fetchrow("SELECT * FROM sync_queue")
    assert (sync["direction"], sync["operation"], sync["payload"]) == ("to_monday", "upsert", {})


@pytest.mark.parametrize(
    ("column", "value"),
    [("direction", "sideways"), ("operation", "explode"), ("status", "done")],
)
async def test_bad_values_are_refused_at_insert(
    conn: asyncpg.Connection, column: str, value: str
) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match=f"ck_sync_queue_{column}"):
        await conn.execute(
            f"INSERT INTO sync_queue (entity_type, entity_id, {column}) "
            "VALUES ('contact', gen_random_uuid(), $1)",
            value,
        )


async def test_queue_tables_are_set_up_for_update_churn(conn: asyncpg.Connection) -> None:
    for table in ("sync_queue", "document_processing_queue"):
        options = await conn.fetchval(
            "SELECT reloptions FROM pg_class WHERE oid = $1::regclass", table
        )
        assert "fillfactor=70" in options
        assert any(o.startswith("autovacuum_vacuum_scale_factor=") for o in options)


async def test_result_tables_exist_with_a_searchable_text_index(conn: asyncpg.Connection) -> None:
    indexdef = await conn.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_document_extractions_search'"
    )
    assert "gin" in indexdef
    cols = {r[0] for r in await conn.fetch(COLUMNS_SQL, "monday_items")}
    assert {"entity_type", "entity_id", "board_id", "item_id", "values_hash", "synced_at"} <= cols


def test_migrate_twice_is_a_no_op_and_every_step_rolls_back(empty_database: str) -> None:
    applied = migrate.apply(empty_database)
    assert len(applied) >= 6
    assert migrate.apply(empty_database) == []
    rolled = [migrate.rollback(empty_database) for _ in applied]
    assert rolled == list(reversed(applied))
    assert migrate.rollback(empty_database) is None
    assert all(not step.applied for step in migrate.listing(empty_database))
    assert migrate.apply(empty_database) == applied


async def test_rollback_never_drops_a_host_table_the_application_owns(
    empty_database: str,
) -> None:
    c = await asyncpg.connect(empty_database)
    try:
        await c.execute("CREATE TABLE contacts (id uuid PRIMARY KEY, email text)")
    finally:
        await c.close()
    applied = migrate.apply(empty_database)
    for _ in applied:
        migrate.rollback(empty_database)
    c = await asyncpg.connect(empty_database)
    try:
        assert await c.fetchval("SELECT to_regclass('contacts') IS NOT NULL")
        assert await c.fetchval("SELECT to_regclass('organizations') IS NULL")
    finally:
        await c.close()
