"""Where a monday pause is kept so that every syncd process using the token honours it.

When monday says "wait" (a 429, an exhausted budget, the daily limit), the process
that heard it writes the pause to ``monday_pauses``; every process reads it before
each request. Two daemons on one token therefore learn a limit once, not each the
hard way. Rows are keyed by the token's SHA-256 so the token itself is never stored.
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
    async def current(self) -> Pause | None:
        """The pause in force now, or None."""

    async def extend(self, seconds: float, reason: str) -> float:
        """Pause for `seconds` from now (a longer pause in force stays); the time left."""


class DatabasePauses:
    """Pauses shared through the database by every process with the same token."""

    def __init__(self, pool: asyncpg.Pool, token_id: str) -> None:
        self._pool = pool
        self._token_id = token_id

    async def current(self) -> Pause | None:
        row = await self._pool.fetchrow(queries.load("monday_pause_current"), self._token_id)
        return None if row is None else Pause(float(row["remaining"]), str(row["reason"]))

    async def extend(self, seconds: float, reason: str) -> float:
        remaining = await self._pool.fetchval(
            queries.load("monday_pause_extend"), self._token_id, float(seconds), reason
        )
        return float(remaining)


class MemoryPauses:
    """Pauses shared by the clients in one process only (tests, `syncd demo` without a DB)."""

    def __init__(self) -> None:
        self._until = 0.0
        self._reason = ""

    async def current(self) -> Pause | None:
        left = self._until - time.monotonic()
        return Pause(left, self._reason) if left > 0 else None

    async def extend(self, seconds: float, reason: str) -> float:
        until = time.monotonic() + seconds
        if until >= self._until:
            self._until, self._reason = until, reason
        return self._until - time.monotonic()
