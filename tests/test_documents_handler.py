"""Operation `extract` against a real database: each file's exact outcome, and the row it leaves.

Permanent: the document row gone, a path outside the root (with a security
warning), an encrypted, corrupt, empty, oversized or unsupported file.
Retryable: a file that is not there yet, an extractor that ran past its timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from syncd import logs
from syncd.config import Settings
from syncd.errors import PermanentError, RetryableError
from syncd.handlers import DOCUMENTS, Context, Job, Registry
from syncd.handlers.documents import install
from syncd.handlers.documents.file_to_text import Extraction, Request
from syncd.handlers.documents.handler import Extract
from syncd.handlers.documents.pool import ExtractorPool, Failed
from tests.support import add_document, capture_logs, events, make_settings, wait_for, wait_status
from tests.support.documents import docx_bytes, encrypted_pdf, pdf_bytes, write

PAGES = ["The analytical engine weaves algebraic patterns", "just as the Jacquard loom"]


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("root:x:0:0")
    return root


@pytest.fixture
def settings(database_url: str, storage: Path) -> Settings:
    return make_settings(database_url, documents={"storage_root": str(storage), "max_pages": 5})


@pytest.fixture
async def extract(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Extract]:
    """The handler exactly as install() registers it, its extractor pool started."""
    registry = Registry()
    install(registry, settings)
    await registry.start(pool)
    try:
        job = job_for(uuid.uuid4())
        handler = registry.find(job)
        assert isinstance(handler, Extract)
        yield handler
    finally:
        await registry.stop()


def job_for(document_id: uuid.UUID) -> Job:
    return Job(
        queue=DOCUMENTS,
        id=uuid.uuid4(),
        attempt=1,
        max_attempts=5,
        operation="extract",
        document_id=document_id,
    )


async def run(handler: Extract, pool: asyncpg.Pool, settings: Settings, doc: uuid.UUID) -> None:
    await handler(job_for(doc), Context(pool, settings, logs.get()))


async def extraction_row(pool: asyncpg.Pool, doc: uuid.UUID) -> Any:
    return await pool.fetchrow("SELECT * FROM document_extractions WHERE document_id = $1", doc)


async def test_a_pdf_is_extracted_into_a_searchable_row(
    extract: Extract, pool: asyncpg.Pool, settings: Settings, storage: Path
) -> None:
    data = pdf_bytes(PAGES, title="On the engine", author="Ada Lovelace")
    write(storage, "papers/engine.pdf", data)
    doc = await add_document(pool, "papers/engine.pdf")

    with capture_logs() as captured:
        await run(extract, pool, settings, doc)

    row = await extraction_row(pool, doc)
    assert row["detected_type"] == "pdf"
    assert row["page_count"] == 2
    assert row["word_count"] == 11
    assert row["size_bytes"] == len(data)
    assert len(row["sha256"]) == 64
    assert "Jacquard loom" in row["text"]
    assert row["metadata"]["title"] == "On the engine"
    assert row["metadata"]["author"] == "Ada Lovelace"
    # The README's search query: stemmed, so "weaving patterns" finds "weaves ... patterns".
    found = await pool.fetch(
        "SELECT document_id FROM document_extractions "
        "WHERE search @@ websearch_to_tsquery('english', $1)",
        "weaving pattern",
    )
    assert [r["document_id"] for r in found] == [doc]
    [event] = events(captured, "document.extracted")
    assert (event["detected_type"], event["page_count"], event["word_count"]) == ("pdf", 2, 11)


async def test_extracting_again_replaces_the_row(
    extract: Extract, pool: asyncpg.Pool, settings: Settings, storage: Path
) -> None:
    write(storage, "notes.txt", b"first draft")
    doc = await add_document(pool, "notes.txt")
    await run(extract, pool, settings, doc)
    write(storage, "notes.txt", docx_bytes(["final version"], title="Final"))
    await run(extract, pool, settings, doc)

    rows = await pool.fetch("SELECT * FROM document_extractions WHERE document_id = $1", doc)
    assert len(rows) == 1
    assert rows[0]["detected_type"] == "docx"
    assert rows[0]["text"] == "final version\nAfter the table."
    assert rows[0]["metadata"]["title"] == "Final"


async def test_a_missing_file_is_retryable_and_succeeds_once_it_lands(
    extract: Extract, pool: asyncpg.Pool, settings: Settings, storage: Path
) -> None:
    doc = await add_document(pool, "incoming/upload.txt")
    with pytest.raises(RetryableError, match=r"^file not found: 'incoming/upload.txt' under "):
        await run(extract, pool, settings, doc)
    assert await extraction_row(pool, doc) is None

    write(storage, "incoming/upload.txt", b"it landed")
    await run(extract, pool, settings, doc)
    assert (await extraction_row(pool, doc))["text"] == "it landed"


@pytest.mark.parametrize(
    ("storage_path", "message"),
    [
        ("../secret.txt", "path refused: storage path '../secret.txt' contains '..'"),
        ("/etc/passwd", "path refused: absolute storage path '/etc/passwd': it must be relative"),
        (
            "innocent.txt",
            "path refused: storage path 'innocent.txt' resolves outside the storage root "
            "(through a symlink)",
        ),
    ],
)
async def test_a_path_outside_the_root_fails_permanently_with_a_security_warning(
    extract: Extract,
    pool: asyncpg.Pool,
    settings: Settings,
    storage: Path,
    storage_path: str,
    message: str,
) -> None:
    (storage / "innocent.txt").symlink_to(storage.parent / "secret.txt")
    doc = await add_document(pool, storage_path)

    with capture_logs() as captured, pytest.raises(PermanentError) as failed:
        await run(extract, pool, settings, doc)

    assert str(failed.value) == message
    [warning] = events(captured, "document.path_refused")
    assert warning["log_level"] == "warning"
    assert warning["security"] is True
    assert warning["storage_path"] == storage_path
    assert await extraction_row(pool, doc) is None


async def test_a_path_the_os_refuses_fails_permanently_naming_the_relative_path(
    extract: Extract, pool: asyncpg.Pool, settings: Settings, storage: Path
) -> None:
    (storage / "a").symlink_to(storage / "b")
    (storage / "b").symlink_to(storage / "a")
    looped = await add_document(pool, "a/report.pdf")
    too_long = await add_document(pool, "x" * 300)

    with capture_logs() as captured:
        with pytest.raises(PermanentError) as loop:
            await run(extract, pool, settings, looped)
        with pytest.raises(PermanentError) as long_name:
            await run(extract, pool, settings, too_long)

    assert str(loop.value) == (
        "path refused: storage path 'a/report.pdf' goes round a loop of symlinks (ELOOP)"
    )
    assert str(long_name.value).endswith(
        "(300 characters) is too long for the file system (ENAMETOOLONG)"
    )
    assert str(storage) not in str(loop.value) + str(long_name.value)
    # A loop of symlinks may be someone probing; a name too long is just a bad name.
    [warning] = events(captured, "document.path_refused")
    assert (warning["storage_path"], warning["security"]) == ("a/report.pdf", True)


class RefusedOpen:
    """An extractor pool whose process may not open the file (past the path check)."""

    async def extract(self, request: Request) -> Extraction:
        raise Failed("unreadable", "cannot be read by the extractor: Permission denied (EACCES)")


async def test_a_file_the_extractor_may_not_open_fails_permanently_as_refused(
    pool: asyncpg.Pool, settings: Settings, storage: Path
) -> None:
    """As root the open is never refused; the real refusal is test_documents_paths.py's."""
    write(storage, "in/payroll.csv", b"name,salary\n")
    doc = await add_document(pool, "in/payroll.csv")
    handler = Extract(settings.documents, RefusedOpen())  # type: ignore[arg-type]

    with capture_logs() as captured, pytest.raises(PermanentError) as failed:
        await run(handler, pool, settings, doc)

    assert str(failed.value) == (
        "path refused: storage path 'in/payroll.csv' cannot be read by the extractor:"
        " Permission denied (EACCES)"
    )
    [warning] = events(captured, "document.path_refused")
    assert warning["storage_path"] == "in/payroll.csv"


