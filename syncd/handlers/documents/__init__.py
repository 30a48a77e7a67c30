"""The document queue's built-in operation: `extract` (SPEC §4).

The way through: handler.py reads the document row (store.py), resolves its file
under the storage root (paths.py), and hands it to an extractor process
(pool.py, extractor_process.py), which fingerprints it, recognises it from its bytes
(detect.py) and reads it (pdf.py, word.py, text.py, html_page.py) into an
`Extraction` (file_to_text.py); the handler then upserts `document_extractions`.

Installed through the `syncd.handlers` entry point like any third-party handler.
Importing this package imports nothing else: `syncd config check` reads the
[documents] section through settings.py alone, without the extractor pool.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncd.config import Settings
    from syncd.handlers import Registry
    from syncd.handlers.documents.pool import ExtractorPool
    from syncd.metrics import Metrics

OPERATION = "extract"


def install(registry: Registry, settings: Settings) -> None:
    from syncd.handlers import DOCUMENTS
    from syncd.handlers.documents.handler import Extract
    from syncd.handlers.documents.pool import ExtractorPool

    extractors = ExtractorPool(settings.documents, size=extractor_count(settings))
    registry.add_service(extractors)
    registry.add_gauges(lambda metrics, _: _count_restarts(extractors, metrics))
    registry.add(DOCUMENTS, OPERATION, Extract(settings.documents, extractors))


def _count_restarts(extractors: ExtractorPool, metrics: Metrics) -> None:
    extractors.on_retire = metrics.extractor_restarts.inc


def extractor_count(settings: Settings) -> int:
    """`documents.workers`, or one per documents-queue slot, at most one per CPU.

    More processes than CPUs would only make each file slower, and more than
    queue slots would sit idle.
    """
    if settings.documents.workers:
        return settings.documents.workers
    return max(1, min(settings.queues.documents.concurrency, os.cpu_count() or 1))
