"""The demo's uploaded documents: real files, made on the spot, good ones and bad ones.

Nothing is shipped as a binary. The PDF is written by hand (a page of text in the
smallest file pypdf reads without complaint), the DOCX with python-docx (a runtime
dependency already), and the encrypted PDF with pypdf's own writer.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

import docx
from pypdf import PdfWriter


@dataclass(frozen=True, slots=True)
class Upload:
    """One row of the host's `documents` table, and the bytes at its storage path."""

    storage_path: str
    content_type: str
    data: bytes | None  # None: no file is written (the path is the point)


def build() -> list[Upload]:
    """Every upload of the demo: the good files, then the bad ones."""
    report = pdf(
        "Quarterly report",
        [
            "Analytical Engines Ltd - quarterly report",
            "Sales of difference engines rose by 12 percent.",
            "The board thanks Ada Lovelace for the new programs.",
        ],
    )
    return [
        Upload("notes/welcome.txt", "text/plain", WELCOME.encode()),
        Upload("web/about.html", "text/html", ABOUT.encode()),
        Upload("reports/q3-report.pdf", "application/pdf", report),
        Upload("minutes/board-meeting.docx", DOCX_TYPE, minutes()),
        Upload("data/contacts.csv", "text/csv", CONTACTS_CSV.encode()),
        # Bad ones: each fails for good, with a message that says why.
        Upload("reports/salaries-locked.pdf", "application/pdf", encrypted(report)),
        Upload("reports/scan-damaged.pdf", "application/pdf", damaged(report)),
        # A storage path an attacker wrote into the host's table: refused, never read.
        Upload("../../etc/passwd", "text/plain", None),
    ]


DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

WELCOME = """Welcome to syncd.

Every file uploaded to the CRM lands in the document processing queue; syncd reads it,
finds out what it really is from its bytes, and stores its text for full-text search.
"""

ABOUT = """<!doctype html>
<html><head><title>About Analytical Engines</title>
<style>body { font-family: serif }</style><script>track()</script></head>
<body><h1>About us</h1>
<p>We build engines that weave algebraic patterns, as the Jacquard loom weaves flowers.</p>
</body></html>
"""

CONTACTS_CSV = """name,email,title
Ada Lovelace,ada@analytical.example,Programmer
Grace Hopper,grace@navy.example,Rear Admiral
"""


def pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF showing `lines` in Helvetica, with `title` in its metadata."""
    text = "BT /F1 12 Tf 72 720 Td 16 TL " + " ".join(f"({_pdf_text(s)}) '" for s in lines) + " ET"
    stream = text.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Title (%s) /Producer (syncd demo) >>" % _pdf_text(title).encode("latin-1"),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _pdf_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def encrypted(data: bytes) -> bytes:
    """`data` locked with a password nobody gave syncd."""
    writer = PdfWriter(clone_from=io.BytesIO(data))
    # RC4: pypdf does it without the optional `cryptography` package.
    writer.encrypt("secret", "owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def damaged(data: bytes) -> bytes:
    """A PDF cut short in transfer: the header promises a PDF, the rest is gone."""
    return data[: len(data) // 3]


def minutes() -> bytes:
    document = docx.Document()
    document.add_heading("Board meeting", level=1)
    document.add_paragraph("Present: Ada Lovelace, Charles Babbage, Grace Hopper.")
    document.add_paragraph("Agreed: the CRM syncs every contact to monday.com.")
    document.core_properties.title = "Board meeting minutes"
    document.core_properties.author = "Grace Hopper"
    # python-docx's template otherwise says it was written in 2013.
    document.core_properties.created = datetime.now(UTC)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
