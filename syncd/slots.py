"""One queue's slots in this daemon: jobs running, jobs claimed ahead, and how far ahead.

A claim is a round trip and a commit (a WAL flush): a millisecond or two. If the
daemon only claimed for slots already free, every slot would sit idle for that
long between two jobs, and with quick jobs the claim, not the work, would set the
pace. So a queue whose jobs are quick claims a few jobs *ahead*: claimed, theirs to
run, waiting here for the next free slot. How many is measured, not configured:
about as many jobs as the running ones finish while one claim is in flight. Slow
jobs (a monday push, a PDF) get none, and a job never waits here longer than
about one claim. At most `daemon.claim_batch` jobs are held ahead: for no-op-fast
jobs that is what lets one claim feed the slots for a while (bench/compare.py).

The concurrency limit counts running handlers only; a job claimed ahead has its
attempt counted and its row `processing` (so a crash hands it to the rescuer like
any other), and shutdown gives it back untouched with its attempt.

Jobs are run by `daemon.concurrency` long-lived runner tasks, each taking the
next claimed job when a slot is free, not by a task per job: a no-op job spent
a fifth of its CPU time creating, scheduling and tearing down its task
(bench/profile.py, README "Benchmarks").
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from syncd.config import Settings
from syncd.job import Job
from syncd.loops.rescuer import Holdings
from syncd.pauses import WHOLE
from syncd.queues import QUEUES, Queue
from syncd.store import Store

# How long a runner may keep the event loop between two jobs (seconds).
TURN = 0.0005
# Weight of the newest sample in the moving averages below.
SMOOTHING = 0.2


def _average(old: float | None, sample: float) -> float:
    return sample if old is None else old + SMOOTHING * (sample - old)


@dataclass
class QueueState:
    queue: Queue
    limit: int
    enabled: bool
    running: int = 0  # handlers running now
    ready: deque[Job] = field(default_factory=deque)  # claimed ahead, not started
    # True while the queue may have due jobs: after a notification or a poll that
    # found some, after a claim that took all it asked for, after a job ended.
    wanted: bool = True
    # Set by every such event; a claim that comes back short clears `wanted` only
    # if none arrived while it was in flight (that job may be past its snapshot).
    fresh: bool = True
    # The kinds paused in the database (pauses.py); pauses.WHOLE: claim nothing.
    paused: frozenset[str] = frozenset()
    most_ahead: int = 0  # daemon.claim_batch: never more than one claim's worth
    claim_s: float | None = None  # how long a claim takes
    job_s: float | None = None  # how long a job takes

    @property
    def held(self) -> int:
        return self.running + len(self.ready)

    def ahead(self) -> int:
        """How many jobs to hold claimed beyond the running ones."""
        if self.claim_s is None or self.job_s is None:
            return 0
        finishing = self.limit * self.claim_s / max(self.job_s, 1e-6)
        return min(self.most_ahead, math.floor(finishing))

    def room(self) -> int:
        """How many more jobs this queue may claim now."""
        return self.limit + self.ahead() - self.held

    def claimed(self, jobs: list[Job], seconds: float) -> None:
        self.ready.extend(jobs)
        self.claim_s = _average(self.claim_s, seconds)

    def finished(self, seconds: float) -> None:
        self.job_s = _average(self.job_s, seconds)


class Slots:
    """Every queue's slots, under the daemon-wide limit (`daemon.concurrency`).

    When both queues have work the free slots are shared between them, taken in
    turn, so a flood of documents cannot starve syncs.
    """

    def __init__(self, settings: Settings) -> None:
        self.concurrency = settings.daemon.concurrency
        self.states = {
            name: QueueState(
                queue,
                settings.queue(name).concurrency,
                settings.queue(name).enabled,
                most_ahead=settings.daemon.claim_batch,
            )
            for name, queue in QUEUES.items()
        }
        self._rotation = 0
        self._order = deque(self.states.values())  # whose claimed job starts next
        self.running = 0  # handlers running now, every queue's
        self._runners: list[asyncio.Task[None]] = []
        self._claimed = asyncio.Event()  # idle runners' alarm: jobs wait for a slot
        self._stopping = False

    def room(self) -> int:
        """How many more jobs the daemon as a whole may claim now."""
        states = self.states.values()
        ahead = sum(s.ahead() for s in states if s.enabled)
        return self.concurrency + ahead - sum(s.held for s in states)

    def hungry(self) -> list[QueueState]:
        """The queues to claim for now, starting with a different one each time."""
        names = list(self.states)
        self._rotation = (self._rotation + 1) % len(names)
        names = names[self._rotation :] + names[: self._rotation]
        states = [self.states[n] for n in names]
        return [
            s for s in states if s.enabled and s.wanted and WHOLE not in s.paused and s.room() > 0
        ]

    async def claim(self, store: Store, holdings: Holdings, batch: int) -> tuple[bool, bool]:
        """Claim for every queue that wants it, sharing the room fairly, at most
        `batch` jobs a claim. Returns (more may be claimable right away, some
        claim came back short)."""
        hungry = self.hungry()
        if not hungry or self.room() <= 0:
            return False, False
        share = math.ceil(self.room() / len(hungry))
        more = short = False
        loop = asyncio.get_running_loop()
        for state in hungry:
            want = min(share, self.room(), state.room(), batch)
            if want <= 0:
                continue
            state.fresh = False
            asked = loop.time()
            with holdings.claiming():
                jobs = await store.claim(state.queue, want, state.paused)
                holdings.add(state.queue.name, jobs)
            state.claimed(jobs, loop.time() - asked)
            if len(jobs) < want:
                state.wanted = state.fresh
                short = True
            else:
                more = True
        return more, short

    def take_ready(self) -> list[Job]:
        """Every job claimed ahead and not started, taken out (shutdown gives them back)."""
        taken = [job for state in self.states.values() for job in state.ready]
        for state in self.states.values():
            state.ready.clear()
        return taken

    def take(self) -> tuple[QueueState, Job] | None:
        """The next claimed job to start, if a slot is free, taking the queues in turn;
        counted as running from here until its state's `finished`."""
        if self.running >= self.concurrency:
            return None
        states = self._order
        for _ in range(len(states)):
            state = states[0]
            states.rotate(-1)
            if state.ready and state.running < state.limit:
                state.running += 1
                self.running += 1
                return state, state.ready.popleft()
        return None

    def finished(self, state: QueueState, seconds: float) -> None:
        """A job `take` gave out has ended after `seconds`: its slot is free."""
        state.running -= 1
        self.running -= 1
        state.finished(seconds)

    def startable(self) -> bool:
        """Whether a claimed job could start now."""
        return self.running < self.concurrency and any(
            s.ready and s.running < s.limit for s in self.states.values()
        )

    # -- the runners -------------------------------------------------------------------

    def dispatch(
        self,
        attempt: Callable[[Job, asyncio.Task[None] | None], Awaitable[None]],
        freed: Callable[[], None],
        died: Callable[[asyncio.Task[None]], None],
    ) -> None:
        """Have the claimed jobs started: a runner per slot (more after a reload
        raised the limit), and the idle ones woken. `attempt(job, runner)` runs
        one; `freed` hears of each slot freed; `died` of a runner that ended."""
        while len(self._runners) < self.concurrency:
            runner = asyncio.create_task(self._run(attempt, freed), name="runner")
            runner.add_done_callback(died)  # a runner must never die
            self._runners.append(runner)
        if self.startable():
            self._claimed.set()

    def stop(self) -> None:
        """No job starts from now on; idle runners end, busy ones after their job."""
        self._stopping = True
        self._claimed.set()

    def runners(self) -> list[asyncio.Task[None]]:
        """The runners not ended yet (shutdown waits for them, then cancels them)."""
        return [r for r in self._runners if not r.done()]

    async def _run(
        self,
        attempt: Callable[[Job, asyncio.Task[None] | None], Awaitable[None]],
        freed: Callable[[], None],
    ) -> None:
        """One slot: run claimed jobs one after another until shutdown."""
        me = asyncio.current_task()
        turned = time.monotonic()
        while not self._stopping:
            taken = self.take()
            if taken is None:
                self._claimed.clear()
                await self._claimed.wait()
                turned = time.monotonic()
                continue
            state, job = taken
            started = time.monotonic()
            try:
                await attempt(job, me)
            finally:
                ended = time.monotonic()
                self.finished(state, ended - started)
                freed()
            if ended - turned > TURN:
                # Let the loop turn: a handler that never waits would otherwise
                # run every job claimed ahead before the outcome writer and the
                # next claim get their turn.
                await asyncio.sleep(0)
                turned = time.monotonic()
