"""Text from outside, made safe to print where a person reads it (SPEC §7).

An error message, a file name, an entity type or monday's answer can hold control
characters, and a terminal obeys them: `\\x1b]0;...\\x07` retitles the window,
`\\x1b[2J` clears it, a carriage return or a newline forges a line that syncd never
wrote, and bidirectional overrides show text in another order than it is. Every place
that prints such text for a person passes it through `printable`. JSON output
(`--json`, the journal) escapes it by being JSON, and the console log renderer shows
each value as its repr; both are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

# C0 and C1 controls and DEL, and the bidirectional marks, embeddings, overrides and
# isolates (the "Trojan Source" characters).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object) -> str:
    """`text` as a string with every control character written as its escape."""
    return _UNSAFE.sub(_escape, str(text))


def printable_lines(text: object) -> str:
    """A report of several lines, each made `printable` (its line breaks kept)."""
    return "\n".join(printable(line) for line in str(text).split("\n"))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable_event(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """A structlog processor: the event's text fields made printable (the demo's lines)."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = printable(value)
    return event
