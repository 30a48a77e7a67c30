"""Plain text, Markdown and CSV: already text, each with a little metadata of its own."""

from __future__ import annotations

import csv
import io
import re

from syncd.handlers.documents.file_to_text import Content, Refused

# How much of a file its kind is judged on.
SAMPLE = 64 * 1024

_ATX_TITLE = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.M)
_SETEXT_TITLE = re.compile(r"^(\S.*)\n=+[ \t]*$", re.M)
# Markup that would otherwise end up in the search index as noise.
_MARKUP = [
    (re.compile(r"^(```|~~~).*$", re.M), ""),  # code fences (the code stays)
    (re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.M), ""),  # heading marks
    (re.compile(r"^[ \t]*>[ \t]?", re.M), ""),  # quote marks
    (re.compile(r"!?\[([^\]\n]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)"), r"\1"),  # links: keep words
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),  # strong
    (re.compile(r"^[ \t]*([-=*_])\1{2,}[ \t]*$", re.M), ""),  # rules, setext underlines
]


def read_plain(text: str) -> Content:
    return Content(text=text, metadata={"lines": _lines(text)})


def read_markdown(text: str) -> Content:
    title = _ATX_TITLE.search(text) or _SETEXT_TITLE.search(text)
    plain = text
    for pattern, replacement in _MARKUP:
        plain = pattern.sub(replacement, plain)
    metadata = {"lines": _lines(text), "title": title.group(1).strip() if title else None}
    return Content(text=plain, metadata=metadata)


def read_csv(text: str) -> Content:
    delimiter = csv_delimiter(text[:SAMPLE]) or ","
    # The csv module refuses a field over 128 KiB by default (a cell holding a whole
    # letter, say). The file's size is already bounded by documents.max_bytes, so no
    # field can be larger than the text itself; the limit is the process's own (an
    # extractor process reads one file at a time).
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    lines: list[str] = []
    header: list[str] = []
    columns = 0
    # Row by row: a list of every parsed row would take many times the file's size.
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if not lines:
                header = row
            columns = max(columns, len(row))
            lines.append("\t".join(cell.strip() for cell in row))
    except csv.Error as exc:  # the same bytes fail the same way next time
        raise Refused("corrupt", f"malformed CSV at row {len(lines) + 1}: {exc}") from None
    metadata = {
        "rows": len(lines),
        "columns": columns,
        "delimiter": delimiter,
        "header": header[:100],
    }
    return Content(text="\n".join(lines), metadata=metadata)


def csv_delimiter(sample: str) -> str | None:
    """The delimiter that splits the first lines into equal rows (2 or more fields)."""
    lines = [line for line in sample.splitlines()[:21] if line.strip()]
    if len(sample) == SAMPLE or len(lines) > 20:
        lines = lines[:-1]  # the sample may have cut the last line short
    if len(lines) < 2:
        return None
    for delimiter in ",;\t|":
        widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        if len(widths) == 1:
            width = widths.pop()
            # Two lines of prose may each have one comma; a real table has more.
            if width >= 3 or (width == 2 and len(lines) >= 3):
                return delimiter
    return None


def _lines(text: str) -> int:
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)
