"""The daemon's side loops, one small module each, beside the fetch loop in worker.py.

Each runs until cancelled and survives database outages on its own; a loop that
dies anyway takes the daemon down (the worker watches them), because a daemon
that silently stopped rescuing or pruning is worse than one that restarts.
"""

from __future__ import annotations

from typing import Protocol


class Loop(Protocol):
    name: str

    async def run(self) -> None: ...
