"""Throughput: drain N pre-enqueued no-op jobs with one `syncd run` process.

    python bench/throughput.py [--database-url URL] [--jobs 20000] [--concurrency 10]

Prints one JSON line: jobs, seconds, throughput_jobs_s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import asyncpg
from common import database, enqueue_sync, start_daemon  # type: ignore[import-not-found]


async def wait_drained(url: str, jobs: int) -> float:
    conn = await asyncpg.connect(url)
    try:
        while True:
            started = await conn.fetchval(
                "SELECT min(started_at) FROM sync_queue WHERE started_at IS NOT NULL"
            )
            if started is not None:
                break
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        done_sql = "SELECT count(*) FROM sync_queue WHERE status = 'completed'"
        done = 0
        while done < jobs:
            await asyncio.sleep(0.05)
            done = await conn.fetchval(done_sql)
        return time.monotonic() - t0
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    with database(args.database_url, "syncd_bench_throughput") as url:
        asyncio.run(enqueue_sync(url, args.jobs))
        daemon = start_daemon(
            url,
            SYNCD_DAEMON__CONCURRENCY=str(args.concurrency),
            SYNCD_QUEUES__SYNC__CONCURRENCY=str(args.concurrency),
        )
        try:
            seconds = asyncio.run(wait_drained(url, args.jobs))
        finally:
            daemon.terminate()
            daemon.wait(30)
    print(
        json.dumps(
            {
                "jobs": args.jobs,
                "seconds": round(seconds, 2),
                "throughput_jobs_s": round(args.jobs / seconds),
            }
        )
    )


if __name__ == "__main__":
    main()
