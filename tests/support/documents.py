"""Real files for the document tests, made on the spot, and extractor hooks.

PDFs are drawn with reportlab (a test dependency) and encrypted with pypdf;
DOCX files are written with python-docx. Nothing is checked in as a binary.
"""

from __future__ import annotations

import io
import os
import signal
import struct
import time
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import docx
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

from syncd.handlers.documents.file_to_text import Extraction, Request
from syncd.handlers.documents.paths import locate
from syncd.handlers.documents.settings import DocumentSettings

CREATED = datetime(2024, 3, 1, 9, 30)


def pdf_bytes(
    pages: list[str], title: str = "Quarterly report", author: str = "Ada Lovelace"
) -> bytes:
    out = io.BytesIO()
    # invariant=True: a fixed creation date and id, so a test can name the date.
    page = canvas.Canvas(out, invariant=True)
    page.setTitle(title)
    page.setAuthor(author)
    for text in pages:
        y = 800
        for line in text.splitlines():
            page.drawString(72, y, line)
            y -= 16
        page.showPage()
    page.save()
    return out.getvalue()


def encrypted_pdf(pages: list[str], user_password: str, owner_password: str = "owner") -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(pdf_bytes(pages)))
    # RC4: pypdf does it without the optional `cryptography` package.
    writer.encrypt(user_password, owner_password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(
    paragraphs: list[str],
    table: list[list[str]] | None = None,
    title: str = "Minutes",
    author: str = "Grace Hopper",
) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    document.add_paragraph("After the table.")
    props = document.core_properties
    props.title = title
    props.author = author
    props.created = CREATED
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx_with_bloated_part(unpacked_bytes: int) -> bytes:
    """A valid DOCX whose document.xml unpacks to `unpacked_bytes` (a compression bomb)."""
    source = zipfile.ZipFile(io.BytesIO(docx_bytes(["bomb"])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "word/document.xml":
                padding = b" " * (unpacked_bytes - len(data))
                data = data.replace(b"<w:body>", b"<w:body>" + padding, 1)
            target.writestr(item.filename, data)
    return out.getvalue()


def lying_about_size(data: bytes, name: str) -> bytes:
    """`data`, a ZIP, with its directory declaring part `name` 1,000 bytes long.

    zipfile takes sizes from the central directory, and checks only the name in a
    part's local header.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        start = archive.start_dir  # type: ignore[attr-defined]
    entry = start
    out = bytearray(data)
    while True:
        size_at = entry + 24
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", out, entry + 28)
        if bytes(out[entry + 46 : entry + 46 + name_length]).decode() == name:
            struct.pack_into("<I", out, size_at, 1000)
            return bytes(out)
        entry += 46 + name_length + extra_length + comment_length


def zip_with(names: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in names.items():
            archive.writestr(name, data)
    return out.getvalue()


def page_count(data: bytes) -> int:
    return len(PdfReader(io.BytesIO(data)).pages)


def write(root: Path, name: str, data: bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def request_for(root: Path, name: str, **limits: Any) -> Request:
    """The request the handler would send for `name` under `root`."""
    settings = DocumentSettings(storage_root=str(root), **limits)
    found = locate(str(root), name)
    return Request(
        path=found.path,
        device=found.device,
        inode=found.inode,
        max_bytes=settings.max_bytes,
        max_pages=settings.max_pages,
        max_unpacked_bytes=settings.max_unpacked_bytes,
        max_text_bytes=settings.max_text_bytes,
    )


def text_of(extraction: Extraction) -> str:
    return extraction.text.decode("utf-8")


# -- extractor hooks: what a pathological file does to a parser, on demand ----------


def hang(request: Request) -> Extraction:
    """A parser stuck in a loop on a crafted file."""
    while True:
        time.sleep(60)


def balloon(request: Request) -> Extraction:
    """A parser that keeps allocating (a decompression bomb nobody caught)."""
    held = []
    while True:
        held.append(bytearray(16 * 1024 * 1024))


def crash(request: Request) -> Extraction:
    """A C extension that segfaults."""
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("unreachable")


def hang_on_marker(request: Request) -> Extraction:
    """Hangs on files that contain b'HANG', extracts the rest normally."""
    from syncd.handlers.documents.file_to_text import extract

    if b"HANG" in Path(request.path).read_bytes():
        return hang(request)
    return extract(request)
