"""DOCX text and metadata, through python-docx."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from syncd.handlers.documents.file_to_text import Content, Refused

MiB = 1024 * 1024
_CORE_FIELDS = {
    "title": "title",
    "author": "author",
    "subject": "subject",
    "keywords": "keywords",
    "created": "created",
    "modified": "modified",
    "last_modified_by": "last_modified_by",
}


def read(data: bytes, max_unpacked_bytes: int) -> Content:
    has_core_properties = _check_unpacked_size(data, max_unpacked_bytes)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [_block_text(item) for item in document.iter_inner_content()]
        metadata = _core_properties(document) if has_core_properties else {}
        text = "\n".join(b for b in blocks if b)
        pages = _saved_page_count(data, len(text.split()))
    except MemoryError:
        raise
    except Exception as exc:
        # Missing parts, broken XML, a bad table grid: all of it is a damaged file.
        detail = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        raise Refused("corrupt", f"corrupt DOCX: {detail}") from None
    return Content(text=text, page_count=pages, metadata=metadata)


def _saved_page_count(data: bytes, words: int) -> int | None:
    """The page count Word (or LibreOffice) wrote into docProps/app.xml when saving.

    A DOCX has no pages of its own: they exist only once a word processor lays the
    text out, and laying it out here would be a guess. The count the last editor
    saved is the one figure the file itself holds; files written by libraries
    (python-docx) carry none or their template's stale one, and then the page count
    stays unknown. The saved word count tells the two apart: it must roughly match
    the words actually in the file.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        try:
            xml = archive.read("docProps/app.xml")  # size already bounded above
        except KeyError:
            return None
    pages, saved_words = _number(xml, b"Pages"), _number(xml, b"Words")
    if pages is None or not saved_words or abs(saved_words - words) > max(10, words // 4):
        return None
    return pages


def _number(xml: bytes, element: bytes) -> int | None:
    match = re.search(rb"<(?:\w+:)?%b>\s*(\d{1,9})\s*</" % element, xml)
    return int(match.group(1)) if match else None


def _check_unpacked_size(data: bytes, limit: int) -> bool:
    """Refuse a decompression bomb before anything is unpacked.

    The sizes come from the ZIP's directory and could lie, but Python's zipfile
    stops at the declared size of each part (and then fails its CRC), so they
    bound what unpacking can produce. Returns whether core properties exist.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise Refused("corrupt", f"corrupt DOCX (truncated or damaged): {exc}") from None
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > limit:
        raise Refused(
            "too_large",
            f"DOCX unpacks to {unpacked / MiB:.0f} MiB, more than the limit of "
            f"{limit / MiB:.0f} MiB (a decompression bomb?)",
        )
    # Without docProps/core.xml python-docx would invent properties (author "python-docx").
    return any(entry.filename == "docProps/core.xml" for entry in entries)


def _block_text(item: Paragraph | Table) -> str:
    if isinstance(item, Paragraph):
        return item.text
    rows = []
    for row in item.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            # A merged cell is returned once per grid column it spans.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            inner = [_block_text(part) for part in cell.iter_inner_content()]
            cells.append(" ".join(t for t in inner if t))
        rows.append("\t".join(cells))
    return "\n".join(rows)


def _core_properties(document: Any) -> dict[str, Any]:
    props = document.core_properties
    found: dict[str, Any] = {}
    for key, attribute in _CORE_FIELDS.items():
        try:  # one malformed date spoils one field, not the file
            found[key] = getattr(props, attribute)
        except Exception:
            continue
    return found
