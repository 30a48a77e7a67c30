"""Pickup latency: an idle daemon, 300 plain INSERTs 20 ms apart, INSERT to handler start.

    python bench/latency.py [--database-url URL] [--count 300] [--gap-ms 20]

Prints one JSON line: p50_ms, p95_ms, p99_ms measured from the INSERT call's
start, and the same from the INSERT's commit returning (commit_*).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid

import asyncpg
from common import database, percentile, start_daemon, wait_ready  # type: ignore[import-not-found]


async def insert_spaced(url: str, count: int, gap: float) -> dict[uuid.UUID, tuple[float, float]]:
    conn = await asyncpg.connect(url)
    sent: dict[uuid.UUID, tuple[float, float]] = {}
    try:
        await asyncio.sleep(1.0)  # let the daemon settle into idle
        for _ in range(count):
            job_id = uuid.uuid4()
            t_call = time.time()
            await conn.execute(
                "INSERT INTO sync_queue (id, entity_type, entity_id) VALUES ($1, 'bench', $2)",
                job_id,
                uuid.uuid4(),
            )
            sent[job_id] = (t_call, time.time())
            await asyncio.sleep(gap)
        await asyncio.sleep(1.0)
    finally:
        await conn.close()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=20.0)
    args = parser.parse_args()
    with database(args.database_url, "syncd_bench_latency") as url:
        times = os.path.join(tempfile.mkdtemp(), "times")
        daemon = start_daemon(url, times, SYNCD_DAEMON__CONCURRENCY="10")
        try:
            wait_ready(url)
            sent = asyncio.run(insert_spaced(url, args.count, args.gap_ms / 1000))
        finally:
            daemon.terminate()
            daemon.wait(30)
        started = {}
        with open(times) as f:
            for line in f:
                job, t = line.split()
                started[uuid.UUID(job)] = float(t)
    from_call = [(started[j] - c) * 1000 for j, (c, _) in sent.items() if j in started]
    from_commit = [(started[j] - d) * 1000 for j, (_, d) in sent.items() if j in started]
    result = {
        "jobs": len(sent),
        "picked_up": len(from_call),
        "p50_ms": round(percentile(from_call, 50), 2),
        "p95_ms": round(percentile(from_call, 95), 2),
        "p99_ms": round(percentile(from_call, 99), 2),
        "commit_p50_ms": round(percentile(from_commit, 50), 2),
        "commit_p95_ms": round(percentile(from_commit, 95), 2),
        "commit_p99_ms": round(percentile(from_commit, 99), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
