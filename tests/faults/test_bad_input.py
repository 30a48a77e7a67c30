"""The bad-input matrix: each bad job fails alone, with its exact message, while the good
jobs around it complete (SPEC §3, what is permanent and what is retryable)."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.faults.support import Fleet, Monday, drained
from tests.support import add_contact, enqueue, ready
from tests.support.documents import encrypted_pdf, pdf_bytes

pytestmark = pytest.mark.faults

MAX_BYTES = 64 * 1024


async def add_document(
    conn: asyncpg.Connection, storage_path: str, content_type: str = "text/plain"
) -> uuid.UUID:
    doc: uuid.UUID = await conn.fetchval(
        "INSERT INTO documents (filename, content_type, storage_path) "
        "VALUES ($1, $2, $1) RETURNING id",
        storage_path,
        content_type,
    )
    return doc


async def extract(
    conn: asyncpg.Connection, document_id: uuid.UUID, operation: str = "extract", **columns: object
) -> uuid.UUID:
    names = ", ".join(["document_id", "operation", *columns])
    params = ", ".join(f"${i}" for i in range(1, len(columns) + 3))
    job: uuid.UUID = await conn.fetchval(
        f"INSERT INTO document_processing_queue ({names}) VALUES ({params}) RETURNING id",
        document_id,
        operation,
        *columns.values(),
    )
    return job


async def file_document(
    conn: asyncpg.Connection, storage: Path, name: str, data: bytes, content_type: str
) -> uuid.UUID:
    (storage / name).write_bytes(data)
    return await add_document(conn, name, content_type)


async def test_each_bad_job_fails_alone_with_its_exact_message(
    fleet: Fleet,
    syncd_url: str,
    conn: asyncpg.Connection,
    monday: Monday,
    storage: Path,
    tmp_path: Path,
) -> None:
    daemon = fleet.start(syncd_url, SYNCD_DOCUMENTS__MAX_BYTES=str(MAX_BYTES))
    outside = tmp_path / "outside.txt"
    outside.write_text("a secret outside the storage root")
    (storage / "escape.txt").symlink_to(outside)
    gone = await add_contact(conn, email="gone@example.com")
    await conn.execute("DELETE FROM contacts WHERE id = $1", gone)
    refused = await conn.fetchval(
        "INSERT INTO organizations (name, industry) VALUES ('Acme', 'Aerospace') RETURNING id"
    )
    pdf = pdf_bytes(["Quarterly figures"])
    documents = {
        name: await file_document(conn, storage, name, data, kind)
        for name, data, kind in [
            ("locked.pdf", encrypted_pdf(["secret"], "hunter2"), "application/pdf"),
            ("cut.pdf", pdf[: len(pdf) // 2], "application/pdf"),
            ("empty.txt", b"", "text/plain"),
            ("huge.txt", b"x" * (MAX_BYTES + 1), "text/plain"),
            ("upload.pdf", b"", "application/pdf"),
            ("summary.txt", b"summarize me", "text/plain"),
        ]
    }
    for name in ("../outside.txt", "/etc/passwd", "escape.txt", "missing.txt"):
        documents[name] = await add_document(conn, name)

    # (job, queue, the exact error_message, attempts when it failed)
    expected: list[tuple[uuid.UUID | None, str, str, int]] = []

    async def bad_sync(
        message: str, entity_type: str, entity_id: uuid.UUID, **cols: object
    ) -> None:
        job = await enqueue(conn, entity_type, entity_id, **cols)
        expected.append((job, "sync_queue", message, 1))

    async def bad_document(
        message: str, name: str, operation: str = "extract", attempts: int = 1
    ) -> None:
        columns = {"max_attempts": attempts} if attempts > 1 else {}
        job = await extract(conn, documents[name], operation, **columns)
        expected.append((job, "document_processing_queue", message, attempts))

    bad = [
        lambda: bad_sync(
            "unknown entity type 'gizmo': no handler is registered for it "
            "(known: contact, organization, probe)",
            "gizmo",
            uuid.uuid4(),
        ),
        lambda: bad_sync(f"contact {gone} not found in table contacts", "contact", gone),
        lambda: bad_sync(
            "monday ColumnValueException: invalid value - label does not exist in column. "
            "Please check our API documentation for the correct data structure for this "
            "column. https://developer.monday.com/api-reference/docs/change-column-values",
            "organization",
            refused,
        ),
        lambda: bad_document(
            "unknown operation 'summarize': no handler is registered for it "
            "(known: extract, probe)",
            "summary.txt",
            "summarize",
        ),
        lambda: bad_document(
            "path refused: storage path '../outside.txt' contains '..'", "../outside.txt"
        ),
        lambda: bad_document(
            "path refused: absolute storage path '/etc/passwd': it must be relative", "/etc/passwd"
        ),
        lambda: bad_document(
            "path refused: storage path 'escape.txt' resolves outside the storage root "
            "(through a symlink)",
            "escape.txt",
        ),
        lambda: bad_document(
            f"file not found: 'missing.txt' under {storage}", "missing.txt", attempts=2
        ),
        lambda: bad_document("encrypted PDF: a password is needed to open it", "locked.pdf"),
        lambda: bad_document(
            "corrupt PDF (truncated or damaged): PdfStreamError: Stream has ended unexpectedly",
            "cut.pdf",
        ),
        lambda: bad_document("empty file (0 bytes)", "empty.txt"),
        lambda: bad_document(
            f"file too large: {MAX_BYTES + 1} bytes, the limit is {MAX_BYTES} bytes", "huge.txt"
        ),
        lambda: bad_document("empty file (0 bytes)", "upload.pdf"),
    ]
    good: list[tuple[uuid.UUID | None, str]] = []
    await ready(daemon)
    for i in range(100):
        if i % 2:
            job = await enqueue(conn, entity_id=await add_contact(conn, email=f"g{i}@example.com"))
            good.append((job, "sync_queue"))
        else:
            name = f"good{i}.txt"
            (storage / name).write_text(f"good document {i}\n")
            good.append(
                (await extract(conn, await add_document(conn, name)), "document_processing_queue")
            )
        if i % 7 == 3 and bad:
            await bad.pop(0)()
    while bad:
        await bad.pop(0)()
    await drained(conn, timeout=90)

    for job, table in good:
        row = await conn.fetchrow(f"SELECT status, attempts FROM {table} WHERE id = $1", job)
        assert tuple(row) == ("completed", 1)
    actual = []
    for job, table, _, _ in expected:
        row = await conn.fetchrow(
            f"SELECT status, error_message, attempts FROM {table} WHERE id = $1", job
        )
        actual.append((row["status"], row["error_message"], row["attempts"]))
    assert actual == [("failed", message, attempts) for _, _, message, attempts in expected]


async def test_a_bad_direction_operation_or_payload_is_refused_at_insert(
    conn: asyncpg.Connection,
) -> None:
    for column, constraint in (
        ("direction", "ck_sync_queue_direction"),
        ("operation", "ck_sync_queue_operation"),
    ):
        with pytest.raises(asyncpg.CheckViolationError) as caught:
            await enqueue(conn, **{column: "sideways"})
        assert caught.value.constraint_name == constraint
        assert str(caught.value).startswith(
            f'new row for relation "sync_queue" violates check constraint "{constraint}"'
        )
    with pytest.raises(
        asyncpg.InvalidTextRepresentationError, match="invalid input syntax for type json"
    ):
        await conn.execute(
            "INSERT INTO sync_queue (entity_type, entity_id, payload) "
            "VALUES ('contact', gen_random_uuid(), $1::text::jsonb)",
            '{"half": ',
        )
    assert await conn.fetchval("SELECT count(*) FROM sync_queue") == 0


async def test_a_payload_that_is_not_an_object_fails_alone(
    fleet: Fleet, syncd_url: str, conn: asyncpg.Connection
) -> None:
    """Not run on {} in its place, as it was until 5fda4ab."""
    daemon = fleet.start(syncd_url)
    await ready(daemon)
    good = await enqueue(conn, "probe", payload={"sleep": 0})
    # An application meant {"sleep": 60, "fail": "permanent"} and wrote a list.
    malformed = await enqueue(conn, "probe", payload=["sleep", 60, "fail", "permanent"])
    await drained(conn)
    rows = {
        r["id"]: (r["status"], r["error_message"])
        for r in await conn.fetch("SELECT id, status, error_message FROM sync_queue")
    }
    assert rows[good] == ("completed", None)
    assert rows[malformed] == ("failed", "malformed payload: expected a JSON object, got array")
