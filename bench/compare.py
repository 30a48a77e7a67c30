"""syncd beside pgqueuer and procrastinate: throughput, pickup latency, idle cost.

    python bench/compare.py [--rounds 3] [--jobs 20000] [--only syncd,pgqueuer]
                            [--database-url URL] [--json]

One PostgreSQL server (embedded unless --database-url), a fresh database for
every system, workload and round. The systems run interleaved: each round runs
every workload on syncd, pgqueuer, pgqueuer_c10 and procrastinate in turn, and
the figures reported are the medians over the rounds. Every system is one
worker process with a no-op handler that notes when each job started
(bench/noop.py, bench/peers/), started the way its users start it:

    syncd          `syncd run`, daemon and sync queue concurrency 10, metrics off
                   (SYNCD_HTTP__LISTEN="")
    syncd_metrics  the same with `[http] listen` on and a scraper GETting /metrics
                   every second throughout: the metrics' cost is the difference
                   (printed under the table; SPEC §10 allows 5 %)
    pgqueuer       pgqueuer 1.6's QueueManager with its defaults (entrypoint
                   concurrency_limit 0, batch 10), on uvloop as `pgq run` runs it
    pgqueuer_c10   the same with the entrypoint's concurrency_limit=10
    procrastinate  `procrastinate worker --concurrency 10`, otherwise its defaults
    ceiling        no worker at all: the bench drains sync_queue itself with syncd's
                   own claim and outcome statements, 100 jobs a statement, with no
                   Python work per job, on one connection (ceiling_1) and on two
                   (ceiling_2). What this machine and server can do with syncd's
                   SQL: syncd's share of ceiling_2 is printed under the table.
                   Throughput workload only.
    syncd_baseline with --baseline DIR: syncd from another checkout (DIR, say
                   /work/main), on the same server and Python, interleaved with
                   this one: a change measured before and after in one run.

Workloads:

throughput   N jobs enqueued in bulk (then VACUUM ANALYZE and CHECKPOINT, so no
             system pays for another's dirt), then the worker starts. The clock
             runs from the first job's handler start (the worker is connected
             and working) to the moment the database shows every job finished
             (polled every 5 ms once every handler has started, which the
             harness learns from the times file, not from the database).
             `throughput_from_spawn_jobs_s` runs the clock from the process's
             spawn instead, start-up included.
latency      an idle worker (one warm-up job run, then 1 s of rest), then 300
             jobs enqueued one at a time, 20 ms apart, each in its own
             transaction through the system's own enqueue path (syncd: a plain
             INSERT into sync_queue; pgqueuer: Queries.enqueue; procrastinate:
             Task.defer_async). Latency is handler start minus the enqueue
             call's start (call_*) or minus its return, after commit (commit_*).
idle         transactions (xact_commit + xact_rollback of the system's database
             in pg_stat_database) and CPU seconds (psutil, worker and children)
             of a worker sitting on an empty queue for 10 s. A backend's counts
             reach pg_stat_database when it exits at the latest, so each run
             counts from before the worker's start to after its last backend
             has gone; a start-up-only run (start, one warm-up job, stop) is
             subtracted from a run that also idles 10 s. On the embedded server
             autovacuum is paused for this workload, as its visits land in the
             same counters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import psutil
from common import (  # type: ignore[import-not-found]
    Sent,
    cpu_seconds,
    drop_database,
    enqueue_spaced,
    enqueue_sync,
    execute,
    fetchval,
    fresh_database,
    pickup_latency,
    plugin_path,
    read_times,
    server,
    start_daemon,
    start_worker,
    stop,
    tail,
)
from latency import INSERT  # type: ignore[import-not-found]

from syncd.queues import SYNC_QUEUE

CONCURRENCY = 10
SYSTEMS = ("syncd", "syncd_metrics", "pgqueuer", "pgqueuer_c10", "procrastinate", "ceiling")
# Jobs per claim and per outcome statement in the ceiling drain.
CEILING_BATCH = 100
WORKLOADS = ("throughput", "latency", "idle")

Enqueue = Callable[[str], Awaitable[object]]


# -- the systems ---------------------------------------------------------------------


class System(Protocol):
    """How the harness sets up, feeds, watches and starts one system."""

    name: str
    tables: tuple[str, ...]
    # True while any job is queued or running.
    unfinished_sql: str

    def create(self, admin: str, database: str) -> str:
        """A fresh database `database` with this system's schema; its URL."""
        ...

    async def enqueue_many(self, url: str, jobs: int) -> None: ...

    def enqueuer(self, url: str) -> contextlib.AbstractAsyncContextManager[Enqueue]:
        """The normal enqueue path: one job, its own transaction, per call."""
        ...

    def start(self, url: str, times: str) -> subprocess.Popen[bytes]: ...


