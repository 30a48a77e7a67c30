"""Every SQL statement syncd runs, one file each: the whole database contract in one folder.

Statements shared by both queues name their table as ``{table}``; a `Queue`
fills it in (queues.Queue.sql).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def load(name: str) -> str:
    """The text of ``queries/<name>.sql``."""
    return files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
