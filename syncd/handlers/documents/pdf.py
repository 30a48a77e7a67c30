"""PDF text and metadata, through pypdf."""

from __future__ import annotations

import io
import logging
from typing import Any

from pypdf import PdfReader
from pypdf.errors import DependencyError, LimitReachedError

from syncd.handlers.documents.file_to_text import Content, Refused

# pypdf narrates every oddity of a damaged file at WARNING; the outcome says enough.
logging.getLogger("pypdf").setLevel(logging.ERROR)

_FIELDS = {
    "title": "title",
    "author": "author",
    "subject": "subject",
    "keywords": "keywords",
    "creator": "creator",
    "producer": "producer",
    "created": "creation_date",
    "modified": "modification_date",
}


def read(data: bytes, max_pages: int, max_text_bytes: int) -> Content:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
        if encrypted:
            _open_without_password(reader)
        page_count = len(reader.pages)
        if page_count > max_pages:
            raise Refused(
                "too_many_pages", f"too many pages: {page_count}, the limit is {max_pages}"
            )
        pages: list[str] = []
        size = 0
        for page in reader.pages:
            text = page.extract_text() or ""
            pages.append(text)
            size += len(text)
            if size > max_text_bytes:  # summarize() cuts exactly; stop parsing early
                break
        metadata = _metadata(reader)
    except (Refused, MemoryError):
        raise
    except LimitReachedError as exc:
        raise Refused("too_large", f"PDF stream unpacks beyond pypdf's limits: {exc}") from None
    except Exception as exc:
        # pypdf raises all sorts (KeyError, ValueError, its own) on damaged files.
        raise Refused("corrupt", f"corrupt PDF (truncated or damaged): {_say(exc)}") from None
    if encrypted:
        metadata["encrypted"] = True  # protected by an owner password only
    # A form feed between pages keeps page boundaries without changing the words.
    return Content(text="\n\f".join(pages), page_count=page_count, metadata=metadata)


def _open_without_password(reader: PdfReader) -> None:
    """Many PDFs are encrypted only against editing and open with an empty password."""
    try:
        opened = reader.decrypt("")
    except DependencyError:
        raise Refused(
            "encrypted",
            "encrypted PDF (AES): opening it needs the 'cryptography' package",
        ) from None
    if not opened:
        raise Refused("encrypted", "encrypted PDF: a password is needed to open it")


def _metadata(reader: PdfReader) -> dict[str, Any]:
    info = reader.metadata
    found: dict[str, Any] = {}
    if info is None:
        return found
    for key, attribute in _FIELDS.items():
        try:  # a malformed date or a broken reference spoils one field, not the file
            value = getattr(info, attribute)
        except Exception:
            continue
        if value is not None:
            found[key] = value if not isinstance(value, str) else str(value)
    return found


def _say(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