class Syncd:
    tables: tuple[str, ...] = ("sync_queue",)
    unfinished_sql = (
        "SELECT EXISTS (SELECT 1 FROM sync_queue WHERE status IN ('pending', 'processing'))"
    )

    def __init__(self, name: str, metrics: bool) -> None:
        self.name = name
        self.metrics = metrics
        self.scrapes = 0  # /metrics answers during the last run

    def _scrape(self, worker: subprocess.Popen[bytes], url: str) -> None:
        """GET /metrics every second while the worker runs, as Prometheus would."""
        self.scrapes = 0
        while worker.poll() is None:
            # OSError: not listening yet, or stopping.
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as answer:
                answer.read()
                self.scrapes += 1
            time.sleep(1.0)

    def create(self, admin: str, database: str) -> str:
        url: str = fresh_database(admin, database)
        return url

    async def enqueue_many(self, url: str, jobs: int) -> None:
        await enqueue_sync(url, jobs)

    @asynccontextmanager
    async def enqueuer(self, url: str) -> AsyncIterator[Enqueue]:
        conn = await asyncpg.connect(url)

        async def insert(key: str) -> None:
            await conn.execute(INSERT, uuid.UUID(key), uuid.uuid4())

        try:
            yield insert
        finally:
            await conn.close()

    def start(self, url: str, times: str) -> subprocess.Popen[bytes]:
        listen = f"127.0.0.1:{free_port()}" if self.metrics else ""
        worker: subprocess.Popen[bytes] = start_daemon(
            url,
            times,
            stdout=sys.stderr,
            SYNCD_DAEMON__CONCURRENCY=str(CONCURRENCY),
            SYNCD_QUEUES__SYNC__CONCURRENCY=str(CONCURRENCY),
            SYNCD_HTTP__LISTEN=listen,
        )
        if self.metrics:
            scraper = threading.Thread(
                target=self._scrape, args=(worker, f"http://{listen}/metrics"), daemon=True
            )
            scraper.start()
        return worker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SyncdBaseline(Syncd):
    """syncd as another checkout has it (--baseline DIR), started the same way."""

    name = "syncd_baseline"

    def __init__(self, checkout: str) -> None:
        super().__init__("syncd_baseline", metrics=False)
        self.checkout = checkout

    def start(self, url: str, times: str) -> subprocess.Popen[bytes]:
        worker: subprocess.Popen[bytes] = start_daemon(
            url,
            times,
            stdout=sys.stderr,
            PYTHONPATH=os.pathsep.join([plugin_path(), self.checkout]),
            SYNCD_DAEMON__CONCURRENCY=str(CONCURRENCY),
            SYNCD_QUEUES__SYNC__CONCURRENCY=str(CONCURRENCY),
        )
        return worker


class Pgqueuer:
    tables: tuple[str, ...] = ("pgqueuer",)
    # A finished job leaves the queue table for pgqueuer_log.
    unfinished_sql = "SELECT EXISTS (SELECT 1 FROM pgqueuer)"

    def __init__(self, name: str, concurrency_limit: int) -> None:
        self.name = name
        self.concurrency_limit = concurrency_limit
        self.event_loop = "uvloop"

    def create(self, admin: str, database: str) -> str:
        url: str = fresh_database(admin, database, migrated=False)

        async def install() -> None:
            async with self._queries(url) as queries:
                await queries.install()

        asyncio.run(install())
        return url

    @asynccontextmanager
    async def _queries(self, url: str) -> AsyncIterator[Any]:
        from pgqueuer import AsyncpgDriver, Queries

        conn = await asyncpg.connect(url)
        try:
            yield Queries(AsyncpgDriver(conn))
        finally:
            await conn.close()

    async def enqueue_many(self, url: str, jobs: int) -> None:
        from bench.peers.pgqueuer_worker import ENTRYPOINT

        async with self._queries(url) as queries:
            for chunk in _chunks(jobs, 10_000):
                await queries.enqueue(
                    [ENTRYPOINT] * len(chunk), [k.encode() for k in chunk], [0] * len(chunk)
                )

    @asynccontextmanager
    async def enqueuer(self, url: str) -> AsyncIterator[Enqueue]:
        from bench.peers.pgqueuer_worker import ENTRYPOINT

        async with self._queries(url) as queries:

            async def enqueue(key: str) -> None:
                await queries.enqueue(ENTRYPOINT, key.encode())

            yield enqueue

    def start(self, url: str, times: str) -> subprocess.Popen[bytes]:
        worker: subprocess.Popen[bytes] = start_worker(
            ["-m", "bench.peers.pgqueuer_worker"],
            times,
            stdout=sys.stderr,
            BENCH_DATABASE_URL=url,
            BENCH_PGQ_CONCURRENCY_LIMIT=str(self.concurrency_limit),
            BENCH_EVENT_LOOP=self.event_loop,
        )
        return worker


