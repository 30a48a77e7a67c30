"""systemd's watchdog: WATCHDOG=1 while healthy, and a STATUS line saying what we do.

Healthy means the listener connection is up: a daemon that cannot reach its
database for longer than WatchdogSec is restarted by systemd.
"""

from __future__ import annotations

from syncd.loops import Every, Loop
from syncd.loops.listener import Listener
from syncd.pauses import WHOLE
from syncd.slots import QueueState, Slots
from syncd.systemd import Notifier


class Watchdog(Loop):
    name = "watchdog"

    def __init__(self, notifier: Notifier, listener: Listener, slots: Slots) -> None:
        self._notifier = notifier
        self._listener = listener
        self._slots = slots
        self._cadence = Every(notifier.watchdog_interval() or 10.0)

    async def wait(self) -> None:
        await self._cadence()

    async def run_once(self) -> None:
        if self._listener.ready.is_set():
            self._notifier.watchdog()
            self._notifier.status(
                f"{self._slots.running} running"
                + "".join(f", {n} {_state(s)}" for n, s in self._slots.states.items())
            )
        else:
            self._notifier.status("waiting for database")


def _state(queue: QueueState) -> str:
    if WHOLE in queue.paused:
        return "paused"
    return "due" if queue.wanted else "idle"
