"""A file's type comes from its bytes, never from its name or declared content type."""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path

import pytest

from syncd.handlers.documents.detect import detect
from syncd.handlers.documents.file_to_text import Refused, extract
from tests.support.documents import docx_bytes, pdf_bytes, request_for, write, zip_with

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of legacy Office files


def test_a_pdf_renamed_to_docx_is_read_as_a_pdf(tmp_path: Path) -> None:
    write(tmp_path, "contract.docx", pdf_bytes(["Signed by both parties"]))
    extraction = extract(request_for(tmp_path, "contract.docx"))
    assert extraction.detected_type == "pdf"
    assert b"Signed by both parties" in extraction.text


def test_a_docx_renamed_to_txt_is_read_as_a_docx(tmp_path: Path) -> None:
    write(tmp_path, "notes.txt", docx_bytes(["Action items"]))
    extraction = extract(request_for(tmp_path, "notes.txt"))
    assert extraction.detected_type == "docx"
    assert b"Action items" in extraction.text


def test_text_renamed_to_pdf_is_text(tmp_path: Path) -> None:
    write(tmp_path, "scan.pdf", b"just some words\n")
    assert extract(request_for(tmp_path, "scan.pdf")).detected_type == "text"


def test_a_pdf_header_after_some_junk_is_still_a_pdf() -> None:
    assert detect(b"\r\n" * 10 + pdf_bytes(["x"])).kind == "pdf"


@pytest.mark.parametrize(
    ("data", "kind", "encoding"),
    [
        (b"Dear team,\nthe meeting moved.\n", "text", "utf-8"),
        ("Grüße aus Köln\n".encode(), "text", "utf-8"),
        ("caf\u00e9 cr\u00e8me\n".encode("latin-1"), "text", "cp1252"),
        (codecs.BOM_UTF16_LE + "Hello UTF-16\n".encode("utf-16-le"), "text", "utf-16-le"),
        (codecs.BOM_UTF16_BE + "Hello UTF-16\n".encode("utf-16-be"), "text", "utf-16-be"),
        (codecs.BOM_UTF8 + b"with a BOM\n", "text", "utf-8"),
        (b"# Title\n\nSome *text* and a list:\n\n- one\n- two\n", "markdown", "utf-8"),
        (b"See [the docs](https://example.com).\n", "markdown", "utf-8"),
        (b"name,email,city\nAda,ada@x.org,London\nAlan,a@x.org,Wilmslow\n", "csv", "utf-8"),
        (b"a;b\n1;2\n3;4\n", "csv", "utf-8"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "html", "utf-8"),
        (b"  <!-- generated -->\n<html lang=en><p>hi</p></html>", "html", "utf-8"),
        (b"<div>fragment</div>\n<body>x</body>", "html", "utf-8"),
    ],
)  # fmt: skip
def test_kinds_of_text(data: bytes, kind: str, encoding: str) -> None:
    found = detect(data)
    assert (found.kind, found.encoding) == (kind, encoding)


def test_prose_with_a_comma_per_line_is_not_csv() -> None:
    assert detect(b"Hello, world.\nSee you, soon.\n").kind == "text"


def test_a_shell_comment_alone_does_not_make_markdown() -> None:
    assert detect(b"# settings for the mailer\nhost = smtp.example.com\n").kind == "text"


def test_html_that_is_not_utf8_follows_its_meta_charset() -> None:
    page = '<html><head><meta charset="koi8-r"></head><body>Привет</body></html>'
    found = detect(page.encode("koi8-r"))
    assert found.kind == "html"
    assert found.encoding == "koi8-r"
    assert found.text is not None and "Привет" in found.text


@pytest.mark.parametrize(
    ("data", "reason", "message"),
    [
        (b"", "empty", "empty file (0 bytes)"),
        (b"\x89PNG\r\n\x1a\n" + os.urandom(64), "unsupported", "unsupported type: PNG image"),
        (b"\xff\xd8\xff\xe0" + os.urandom(64), "unsupported", "unsupported type: JPEG image"),
        (b"\x1f\x8b\x08" + os.urandom(64), "unsupported", "unsupported type: gzip archive"),
        (b"{\\rtf1\\ansi hello}", "unsupported", "unsupported type: RTF document"),
        (bytes(range(256)) * 8, "unsupported", "unsupported type: unknown binary data"),
        (OLE2 + b"\x00" * 512, "unsupported", "legacy Microsoft Office"),
        (
            OLE2 + "EncryptedPackage".encode("utf-16-le"),
            "encrypted",
            "encrypted Office document",
        ),
        (zip_with({"xl/workbook.xml": b"<x/>"}), "unsupported", "type: XLSX spreadsheet"),
        (zip_with({"photo.jpg": b"..."}), "unsupported", "ZIP archive (not a Word document)"),
        (b"PK\x03\x04" + b"\x00" * 40, "corrupt", "corrupt ZIP container"),
    ],
)  # fmt: skip
def test_what_cannot_be_read_is_refused_saying_what_it_is(
    data: bytes, reason: str, message: str
) -> None:
    with pytest.raises(Refused, match=re.escape(message)) as refused:
        detect(data)
    assert refused.value.reason == reason
