"""A backlog of a million: does the drain rate hold, and what does the table look like after?

    python bench/backlog.py [--database-url URL] [--jobs 1000000] [--concurrency 10]

1. Enqueue: no-op sync jobs for distinct entities in INSERT ... SELECTs of
   --chunk rows (bench/common.enqueue_sync), then VACUUM ANALYZE.
2. Drain: one `syncd run` (daemon and sync queue concurrency 10, retention at
   its default, so nothing is pruned meanwhile). The no-op handler notes when
   each job started; the rate of each tenth of the jobs comes from those start
   times, so measuring it costs the database nothing. The drain ends when no job
   is pending or processing. On a shared machine a slow tenth may be someone
   else's doing, so two figures that do not depend on the machine's load come
   with each tenth: the CPU milliseconds per job of syncd and of the whole
   PostgreSQL server, autovacuum included (`tenths_cpu_ms_per_job`, when the
   server runs here), and, at its start, syncd's claim query under EXPLAIN
   ANALYZE, rolled back (`claim_scans`: buffers touched, ms, and the load
   average).
3. Retention: a second `syncd run` with completed_after = 0 prunes every
   completed row in its batches (its pruner runs at start).
4. Vacuum: wait up to --vacuum-wait seconds for autovacuum to visit sync_queue
   after the prune; if it does not, run VACUUM and say so.

sync_queue's sizes (pg_total_relation_size, pg_relation_size, pg_indexes_size,
each index, the exact row count, and the live and dead tuple estimates from
pg_stat_user_tables) are taken after each step. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
import uuid
from typing import Any

import asyncpg
import psutil
from common import (  # type: ignore[import-not-found]
    cpu_seconds,
    database,
    enqueue_sync,
    execute,
    postmaster,
    start_daemon,
    stop,
    tail,
)

from syncd import queries

SIZES = """
SELECT (SELECT count(*) FROM sync_queue) AS rows,
       pg_total_relation_size('sync_queue') AS total_bytes,
       pg_relation_size('sync_queue') AS table_bytes,
       pg_indexes_size('sync_queue') AS indexes_bytes,
       (SELECT json_object_agg(indexrelname, pg_relation_size(indexrelid))
          FROM pg_stat_user_indexes WHERE relname = 'sync_queue') AS index_bytes,
       s.n_live_tup AS live_tuples,
       s.n_dead_tup AS dead_tuples,
       s.n_tup_upd AS updates,
       s.n_tup_hot_upd AS hot_updates,
       s.autovacuum_count,
       s.vacuum_count
  FROM pg_stat_user_tables s
 WHERE s.relname = 'sync_queue'
"""
UNFINISHED = "SELECT EXISTS (SELECT 1 FROM sync_queue WHERE status IN ('pending', 'processing'))"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def sizes(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        # Counters reach pg_stat_user_tables up to a second late.
        await asyncio.sleep(1.5)
        row = await conn.fetchrow(SIZES)
        figures = dict(row)
        figures["index_bytes"] = json.loads(figures["index_bytes"])
        return figures
    finally:
        await conn.close()


async def wait_until(url: str, query: str, want: bool, timeout: float, every: float) -> bool:
    """Until `query`'s one value is `want`; False if `timeout` seconds pass first."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + timeout
        while bool(await conn.fetchval(query)) != want:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(every)
        return True
    finally:
        await conn.close()


async def claim_scan(conn: asyncpg.Connection) -> dict[str, float]:
    """syncd's own claim of 10 jobs under EXPLAIN ANALYZE, rolled back.

    How many buffers it touches says how much dead weight the claim path wades
    through. The 10 rows it locks for that millisecond the daemon skips.
    """
    explain = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + queries.load("claim_sync")
    transaction = conn.transaction()
    await transaction.start()
    try:
        plan = json.loads(await conn.fetchval(explain, uuid.uuid4(), 10, []))[0]
    finally:
        await transaction.rollback()
    top = plan["Plan"]
    return {
        "buffers": top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
        "ms": round(plan["Execution Time"], 2),
        "load": os.getloadavg()[0],
    }


async def watch_drain(
    url: str,
    times: str,
    jobs: int,
    daemon: psutil.Process,
    server: psutil.Process | None,
) -> list[dict[str, Any]]:
    """Until every job is finished: at the start of each tenth and at the end, a sample.

    A sample holds the jobs started so far, the CPU seconds syncd and the whole
    PostgreSQL server (autovacuum included) have used, and the claim scan's cost.
    Progress comes from the times file, at no cost to the database.
    """
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + jobs / 50 + 120
        samples: list[dict[str, Any]] = []
        noted, read = 0, 0

        async def sample(tenth: int | str) -> None:
            samples.append(
                {
                    "tenth": tenth,
                    "noted": noted,
                    "syncd_cpu_s": cpu_seconds(daemon),
                    "postgres_cpu_s": cpu_seconds(server) if server else None,
                    **await claim_scan(conn),
                }
            )

        while True:
            if time.monotonic() > deadline:
                raise SystemExit("the drain did not finish in time")
            # The first once a job has run: syncd's start-up is not the drain's.
            if len(samples) < 10 and noted >= max(1, len(samples) * jobs / 10):
                await sample(len(samples) + 1)
            if noted >= jobs and not await conn.fetchval(UNFINISHED):
                await sample("end")
                return samples
            await asyncio.sleep(0.5)
            new = tail(times, read)
            read += len(new)
            noted += new.count(b"\n")
    finally:
        await conn.close()


