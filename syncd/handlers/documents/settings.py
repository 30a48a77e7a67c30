"""The [documents] section of syncd.toml: where files are and how far extraction may go."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from syncd.config import PositiveDuration

MiB = 1024 * 1024


class DocumentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    storage_root: str = "/var/lib/syncd/documents"
    max_bytes: int = Field(default=50 * MiB, gt=0)
    max_pages: int = Field(default=2000, gt=0)
    # Bounds one extractor process's work on one file; the queue's own timeout
    # (queues.documents.timeout) bounds the whole job, waiting for a process included.
    timeout: PositiveDuration = 120.0
    # Extractor processes; 0: one per documents-queue slot, at most one per CPU.
    workers: int = Field(default=0, ge=0, le=256)
    # Address space of each extractor process (RLIMIT_AS): a file that makes a
    # parser balloon fails on its own instead of taking the host's memory.
    memory_limit: int = Field(default=1024 * MiB, ge=128 * MiB)
    # A DOCX whose parts unpack to more than this is refused as a decompression bomb.
    max_unpacked_bytes: int = Field(default=256 * MiB, gt=0)
    # Text kept per document; the rest is cut (and metadata says so).
    max_text_bytes: int = Field(default=64 * MiB, gt=0)
    # Extractor processes are replaced after this many files, so a slow leak in a
    # parser cannot build up until healthy files start hitting memory_limit.
    recycle_after: int = Field(default=200, gt=0)
