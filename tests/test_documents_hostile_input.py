"""Files made to hurt the readers: each is read in bounded time and memory, or refused
for good with a message; none of them is worth another attempt."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from syncd.handlers.documents import word
from syncd.handlers.documents.detect import detect
from syncd.handlers.documents.file_to_text import Refused, extract
from tests.support.documents import (
    docx_with_bloated_part,
    lying_about_size,
    request_for,
    text_of,
    write,
)

MiB = 1024 * 1024


def test_a_csv_field_over_128_kib_is_extracted(tmp_path: Path) -> None:
    letter = "Dear board, " + "x" * (200 * 1024)
    rows = "id,sender,body\n1,Ada,short\n2,Alan,short\n3,Grace,short\n"
    write(tmp_path, "letters.csv", f'{rows}4,Ada,"{letter}"\n'.encode())
    extraction = extract(request_for(tmp_path, "letters.csv"))
    assert extraction.detected_type == "csv"
    assert extraction.metadata["rows"] == 5
    assert letter in text_of(extraction)


@pytest.mark.parametrize("codec", ["rot13", "idna", "base64", "hex", "punycode", "undefined"])
def test_a_meta_charset_naming_no_text_encoding_falls_back_to_the_bytes(codec: str) -> None:
    page = f'<html><head><meta charset="{codec}"></head><body>caf\xe9 cr\xe8me</body></html>'
    found = detect(page.encode("cp1252"))
    assert (found.kind, found.encoding) == ("html", "cp1252")
    assert found.text is not None and "café crème" in found.text


def test_a_meta_charset_naming_no_text_encoding_extracts(tmp_path: Path) -> None:
    write(tmp_path, "page.html", b'<html><meta charset="rot13"><p>Caf\xe9 menu</p></html>')
    extraction = extract(request_for(tmp_path, "page.html"))
    assert text_of(extraction) == "Café menu"


def test_html_that_is_quadratic_for_html_parser_is_read(tmp_path: Path) -> None:
    """CVE-2025-6069: 4 MB of `<!` kept html.parser busy past any timeout
    (bench/html_parsing.py has the figures); libxml2 reads it in one pass."""
    write(tmp_path, "ddos.html", b"<html><body><p>before</p>" + b"<!" * 2_000_000)
    extraction = extract(request_for(tmp_path, "ddos.html"))
    assert extraction.detected_type == "html"
    assert text_of(extraction).startswith("before")


def test_html_keeps_its_structure_through_lxml(tmp_path: Path) -> None:
    page = (
        b"<!DOCTYPE html><html lang=de><head><title>Bericht</title>"
        b"<meta name=AUTHOR content='Ada'></head><body>"
        b"<h1>Zahlen</h1><p>Umsatz<br>steigt &amp; f\xc3\xa4llt</p>"
        b"<table><tr><td>Q1<td>10</table><template><p>hidden</p></template>"
        b"<noscript>no</noscript><!-- note --><p>Ende</body>"
    )
    write(tmp_path, "bericht.html", page)
    extraction = extract(request_for(tmp_path, "bericht.html"))
    assert text_of(extraction) == "Zahlen\nUmsatz\nsteigt & fällt\nQ1 10\nEnde"
    assert extraction.metadata["title"] == "Bericht"
    assert extraction.metadata["author"] == "Ada"
    assert extraction.metadata["language"] == "de"


def test_a_docx_part_that_lies_about_its_size_is_refused_without_inflating_it_whole() -> None:
    bomb = lying_about_size(docx_with_bloated_part(64 * MiB), "word/document.xml")
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(Refused) as refused:
            word.read(bomb, max_unpacked_bytes=256 * MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.reason == "too_large"
    assert str(refused.value) == (
        "DOCX part word/document.xml inflates past the 1000 bytes its ZIP directory"
        " declares (a decompression bomb?)"
    )
    # zipfile.read() would have inflated all 64 MiB before cutting it to 1000 bytes.
    assert peak < 8 * MiB
