"""One file in, its text and metadata out: what an extractor process does per job.

Everything here runs inside an extractor process (see extractor_process.py), never on the
daemon's event loop: parsing is CPU-bound and parsers meet hostile input.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# PostgreSQL refuses a tsvector of 1 MiB or more (lexemes plus their positions).
# Ordinary text needs up to about twice its size in tsvector; compound words and
# URLs, indexed whole and in parts, more. This much text fits in all but crafted
# cases, and store.py halves it further for those.
SEARCH_BYTES = 500_000
_METADATA_CHARS = 2000
_CHUNK = 1024 * 1024


class Refused(Exception):
    """The file can never be extracted as it is: the job fails permanently.

    `reason` is one word for logs and tests (empty, unsupported, encrypted, corrupt,
    too_large, too_many_pages, memory, unreadable); the message says it in full.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Vanished(Exception):
    """The file was removed or replaced between the check and the open: try again."""


@dataclass(frozen=True, slots=True)
class Request:
    """What the daemon asks an extractor process to do (sent as JSON)."""

    path: str
    device: int
    inode: int
    max_bytes: int
    max_pages: int
    max_unpacked_bytes: int
    max_text_bytes: int


@dataclass(frozen=True, slots=True)
class Content:
    """What a format reader finds in a file."""

    text: str
    page_count: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Extraction:
    """The row `document_extractions` gets.

    `text` is UTF-8 bytes, not str: it goes from the extractor process to
    PostgreSQL without being decoded and re-encoded on the event loop.
    """

    text: bytes
    page_count: int | None
    word_count: int
    sha256: str
    size_bytes: int
    detected_type: str
    metadata: dict[str, Any]
    # How many leading characters of the text feed the search index.
    search_chars: int

    def header(self) -> dict[str, Any]:
        """Everything but the text, as JSON-ready values."""
        return {
            "page_count": self.page_count,
            "word_count": self.word_count,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "detected_type": self.detected_type,
            "metadata": self.metadata,
            "search_chars": self.search_chars,
        }


def extract(request: Request) -> Extraction:
    """Read, fingerprint, recognise and extract the file that `request` names."""
    # Imported here so that `Request`/`Refused` stay cheap to import for the daemon.
    from syncd.handlers.documents import detect, html_page, pdf, text, word

    data, digest = _read(request)
    found = detect.detect(data)
    if found.kind == detect.PDF:
        content = pdf.read(data, request.max_pages, request.max_text_bytes)
    elif found.kind == detect.DOCX:
        content = word.read(data, request.max_unpacked_bytes)
    else:
        assert found.text is not None
        readers = {
            detect.HTML: html_page.read,
            detect.MARKDOWN: text.read_markdown,
            detect.CSV: text.read_csv,
            detect.TEXT: text.read_plain,
        }
        content = readers[found.kind](found.text)
        content.metadata["encoding"] = found.encoding
    return summarize(
        content,
        sha256=digest,
        size_bytes=len(data),
        detected_type=found.kind,
        max_text_bytes=request.max_text_bytes,
    )


def summarize(
    content: Content, *, sha256: str, size_bytes: int, detected_type: str, max_text_bytes: int
) -> Extraction:
    """Bound and clean what a reader found, and count it. Also for plugins (OCR)."""
    metadata = _clean_metadata(content.metadata)
    # PostgreSQL text cannot hold NUL; lone surrogates (from broken PDFs) cannot be UTF-8.
    encoded = content.text.replace("\x00", "").encode("utf-8", "replace")
    if len(encoded) > max_text_bytes:
        encoded = encoded[:max_text_bytes]
        metadata["text_truncated"] = True
    text = encoded.decode("utf-8", "ignore")  # also drops a character cut in half
    search_chars = _fitting_chars(text, SEARCH_BYTES)
    if search_chars < len(text):
        metadata["search_truncated"] = True
    return Extraction(
        text=text.encode("utf-8"),
        page_count=content.page_count,
        word_count=count_words(text),
        sha256=sha256,
        size_bytes=size_bytes,
        detected_type=detected_type,
        metadata=metadata,
        search_chars=search_chars,
    )


def count_words(text: str) -> int:
    # A running count: text.split() would build a list as large as the text.
    return sum(1 for _ in re.finditer(r"\S+", text))


def _read(request: Request) -> tuple[bytes, str]:
    """The file's bytes and their sha256, refusing what is empty or too large."""
    try:
        # O_NOFOLLOW: a symlink swapped in after the daemon's check is not followed.
        # O_NONBLOCK: a FIFO swapped in cannot hang the open.
        fd = os.open(request.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise Vanished("the file disappeared before it could be read") from None
    except PermissionError as exc:
        # The same next time: no retry, and no "changed" either (it did not).
        code = errno.errorcode.get(exc.errno or 0, "EACCES")
        raise Refused(
            "unreadable", f"cannot be read by the extractor: {exc.strerror} ({code})"
        ) from None
    except OSError as exc:
        raise Vanished(f"the file changed before it could be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if (st.st_dev, st.st_ino) != (request.device, request.inode) or not stat.S_ISREG(
            st.st_mode
        ):
            raise Vanished("the file was replaced between the path check and the open")
        if st.st_size > request.max_bytes:
            raise _too_large(st.st_size, request.max_bytes)
        digest = hashlib.sha256()
        data = bytearray()
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            data += chunk
            if len(data) > request.max_bytes:  # it grew while we read
                raise _too_large(len(data), request.max_bytes)
    if not data:
        raise Refused("empty", "empty file (0 bytes)")
    return bytes(data), digest.hexdigest()


def _too_large(size: int, limit: int) -> Refused:
    return Refused("too_large", f"file too large: {size} bytes, the limit is {limit} bytes")


def _fitting_chars(text: str, budget: int) -> int:
    """How many leading characters of `text` fit in `budget` bytes of UTF-8."""
    if len(text) * 4 <= budget:
        return len(text)
    head = text[:budget].encode("utf-8")[:budget]
    return len(head.decode("utf-8", "ignore"))


def _clean_metadata(raw: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready metadata: no empty values, no NULs (jsonb refuses them), bounded."""
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        if isinstance(value, str):
            value = value.replace("\x00", "").strip()[:_METADATA_CHARS]
            value = value.encode("utf-8", "replace").decode("utf-8")
        if isinstance(value, list):
            value = [_clean_metadata({"v": v}).get("v", "") for v in value[:100]]
        if value is None or value == "" or value == []:
            continue
        clean[key] = value
    return clean
