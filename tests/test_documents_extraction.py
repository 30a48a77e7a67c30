"""Text and metadata out of real files, and the exact refusal for each file that cannot be read.

These run the extraction function in the test process: no extractor process, no
database. test_documents_extractors.py covers the processes around it.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path

import pytest

from syncd.handlers.documents.file_to_text import SEARCH_BYTES, Content, Refused, extract, summarize
from tests.support.documents import (
    docx_bytes,
    docx_with_bloated_part,
    encrypted_pdf,
    pdf_bytes,
    request_for,
    text_of,
    write,
)

PAGES = [
    "Quarterly results\nRevenue grew in every region.",
    "Outlook\nThe analytical engine ships next spring.",
    "Appendix\nFigures are unaudited.",
]


def refusal(root: Path, name: str, **limits: int) -> Refused:
    with pytest.raises(Refused) as refused:
        extract(request_for(root, name, **limits))
    return refused.value


def test_a_multi_page_pdf_gives_its_text_pages_and_metadata(tmp_path: Path) -> None:
    data = pdf_bytes(PAGES, title="Q3 report", author="Ada Lovelace")
    write(tmp_path, "q3.pdf", data)

    extraction = extract(request_for(tmp_path, "q3.pdf"))

    text = text_of(extraction)
    assert extraction.detected_type == "pdf"
    assert extraction.page_count == 3
    # Pages in order, separated by a form feed.
    assert [p.split("\n")[0].strip() for p in text.split("\f")] == [
        "Quarterly results",
        "Outlook",
        "Appendix",
    ]
    assert extraction.word_count == len(text.split()) == 18
    assert extraction.size_bytes == len(data)
    assert extraction.sha256 == hashlib.sha256(data).hexdigest()
    assert extraction.metadata["title"] == "Q3 report"
    assert extraction.metadata["author"] == "Ada Lovelace"
    assert extraction.metadata["created"] == "2000-01-01T00:00:00+00:00"  # reportlab invariant
    assert "encrypted" not in extraction.metadata


def test_an_encrypted_pdf_is_refused_as_encrypted(tmp_path: Path) -> None:
    write(tmp_path, "locked.pdf", encrypted_pdf(PAGES, user_password="s3cret"))
    refused = refusal(tmp_path, "locked.pdf")
    assert refused.reason == "encrypted"
    assert str(refused) == "encrypted PDF: a password is needed to open it"


def test_a_pdf_locked_only_against_editing_is_read(tmp_path: Path) -> None:
    # An empty user password: every viewer opens it, and so do we.
    write(tmp_path, "protected.pdf", encrypted_pdf(PAGES, user_password=""))
    extraction = extract(request_for(tmp_path, "protected.pdf"))
    assert "analytical engine" in text_of(extraction)
    assert extraction.metadata["encrypted"] is True


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_truncated_pdf_is_refused_as_corrupt(tmp_path: Path, keep: float) -> None:
    data = pdf_bytes(PAGES)
    write(tmp_path, "cut.pdf", data[: int(len(data) * keep)])
    refused = refusal(tmp_path, "cut.pdf")
    assert refused.reason == "corrupt"
    assert str(refused).startswith("corrupt PDF (truncated or damaged): ")


def test_a_pdf_with_too_many_pages_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "long.pdf", pdf_bytes(PAGES))
    refused = refusal(tmp_path, "long.pdf", max_pages=2)
    assert refused.reason == "too_many_pages"
    assert str(refused) == "too many pages: 3, the limit is 2"
    assert extract(request_for(tmp_path, "long.pdf", max_pages=3)).page_count == 3


def test_a_docx_gives_paragraphs_tables_and_core_properties(tmp_path: Path) -> None:
    data = docx_bytes(
        ["Board meeting", "Present: Ada, Grace."],
        table=[["Item", "Owner"], ["Budget", "Ada"], ["Hiring", "Grace"]],
        title="Minutes of March",
        author="Grace Hopper",
    )
    write(tmp_path, "minutes.docx", data)

    extraction = extract(request_for(tmp_path, "minutes.docx"))

    assert extraction.detected_type == "docx"
    # Body order: paragraphs, the table row by row (cells tab-separated), the rest.
    assert text_of(extraction) == (
        "Board meeting\nPresent: Ada, Grace.\n"
        "Item\tOwner\nBudget\tAda\nHiring\tGrace\n"
        "After the table."
    )
    assert extraction.word_count == 14
    assert extraction.page_count is None
    assert extraction.metadata["title"] == "Minutes of March"
    assert extraction.metadata["author"] == "Grace Hopper"
    assert extraction.metadata["created"] == "2024-03-01T09:30:00+00:00"
    assert extraction.sha256 == hashlib.sha256(data).hexdigest()


def test_a_docx_reports_the_page_count_its_editor_saved(tmp_path: Path) -> None:
    app_xml = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'extended-properties"><Application>Microsoft Office Word</Application>'
        b"<Pages>3</Pages><Words>9</Words></Properties>"
    )
    source = zipfile.ZipFile(io.BytesIO(docx_bytes(["Three pages, as Word laid it out."])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = app_xml if item.filename == "docProps/app.xml" else source.read(item)
            target.writestr(item.filename, data)
    write(tmp_path, "saved-by-word.docx", out.getvalue())

    extraction = extract(request_for(tmp_path, "saved-by-word.docx"))

    assert extraction.page_count == 3


def test_a_stale_saved_page_count_is_not_believed(tmp_path: Path) -> None:
    # python-docx copies its template's docProps/app.xml: "1 page, 0 words".
    write(tmp_path, "generated.docx", docx_bytes(["Made by a library, never laid out."]))
    assert extract(request_for(tmp_path, "generated.docx")).page_count is None


def test_a_truncated_docx_is_refused_as_corrupt(tmp_path: Path) -> None:
    data = docx_bytes(["Board meeting"])
    write(tmp_path, "cut.docx", data[: len(data) // 2])
    refused = refusal(tmp_path, "cut.docx")
    assert refused.reason == "corrupt"
    assert "corrupt ZIP container" in str(refused)


def test_a_docx_that_unpacks_too_large_is_refused_before_unpacking(tmp_path: Path) -> None:
    write(tmp_path, "bomb.docx", docx_with_bloated_part(8 * 1024 * 1024))
    assert (tmp_path / "bomb.docx").stat().st_size < 100_000
    refused = refusal(tmp_path, "bomb.docx", max_unpacked_bytes=4 * 1024 * 1024)
    assert refused.reason == "too_large"
    assert re.fullmatch(
        r"DOCX unpacks to \d MiB, more than the limit of 4 MiB \(a decompression bomb\?\)",
        str(refused),
    )


def test_utf8_text(tmp_path: Path) -> None:
    write(tmp_path, "note.txt", "Grüße aus Köln — naïve café\n".encode())
    extraction = extract(request_for(tmp_path, "note.txt"))
    assert text_of(extraction) == "Grüße aus Köln — naïve café\n"
    assert (extraction.detected_type, extraction.word_count) == ("text", 6)
    assert extraction.metadata == {"lines": 1, "encoding": "utf-8"}


def test_latin1_text_is_decoded_not_mangled(tmp_path: Path) -> None:
    write(tmp_path, "legacy.txt", "Résumé: señor Müller, 20 °C\n".encode("latin-1"))
    extraction = extract(request_for(tmp_path, "legacy.txt"))
    assert text_of(extraction) == "Résumé: señor Müller, 20 °C\n"
    assert extraction.metadata["encoding"] == "cp1252"


def test_utf16_text_with_a_bom(tmp_path: Path) -> None:
    write(tmp_path, "export.txt", "\ufeffExported from Windows\r\n".encode("utf-16-le"))
    extraction = extract(request_for(tmp_path, "export.txt"))
    assert text_of(extraction) == "Exported from Windows\r\n"
    assert extraction.metadata["encoding"] == "utf-16-le"


def test_html_gives_visible_text_only(tmp_path: Path) -> None:
    page = """<!DOCTYPE html>
