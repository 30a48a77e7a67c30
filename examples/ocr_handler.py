"""A deployment's own operation: OCR through an HTTP service, as a syncd plugin.

syncd finds handlers through the `syncd.handlers` entry-point group, so adding an
operation means installing a package next to syncd; the daemon is not edited. In
that package's pyproject.toml:

    [project.entry-points."syncd.handlers"]
    ocr = "ocr_handler:install"

    [project.entry-points."syncd.settings"]
    ocr = "ocr_handler:OcrSettings"

Then `syncd enqueue document DOCUMENT_ID ocr` (or an INSERT with operation 'ocr')
sends scanned documents here. The second entry point declares the plugin's own
section of syncd.toml, which syncd validates with the rest (`syncd config check`
names a bad key, `handlers.ocr.language`, and `syncd run` exits 78):

    [handlers.ocr]
    url = "http://ocr.internal:8884/ocr"   # or SYNCD_HANDLERS__OCR__URL
    language = "deu+eng"
    timeout = "5m"

The service receives the file's bytes and answers {"text": "..."}. (In a package
of its own, OcrSettings would sit in a module that imports only pydantic, so
that checking the config does not import aiohttp.)

The handler reuses syncd's pieces: the safe path under documents.storage_root,
the document row, and the upsert into document_extractions, so OCR text is
searchable like extracted text. Its failures speak syncd's three error kinds.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from syncd.config import PositiveDuration, Settings
from syncd.errors import PermanentError, RateLimited, RetryableError
from syncd.handlers import DOCUMENTS, Context, Job, Registry
from syncd.handlers.documents import paths, store
from syncd.handlers.documents.file_to_text import Content, summarize


class OcrSettings(BaseModel):
    """[handlers.ocr] in syncd.toml."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(default="http://localhost:8884/ocr", pattern=r"^https?://")
    # Tesseract's language codes, joined with "+": "eng", "deu+eng".
    language: str = Field(default="eng", pattern=r"^[a-z_]{3,}(\+[a-z_]{3,})*$")
    timeout: PositiveDuration = 300.0


class OcrService:
    """One HTTP session for the daemon's life (a `Service`: started and stopped with it)."""

    def __init__(self, settings: OcrSettings) -> None:
        self.settings = settings
        self.url = settings.url
        self.session: aiohttp.ClientSession | None = None

    async def start(self, pool: asyncpg.Pool) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        self.session = aiohttp.ClientSession(timeout=timeout)

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def __call__(self, job: Job, ctx: Context) -> None:
        assert self.session is not None and job.document_id is not None
        document = await store.find_document(ctx.pool, job.document_id)
        if document is None or not document.storage_path:
            raise PermanentError(f"document {job.document_id} no longer exists")
        try:
            root = ctx.settings.documents.storage_root
            found = await asyncio.to_thread(paths.locate, root, document.storage_path)
        except paths.NotThereYet as exc:
            raise RetryableError(str(exc)) from None
        except (paths.PathRefused, paths.NotAFile) as exc:
            raise PermanentError(str(exc)) from None
        data = await asyncio.to_thread(_read, found.path)

        params = {"language": self.settings.language}
        async with self.session.post(self.url, data=data, params=params) as response:
            if response.status == 429:
                wait = timedelta(seconds=float(response.headers.get("Retry-After", "60")))
                raise RateLimited("OCR service is busy", datetime.now(UTC) + wait)
            if response.status >= 500:
                raise RetryableError(f"OCR service answered {response.status}")
            if response.status >= 400:
                raise PermanentError(f"OCR service refused the file: {response.status}")
            text = (await response.json())["text"]

        extraction = summarize(
            Content(text=text, metadata={"ocr_service": self.url}),
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            detected_type="ocr",
            max_text_bytes=ctx.settings.documents.max_text_bytes,
        )
        await store.save_extraction(ctx.pool, job.document_id, extraction)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def install(registry: Registry, settings: Settings) -> None:
    service = OcrService(settings.handler_settings("ocr", OcrSettings))
    registry.add_service(service)
    registry.add(DOCUMENTS, "ocr", service)
