"""What the benchmarks share: a PostgreSQL to run on, and `syncd run` with a no-op handler."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import asyncpg
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from syncd import migrate  # noqa: E402
from syncd.embedded import EmbeddedPostgres  # noqa: E402

# Statements on a connection of their own (CREATE DATABASE cannot share one): the tests'
# helper, which needs nothing the bench extra lacks; the other way round, the tests would
# need psutil. Named `execute` here, because the bench calls its admin URL `admin`.
from tests.support.database import admin as execute  # noqa: E402
from tests.support.database import with_database  # noqa: E402


@contextmanager
def server(url: str | None) -> Iterator[str]:
    """`url` itself, or the admin URL of an embedded server started for the block."""
    if url is not None:
        yield url
        return
    embedded = EmbeddedPostgres()
    # A real benchmark keeps durability: no fsync=off here.
    embedded.start(fast=False)
    try:
        yield embedded.url
    finally:
        embedded.cleanup()


async def fetchval(url: str, query: str, *args: object) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


def fresh_database(admin: str, name: str, *, migrated: bool = True) -> str:
    """Database `name` on `admin`'s server, created anew (with syncd's schema if `migrated`)."""
    asyncio.run(
        execute(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    )
    target = with_database(admin, name)
    if migrated:
        migrate.apply(target)
    return target


def drop_database(admin: str, name: str) -> None:
    asyncio.run(execute(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@contextmanager
def database(url: str | None, name: str) -> Iterator[str]:
    """A fresh migrated database `name` on `url`'s server, or on an embedded one."""
    with server(url) as admin:
        yield fresh_database(admin, name)


async def enqueue_sync(url: str, jobs: int, chunk: int = 50_000) -> None:
    """`jobs` no-op sync jobs, one per entity, in INSERT ... SELECTs of `chunk` rows.

    Every row passes through the merge trigger (syncd/migrations/0003), which re-issues
    it as INSERT ... ON CONFLICT; chunks keep each transaction, and the trigger
    events it queues, bounded. Then VACUUM ANALYZE, so the drain starts from a
    table with fresh statistics and a visibility map, as after an autovacuum.
    """
    conn = await asyncpg.connect(url)
    try:
        for start in range(0, jobs, chunk):
            await conn.execute(
                "INSERT INTO sync_queue (entity_type, entity_id) "
                "SELECT 'bench', gen_random_uuid() FROM generate_series(1, $1)",
                min(chunk, jobs - start),
            )
        await conn.execute("VACUUM ANALYZE sync_queue")
    finally:
        await conn.close()


def plugin_path() -> str:
    """A dist-info that installs bench/noop.py as a syncd handler plugin."""
    root = Path(tempfile.mkdtemp(prefix="syncd-bench-plugin-"))
    info = root / "syncd_bench_plugin-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: syncd-bench-plugin\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[syncd.handlers]\nbench = bench.noop:install\n")
    return str(root)


def start_worker(
    argv: list[str], times_file: str | None = None, *, stdout: IO[str] | None = None, **env: str
) -> subprocess.Popen[bytes]:
    """`python ARGV...` with the repository importable, noting job starts in `times_file`."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
    if times_file:
        environ["SYNCD_BENCH_TIMES"] = times_file
    environ.pop("SYNCD_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, *argv], env=environ, cwd=tempfile.gettempdir(), stdout=stdout
    )


def start_daemon(
    url: str, times_file: str | None = None, *, stdout: IO[str] | None = None, **env: str
) -> subprocess.Popen[bytes]:
    defaults = {
        "PYTHONPATH": os.pathsep.join([plugin_path(), str(REPO)]),
        "SYNCD_DATABASE__URL": url,
        "SYNCD_LOG__LEVEL": "warning",
        "SYNCD_LOG__FORMAT": "json",
        # No HTTP listener unless a bench asks: two daemons would share its port.
        "SYNCD_HTTP__LISTEN": "",
    }
    return start_worker(["-m", "syncd", "run"], times_file, stdout=stdout, **{**defaults, **env})


def stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `timeout`."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_ready(url: str, timeout: float = 30.0) -> None:
    """Until the daemon has registered itself (its first heartbeat)."""

    deadline = time.monotonic() + timeout
    while not asyncio.run(fetchval(url, "SELECT count(*) FROM syncd_workers")):
        if time.monotonic() > deadline:
            raise RuntimeError("the daemon did not start")
        time.sleep(0.1)


def cpu_seconds(process: psutil.Process) -> float:
    """CPU time of `process`, of its children it has reaped, and of its live descendants.

    For a postmaster that is the whole server: backends and autovacuum workers
    that exited count through it, the running ones through their own.
    """
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
        if p is process:
            total += t.children_user + t.children_system
    return total


def postmaster(url: str) -> psutil.Process | None:
    """The server's postmaster, when it runs on this machine where we can see it."""

    async def parent_of_backend() -> psutil.Process | None:
        conn = await asyncpg.connect(url)
        try:
            # Asked while our backend is still there to be asked about.
            return psutil.Process(conn.get_server_pid()).parent()
        except psutil.Error:
            return None
        finally:
            await conn.close()

    parent = asyncio.run(parent_of_backend())
    return parent if parent is not None and "postgres" in parent.name() else None


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def read_times(path: str) -> dict[str, float]:
    """The handler's "KEY UNIX_TIME" lines (bench/noop.py, bench/peers): key -> start."""
    started: dict[str, float] = {}
    with contextlib.suppress(FileNotFoundError), open(path) as f:
        for line in f:
            key, _, t = line.partition(" ")
            if t.endswith("\n"):  # a line being written has no newline yet
                started.setdefault(key, float(t))
    return started


def tail(path: str, offset: int) -> bytes:
    """What `path` holds past `offset` (nothing if it does not exist yet)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""


Sent = dict[str, tuple[float, float]]


async def enqueue_spaced(
    enqueue: Callable[[str], Awaitable[object]], keys: list[str], gap: float
) -> Sent:
    """One enqueue per key, `gap` seconds apart: key -> (call started, call returned)."""
    sent: Sent = {}
    for key in keys:
        t_call = time.time()
        await enqueue(key)
        sent[key] = (t_call, time.time())
        await asyncio.sleep(gap)
    return sent


def pickup_latency(sent: Sent, started: dict[str, float]) -> dict[str, float]:
    """Percentiles in ms from the enqueue call's start, and from its return (commit_*)."""
    from_call = [(started[k] - c) * 1000 for k, (c, _) in sent.items() if k in started]
    from_commit = [(started[k] - d) * 1000 for k, (_, d) in sent.items() if k in started]
    result: dict[str, float] = {"jobs": len(sent), "picked_up": len(from_call)}
    for label, values in (("", from_call), ("commit_", from_commit)):
        for p in (50, 95, 99):
            result[f"{label}p{p}_ms"] = round(percentile(values, p), 2) if values else math.nan
    return result