class Procrastinate:
    name = "procrastinate"
    tables: tuple[str, ...] = ("procrastinate_jobs",)
    unfinished_sql = (
        "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing'))"
    )

    def create(self, admin: str, database: str) -> str:
        url: str = fresh_database(admin, database, migrated=False)

        async def install() -> None:
            async with self._app(url) as app:
                await app.schema_manager.apply_schema_async()

        asyncio.run(install())
        return url

    @asynccontextmanager
    async def _app(self, url: str) -> AsyncIterator[Any]:
        from procrastinate import PsycopgConnector

        from bench.peers.procrastinate_worker import app

        with app.replace_connector(PsycopgConnector(conninfo=url)) as bound:
            async with bound.open_async():
                yield bound

    async def enqueue_many(self, url: str, jobs: int) -> None:
        from bench.peers.procrastinate_worker import noop

        async with self._app(url):
            for chunk in _chunks(jobs, 10_000):
                jobs_args: list[dict[str, Any]] = [{"key": k} for k in chunk]
                await noop.batch_defer_async(*jobs_args)

    @asynccontextmanager
    async def enqueuer(self, url: str) -> AsyncIterator[Enqueue]:
        from bench.peers.procrastinate_worker import noop

        async with self._app(url):

            async def defer(key: str) -> None:
                await noop.defer_async(key=key)

            yield defer

    def start(self, url: str, times: str) -> subprocess.Popen[bytes]:
        cli = ["-m", "procrastinate", "--app", "bench.peers.procrastinate_worker.app"]
        worker: subprocess.Popen[bytes] = start_worker(
            [*cli, "--log-level", "warning", "worker", "--concurrency", str(CONCURRENCY)],
            times,
            stdout=sys.stderr,
            BENCH_DATABASE_URL=url,
        )
        return worker


def all_systems() -> dict[str, System]:
    return {
        "syncd": Syncd("syncd", metrics=False),
        "syncd_metrics": Syncd("syncd_metrics", metrics=True),
        "pgqueuer": Pgqueuer("pgqueuer", 0),
        "pgqueuer_c10": Pgqueuer("pgqueuer_c10", CONCURRENCY),
        "procrastinate": Procrastinate(),
    }


def _chunks(jobs: int, size: int) -> Iterator[list[str]]:
    for start in range(0, jobs, size):
        yield [str(uuid.uuid4()) for _ in range(min(size, jobs - start))]


# -- what the workloads share --------------------------------------------------------


def times_file() -> str:
    return str(Path(tempfile.mkdtemp(prefix="syncd-compare-")) / "times")


@contextmanager
def running(system: System, url: str, times: str) -> Iterator[subprocess.Popen[bytes]]:
    worker = system.start(url, times)
    try:
        yield worker
    finally:
        stop(worker)


def check_alive(system: System, worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        raise RuntimeError(f"{system.name}'s worker exited with {worker.returncode}")


async def wait_started(
    system: System, worker: subprocess.Popen[bytes], times: str, keys: list[str], timeout: float
) -> None:
    """Until the handler has noted every key (or `timeout` seconds have passed)."""
    deadline = time.monotonic() + timeout
    while not set(keys) <= read_times(times).keys():
        check_alive(system, worker)
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.01)


async def warm_up(
    system: System, worker: subprocess.Popen[bytes], times: str, enqueue: Enqueue
) -> None:
    """One job through the worker: it is connected, listening and has run a job."""
    key = str(uuid.uuid4())
    await enqueue(key)
    await wait_started(system, worker, times, [key], timeout=60)
    if key not in read_times(times):
        raise RuntimeError(f"{system.name} did not run a job within 60 s of its start")


# -- throughput ------------------------------------------------------------------------


