"""Operation `extract`: a document's file in, a `document_extractions` row out.

The outcome of every way this can go wrong is decided here (SPEC §3):

- the document row is gone, the path leaves the storage root, the file is empty,
  encrypted, corrupt, too large, has too many pages or is of a type syncd does not
  read: permanent, with a message that says which;
- the file is not there (yet), or was swapped while we opened it: retryable, an
  upload may still be landing;
- the extractor ran past `documents.timeout`: retryable. SPEC counts timeouts as
  passing faults, and a loaded host can make a normal file slow; a file that hangs
  every time uses up its attempts and ends `failed` with "timed out" as its
  message. `documents.timeout` (default 120 s) sits below the queue's timeout
  (default 180 s), so the extractor is killed and this message recorded before the
  daemon would cancel the whole job; if the queue's timeout fires first anyway,
  the cancellation kills the extractor just the same.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from syncd.errors import PermanentError, RetryableError
from syncd.handlers import Context, Job
from syncd.handlers.documents import paths, store
from syncd.handlers.documents.file_to_text import Extraction, Request
from syncd.handlers.documents.pool import Died, ExtractorPool, Failed, TimedOut
from syncd.handlers.documents.settings import DocumentSettings

# What the extractor answers that another attempt could change.
_PASSING = {"vanished", "error"}


class Extract:
    def __init__(self, settings: DocumentSettings, extractors: ExtractorPool) -> None:
        self.settings = settings
        self.extractors = extractors

    async def __call__(self, job: Job, ctx: Context) -> None:
        if job.document_id is None:
            raise PermanentError("the job names no document")
        document = await store.find_document(ctx.pool, job.document_id)
        if document is None:
            raise PermanentError(f"document {job.document_id} no longer exists")
        if not document.storage_path:
            raise PermanentError(f"document {job.document_id} has no storage_path")

        located = await self._locate(document.storage_path, ctx)
        request = Request(
            path=located.path,
            device=located.device,
            inode=located.inode,
            max_bytes=self.settings.max_bytes,
            max_pages=self.settings.max_pages,
            max_unpacked_bytes=self.settings.max_unpacked_bytes,
            max_text_bytes=self.settings.max_text_bytes,
        )
        try:
            extraction = await self.extractors.extract(request)
        except Failed as exc:
            if exc.reason in _PASSING:
                raise RetryableError(str(exc)) from None
            if exc.reason == "unreadable":  # the check passed, the open did not
                reason = f"storage path {paths.shown_path(document.storage_path)} {exc}"
                raise self._refused(document.storage_path, reason, ctx) from None
            raise PermanentError(str(exc)) from None
        except (TimedOut, Died) as exc:
            # Worth an operator's eye: a file that keeps doing this is pathological.
            event = (
                "document.extractor_killed"
                if isinstance(exc, TimedOut)
                else "document.extractor_died"
            )
            ctx.log.warning(event, storage_path=document.storage_path, error=str(exc))
            raise RetryableError(str(exc)) from None

        await self._save(job.document_id, extraction, ctx)
        ctx.log.info(
            "document.extracted",
            detected_type=extraction.detected_type,
            size_bytes=extraction.size_bytes,
            page_count=extraction.page_count,
            word_count=extraction.word_count,
        )

    async def _locate(self, storage_path: str, ctx: Context) -> paths.Located:
        root = self.settings.storage_root
        try:
            # Off the loop: a stat on a network mount can block for a long time.
            return await asyncio.to_thread(paths.locate, root, storage_path)
        except paths.PathRefused as exc:
            raise self._refused(storage_path, str(exc), ctx) from None
        except (paths.NotThereYet, paths.Unavailable) as exc:
            raise RetryableError(str(exc)) from None
        except (paths.NotAFile, paths.Unusable) as exc:
            raise PermanentError(str(exc)) from None

    def _refused(self, storage_path: str, reason: str, ctx: Context) -> PermanentError:
        ctx.log.warning(
            "document.path_refused",
            security=True,
            storage_root=self.settings.storage_root,
            storage_path=storage_path,
            reason=reason,
        )
        return PermanentError(f"path refused: {reason}")

    async def _save(self, document_id: uuid.UUID, extraction: Extraction, ctx: Context) -> None:
        try:
            await store.save_extraction(ctx.pool, document_id, extraction)
        except asyncpg.ForeignKeyViolationError:
            raise PermanentError(f"document {document_id} was deleted during extraction") from None