def cpu_per_job(samples: list[dict[str, Any]], key: str) -> list[float] | None:
    """CPU ms per job between successive samples."""
    if any(s[key] is None for s in samples):
        return None
    return [
        round((b[key] - a[key]) * 1000 / max(1, b["noted"] - a["noted"]), 3)
        for a, b in itertools.pairwise(samples)
    ]


def tenths(path: str, jobs: int) -> list[float]:
    """Jobs per second in each tenth of the jobs, by their handler start times."""
    with open(path) as f:
        started = sorted(float(line.split()[1]) for line in f if line.endswith("\n"))
    if len(started) < jobs:
        log(f"only {len(started)} of {jobs} job starts noted")
    bounds = [started[min(len(started) - 1, round(i * len(started) / 10))] for i in range(11)]
    size = len(started) / 10
    return [round(size / (b - a)) if b > a else 0 for a, b in itertools.pairwise(bounds)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=50_000, help="rows per INSERT ... SELECT")
    parser.add_argument("--vacuum-wait", type=float, default=300.0)
    args = parser.parse_args()
    concurrency = {
        "SYNCD_DAEMON__CONCURRENCY": str(args.concurrency),
        "SYNCD_QUEUES__SYNC__CONCURRENCY": str(args.concurrency),
    }
    result: dict[str, Any] = {"jobs": args.jobs}
    size: dict[str, Any] = {}
    with database(args.database_url, "syncd_bench_backlog") as url:
        t0 = time.monotonic()
        asyncio.run(enqueue_sync(url, args.jobs, args.chunk))
        result["enqueue_s"] = round(time.monotonic() - t0, 1)
        size["after_enqueue"] = asyncio.run(sizes(url))
        log(f"enqueued {args.jobs:,} in {result['enqueue_s']} s; draining")

        times = os.path.join(tempfile.mkdtemp(), "times")
        t0 = time.monotonic()
        server = postmaster(url)
        daemon = start_daemon(url, times, stdout=sys.stderr, **concurrency)
        try:
            process = psutil.Process(daemon.pid)
            samples = asyncio.run(watch_drain(url, times, args.jobs, process, server))
        finally:
            stop(daemon)
        result["drain_s"] = round(time.monotonic() - t0, 1)
        rates = tenths(times, args.jobs)
        result |= {
            "throughput_jobs_s": round(args.jobs / result["drain_s"]),
            "tenths_jobs_s": rates,
            "first_tenth": rates[0],
            "last_tenth": rates[-1],
            "last_vs_first": round(rates[-1] / rates[0], 3) if rates[0] else None,
            "tenths_cpu_ms_per_job": {
                "syncd": cpu_per_job(samples, "syncd_cpu_s"),
                "postgres": cpu_per_job(samples, "postgres_cpu_s"),
            },
            "claim_scans": [{k: s[k] for k in ("tenth", "buffers", "ms", "load")} for s in samples],
        }
        size["after_drain"] = asyncio.run(sizes(url))
        log(f"drained in {result['drain_s']} s: {rates}; pruning")

        t0 = time.monotonic()
        pruner = start_daemon(
            url, stdout=sys.stderr, SYNCD_RETENTION__COMPLETED_AFTER="0", **concurrency
        )
        try:
            empty = "SELECT NOT EXISTS (SELECT 1 FROM sync_queue)"
            pruned = asyncio.run(wait_until(url, empty, True, args.jobs / 100 + 120, 1.0))
        finally:
            stop(pruner)
        result["prune_s"] = round(time.monotonic() - t0, 1) if pruned else None
        size["after_prune"] = asyncio.run(sizes(url))
        log(f"pruned in {result['prune_s']} s; waiting for autovacuum")

        visited = (
            "SELECT autovacuum_count > {} FROM pg_stat_user_tables WHERE relname = 'sync_queue'"
        ).format(int(size["after_prune"]["autovacuum_count"]))
        t0 = time.monotonic()
        if asyncio.run(wait_until(url, visited, True, args.vacuum_wait, 2.0)):
            result["vacuum"] = f"autovacuum after {time.monotonic() - t0:.0f} s"
        else:
            asyncio.run(execute(url, "VACUUM sync_queue"))
            result["vacuum"] = f"no autovacuum within {args.vacuum_wait:.0f} s: manual VACUUM"
        size["after_vacuum"] = asyncio.run(sizes(url))
    result["sizes"] = size
    print(json.dumps(result))


if __name__ == "__main__":
    main()
