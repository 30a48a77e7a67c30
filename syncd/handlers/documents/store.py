"""The document handler's reads and writes; the SQL is in syncd/queries/documents_*.sql."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from syncd import queries
from syncd.handlers.documents.file_to_text import Extraction


@dataclass(frozen=True, slots=True)
class Document:
    id: uuid.UUID
    filename: str | None
    content_type: str | None
    storage_path: str | None
    size_bytes: int | None


async def find_document(pool: asyncpg.Pool, document_id: uuid.UUID) -> Document | None:
    row = await pool.fetchrow(queries.load("documents_find"), document_id)
    return None if row is None else Document(**dict(row))


async def save_extraction(
    pool: asyncpg.Pool, document_id: uuid.UUID, extraction: Extraction
) -> None:
    """Upsert the extraction; its search vector is built from a bounded head of the text."""
    search_chars = extraction.search_chars
    metadata = extraction.metadata
    while True:
        try:
            await pool.execute(
                queries.load("documents_save_extraction"),
                document_id,
                extraction.text,
                extraction.page_count,
                extraction.word_count,
                extraction.sha256,
                extraction.size_bytes,
                extraction.detected_type,
                metadata,
                search_chars,
            )
            return
        except asyncpg.ProgramLimitExceededError:
            # "string is too long for tsvector": text built to make many lexemes
            # per byte (long hyphenated compounds). Index less of it rather than
            # fail the document; a few halvings always get under the limit.
            if search_chars < 1000:
                raise
            search_chars //= 2
            metadata = {**metadata, "search_truncated": True}