async def wait_drained(
    system: System, url: str, worker: subprocess.Popen[bytes], times: str, jobs: int
) -> float:
    """The time.time() at which the database first shows no unfinished job.

    Until every job's handler has started, the times file says how far the worker
    is, at no cost to the database; only the last outcomes are polled for there.
    """
    deadline = time.monotonic() + max(120, jobs / 20)
    noted, read = 0, 0
    while noted < jobs:
        check_alive(system, worker)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{system.name} ran {noted} of {jobs} jobs in time")
        await asyncio.sleep(0.02)
        new = tail(times, read)
        read += len(new)
        noted += new.count(b"\n")
    conn = await asyncpg.connect(url)
    try:
        while await conn.fetchval(system.unfinished_sql):
            check_alive(system, worker)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{system.name} did not record every outcome in time")
            await asyncio.sleep(0.005)
        return time.time()
    finally:
        await conn.close()


def throughput(system: System, admin: str, database: str, jobs: int) -> dict[str, float]:
    url = system.create(admin, database)
    asyncio.run(system.enqueue_many(url, jobs))
    tables = ", ".join(system.tables)
    asyncio.run(execute(url, f"VACUUM ANALYZE {tables}", "CHECKPOINT"))
    times = times_file()
    spawned = time.time()
    with running(system, url, times) as worker:
        drained = asyncio.run(wait_drained(system, url, worker, times, jobs))
    started = read_times(times)
    if len(started) != jobs:
        print(f"  {system.name}: {len(started)} of {jobs} jobs noted", file=sys.stderr)
    first = min(started.values())
    return {
        "throughput_jobs_s": jobs / (drained - first),
        "throughput_from_spawn_jobs_s": jobs / (drained - spawned),
    }


# -- the ceiling -----------------------------------------------------------------------


async def _drain_with_syncd_sql(url: str, connections: int) -> tuple[int, float]:
    """Claim and complete every due job with syncd's statements; (jobs, seconds)."""
    claim, complete = SYNC_QUEUE.claim, SYNC_QUEUE.sql("write_outcomes")
    conns = [await asyncpg.connect(url) for _ in range(connections)]
    try:

        async def drain(conn: asyncpg.Connection) -> int:
            worker = uuid.uuid4()
            await conn.execute(
                "INSERT INTO syncd_workers (id, hostname, pid) VALUES ($1, 'ceiling', 0)", worker
            )
            done = 0
            while True:
                rows = await conn.fetch(claim, worker, CEILING_BATCH, [])  # no kind paused
                if not rows:
                    # Another connection may hold the last entities' jobs: done
                    # only when nothing is pending at all.
                    if not await conn.fetchval(Syncd.unfinished_sql):
                        return done
                    continue
                ids, attempts = [r["id"] for r in rows], [r["attempts"] for r in rows]
                n = len(ids)
                written = await conn.fetch(
                    complete,
                    worker,
                    ids,
                    attempts,
                    ["completed"] * n,
                    *[[None] * n] * 4,
                    [False] * n,
                )
                done += len(written)

        started = time.perf_counter()
        counts = await asyncio.gather(*(drain(c) for c in conns))
        return sum(counts), time.perf_counter() - started
    finally:
        for conn in conns:
            await conn.close()


def ceiling(admin: str, database: str, jobs: int, connections: int) -> dict[str, float]:
    url = fresh_database(admin, database)
    asyncio.run(enqueue_sync(url, jobs))
    asyncio.run(execute(url, "VACUUM ANALYZE sync_queue", "CHECKPOINT"))
    drained, seconds = asyncio.run(_drain_with_syncd_sql(url, connections))
    if drained != jobs:
        raise RuntimeError(f"the ceiling drain completed {drained} of {jobs} jobs")
    return {"throughput_jobs_s": jobs / seconds}


# -- pickup latency --------------------------------------------------------------------


def latency(system: System, admin: str, database: str, count: int, gap: float) -> dict[str, float]:
    url = system.create(admin, database)
    times = times_file()
    keys = [str(uuid.uuid4()) for _ in range(count)]

    async def spaced(worker: subprocess.Popen[bytes]) -> Sent:
        async with system.enqueuer(url) as enqueue:
            await warm_up(system, worker, times, enqueue)
            await asyncio.sleep(1.0)  # idle again
            sent: Sent = await enqueue_spaced(enqueue, keys, gap)
            await wait_started(system, worker, times, keys, timeout=10)
        return sent

    with running(system, url, times) as worker:
        sent = asyncio.run(spaced(worker))
    figures = pickup_latency(sent, read_times(times))
    if figures["picked_up"] != count:
        print(f"  {system.name}: {figures['picked_up']} of {count} picked up", file=sys.stderr)
    return {
        f"latency_{label}_{p}_ms": figures[f"{prefix}{p}_ms"]
        for label, prefix in (("call", ""), ("commit", "commit_"))
        for p in ("p50", "p95", "p99")
    }


