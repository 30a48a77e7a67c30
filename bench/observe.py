"""What reading state costs on a big queue: every read an operator makes, at 10 M rows.

    python bench/observe.py [--database-url ADMIN_URL] [--rows 10000000] [--reuse] [--json]

Builds a sync queue of --rows rows in a database of its own (`syncd_observe`): mostly
completed over the last 30 days, 1 % pending (half of them waiting out a backoff after
an error), 0.1 % failed with an attempt history. The rows go in with INSERT ... SELECT
from generate_series, triggers off (session_replication_role = replica) and the
secondary indexes dropped meanwhile and built afterwards, then VACUUM ANALYZE, as a
real queue's autovacuum would leave it. --reuse keeps a database of the right size
from an earlier run.

Then it times each read (the median of --runs runs, after one warm-up), on one
connection planned as the console's and the CLI's are (custom plans):

  status          `syncd status`' gathering: both queues, recent failures, workers
  metrics         the scrape's query: per queue counts by status and the oldest due job
  jobs_failed     `syncd jobs sync --status failed --error 500`
  jobs_newest     `syncd jobs sync` (newest first, 50)
  jobs_page       the next keyset page of `syncd jobs sync --kind contact`
  jobs_entity     `syncd jobs sync --entity ID`
  job_page        `syncd job sync ID` of a failed job: columns, history, others, item
  overview        the console's overview: status plus per-minute throughput and pauses

Target (SPEC §9): 100 ms or less each. Prints a table, or with --json one object:
`rows` and `<read>_ms` per read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, server
from syncd import db, inspect, overview, status
from syncd.queues import QUEUES, SYNC_QUEUE

DATABASE = "syncd_observe"
CHUNK = 1_000_000

FILL = """
INSERT INTO sync_queue (entity_type, entity_id, direction, operation, payload, status,
                        priority, attempts, max_attempts, last_attempt, next_retry,
                        error_message, created_at, started_at, completed_at, attempts_log)
SELECT CASE WHEN i % 3 = 0 THEN 'organization' ELSE 'contact' END,
       gen_random_uuid(), 'to_monday', 'upsert', '{}',
       s.status, 0,
       CASE s.status WHEN 'completed' THEN 1 WHEN 'failed' THEN 5 ELSE i % 2 END,
       5,
       CASE WHEN s.status = 'pending' AND i % 2 = 0 THEN t.created END,
       CASE WHEN s.status = 'pending' AND i % 2 = 1 THEN now() + interval '10 minutes' END,
       CASE WHEN s.status = 'failed' THEN 'HTTP 500 from monday (attempt 5)'
            WHEN s.status = 'pending' AND i % 2 = 1 THEN 'HTTP 502 Bad Gateway' END,
       t.created,
       CASE WHEN s.status <> 'pending' THEN t.created END,
       CASE WHEN s.status <> 'pending' THEN t.created + interval '1 second' END,
       CASE WHEN s.status = 'failed' THEN
           jsonb_build_array(jsonb_build_object(
               'attempt', 1, 'at', t.created, 'outcome', 'retry', 'error', 'HTTP 500',
               'duration_ms', 120, 'worker', 'bench'))
       ELSE '[]'::jsonb END
  FROM generate_series($1::bigint, $2::bigint) i,
       LATERAL (SELECT CASE WHEN i % 1000 < 10 THEN 'pending'
                            WHEN i % 1000 = 10 THEN 'failed'
                            ELSE 'completed' END AS status) s,
       LATERAL (SELECT now() - ($3::bigint - i) * (interval '30 days' / $3::bigint)
                    AS created) t
"""


async def build(url: str, rows: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET maintenance_work_mem = '256MB'")
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sync_queue' "
            "AND indexname <> 'sync_queue_pkey'"
        )
        for ix in indexes:
            await conn.execute(f"DROP INDEX {ix['indexname']}")
        await conn.execute("SET session_replication_role = replica")
        for start in range(1, rows + 1, CHUNK):
            await conn.execute(FILL, start, min(start + CHUNK - 1, rows), rows)
            print(f"  {min(start + CHUNK - 1, rows):,} rows", file=sys.stderr)
        await conn.execute("SET session_replication_role = origin")
        for ix in indexes:
            await conn.execute(ix["indexdef"])
        await conn.execute("VACUUM ANALYZE sync_queue")
    finally:
        await conn.close()


async def median_ms(read: Callable[[], Awaitable[Any]], runs: int) -> float:
    await read()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await read()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


async def measure(url: str, runs: int) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    await db.init_connection(conn)
    await inspect.reading_session(conn)
    try:
        rows = await conn.fetchval(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = 'sync_queue'"
        )
        failed_id = await conn.fetchval(
            "SELECT id FROM sync_queue WHERE status = 'failed' ORDER BY created_at DESC LIMIT 1"
        )
        entity = await conn.fetchval("SELECT entity_id FROM sync_queue WHERE id = $1", failed_id)
        first = await inspect.list_jobs(conn, SYNC_QUEUE, inspect.Filters(kind="contact"))
        assert first.next_cursor is not None
        cursor = inspect.parse_cursor(first.next_cursor)

        async def metrics() -> None:
            for queue in QUEUES.values():
                await conn.fetchrow(queue.sql("status"))

        reads: dict[str, Callable[[], Awaitable[Any]]] = {
            "status": lambda: status.gather(conn, 20.0),
            "metrics": metrics,
            "jobs_failed": lambda: inspect.list_jobs(
                conn, SYNC_QUEUE, inspect.Filters(status="failed", error="500")
            ),
            "jobs_newest": lambda: inspect.list_jobs(conn, SYNC_QUEUE, inspect.Filters()),
            "jobs_page": lambda: inspect.list_jobs(
                conn, SYNC_QUEUE, inspect.Filters(kind="contact", before=cursor)
            ),
            "jobs_entity": lambda: inspect.list_jobs(
                conn, SYNC_QUEUE, inspect.Filters(subject=entity)
            ),
            "job_page": lambda: inspect.job_page(conn, SYNC_QUEUE, failed_id),
            "overview": lambda: overview.gather(conn, 20.0),
        }
        result: dict[str, Any] = {"rows": rows}
        for name, read in reads.items():
            result[f"{name}_ms"] = await median_ms(read, runs)
        return result
    finally:
        await conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", help="an admin URL (default: an embedded PostgreSQL)")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--reuse", action="store_true", help="keep a database of --rows rows")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with server(args.database_url) as admin:
        url = admin.rsplit("/", 1)[0] + f"/{DATABASE}"
        have = 0
        if args.reuse:
            try:
                have = asyncio.run(_count(url))
            except (OSError, asyncpg.PostgresError):
                have = 0
        if have != args.rows:
            fresh_database(admin, DATABASE)
            t0 = time.monotonic()
            asyncio.run(build(url, args.rows))
            print(f"built {args.rows:,} rows in {time.monotonic() - t0:.0f} s", file=sys.stderr)
        result = asyncio.run(measure(url, args.runs))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['rows']:,} rows in sync_queue; median of {args.runs} runs")
        for key, value in result.items():
            if key.endswith("_ms"):
                flag = "" if value <= 100 else "   over the 100 ms target"
                print(f"  {key[:-3]:12} {value:8.1f} ms{flag}")
    return 0


async def _count(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        n: int = await conn.fetchval("SELECT count(*) FROM sync_queue")
        return n
    finally:
        await conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
