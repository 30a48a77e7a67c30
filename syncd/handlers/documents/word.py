"""DOCX text and metadata, through python-docx."""

from __future__ import annotations

import copy
import io
import re
import zipfile
import zlib
from typing import Any

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from syncd.handlers.documents.file_to_text import Content, Refused

MiB = 1024 * 1024
# Inflated per read: what a lying part can cost before it is caught.
_CHUNK = 1024 * 1024
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
    unpacked, names = _unpack(data, max_unpacked_bytes)
    try:
        document = docx.Document(io.BytesIO(unpacked))
        blocks = [_block_text(item) for item in document.iter_inner_content()]
        # Without docProps/core.xml python-docx would invent properties (author "python-docx").
        metadata = _core_properties(document) if "docProps/core.xml" in names else {}
        text = "\n".join(b for b in blocks if b)
        pages = _saved_page_count(unpacked, len(text.split()))
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
            xml = archive.read("docProps/app.xml")  # unpacked already, with a bound
        except KeyError:
            return None
    pages, saved_words = _number(xml, b"Pages"), _number(xml, b"Words")
    if pages is None or not saved_words or abs(saved_words - words) > max(10, words // 4):
        return None
    return pages


def _number(xml: bytes, element: bytes) -> int | None:
    match = re.search(rb"<(?:\w+:)?%b>\s*(\d{1,9})\s*</" % element, xml)
    return int(match.group(1)) if match else None


def _unpack(data: bytes, limit: int) -> tuple[bytes, set[str]]:
    """Every part, inflated with a bound as it streams, in a ZIP that stores them as is.

    A decompression bomb is refused before python-docx touches it: first by the
    sizes the ZIP's directory declares, then, since the directory may lie, by the
    bytes each part really inflates to, counted as they come, so a lying part is
    refused once it passes its declared size instead of being inflated whole (as
    zipfile.read() would, before cutting it to that size). The parts sum to at most
    `limit`; python-docx then reads them from a ZIP that needs no inflating.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            declared = sum(entry.file_size for entry in entries)
            if declared > limit:
                raise Refused(
                    "too_large",
                    f"DOCX unpacks to {declared / MiB:.0f} MiB, more than the limit of "
                    f"{limit / MiB:.0f} MiB (a decompression bomb?)",
                )
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as stored:
                for entry in entries:
                    if not entry.is_dir():
                        _copy_part(archive, entry, stored)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError) as exc:
        raise Refused("corrupt", f"corrupt DOCX (truncated or damaged): {exc}") from None
    except RuntimeError as exc:  # zipfile's word for an encrypted part
        raise Refused("encrypted", f"encrypted DOCX part: {exc}") from None
    return out.getvalue(), {entry.filename for entry in entries}


def _copy_part(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, stored: zipfile.ZipFile) -> None:
    # zipfile stops a part at the size the directory declares and then checks its
    # CRC, which would call a lie mere damage. Told of room for two reads more, it
    # inflates the read that passes the declared size, and that read shows the lie;
    # an honest part ends at its declared size and its CRC is checked as ever.
    probe = copy.copy(entry)
    probe.file_size = entry.file_size + 2 * _CHUNK
    written = 0
    with archive.open(probe) as part, stored.open(entry.filename, "w", force_zip64=True) as target:
        while chunk := part.read(_CHUNK):
            written += len(chunk)
            if written > entry.file_size:
                raise Refused(
                    "too_large",
                    f"DOCX part {entry.filename} inflates past the {entry.file_size} bytes"
                    " its ZIP directory declares (a decompression bomb?)",
                )
            target.write(chunk)


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
