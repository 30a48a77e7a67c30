"""Faults a test can inject into the fake: errors, latency, dropped connections, lost answers.

Each fault applies to the next `times` requests whose root field is `when` (any
request when `when` is None); `times=None` keeps it forever. With `chance` below 1 a
fault strikes each such request at random with that probability, as a flaky network
does (`rng` is seeded: replace it for another draw).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    kind: str  # status | drop | lose_response | delay | lock | raw | redirect
    times: int | None = 1
    when: str | None = None
    status: int = 500
    seconds: float = 0.0
    board_id: int | None = None
    body: Any = None
    chance: float = 1.0
    headers: dict[str, str] = field(default_factory=dict)
    # raw: answer this many bytes (streamed, never held in memory) after `body`
    size: int = 0

    def matches(self, fields: list[str]) -> bool:
        return self.when is None or self.when in fields


@dataclass
class Faults:
    pending: list[Fault] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def fail(
        self,
        status: int = 500,
        *,
        times: int | None = 1,
        when: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer with HTTP `status` (5xx, 423, 429, 413...) without running the request.

        `body` is sent as JSON (any shape, however wrong), `headers` added (a
        ``Retry-After``, absurd or not).
        """
        self.pending.append(
            Fault("status", times, when, status=status, body=body, headers=dict(headers or {}))
        )

    def answer_raw(
        self,
        body: bytes = b"",
        *,
        size: int = 0,
        status: int = 200,
        times: int | None = 1,
        when: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer `body` as it is (random bytes, broken JSON), then `size` more bytes
        streamed in chunks: a huge answer costs the fake no memory."""
        self.pending.append(
            Fault(
                "raw", times, when, status=status, body=body, size=size, headers=dict(headers or {})
            )
        )

    def redirect(
        self, location: str, *, status: int = 307, times: int | None = 1, when: str | None = None
    ) -> None:
        """Answer with a redirect to `location` (a client must not follow it)."""
        self.pending.append(
            Fault("redirect", times, when, status=status, headers={"Location": location})
        )

    def drop(self, *, times: int | None = 1, when: str | None = None) -> None:
        """Close the connection before running the request: nothing happened."""
        self.pending.append(Fault("drop", times, when))

    def lose_response(
        self, *, times: int | None = 1, when: str | None = None, chance: float = 1.0
    ) -> None:
        """Run the request (the mutation is applied), then close without answering."""
        self.pending.append(Fault("lose_response", times, when, chance=chance))

    def delay(self, seconds: float, *, times: int | None = None, when: str | None = None) -> None:
        """Answer `seconds` late (a timeout on the client's side, or a concurrency pile-up)."""
        self.pending.append(Fault("delay", times, when, seconds=seconds))

    def lock_board(self, board_id: int, *, times: int | None = 1, seconds: float = 0.0) -> None:
        """Refuse mutations of one board with 423 Locked, as a busy board does.

        With `seconds`, each of the `times` locks lasts that long: every mutation of
        the board meanwhile gets 423 too, with ``Retry-After`` saying when it ends,
        and is counted in `FakeMonday.locks` (a client should have waited).
        """
        self.pending.append(
            Fault("lock", times, None, status=423, board_id=board_id, seconds=seconds)
        )

    def clear(self) -> None:
        self.pending.clear()

    def take(self, kind: str, fields: list[str], board_ids: set[int] | None = None) -> Fault | None:
        """The first fault of `kind` that applies to this request, used up by one."""
        for fault in self.pending:
            if fault.kind != kind or not fault.matches(fields):
                continue
            if kind == "lock" and (board_ids is None or fault.board_id not in board_ids):
                continue
            if fault.chance < 1.0 and self.rng.random() >= fault.chance:
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.pending.remove(fault)
            return fault
        return None
