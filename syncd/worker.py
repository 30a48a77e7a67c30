"""The daemon: one fetch loop, a concurrency limit, and the side loops beside it.

A job's way through syncd:
  INSERT -> trigger NOTIFY (syncd/migrations/0004) -> Listener wakes the queue here ->
  `_fetch` claims due jobs (the Queue's claim statement) while slots are free ->
  a runner (slots.py, one per slot) takes the next one and `_attempt` calls the
  handler from the registry under the queue's timeout ->
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
import functools
import gc
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime
from logging import DEBUG

import asyncpg

from syncd import db, lifecycle, logs, loops, outcomes, pauses, reload, systemd
from syncd.backoff import Doubling, pause
from syncd.config import Settings
from syncd.daemon_http import DaemonHttp
from syncd.errors import PermanentError, describe
from syncd.handlers import Context, Registry
from syncd.job import Job
from syncd.loops.heartbeat import Heartbeat
from syncd.loops.listener import Listener
from syncd.loops.pauses import PauseWatch
from syncd.loops.poller import Poller
from syncd.loops.pruner import Pruner
from syncd.loops.rescuer import Holdings, Rescuer
from syncd.loops.watchdog import Watchdog
from syncd.loops.writer import OutcomeWriter
from syncd.metrics import Metrics
from syncd.outcomes import RELEASED, Outcome, RetryPolicy
from syncd.queues import QUEUES, Queue, job_fields
from syncd.slots import Slots
from syncd.store import Store


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
        self.slots = Slots(settings)
        self.queues = self.slots.states
        # A handler may choose its jobs' backoff (registry.backoff).
        self._policies = {q: RetryPolicy.of(settings, q, registry.backoff) for q in QUEUES}
        self.holdings = Holdings()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._releasing = False
        self._pool: asyncpg.Pool | None = None
        self._listener = Listener(
            settings, self._due, self._reconnected, lambda: self._pause_watch.changed()
        )
        self._pause_watch = PauseWatch(settings, self._listener.connection, self._paused)
        self._poller: Poller | None = None
        self._writer: OutcomeWriter | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._notifier = systemd.Notifier()
        self._store: Store | None = None
        self._failed = False  # a side loop died: exit 1 so systemd restarts us
        self.metrics = Metrics()
        self._http: DaemonHttp | None = None

    def stop(self) -> None:
        """Stop claiming and shut down gracefully (SIGTERM, SIGINT)."""
        if not self._stop.is_set():
            self._stop.set()
            self._wake.set()
            self.slots.stop()  # idle runners end

    def reload(self) -> None:
        """SIGHUP: take the new log level and concurrency limits; see reload.py."""
        if self.reread is None:
            self.log.warning("config.reloaded", applied=[], error="no configuration to re-read")
            return
        self._notifier.reloading()
        reload.reload(self.settings, self.reread, self._apply)
        self._notifier.ready()

    def _apply(self, new: Settings) -> None:
        reload.apply_limits(self.settings, new, self.slots)
        self._dispatch()  # a higher limit starts what was claimed ahead
        self._wake.set()  # ...and may claim more

    async def run(self) -> None:
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
            with systemd.signals(self.stop, self.reload):
                if not await self._connect():
                    return
                try:
                    await self._serve()
                finally:
                    await self._shutdown()
        finally:
            self.log.info("daemon.stopped")

    # -- start and stop ----------------------------------------------------------

    async def _connect(self) -> bool:
        """Open the pool and the listener, waiting out a database that is not up yet."""
        waiting = functools.partial(self._notifier.status, "waiting for database")
        self._pool = await lifecycle.connect(
            self.settings, self._listener, waiting, self._stop, self.log
        )
        return self._pool is not None

    async def _serve(self) -> None:
        assert self._pool is not None
        self._store = store = Store(self._pool, self.id)
        count = self.metrics.outcomes if self.settings.http.listen else None
        self._writer = OutcomeWriter(store, self.holdings, self._written, count)
        heartbeat = Heartbeat(
            self.settings, self.id, self._pool, self._listener, self.holdings.count
        )
        await heartbeat.beat()
        await self.registry.start(self._pool)
        rescuer = Rescuer(self.settings, store, self.holdings, self._due, count)
        self._poller = Poller(
            self.settings, store, self._listener, rescuer, self._due, self._paused
        )
        # Rescue what a dead predecessor left, and learn the pauses, before claiming.
        await self._poller.run_once()
        if self.settings.http.listen:
            self._http = DaemonHttp(
                self.settings, self.metrics, self._pool, self._listener, self.slots
            )
            if not await self._http.start(self.registry, self.log):
                self._http, self._failed = None, True
                return
        watchdog = Watchdog(self._notifier, self._listener, self.slots)
        side: list[loops.Loop] = [self._listener, self._poller, self._pause_watch]
        side += [heartbeat, self._writer, watchdog]
        if not self.once:
            side.append(Pruner(self.settings, store, self._pool))
        self._loops = [loop.start(self._loop_ended) for loop in side]
        self._notifier.ready()
        self.log.info("daemon.ready", listen=self.settings.database.listen)
        # What start-up made (modules, settings, handlers) lives as long as the
        # daemon: out of the collector's way, a full collection walks only what
        # jobs leave behind, and stops the loop for less.
        gc.freeze()
        self._dispatch()
        await self._fetch()

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and not self._stop.is_set():
            error = describe(task.exception() or Exception())
            self.log.error("daemon.loop_died", loop=task.get_name(), error=error)
            self._failed = True
            self.stop()

    async def _shutdown(self) -> None:
        self._notifier.stopping()
        running = self.slots.runners()
        self.log.info(
            "daemon.stopping",
            running=self.slots.running,
            grace_s=self.settings.daemon.shutdown_grace,
        )
        if self._writer is not None:  # claimed ahead and never started: back at once
            for job in self.slots.take_ready():
                self._writer.submit(job, Outcome(RELEASED))
        if running:
            _, late = await asyncio.wait(running, timeout=self.settings.daemon.shutdown_grace)
            if late:
                self._releasing = True
                for task in late:
                    task.cancel()
                await asyncio.wait(late)
        if self._writer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._writer.wait_idle(), lifecycle.STEP_TIMEOUT)
        stop_http = None
        if self._http is not None:
            stop_http = functools.partial(self._http.stop, self.log, lifecycle.STEP_TIMEOUT)
        await lifecycle.wind_down(
            self._loops, stop_http, self.registry, self._pool, self.id, self.log
        )
        await lifecycle.close(self._listener, self._pool)
        self._pool = None
        if self._failed:
            raise SystemExit(1)

    # -- the fetch loop ------------------------------------------------------------

    async def _fetch(self) -> None:
        assert self._store is not None
        async with self._store.keeping_a_connection():
            await self._fetch_until_stopped()
        if self.once:
            self.stop()

    async def _fetch_until_stopped(self) -> None:
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

    def _drained(self) -> bool:
        wanted = any(
            s.wanted for s in self.queues.values() if s.enabled and pauses.WHOLE not in s.paused
        )
        return not wanted and self.holdings.count() == 0

    async def _claim_round(self) -> bool:
        """Claim what the slots want; True when more may be claimable right away."""
        assert self._store is not None and self._poller is not None
        batch = self.settings.daemon.claim_batch
        more, short = await self.slots.claim(self._store, self.holdings, batch)
        if short:
            self._poller.look()  # jobs it skipped as locked by others may be free soon
        self._give_back_paused()  # a pause that arrived while the claim was in flight
        self._dispatch()
        return more and self.slots.room() > 0

    def _dispatch(self) -> None:
        """Start the claimed jobs waiting, while slots are free."""
        if self._stop.is_set():
            return  # shutdown gives the waiting ones back
        self.slots.dispatch(self._attempt, self._slot_freed, self._loop_ended)

    def _slot_freed(self) -> None:
        self._wake.set()  # the fetch loop may claim

    async def _attempt(self, job: Job, runner: asyncio.Task[None] | None = None) -> None:
        """One attempt; its outcome to the writer."""
        assert self._writer is not None and self._pool is not None
        context = Context(self._pool, self.settings, bind=lambda: self.log.bind(**job_fields(job)))
        if logs.enabled(DEBUG):
            context.log.debug("job.started")
        outcome = await outcomes.attempt(
            job, lambda: self._call(job, context), self._policies[job.queue], runner
        )
        self._writer.submit(job, outcome)
        if outcome.kind == RELEASED and not self._releasing:
            # Cut short by the event loop's own teardown, not by shutdown's
            # grace running out: let the cancellation go on.
            raise asyncio.CancelledError

    async def _call(self, job: Job, context: Context) -> object:
        problem = QUEUES[job.queue].payload_problem(job)
        if problem is not None:
            raise PermanentError(problem)
        return await self.registry.find(job)(job, context)

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

    def _paused(self, in_force: dict[str, list[str]]) -> None:
        """The pauses in force, as a NOTIFY's re-read or a poll found them (pauses.py)."""
        if pauses.follow(self.queues, in_force, self.log):
            self._give_back_paused()
            self._wake.set()  # a resume: claim at once

    def _give_back_paused(self) -> None:
        assert self._writer is not None
        for job in pauses.unstartable(self.queues):
            self._writer.submit(job, Outcome(RELEASED))

    def _written(self, queue: Queue, due_again: datetime | None) -> None:
        # Its jobs no longer block their entities: other jobs for them may be due.
        self._due(queue.name)
        if due_again is not None and self._poller is not None:
            self._poller.look(due_again)
