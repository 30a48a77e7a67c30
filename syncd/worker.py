"""The daemon: one fetch loop, a concurrency limit, and the side loops beside it.

A job's way through syncd:
  INSERT -> trigger NOTIFY (migrations/0004) -> Listener wakes the queue here ->
  `_fetch` claims due jobs (the Queue's claim statement) while slots are free ->
  `_attempt` calls the handler from the registry under the queue's timeout ->
  outcomes.decide makes what it did an Outcome -> the OutcomeWriter
  (loops/writer.py) writes it (write_outcomes.sql) and logs job.completed /
  job.retry_scheduled / job.failed / job.snoozed / job.released.

Concurrency is a global limit plus one per queue. When both queues have work the
free slots are shared between them, so a flood of documents cannot starve syncs.

How the fetch loop is woken, and why each signal is needed:
  * `_wake` is the fetch loop's one alarm: set when a queue may have due jobs
    (`_due`) and when a slot frees up. The loop sleeps on nothing else.
  * `QueueState.wanted` says *which* queue to claim for, so an idle queue costs
    no claim; `fresh` keeps a notification that arrived while a claim was in
    flight from being wiped out by that claim coming back short.
  * `Poller.look` is the one way into the poller's clock: look now (a claim came
    back short, the listener reconnected) or at a time (a retry or snooze of
    ours falls due then, which no notification will announce).
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
from collections.abc import Callable

import asyncpg

from syncd import db, logs, loops, queries, reload, systemd
from syncd.backoff import Doubling, pause, until_done
from syncd.config import Settings
from syncd.errors import PermanentError, describe
from syncd.handlers import Context, Handler, Registry
from syncd.job import Job
from syncd.loops.heartbeat import Heartbeat
from syncd.loops.listener import Listener
from syncd.loops.poller import Poller
from syncd.loops.pruner import Pruner
from syncd.loops.rescuer import Holdings, Rescuer
from syncd.loops.watchdog import Watchdog
from syncd.loops.writer import OutcomeWriter
from syncd.outcomes import RELEASED, Outcome, RetryPolicy, decide
from syncd.queues import QUEUES, Queue, job_fields
from syncd.slots import QueueState
from syncd.store import Store, Written

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
        self.holdings = Holdings()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._releasing = False
        self._rotation = 0
        self._pool: asyncpg.Pool | None = None
        self._listener: Listener | None = None
        self._poller: Poller | None = None
        self._writer: OutcomeWriter | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._notifier = systemd.Notifier()
        self._store: Store | None = None
        self._failed = False  # a side loop died: exit 1 so systemd restarts us

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

        async def connect() -> None:
            try:
                self._pool = await db.create_pool(self.settings)
                self._listener = Listener(self.settings, self._due, self._reconnected)
                await self._listener.connect_once()
            except db.CONNECTION_ERRORS:
                await self._close_connections()
                self._notifier.status("waiting for database")
                raise

        def unavailable(exc: BaseException, delay: float) -> None:
            self.log.warning("db.unavailable", error=describe(exc), retry_in_s=delay)

        wait = Doubling(0.5, self.settings.daemon.reconnect_max_delay)
        try:
            await until_done(connect, db.CONNECTION_ERRORS, wait, unavailable, stop=self._stop)
        except db.CONNECTION_ERRORS:
            return False  # stopped while waiting
        return True

    async def _serve(self) -> None:
        assert self._pool is not None and self._listener is not None
        self._store = store = Store(self._pool, self.id)
        self._writer = OutcomeWriter(store, self.holdings, self._written)
        heartbeat = Heartbeat(
            self.settings, self.id, self._pool, self._listener, self.holdings.count
        )
        await heartbeat.beat()
        await self.registry.start(self._pool)
        rescuer = Rescuer(self.settings, store, self.holdings, self._due)
        self._poller = Poller(self.settings, store, self._listener, rescuer, self._due)
        await self._poller.run_once()  # rescue what a dead predecessor left before claiming
        watchdog = Watchdog(self._notifier, self._listener, self._doing)
        side: list[loops.Loop] = [self._listener, self._poller, heartbeat, self._writer, watchdog]
        if not self.once:
            side.append(Pruner(self.settings, store, self._pool))
        self._loops = [loop.start() for loop in side]
        for task in self._loops:
            task.add_done_callback(self._loop_ended)
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
        if self._writer is not None:
            for state in self.queues.values():
                # Claimed ahead and never started: back at once, attempt and all.
                while state.ready:
                    self._writer.submit(state.ready.popleft(), Outcome(RELEASED))
        if running:
            _, late = await asyncio.wait(running, timeout=self.settings.daemon.shutdown_grace)
            if late:
                self._releasing = True
                for task in late:
                    task.cancel()
                await asyncio.wait(late)
        if self._writer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._writer.wait_idle(), timeout=STOP_STEP_TIMEOUT)
        # Every step of a stop is bounded, these two as well: a loop caught in a
        # driver's wait (asyncpg hands a connection back only once the server
        # confirmed a cancel) or a service that does not stop must not keep the
        # process from exiting; systemd would kill it at TimeoutStopSec instead.
        for task in await loops.stop(self._loops, STOP_STEP_TIMEOUT):
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
        wait = Doubling(0.1, 5.0)
        while not self._stop.is_set():
            self._wake.clear()
            try:
                claimed = await self._claim_round()
                wait.succeeded()
            except (*db.CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                # The database is away (or two claims raced on one entity): wait
                # and try again; the poller and listener notice the rest.
                delay = wait.failed()
                self.log.warning("claim.failed", error=describe(exc), retry_in_s=delay)
                await pause(delay, self._stop)
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
        wanted = any(s.wanted for s in self.queues.values() if s.enabled)
        return not wanted and self.holdings.count() == 0

    def _room(self) -> int:
        """How many more jobs the daemon as a whole may claim now."""
        states = self.queues.values()
        ahead = sum(s.ahead() for s in states if s.enabled)
        return self.settings.daemon.concurrency + ahead - sum(s.held for s in states)

    async def _claim_round(self) -> bool:
        """Claim for every queue that wants it, sharing the room fairly.

        Returns True when more may be claimable right away.
        """
        assert self._store is not None and self._poller is not None
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
            state.fresh = False
            asked = loop.time()
            with self.holdings.claiming():
                jobs = await self._store.claim(state.queue, want)
                self.holdings.add(state.queue.name, jobs)
            state.claimed(jobs, loop.time() - asked)
            if len(jobs) < want:
                state.wanted = state.fresh
                self._poller.look()
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
        # then never runs; only when the event loop itself is torn down).
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
        """One attempt: the handler under the queue's timeout; its outcome to the writer."""
        assert self._writer is not None and self._pool is not None
        started = time.monotonic()
        queue = QUEUES[job.queue]
        log = self.log.bind(**job_fields(job))
        log.debug("job.started")
        deadline = asyncio.timeout(self.settings.queue(job.queue).timeout)
        handler: Handler | None = None
        result: object
        try:
            problem = queue.payload_problem(job)
            if problem is not None:
                raise PermanentError(problem)
            handler = self.registry.find(job)
            async with deadline:
                result = await handler(job, Context(self._pool, self.settings, log))
        except asyncio.CancelledError as cut:
            # Shutdown ran out of grace (or the loop is being torn down): the
            # attempt did not fail, it was cut short; it goes back. Handing the
            # outcome over cannot be interrupted; its write is shielded.
            self._writer.submit(job, decide(job, cut, self._policy(job, handler)))
            if not self._releasing:
                raise
            return
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            result = exc
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        outcome = decide(
            job,
            result,
            self._policy(job, handler),
            timed_out=deadline.expired(),
            duration_ms=duration_ms,
        )
        self._writer.submit(job, outcome)

    def _policy(self, job: Job, handler: Handler | None) -> RetryPolicy:
        retry = self.settings.retry
        return RetryPolicy(
            retry.delays,
            retry.jitter,
            self.settings.queue(job.queue).timeout,
            # A handler may choose its jobs' backoff (River's NextRetry).
            getattr(handler, "backoff", None),
        )

    # -- callbacks from the side loops -------------------------------------------------

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
            self._poller.look()

    def _written(self, queue: Queue, job: Job, row: Written | None) -> None:
        # The job no longer blocks its entity: another job for it may be due.
        self._due(queue.name)
        pending = row is not None and row.status == "pending" and row.next_retry is not None
        if pending and self._poller is not None:
            assert row is not None and row.next_retry is not None
            self._poller.look(row.next_retry)

    def _doing(self) -> str:
        """The STATUS line systemd shows."""
        return f"{self.running} running" + "".join(
            f", {n} {'due' if s.wanted else 'idle'}" for n, s in self.queues.items()
        )
