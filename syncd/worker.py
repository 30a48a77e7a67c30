"""The daemon: one fetch loop, a concurrency limit, and the side loops beside it.

A job's way through syncd:
  INSERT -> trigger NOTIFY (syncd/migrations/0004) -> Listener wakes the queue here ->
  `_fetch` claims due jobs (queries/claim_*.sql) while slots are free -> `_run`
  calls the handler from the registry under the queue's timeout -> Recorder
  (outcomes.py) writes the outcome and logs job.completed / job.retry_scheduled /
  job.failed / job.snoozed.

Concurrency is a global limit plus one per queue. When both queues have work the
free slots are shared between them, so a flood of documents cannot starve syncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import asyncpg

from syncd import db, logs, queries, reload, systemd
from syncd.config import Settings
from syncd.handlers import Context, Job, Registry
from syncd.loops.heartbeat import Heartbeat
from syncd.loops.listener import Listener
from syncd.loops.poller import Poller
from syncd.loops.pruner import Pruner
from syncd.outcomes import Recorder, job_fields
from syncd.queues import QUEUES, Queue, Store
from syncd.retry import PermanentError, describe
from syncd.slots import QueueState

# How long one step of a stop may take once the running jobs are done.
STOP_STEP_TIMEOUT = 10.0


class Worker:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        once: bool = False,
        reread: Callable[[], Settings] | None = None,
    ) -> None:
        self.settings = settings
        # How SIGHUP reads the configuration again (None: SIGHUP is ignored).
        self.reread = reread
        self.registry = registry
        self.once = once
        self.id = uuid.uuid4()
        self.log = logs.get(worker_id=str(self.id))
        self.queues = {
            name: QueueState(
                q,
                settings.queue(name).concurrency,
                settings.queue(name).enabled,
                most_ahead=settings.daemon.claim_batch,
            )
            for name, q in QUEUES.items()
        }
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._releasing = False
        self._rotation = 0
        self._pool: asyncpg.Pool | None = None
        self._listener: Listener | None = None
        self._poller: Poller | None = None
        self._recorder: Recorder | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._notifier = systemd.Notifier()
        self._store: Store | None = None
        self._failed = False  # a side loop died: exit 1 so systemd restarts us
        self._claims_in_flight = 0

    # -- public ----------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming and shut down gracefully (SIGTERM, SIGINT)."""
        if not self._stop.is_set():
            self._stop.set()
            self._wake.set()

    def reload(self) -> None:
        """SIGHUP: take the new log level and concurrency limits; see reload.py."""
        if self.reread is None:
            self.log.warning("config.reloaded", applied=[], error="no configuration to re-read")
            return
        self._notifier.reloading()
        reload.reload(self.settings, self.reread, self._apply)
        self._notifier.ready()

    def _apply(self, new: Settings) -> None:
        self.settings.log.level = new.log.level
        self.settings.daemon.concurrency = new.daemon.concurrency
        for name, state in self.queues.items():
            limit = new.queue(name).concurrency
            self.settings.queue(name).concurrency = state.limit = limit
        self._dispatch()  # a higher limit starts what was claimed ahead
        self._wake.set()  # ...and may claim more

    @property
    def running(self) -> int:
        return sum(len(s.running) for s in self.queues.values())

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.log.info(
            "daemon.started",
            pid=os.getpid(),
            host=socket.gethostname(),
            config=self.settings.source,
            once=self.once,
            concurrency=self.settings.daemon.concurrency,
            queues={n: s.limit for n, s in self.queues.items() if s.enabled},
            handlers={n: self.registry.kinds(n) for n in QUEUES},
        )
        try:
            if not await self._connect():
                return
            try:
                await self._serve()
            finally:
                await self._shutdown()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            self.log.info("daemon.stopped")

    # -- start and stop ----------------------------------------------------------

    async def _connect(self) -> bool:
        """Open the pool and the listener, waiting out a database that is not up yet."""
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._pool = await db.create_pool(self.settings)
                self._listener = Listener(self.settings, self._notified, self._reconnected)
                await self._listener.connect_once()
                return True
            except db.CONNECTION_ERRORS as exc:
                await self._close_connections()
                self._notifier.status("waiting for database")
                self.log.warning("db.unavailable", error=describe(exc), retry_in_s=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, self.settings.daemon.reconnect_max_delay)
        return False

    async def _serve(self) -> None:
        assert self._pool is not None and self._listener is not None
        store = Store(self._pool, self.id)
        self._recorder = Recorder(store, self.settings, self._written, self._retry_at)
        heartbeat = Heartbeat(self.settings, self.id, self._pool, self._listener, self._holding)
        await heartbeat.beat()
        await self.registry.start(self._pool)
        self._poller = Poller(
            self.settings, store, self._pool, self._listener, self._due, self._holdings
        )
        await self._poller.poll()  # rescue what a dead predecessor left before claiming
        side: list[tuple[str, Coroutine[Any, Any, None]]] = [
            ("listener", self._listener.run()),
            ("poller", self._poller.run()),
            ("heartbeat", heartbeat.run()),
            ("recorder", self._recorder.run()),
            ("watchdog", self._watchdog()),
        ]
        if not self.once:
            side.append(("pruner", Pruner(self.settings, store, self._pool).run()))
        self._loops = [asyncio.create_task(coro, name=name) for name, coro in side]
        for task in self._loops:
            task.add_done_callback(self._loop_ended)
        self._store = store
        self._notifier.ready()
        self.log.info("daemon.ready", listen=self.settings.database.listen)
        await self._fetch()

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stop.is_set():
            return
        error = task.exception()
        self.log.error(
            "daemon.loop_died", loop=task.get_name(), error=describe(error or Exception())
        )
        self._failed = True
        self.stop()

    async def _shutdown(self) -> None:
        self._notifier.stopping()
        running = [t for s in self.queues.values() for t in s.running.values()]
        self.log.info(
            "daemon.stopping", running=len(running), grace_s=self.settings.daemon.shutdown_grace
        )
        if self._recorder is not None:
            for state in self.queues.values():
                # Claimed ahead and never started: back at once, attempt and all.
                waiting = list(state.ready)
                state.ready.clear()
                if waiting:
                    with contextlib.suppress(*db.CONNECTION_ERRORS):
                        await self._recorder.released(state.queue, waiting)
        if running:
            _, late = await asyncio.wait(running, timeout=self.settings.daemon.shutdown_grace)
            if late:
                self._releasing = True
                for task in late:
                    task.cancel()
                await asyncio.wait(late)
        if self._recorder is not None:
            with contextlib.suppress(*db.CONNECTION_ERRORS):
                await asyncio.wait_for(self._recorder.wait_idle(), timeout=10)
        # Every step of a stop is bounded, these two as well: a loop caught in a
        # driver's wait (asyncpg hands a connection back only once the server
        # confirmed a cancel) or a service that does not stop must not keep the
        # process from exiting; systemd would kill it at TimeoutStopSec instead.
        for task in self._loops:
            task.cancel()
        if self._loops:
            _, stuck = await asyncio.wait(self._loops, timeout=STOP_STEP_TIMEOUT)
            for task in stuck:
                self.log.warning("daemon.stop_slow", step=f"the {task.get_name()} loop")
        try:
            await asyncio.wait_for(self.registry.stop(), timeout=STOP_STEP_TIMEOUT)
        except TimeoutError:
            self.log.warning("daemon.stop_slow", step="the handlers' services")
        except Exception as exc:
            self.log.warning("daemon.stop_slow", step="the handlers' services", error=describe(exc))
        if self._pool is not None:
            try:
                await self._pool.execute(queries.load("forget_worker"), self.id, timeout=5)
            except Exception as exc:  # best effort: the pruner forgets us in a day anyway
                self.log.warning("db.write_failed", error=describe(exc))
        await self._close_connections()
        if self._failed:
            raise SystemExit(1)

    async def _close_connections(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        if self._pool is not None:
            with contextlib.suppress(*db.CONNECTION_ERRORS):
                await asyncio.wait_for(self._pool.close(), timeout=10)
            self._pool.terminate()
        self._pool = None

    # -- the fetch loop ------------------------------------------------------------

    async def _fetch(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            self._wake.clear()
            try:
                claimed = await self._claim_round()
                backoff = 0.1
            except (*db.CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                # The database is away (or two claims raced on one entity): wait
                # and try again; the poller and listener notice the rest.
                self.log.warning("claim.failed", error=describe(exc), retry_in_s=backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if claimed:
                # Let the jobs just started take their first step: quick ones end
                # at once, and their slots join the next claim instead of leaving
                # it to chase one freed slot at a time.
                await asyncio.sleep(0)
                continue
            if self.once and self._drained():
                break
            await self._wake.wait()
        if self.once:
            self.stop()

    def _drained(self) -> bool:
        assert self._recorder is not None
        return (
            not any(s.wanted for s in self.queues.values() if s.enabled)
            and all(s.held == 0 for s in self.queues.values())
            and self._recorder.holding == 0
        )

    def _room(self) -> int:
        """How many more jobs the daemon as a whole may claim now."""
        states = self.queues.values()
        ahead = sum(s.ahead() for s in states if s.enabled)
        return self.settings.daemon.concurrency + ahead - sum(s.held for s in states)

    async def _claim_round(self) -> bool:
        """Claim for every queue that wants it, sharing the room fairly.

        Returns True when more may be claimable right away.
        """
        names = list(self.queues)
        self._rotation = (self._rotation + 1) % len(names)
        names = names[self._rotation :] + names[: self._rotation]
        hungry = [
            self.queues[n]
            for n in names
            if self.queues[n].enabled and self.queues[n].wanted and self.queues[n].room() > 0
        ]
        if not hungry or self._room() <= 0:
            return False
        share = math.ceil(self._room() / len(hungry))
        more = False
        loop = asyncio.get_running_loop()
        for state in hungry:
            want = min(share, self._room(), state.room(), self.settings.daemon.claim_batch)
            if want <= 0:
                continue
            assert self._store is not None
            state.fresh = False
            asked = loop.time()
            self._claims_in_flight += 1
            try:
                jobs = await self._store.claim(state.queue, want)
                state.claimed(jobs, loop.time() - asked)
            finally:
                self._claims_in_flight -= 1
            if len(jobs) < want:
                state.wanted = state.fresh
                assert self._poller is not None
                self._poller.poke()
            else:
                more = True
        self._dispatch()
        return more and self._room() > 0

    def _dispatch(self) -> None:
        """Start claimed jobs while slots are free, taking the queues in turn."""
        if self._stop.is_set():
            return  # shutdown gives the waiting ones back
        concurrency = self.settings.daemon.concurrency
        started = True
        while started:
            started = False
            for state in self.queues.values():
                if self.running >= concurrency:
                    return
                if state.ready and len(state.running) < state.limit:
                    self._start(state, state.ready.popleft())
                    started = True

    def _start(self, state: QueueState, job: Job) -> None:
        task = asyncio.create_task(self._run(state, job), name=f"job-{job.id}")
        state.running[job.id] = task
        # In case the task is cancelled before its first step (the finally below
        # then never runs).
        task.add_done_callback(lambda done: self._ended(state, job, done))

    def _ended(self, state: QueueState, job: Job, task: asyncio.Task[None]) -> None:
        # Only if the slot is still this task's: a job rescued from us while
        # cut off can be claimed by us again while its fenced attempt still
        # runs, and that one ending must not untrack the newer attempt.
        if state.running.get(job.id) is task:
            del state.running[job.id]
            self._dispatch()
            self._wake.set()

    async def _run(self, state: QueueState, job: Job) -> None:
        started = time.monotonic()
        try:
            await self._attempt(job)
        finally:
            state.finished(time.monotonic() - started)
            # Free the slot in the job's own last step rather than in a done
            # callback one loop turn later, so that a claim issued right after
            # counts it.
            task = asyncio.current_task()
            assert task is not None
            self._ended(state, job, task)

    async def _attempt(self, job: Job) -> None:
        """One attempt: the handler under the queue's timeout, then its outcome."""
        assert self._recorder is not None
        started = time.monotonic()
        log = self.log.bind(**job_fields(job))
        log.debug("job.started")
        timeout = self.settings.queue(job.queue).timeout
        deadline = asyncio.timeout(timeout)
        try:
            if not isinstance(job.payload, dict):
                raise PermanentError(
                    "malformed payload: expected a JSON object, got " + _json_type(job.payload)
                )
            handler = self.registry.find(job)
            async with deadline:
                assert self._pool is not None
                await handler(job, Context(self._pool, self.settings, log))
        except asyncio.CancelledError:
            # Shutdown ran out of grace (or the loop is being torn down): the
            # attempt did not fail, it was cut short; give it back.
            await asyncio.shield(self._recorder.released(QUEUES[job.queue], [job]))
            if not self._releasing:
                raise
            return
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            await asyncio.shield(
                self._recorder.failed(job, exc, duration_ms, timed_out=deadline.expired())
            )
            return
        self._recorder.completed(job, round((time.monotonic() - started) * 1000, 1))

    # -- callbacks from the side loops -------------------------------------------------

    def _notified(self, queue: str) -> None:
        self._due(queue)

    def _due(self, queue: str) -> None:
        state = self.queues.get(queue)
        if state is not None:
            state.wanted = state.fresh = True
            self._wake.set()

    def _reconnected(self) -> None:
        # Notifications sent while we were away are lost: look for work now.
        for name in self.queues:
            self._due(name)
        if self._poller is not None:
            self._poller.poke()

    def _written(self, queue: Queue, job: Job) -> None:
        # The job no longer blocks its entity: another job for it may be due.
        self._due(queue.name)

    def _retry_at(self, queue: Queue, when: datetime) -> None:
        if self._poller is not None:
            self._poller.expect(queue, when)

    def _holding(self) -> int:
        held = sum(s.held for s in self.queues.values())
        if self._recorder is not None:
            held += self._recorder.holding
        return held

    def _holdings(self) -> dict[str, set[uuid.UUID]] | None:
        """The jobs this worker has, per queue: running, claimed ahead, outcome
        unwritten. None while a claim is in flight: its jobs are ours in the
        database but not yet known here (its answer may even be lost)."""
        if self._claims_in_flight:
            return None
        held: dict[str, set[uuid.UUID]] = {}
        for name in QUEUES:
            ids: set[uuid.UUID] = set()
            state = self.queues.get(name)
            if state is not None:
                ids.update(state.running)
                ids.update(job.id for job in state.ready)
            if self._recorder is not None:
                ids |= self._recorder.held_ids(name)
            held[name] = ids
        return held

    async def _watchdog(self) -> None:
        """WATCHDOG=1 while healthy, and a STATUS line saying what we are doing."""
        interval = self._notifier.watchdog_interval() or 10.0
        while True:
            healthy = self._listener is not None and self._listener.ready.is_set()
            if healthy:
                self._notifier.watchdog()
                self._notifier.status(
                    f"{self.running} running"
                    + "".join(
                        f", {n} {'due' if s.wanted else 'idle'}" for n, s in self.queues.items()
                    )
                )
            else:
                self._notifier.status("waiting for database")
            await asyncio.sleep(interval)


def _json_type(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