# -- idle cost -------------------------------------------------------------------------


XACTS = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1"
BACKENDS = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"


def settled_xacts(admin: str, database: str) -> int:
    """The database's transaction count once no backend is connected to it.

    A backend flushes its counts into pg_stat_database at the latest when it exits,
    before it leaves pg_stat_activity; so with none left, the count is complete.
    """
    deadline = time.monotonic() + 30
    while asyncio.run(fetchval(admin, BACKENDS, database)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"backends still connected to {database} after 30 s")
        time.sleep(0.1)
    xacts: int = asyncio.run(fetchval(admin, XACTS, database))
    return xacts


def idle_run(system: System, admin: str, database: str, url: str, hold: float) -> tuple[int, float]:
    """Transactions from the worker's start to its exit, and its CPU over `hold` seconds."""
    before = settled_xacts(admin, database)
    times = times_file()

    async def warm(worker: subprocess.Popen[bytes]) -> None:
        async with system.enqueuer(url) as enqueue:
            await warm_up(system, worker, times, enqueue)

    with running(system, url, times) as worker:
        asyncio.run(warm(worker))
        time.sleep(0.5)  # the warm-up job's outcome is written
        process = psutil.Process(worker.pid)
        cpu = cpu_seconds(process)
        time.sleep(hold)
        cpu = cpu_seconds(process) - cpu
        check_alive(system, worker)
    return settled_xacts(admin, database) - before, cpu


def idle(system: System, admin: str, database: str, seconds: float) -> dict[str, float]:
    url = system.create(admin, database)
    startup, _ = idle_run(system, admin, database, url, 0)
    total, cpu = idle_run(system, admin, database, url, seconds)
    per_10s = 10 / seconds
    return {
        "idle_xacts_per_10s": (total - startup) * per_10s,
        "idle_cpu_s": cpu * per_10s,
        "startup_xacts": startup,
    }


@contextmanager
def autovacuum_paused(admin: str, owned: bool) -> Iterator[None]:
    """Autovacuum off on a server we started ourselves; a user's server is left alone."""
    if not owned:
        yield
        return
    reload = "SELECT pg_reload_conf()"
    asyncio.run(execute(admin, "ALTER SYSTEM SET autovacuum = off", reload))
    try:
        yield
    finally:
        asyncio.run(execute(admin, "ALTER SYSTEM RESET autovacuum", reload))


# -- the run ---------------------------------------------------------------------------


ROWS = [
    ("throughput_jobs_s", "throughput, jobs/s (first job to drained)", 0),
    ("throughput_from_spawn_jobs_s", "  from process spawn, jobs/s", 0),
    ("latency_call_p50_ms", "latency from call, p50 ms", 1),
    ("latency_call_p95_ms", "  p95 ms", 1),
    ("latency_call_p99_ms", "  p99 ms", 1),
    ("latency_commit_p50_ms", "latency from commit, p50 ms", 1),
    ("latency_commit_p95_ms", "  p95 ms", 1),
    ("latency_commit_p99_ms", "  p99 ms", 1),
    ("idle_xacts_per_10s", "idle transactions / 10 s", 1),
    ("idle_cpu_s", "idle CPU s / 10 s", 3),
    ("startup_xacts", "start-up transactions", 0),
    ("metrics_scrapes", "/metrics scrapes in the run", 0),
]


