"""Every SQL statement syncd runs, one file each: the whole database contract in one folder.

Statements shared by both queues name their table as ``{table}``; `load` fills it
in from the fixed list of queue tables, never from user input.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

TABLES = frozenset({"sync_queue", "document_processing_queue"})


@cache
def load(name: str, table: str | None = None) -> str:
    """The text of ``queries/<name>.sql``, with ``{table}`` filled in when given."""
    text = files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
    if table is None:
        return text
    if table not in TABLES:
        raise ValueError(f"not a queue table: {table!r}")
    return text.replace("{table}", table)
