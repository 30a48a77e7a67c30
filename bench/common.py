"""What the benchmarks share: a PostgreSQL to run on, and `syncd run` with a no-op handler."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from syncd import migrate  # noqa: E402
from syncd.embedded import EmbeddedPostgres  # noqa: E402


@contextmanager
def database(url: str | None, name: str) -> Iterator[str]:
    """A fresh migrated database `name` on `url`'s server, or on an embedded one."""
    server = None
    if url is None:
        server = EmbeddedPostgres()
        # A real benchmark keeps durability: no fsync=off here.
        server.start(fast=False)
        url = server.url
    admin = url

    async def recreate() -> None:
        conn = await asyncpg.connect(admin)
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
        await conn.close()

    asyncio.run(recreate())
    target = url.rsplit("/", 1)[0] + f"/{name}"
    migrate.apply(target)
    try:
        yield target
    finally:
        if server is not None:
            server.cleanup()


def plugin_path() -> str:
    """A dist-info that installs bench/noop.py as a syncd handler plugin."""
    root = Path(tempfile.mkdtemp(prefix="syncd-bench-plugin-"))
    info = root / "syncd_bench_plugin-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: syncd-bench-plugin\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[syncd.handlers]\nbench = bench.noop:install\n")
    return str(root)


def start_daemon(url: str, times_file: str | None = None, **env: str) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([plugin_path(), str(REPO)]),
        "SYNCD_DATABASE__URL": url,
        "SYNCD_LOG__LEVEL": "warning",
        "SYNCD_LOG__FORMAT": "json",
        **env,
    }
    if times_file:
        environ["SYNCD_BENCH_TIMES"] = times_file
    environ.pop("SYNCD_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "run"], env=environ, cwd=tempfile.gettempdir()
    )


def wait_ready(url: str, timeout: float = 30.0) -> None:
    """Until the daemon has registered itself (its first heartbeat)."""

    async def registered() -> bool:
        conn = await asyncpg.connect(url)
        try:
            return bool(await conn.fetchval("SELECT count(*) FROM syncd_workers"))
        finally:
            await conn.close()

    deadline = time.monotonic() + timeout
    while not asyncio.run(registered()):
        if time.monotonic() > deadline:
            raise RuntimeError("the daemon did not start")
        time.sleep(0.1)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