async def test_a_document_row_that_is_gone_fails_permanently(
    extract: Extract, pool: asyncpg.Pool, settings: Settings
) -> None:
    gone = uuid.uuid4()
    with pytest.raises(PermanentError, match=rf"^document {gone} no longer exists$"):
        await run(extract, pool, settings, gone)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("locked.pdf", encrypted_pdf(PAGES, "pw"), "encrypted PDF: a password is needed"),
        ("cut.pdf", pdf_bytes(PAGES)[:900], "corrupt PDF (truncated or damaged): "),
        ("long.pdf", pdf_bytes(["p"] * 6), "too many pages: 6, the limit is 5"),
        ("blank.docx", b"", "empty file (0 bytes)"),
        ("photo.txt", b"\x89PNG\r\n\x1a\n" + bytes(100), "unsupported type: PNG image"),
    ],
)  # fmt: skip
async def test_files_that_cannot_be_read_fail_permanently_saying_why(
    extract: Extract,
    pool: asyncpg.Pool,
    settings: Settings,
    storage: Path,
    name: str,
    data: bytes,
    message: str,
) -> None:
    write(storage, name, data)
    doc = await add_document(pool, name)
    with pytest.raises(PermanentError) as failed:
        await run(extract, pool, settings, doc)
    assert str(failed.value).startswith(message)
    assert await extraction_row(pool, doc) is None