<html lang="en"><head>
  <title>Release  notes</title>
  <meta name="author" content="Docs team">
  <style>body { color: red; }</style>
  <script>var secret = "do not index"; document.write("<p>nor this</p>");</script>
</head><body>
  <h1>Version&nbsp;2</h1>
  <p>Faster <b>extraction</b> &amp; fewer bugs.</p>
  <noscript>Enable JavaScript</noscript>
  <ul><li>one</li><li>two</li></ul>
  <script type="module">import("x")</script>
</body></html>"""
    write(tmp_path, "notes.html", page.encode())
    extraction = extract(request_for(tmp_path, "notes.html"))
    assert extraction.detected_type == "html"
    assert text_of(extraction) == "Version\xa02\nFaster extraction & fewer bugs.\none\ntwo"
    assert extraction.metadata["title"] == "Release notes"
    assert extraction.metadata["author"] == "Docs team"
    assert extraction.metadata["language"] == "en"


def test_markdown_keeps_words_drops_markup(tmp_path: Path) -> None:
    source = "# Install guide\n\nRun **syncd migrate**, then see [the README](README.md).\n"
    write(tmp_path, "guide.md", source.encode())
    extraction = extract(request_for(tmp_path, "guide.md"))
    assert extraction.detected_type == "markdown"
    assert text_of(extraction) == "Install guide\n\nRun syncd migrate, then see the README.\n"
    assert extraction.metadata["title"] == "Install guide"


def test_csv_gives_cells_and_its_shape(tmp_path: Path) -> None:
    write(tmp_path, "people.csv", b'name;city\nAda;London\n"Hopper, Grace";Arlington\n')
    extraction = extract(request_for(tmp_path, "people.csv"))
    assert extraction.detected_type == "csv"
    assert text_of(extraction) == "name\tcity\nAda\tLondon\nHopper, Grace\tArlington"
    assert extraction.metadata["rows"] == 3
    assert extraction.metadata["columns"] == 2
    assert extraction.metadata["delimiter"] == ";"
    assert extraction.metadata["header"] == ["name", "city"]


def test_an_empty_file_is_refused_as_empty(tmp_path: Path) -> None:
    write(tmp_path, "blank.pdf", b"")
    refused = refusal(tmp_path, "blank.pdf")
    assert (refused.reason, str(refused)) == ("empty", "empty file (0 bytes)")


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    write(tmp_path, "big.txt", b"word " * 100)
    refused = refusal(tmp_path, "big.txt", max_bytes=499)
    assert refused.reason == "too_large"
    assert str(refused) == "file too large: 500 bytes, the limit is 499 bytes"
    assert extract(request_for(tmp_path, "big.txt", max_bytes=500)).word_count == 100


def test_an_unknown_binary_file_is_refused_as_unsupported(tmp_path: Path) -> None:
    write(tmp_path, "blob.txt", bytes(range(256)) * 4)
    refused = refusal(tmp_path, "blob.txt")
    assert refused.reason == "unsupported"
    assert str(refused) == "unsupported type: unknown binary data"


def test_text_beyond_max_text_bytes_is_cut_and_marked(tmp_path: Path) -> None:
    write(tmp_path, "long.txt", ("é" * 100).encode())
    extraction = extract(request_for(tmp_path, "long.txt", max_text_bytes=51))
    # 25 two-byte characters fit in 51 bytes; half a character is dropped.
    assert text_of(extraction) == "é" * 25
    assert extraction.metadata["text_truncated"] is True


def test_only_what_postgres_can_index_feeds_the_search_vector(tmp_path: Path) -> None:
    write(tmp_path, "huge.txt", (("ü" * 9 + " ") * (SEARCH_BYTES // 10)).encode())
    extraction = extract(request_for(tmp_path, "huge.txt"))
    head = text_of(extraction)[: extraction.search_chars]
    assert len(head.encode()) <= SEARCH_BYTES < len(extraction.text)
    assert len(head.encode()) > SEARCH_BYTES - 4
    assert extraction.metadata["search_truncated"] is True


def test_a_nul_byte_in_text_means_binary(tmp_path: Path) -> None:
    write(tmp_path, "nul.txt", b"abc\x00def\n")
    with pytest.raises(Refused, match="unknown binary"):
        extract(request_for(tmp_path, "nul.txt"))


def test_nul_characters_and_lone_surrogates_never_reach_postgres() -> None:
    # PDFs sometimes yield both; PostgreSQL text cannot hold NUL, UTF-8 no surrogates.
    content = Content(text="abc\x00def \ud800x", metadata={"title": "a\x00b", "empty": ""})
    extraction = summarize(
        content, sha256="0" * 64, size_bytes=1, detected_type="pdf", max_text_bytes=100
    )
    assert extraction.text == b"abcdef ?x"
    assert extraction.word_count == 2
    assert extraction.metadata == {"title": "ab"}
