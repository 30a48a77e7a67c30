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
import uuid

import asyncpg
from common import (  # type: ignore[import-not-found]
    Sent,
    database,
    enqueue_spaced,
    pickup_latency,
    read_times,
    start_daemon,
    stop,
    wait_ready,
)

INSERT = "INSERT INTO sync_queue (id, entity_type, entity_id) VALUES ($1, 'bench', $2)"


async def insert_spaced(url: str, count: int, gap: float) -> Sent:
    conn = await asyncpg.connect(url)
    try:
        await asyncio.sleep(1.0)  # let the daemon settle into idle

        async def insert(key: str) -> None:
            await conn.execute(INSERT, uuid.UUID(key), uuid.uuid4())

        sent: Sent = await enqueue_spaced(insert, [str(uuid.uuid4()) for _ in range(count)], gap)
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
            stop(daemon)
    print(json.dumps(pickup_latency(sent, read_times(times))))


if __name__ == "__main__":
    main()
