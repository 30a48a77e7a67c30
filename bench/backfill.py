"""monday backfill: 10,000 rows against a board of 10,000 items on the fake monday.com.

    python bench/backfill.py [--database-url URL] [--rows 10000] [--json]

The board is what a team switching to syncd has: half of the rows have an item that
holds their entity id in the key column (the old sync wrote it), a quarter have an
item made by hand, with the same email but no key, and the last quarter have no item
at all; the board's last 2,500 items belong to no row. Every item holds its row's
values, so nothing needs an update.

The backfill runs as `syncd monday backfill` does (`backfill.compare`, then
`backfill.carry_out`) through the paced `MondayClient`, against the fake's default
budgets (10,000,000 complexity points and 5,000 requests a minute). The jobs it
enqueued are then worked off by the daemon's worker, with the same client, and the
backfill runs a second time.

Figures: `seconds` (the first backfill: paging, matching, recording, filling the keys
of the adopted items, enqueueing), `budget_share` (the complexity it spent, of what
the budget allowed in the windows it spent in), `limit_hits` (429s the fake answered
the two backfills: must be 0; `drain_limit_hits` counts the worker's),
`duplicates_created` (items sharing one entity id after the jobs ran: must be 0) and
`second_run_changes` (links, keys and jobs the second run would write: must be 0).
`--json` prints them as one object, with the plan's counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter
from typing import Any

import asyncpg
from common import database  # type: ignore[import-not-found]

from syncd import db, logs
from syncd.config import Settings
from syncd.fake_monday import TOKEN, FakeMonday
from syncd.fake_monday.boards import text
from syncd.handlers import SYNC, Registry
from syncd.handlers.monday import MondaySync, backfill
from syncd.handlers.monday.client import MondayClient
from syncd.worker import Worker

BOARD = 1001
KEY = "text_syncd_id"


def entities() -> dict[str, Any]:
    return {
        "contact": {
            "table": "contacts",
            "board_id": BOARD,
            "group_id": "topics",
            "item_name": "{first_name} {last_name}",
            "key_column": KEY,
            "match": "email",
            "columns": {
                "email": {"column": "email", "type": "email"},
                "title": {"column": "text_title", "type": "text"},
            },
        }
    }


async def seed(url: str, fake: FakeMonday, rows: int) -> None:
    ids = [uuid.uuid4() for _ in range(rows)]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO contacts (id, first_name, last_name, email, title) "
            "SELECT id, 'Ada', 'Lovelace ' || n, 'ada' || n || '@example.com', 'Engineer' "
            "FROM unnest($1::uuid[]) WITH ORDINALITY AS r (id, n)",
            ids,
        )
    finally:
        await conn.close()
    fake.boards.add_board(BOARD, {KEY: "text", "email": "email", "text_title": "text"})
    half, quarter = rows // 2, rows // 4
    for n, entity_id in enumerate(ids, start=1):
        values: dict[str, Any] = {
            "email": {"email": f"ada{n}@example.com", "text": f"ada{n}@example.com"},
            "text_title": "Engineer",
        }
        if n <= half:
            values[KEY] = str(entity_id)
        elif n > half + quarter:
            break  # no item yet: a row to create
        fake.boards.create_item(BOARD, "topics", f"Ada Lovelace {n}", json.dumps(values))
    for n in range(rows - half - quarter):
        fake.boards.create_item(
            BOARD, "topics", f"Stranger {n}", json.dumps({"text_title": "Unknown"})
        )


async def wait_completed(pool: asyncpg.Pool, task: asyncio.Task[None]) -> int:
    """Until every job is completed (snoozed ones come due again), or ten minutes."""
    deadline = time.monotonic() + 600
    while True:
        left: int = await pool.fetchval(
            "SELECT count(*) FROM sync_queue WHERE status <> 'completed'"
        )
        if not left or task.done() or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.2)


def spent(fake: FakeMonday) -> tuple[float, int]:
    history = fake.limits.windows["complexity"].history
    return sum(w.spent for w in history), len(history)


async def run(url: str, rows: int) -> dict[str, Any]:
    fake = FakeMonday()
    await seed(url, fake, rows)
    api_url = await fake.start()
    settings = Settings(
        database={"url": url, "pool_size": 5},
        log={"level": "error", "format": "json"},
        monday={"api_url": api_url, "token": TOKEN, "timeout": 30, "entities": entities()},
    )
    mapping = settings.monday.entities["contact"]
    pool = await db.create_pool(settings)
    client = MondayClient(settings.monday)
    await client.start(pool)
    try:
        spent_before, windows_before = spent(fake)
        started = time.monotonic()
        plan = await backfill.compare(pool, client, "contact", mapping, mode="backfill")
        done = await backfill.carry_out(pool, client, mapping, plan, priority=-10)
        seconds = time.monotonic() - started
        spent_after, windows_after = spent(fake)
        windows = max(windows_after - windows_before + (1 if windows_before else 0), 1)
        budget = fake.limits.windows["complexity"].limit

        backfill_hits = sum(fake.limit_hits.values())

        # The daemon works the jobs off with the same client, so that one pacer knows
        # all the spending (two processes on one token share only the pause).
        drained = time.monotonic()
        registry = Registry()
        registry.add(SYNC, "contact", MondaySync("contact", mapping, client))
        worker = Worker(settings, registry)
        task = asyncio.create_task(worker.run())
        left = await wait_completed(pool, task)
        worker.stop()
        await task
        drain_seconds = time.monotonic() - drained
        drain_hits = sum(fake.limit_hits.values()) - backfill_hits

        second = await backfill.compare(pool, client, "contact", mapping, mode="backfill")
        second_hits = sum(fake.limit_hits.values()) - backfill_hits - drain_hits
    finally:
        await client.stop()
        await pool.close()
        await fake.stop()
    board = fake.boards.boards[BOARD]
    keys = Counter(
        text(board.columns[KEY], i) for i in fake.boards.on_board(BOARD) if board.columns
    )
    keys.pop("", None)
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "budget_share": round((spent_after - spent_before) / (budget * windows), 4),
        "limit_hits": backfill_hits + second_hits,
        "drain_limit_hits": drain_hits,
        "duplicates_created": sum(n - 1 for n in keys.values() if n > 1),
        "second_run_changes": second.changes,
        "plan": plan.summary(),
        "keys_filled": done.keys_filled,
        "enqueued": done.enqueued,
        "complexity_spent": int(spent_after - spent_before),
        "complexity_budget_per_window": budget,
        "windows": windows,
        "jobs_not_completed": left,
        "drain_seconds": round(drain_seconds, 2),
        "items_after": len(fake.boards.on_board(BOARD)),
        "requests_by_field": dict(
            Counter(f for r in fake.received for f in r.fields if f != "complexity")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args()
    logs.setup("error", "json")
    with database(args.database_url, "syncd_bench_backfill") as url:
        result = asyncio.run(run(url, args.rows))
    if args.json:
        print(json.dumps(result))
        return
    for key in ("rows", "seconds", "budget_share", "limit_hits", "duplicates_created",
                "second_run_changes", "keys_filled", "enqueued", "drain_seconds"):  # fmt: skip
        print(f"{key:<20} {result[key]}")
    print(f"{'plan':<20} {json.dumps(result['plan'])}")


if __name__ == "__main__":
    main()
