"""Every SQL statement syncd runs, one file each: the whole database contract in one folder.

Statements shared by both queues name their table as ``{table}``; a `Queue`
fills it in (queues.Queue.sql). A part that several statements share, and that is
no statement on its own (the folding of a job into its entity's newer pending job,
say), is a file too, and stands in each of them as ``{part:<name>}``.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

_PART = re.compile(r"\{part:(\w+)\}")


@cache
def load(name: str) -> str:
    """The text of ``queries/<name>.sql``, with the parts it names put in."""
    text = files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
    return _PART.sub(lambda part: load(part.group(1)).rstrip("\n"), text)
