"""The optional C speedups (`pip install "syncd[fast]"`), each with its stdlib fallback.

uvloop runs the daemon's event loop and orjson decodes the jsonb payloads of claimed
jobs and renders the JSON log lines. A no-op job spends most of its time in the event
loop and in per-job bookkeeping (bench/profile.py; README "Benchmarks"), and these
two take a share of it without any change in behaviour: without them installed,
syncd runs the same on asyncio's own loop and the json module.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any, TypeVar

T = TypeVar("T")


def _optional(name: str) -> ModuleType | None:
    # Imported by name, so that mypy checks this module the same with the extra
    # installed or not.
    try:
        return importlib.import_module(name)
    except ImportError:  # the fast extra is not installed
        return None


orjson: Any = _optional("orjson")
uvloop: Any = _optional("uvloop")


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on uvloop when it is installed."""
    if uvloop is None:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def json_loads() -> Callable[[str | bytes], Any]:
    return json.loads if orjson is None else orjson.loads


def log_serializer() -> Callable[..., str]:
    """A structlog JSONRenderer serializer: orjson when installed, json otherwise.

    Datetimes go through `default` as with json (str(), not orjson's own format),
    so a line reads the same either way but for json's spaces after , and :.
    """
    if orjson is None:
        return json.dumps
    options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS

    def dumps(obj: Any, default: Callable[[Any], Any] | None = None, **kw: Any) -> str:
        try:
            line: str = orjson.dumps(obj, default=default, option=options).decode()
            return line
        except TypeError:  # what orjson refuses (an int past 64 bits): json takes it
            return json.dumps(obj, default=default, **kw)

    return dumps