def table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    width = max(len(label) for _, label, _ in ROWS)
    lines = [f"{'':<{width}}" + "".join(f"{n:>15}" for n in names)]
    for key, label, digits in ROWS:
        if not any(key in results[n] for n in names):
            continue
        cells = []
        for n in names:
            value = results[n].get(key)
            cells.append("-" if value is None or math.isnan(value) else f"{value:,.{digits}f}")
        lines.append(f"{label:<{width}}" + "".join(f"{c:>15}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20_000, help="throughput jobs")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SYSTEMS)}")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--count", type=int, default=300, help="latency jobs")
    parser.add_argument("--gap-ms", type=float, default=20.0)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument(
        "--pgqueuer-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="pgqueuer's event loop: uvloop as `pgq run` (default), or asyncio as syncd",
    )
    parser.add_argument(
        "--baseline", help="a syncd checkout to run as syncd_baseline (--only ...,syncd_baseline)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args()
    systems = all_systems()
    if args.baseline:
        systems["syncd_baseline"] = SyncdBaseline(os.path.abspath(args.baseline))
    for system in systems.values():
        if isinstance(system, Pgqueuer):
            system.event_loop = args.pgqueuer_loop
    chosen = args.only.split(",") if args.only else list(SYSTEMS)
    workloads = args.workloads.split(",")
    known = {*systems, "ceiling"}
    unknown = [s for s in chosen if s not in known] + [w for w in workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")

    samples: dict[str, dict[str, list[float]]] = {}
    # The machine may be shared: say how busy it was, since latency suffers first.
    loads: list[float] = []

    def record(name: str, figures: dict[str, float]) -> None:
        for key, value in figures.items():
            samples.setdefault(name, {}).setdefault(key, []).append(value)
        shown = ", ".join(f"{k}={v:,.1f}" for k, v in figures.items())
        print(f"  {name}: {shown}", file=sys.stderr)

    with server(args.database_url) as admin:
        version = asyncio.run(fetchval(admin, "SHOW server_version"))
        print(f"PostgreSQL {version}; {args.rounds} rounds", file=sys.stderr)
        for round_ in range(1, args.rounds + 1):
            for workload in workloads:
                print(f"round {round_}/{args.rounds}: {workload}", file=sys.stderr)
                for name in chosen:
                    loads.append(os.getloadavg()[0])
                    if name == "ceiling":
                        if workload == "throughput":
                            for n in (1, 2):
                                database = f"compare_ceiling_{n}"
                                try:
                                    record(f"ceiling_{n}", ceiling(admin, database, args.jobs, n))
                                finally:
                                    drop_database(admin, database)
                        continue
                    system = systems[name]
                    database = f"compare_{name}_{workload}"
                    try:
                        if workload == "throughput":
                            figures = throughput(system, admin, database, args.jobs)
                            if isinstance(system, Syncd) and system.metrics:
                                figures["metrics_scrapes"] = system.scrapes
                            record(name, figures)
                        elif workload == "latency":
                            gap = args.gap_ms / 1000
                            record(name, latency(system, admin, database, args.count, gap))
                        else:
                            with autovacuum_paused(admin, owned=args.database_url is None):
                                record(name, idle(system, admin, database, args.idle_seconds))
                    finally:
                        drop_database(admin, database)

    results: dict[str, dict[str, Any]] = {}
    for name, figures in samples.items():
        results[name] = {k: round(statistics.median(v), 3) for k, v in figures.items()}
        results[name]["rounds"] = {k: [round(x, 3) for x in v] for k, v in figures.items()}
    if args.json:
        share = ceiling_share(results)
        if share is not None:
            results["syncd"]["ceiling_share"] = round(share, 3)
        cost = metrics_cost(results)
        if cost is not None:
            results["syncd_metrics"]["metrics_cost"] = round(cost, 4)
        print(json.dumps(results))
    else:
        print(
            f"PostgreSQL {version}, medians of {args.rounds} rounds, {args.jobs:,} jobs, "
            f"{os.cpu_count()} CPUs, 1-min load average {min(loads):.1f} to {max(loads):.1f}"
        )
        print(table(results))
        share = ceiling_share(results)
        if share is not None:
            print(f"syncd reaches {share:.0%} of the two-connection ceiling")
        cost = metrics_cost(results)
        if cost is not None:
            print(f"metrics on cost {cost:.1%} of syncd's throughput (medians; target <= 5 %)")


def metrics_cost(results: dict[str, dict[str, Any]]) -> float | None:
    """The share of throughput lost with metrics on and scraped, when both ran."""
    off, on = results.get("syncd", {}), results.get("syncd_metrics", {})
    if "throughput_jobs_s" not in off or "throughput_jobs_s" not in on:
        return None
    cost: float = 1 - on["throughput_jobs_s"] / off["throughput_jobs_s"]
    return cost


def ceiling_share(results: dict[str, dict[str, Any]]) -> float | None:
    """syncd's throughput as a share of ceiling_2's, when both ran."""
    syncd, top = results.get("syncd", {}), results.get("ceiling_2", {})
    if "throughput_jobs_s" not in syncd or "throughput_jobs_s" not in top:
        return None
    share: float = syncd["throughput_jobs_s"] / top["throughput_jobs_s"]
    return share


if __name__ == "__main__":
    main()
