"""Where a monday pause is kept so that every syncd process using the token honours it.

When monday says "wait" (a 429, an exhausted budget, the daily limit), the process
that heard it writes the pause to ``monday_pauses``; every process reads it before
each request. Two daemons on one token therefore learn a limit once, not each the
hard way. Rows are keyed by the token's SHA-256 so the token itself is never stored.

A locked board (HTTP 423) is kept the same way, in a row of its own
(``<token's SHA-256>:board:<board id>``): it holds up that board's work only.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from syncd import queries

if TYPE_CHECKING:
    import asyncpg


def token_id(token: str) -> str:
    """The key a token's pauses are shared under: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Pause:
    remaining: float  # seconds until monday work may resume
    reason: str


class PauseStore(Protocol):
    async def current(self, board_id: int | None = None) -> Pause | None:
        """The pause in force now (of the token, or the lock of one board), or None."""

    async def extend(self, seconds: float, reason: str, board_id: int | None = None) -> float:
        """Pause for `seconds` from now (a longer pause in force stays); the time left."""


class DatabasePauses:
    """Pauses shared through the database by every process with the same token."""

    def __init__(self, pool: asyncpg.Pool, token_id: str) -> None:
        self._pool = pool
        self._token_id = token_id

    def _key(self, board_id: int | None) -> str:
        return self._token_id if board_id is None else f"{self._token_id}:board:{board_id}"

    async def current(self, board_id: int | None = None) -> Pause | None:
        row = await self._pool.fetchrow(queries.load("monday_pause_current"), self._key(board_id))
        return None if row is None else Pause(float(row["remaining"]), str(row["reason"]))

    async def extend(self, seconds: float, reason: str, board_id: int | None = None) -> float:
        remaining = await self._pool.fetchval(
            queries.load("monday_pause_extend"), self._key(board_id), float(seconds), reason
        )
        return float(remaining)


class MemoryPauses:
    """Pauses shared by the clients in one process only (tests, `syncd demo` without a DB)."""

    def __init__(self) -> None:
        # board id (None: the whole token) -> (monotonic until, reason)
        self._pauses: dict[int | None, tuple[float, str]] = {}

    async def current(self, board_id: int | None = None) -> Pause | None:
        until, reason = self._pauses.get(board_id, (0.0, ""))
        left = until - time.monotonic()
        return Pause(left, reason) if left > 0 else None

    async def extend(self, seconds: float, reason: str, board_id: int | None = None) -> float:
        until = time.monotonic() + seconds
        if until >= self._pauses.get(board_id, (0.0, ""))[0]:
            self._pauses[board_id] = (until, reason)
        return self._pauses[board_id][0] - time.monotonic()
