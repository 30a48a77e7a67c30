"""What a file really is, judged from its bytes.

The declared `content_type` and the file name are the uploader's claims; a PDF
renamed `.docx` is still a PDF. Binary formats are known by their signatures,
text by whether it decodes, and the kinds of text (HTML, Markdown, CSV, plain) by
what their first lines look like.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
import zlib
from dataclasses import dataclass

from syncd.handlers.documents.file_to_text import Refused
from syncd.handlers.documents.text import SAMPLE, csv_delimiter

PDF = "pdf"
DOCX = "docx"
HTML = "html"
MARKDOWN = "markdown"
CSV = "csv"
TEXT = "text"


# Formats people upload that syncd does not read, so the error can name them.
_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "PNG image"),
    (b"\xff\xd8\xff", 0, "JPEG image"),
    (b"GIF87a", 0, "GIF image"),
    (b"GIF89a", 0, "GIF image"),
    (b"II*\x00", 0, "TIFF image"),
    (b"MM\x00*", 0, "TIFF image"),
    (b"WEBP", 8, "WebP image"),
    (b"\x1f\x8b", 0, "gzip archive"),
    (b"BZh", 0, "bzip2 archive"),
    (b"\xfd7zXZ\x00", 0, "xz archive"),
    (b"7z\xbc\xaf\x27\x1c", 0, "7-Zip archive"),
    (b"Rar!\x1a\x07", 0, "RAR archive"),
    (b"\x7fELF", 0, "ELF executable"),
    (b"{\\rtf", 0, "RTF document"),
    (b"%!PS", 0, "PostScript document"),
    (b"ID3", 0, "MP3 audio"),
    (b"OggS", 0, "Ogg media"),
    (b"fLaC", 0, "FLAC audio"),
    (b"ftyp", 4, "MP4/QuickTime media"),
]
# What zipfile raises on a damaged archive (RuntimeError: an encrypted part).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    EOFError,
    KeyError,
    NotImplementedError,
    RuntimeError,
    OSError,
    zlib.error,
)
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# A password-protected DOCX is an OLE2 file holding this stream.
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")

_BOMS: list[tuple[bytes, str]] = [
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
]
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_HTML_START = re.compile(r"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.I | re.S)
_HTML_TAG = re.compile(r"<(html|head|body)[\s>]", re.I)
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)
_MARKDOWN = {
    "heading": re.compile(r"^#{1,6}[ \t]+\S", re.M),
    "setext": re.compile(r"^\S.*\n(=+|-{3,})[ \t]*$", re.M),
    "list": re.compile(r"^[ \t]*([-*+]|\d+[.)])[ \t]+\S", re.M),
    "fence": re.compile(r"^(```|~~~)", re.M),
    "link": re.compile(r"!?\[[^\]\n]+\]\([^)\s]+\)"),
    "emphasis": re.compile(r"(\*\*|__)[^*_\n]+\1"),
    "quote": re.compile(r"^>[ \t]", re.M),
}
# Unambiguous on their own; the others (a '#' comment, a '-' list) need company.
_MARKDOWN_SURE = {"fence", "link"}


@dataclass(frozen=True, slots=True)
class Detected:
    kind: str
    text: str | None = None  # decoded, for the text kinds
    encoding: str | None = None


def detect(data: bytes) -> Detected:
    """The file's real kind; raises `Refused` for what syncd cannot read."""
    if not data:
        raise Refused("empty", "empty file (0 bytes)")
    # A PDF may have a little junk before its header; readers accept up to 1 KiB.
    if b"%PDF-" in data[:1024]:
        return Detected(PDF)
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Detected(_zip_kind(data))
    if data.startswith(_OLE2):
        if _ENCRYPTED_PACKAGE in data:
            raise Refused("encrypted", "encrypted Office document (password-protected)")
        raise Refused("unsupported", "unsupported type: legacy Microsoft Office file (DOC/XLS/PPT)")
    for signature, offset, name in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            raise Refused("unsupported", f"unsupported type: {name}")
    return _text_kind(data)


def _zip_kind(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            content_types = ""
            if "[Content_Types].xml" in names:
                # open().read(n), not read(): a bomb's parts must not be unpacked here.
                with archive.open("[Content_Types].xml") as part:
                    content_types = part.read(SAMPLE).decode("utf-8", "replace")
            mimetype = ""
            if "mimetype" in names:
                with archive.open("mimetype") as part:
                    mimetype = part.read(100).decode("ascii", "replace")
    except _ZIP_ERRORS as exc:
        raise Refused("corrupt", f"corrupt ZIP container (truncated or damaged): {exc}") from None
    if "word/document.xml" in names or "wordprocessingml.document.main" in content_types:
        return DOCX
    if "xl/workbook.xml" in names:
        what = "XLSX spreadsheet"
    elif "ppt/presentation.xml" in names:
        what = "PPTX presentation"
    elif mimetype.startswith("application/vnd.oasis.opendocument"):
        what = f"OpenDocument file ({mimetype})"
    elif mimetype == "application/epub+zip":
        what = "EPUB book"
    else:
        what = "ZIP archive (not a Word document)"
    raise Refused("unsupported", f"unsupported type: {what}")


def _text_kind(data: bytes) -> Detected:
    text, encoding = _decode(data)
    sample = text[:SAMPLE]
    # Text has few control characters; binary data decoded as Latin-1 is full of them.
    if "\x00" in sample or len(_CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise Refused("unsupported", "unsupported type: unknown binary data")
    if _HTML_START.match(sample) or _HTML_TAG.search(sample[:4096]):
        if encoding in ("cp1252", "latin-1"):
            text, encoding = _declared_charset(data) or (text, encoding)
        return Detected(HTML, text, encoding)
    if _looks_like_markdown(sample):
        return Detected(MARKDOWN, text, encoding)
    if csv_delimiter(sample):
        return Detected(CSV, text, encoding)
    return Detected(TEXT, text, encoding)


def _decode(data: bytes) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, "replace"), encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # What is called Latin-1 is nearly always Windows-1252 (curly quotes, euro sign);
    # the five bytes cp1252 leaves undefined send us to true Latin-1.
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _declared_charset(data: bytes) -> tuple[str, str] | None:
    """An HTML page that is not UTF-8 may say what it is in a <meta> tag."""
    match = _CHARSET.search(data[:4096])
    if match is None:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
        # The page names the codec: it may be one that is no text encoding at all
        # (rot13, base64, hex: LookupError) or one that decodes strictly or never
        # (idna, punycode, undefined: UnicodeError). Then the bytes decide, as if
        # the page had named nothing; another attempt would only fail the same way.
        return data.decode(name, "replace"), name
    except (LookupError, UnicodeError, ValueError):
        return None


def _looks_like_markdown(sample: str) -> bool:
    found = {name for name, pattern in _MARKDOWN.items() if pattern.search(sample)}
    return bool(found & _MARKDOWN_SURE) or len(found) >= 2