async def test_a_file_over_max_bytes_fails_permanently(
    pool: asyncpg.Pool, database_url: str, storage: Path
) -> None:
    settings = make_settings(
        database_url, documents={"storage_root": str(storage), "max_bytes": 1000}
    )
    extractors = ExtractorPool(settings.documents, size=1)
    write(storage, "big.txt", b"x" * 1001)
    doc = await add_document(pool, "big.txt")
    try:
        with pytest.raises(PermanentError, match=r"^file too large: 1001 bytes, the limit is 1000"):
            await run(Extract(settings.documents, extractors), pool, settings, doc)
    finally:
        await extractors.stop()


async def test_an_extractor_past_its_timeout_is_retryable_and_the_next_file_works(
    pool: asyncpg.Pool, database_url: str, storage: Path
) -> None:
    settings = make_settings(database_url, documents={"storage_root": str(storage), "timeout": 2})
    extractors = ExtractorPool(
        settings.documents, size=1, function="tests.support.documents:hang_on_marker"
    )
    handler = Extract(settings.documents, extractors)
    write(storage, "pathological.txt", b"HANG")
    write(storage, "normal.txt", b"ordinary words")
    stuck = await add_document(pool, "pathological.txt")
    normal = await add_document(pool, "normal.txt")
    try:
        with capture_logs() as captured, pytest.raises(RetryableError, match=r"^timed out: "):
            await run(handler, pool, settings, stuck)
        assert events(captured, "document.extractor_killed")
        await run(handler, pool, settings, normal)
        assert (await extraction_row(pool, normal))["word_count"] == 2
    finally:
        await extractors.stop()


async def test_a_text_too_big_for_one_tsvector_is_still_saved_and_searchable(
    extract: Extract, pool: asyncpg.Pool, settings: Settings, storage: Path
) -> None:
    # 1.4 MB of distinct words make a tsvector of about 2 MB: past PostgreSQL's
    # 1 MiB limit, so an unbounded to_tsvector would fail the insert.
    words = " ".join(f"zq{i:07x}" for i in range(140_000))
    write(storage, "dictionary.txt", ("opening " + words + " closing").encode())
    doc = await add_document(pool, "dictionary.txt")
    await run(extract, pool, settings, doc)

    row = await extraction_row(pool, doc)
    assert row["word_count"] == 140_002
    assert row["text"].endswith(" closing")
    assert row["metadata"]["search_truncated"] is True
    hits = await pool.fetchval(
        "SELECT count(*) FROM document_extractions WHERE search @@ to_tsquery('english', $1)",
        "opening",
    )
    assert hits == 1


async def test_in_the_daemon_a_missing_file_is_retried_and_completes_once_it_lands(
    database_url: str, storage: Path, conn: asyncpg.Connection
) -> None:
    from tests.support import running_worker

    settings = make_settings(
        database_url, documents={"storage_root": str(storage)}, retry={"delays": [0.5]}
    )
    registry = Registry()
    install(registry, settings)
    doc = await add_document(conn, "late/upload.md")

    async with running_worker(settings, registry):
        job_id = await conn.fetchval(
            "INSERT INTO document_processing_queue (document_id, operation) "
            "VALUES ($1, 'extract') RETURNING id",
            doc,
        )
        first = await wait_for(
            lambda: conn.fetchrow(
                "SELECT * FROM document_processing_queue WHERE id = $1 AND attempts = 1 "
                "AND status = 'pending' AND error_message IS NOT NULL",
                job_id,
            )
        )
        assert first["error_message"].startswith("file not found: 'late/upload.md'")
        write(storage, "late/upload.md", b"# Landed\n\nSee [syncd](https://example.com).\n")
        row = await wait_status(conn, job_id, "completed", table="document_processing_queue")

    assert row["attempts"] == 2 and row["error_message"] is None
    extraction = await conn.fetchrow(
        "SELECT detected_type, metadata FROM document_extractions WHERE document_id = $1", doc
    )
    assert extraction["detected_type"] == "markdown"
    assert extraction["metadata"]["title"] == "Landed"


async def test_text_crafted_to_make_many_lexemes_per_byte_is_still_saved(
    extract: Extract, pool: asyncpg.Pool, settings: Settings, storage: Path
) -> None:
    # Each hyphenated compound is indexed whole and in its parts: about 2.6 bytes
    # of tsvector per byte of text, so even the bounded head is too much at first.
    words = " ".join(f"a{i}-b{i}-c{i}" for i in range(100_000))
    write(storage, "compounds.txt", ("opening " + words).encode())
    doc = await add_document(pool, "compounds.txt")
    await run(extract, pool, settings, doc)

    row = await extraction_row(pool, doc)
    assert row["word_count"] == 100_001
    assert row["metadata"]["search_truncated"] is True
    assert await pool.fetchval(
        "SELECT search @@ to_tsquery('english', 'opening') FROM document_extractions "
        "WHERE document_id = $1",
        doc,
    )
