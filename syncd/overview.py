"""The console's overview, in one gathering: per queue its counts, due jobs, oldest
wait and throughput over the last hour; the workers; the monday pauses and budgets. Every
statement reads an index or a small table (bench/observe.py times it at 10 M rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from syncd import queries, status
from syncd.queues import QUEUES


async def gather(conn: asyncpg.Connection, rescue_after: float) -> dict[str, Any]:
    report = await status.gather(conn, rescue_after)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes = [now - timedelta(minutes=59 - i) for i in range(60)]
    for name, queue in QUEUES.items():
        rows = {r["minute"]: r for r in await conn.fetch(queue.sql("throughput"))}
        report[name]["throughput"] = [
            {
                "minute": m.isoformat(),
                "completed": rows[m]["completed"] if m in rows else 0,
                "failed": rows[m]["failed"] if m in rows else 0,
            }
            for m in minutes
        ]
    report["monday_pauses"] = [dict(r) for r in await conn.fetch(queries.load("monday_pauses_all"))]
    return report
