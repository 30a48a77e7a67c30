"""monday.com push rate: 2,000 contacts through `syncd run` into the fake, on a small budget.

    python bench/monday.py [--database-url URL] [--contacts 2000] [--creates-per-window 200]
                           [--window 10] [--concurrency 10] [--lose-responses 0.05]

The real path: contacts rows and their sync jobs are inserted, then one `syncd run`
process (configured through SYNCD_* variables, monday handler and all) pushes them
to the fake monday.com API served by this process. The fake's complexity budget is
`--creates-per-window` creates per `--window` seconds (a create's complexity as the
fake counts it, times that number); what the budget allows is `ceiling_per_s`.

monday's budget comes in fixed windows, and a careful client spends each window's
budget and then waits for the next. So the rate is measured over whole windows,
from the fake's own record of when each one opened: warm-up is the first window
(the daemon connects and learns what a create costs); the measure runs from the
opening of the second window to the opening of the last one, in which the backlog
runs out (a partial window would distort the figure either way).
`push_rate_per_s` is the items created on the board in between, per second of it;
the gaps between windows, when nothing may be sent, count against it.

`--lose-responses P` makes the fake drop the answer to each request with probability
P after running it (the mutation is applied, the client sees a broken connection),
to show that retried creates make no second item. The retries look the item up, with
its values, and update it only when it differs from the row (a lost create was applied
with these very values: no update). That spends budget too: `budget_used` is the
complexity spent in the measured windows, of what the budget allowed.

Prints one JSON line: push_rate_per_s, ceiling_per_s, limit_hits (all of them, and
warmup_limit_hits), duplicates (items sharing one entity id), the requests by root
field (creates, lookups, updates), and what they come from.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter

import asyncpg
from common import database, start_daemon  # type: ignore[import-not-found]

from syncd.fake_monday import TOKEN, FakeMonday, Limits
from syncd.fake_monday.boards import text
from syncd.handlers.monday import operations

BOARD = 1001
KEY_COLUMN = "text_syncd_id"
ENTITIES = {
    "contact": {
        "table": "contacts",
        "board_id": BOARD,
        "group_id": "topics",
        "item_name": "{first_name} {last_name}",
        "key_column": KEY_COLUMN,
        "columns": {
            "email": {"column": "email", "type": "email"},
            "phone": {"column": "phone", "type": "phone", "country": "US"},
            "title": {"column": "text_title", "type": "text"},
        },
    }
}


async def enqueue(url: str, contacts: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO contacts (first_name, last_name, email, phone, title) "
            "SELECT 'Ada', 'Lovelace ' || i, 'ada' || i || '@example.com', "
            "'212555' || lpad(i::text, 4, '0'), 'Engineer' FROM generate_series(1, $1) i",
            contacts,
        )
        await conn.execute(
            "INSERT INTO sync_queue (entity_type, entity_id) SELECT 'contact', id FROM contacts"
        )
        await conn.execute("VACUUM ANALYZE sync_queue")
    finally:
        await conn.close()


async def wait_finished(url: str, jobs: int, timeout: float) -> dict[str, int]:
    """Until every job is completed or failed; the count of each status."""
    conn = await asyncpg.connect(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            statuses = dict(await conn.fetch("SELECT status, count(*) FROM sync_queue GROUP BY 1"))
            if statuses.get("completed", 0) + statuses.get("failed", 0) >= jobs:
                return statuses
            if time.monotonic() > deadline:
                raise RuntimeError(f"the jobs did not finish within {timeout:g} s: {statuses}")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def run(url: str, args: argparse.Namespace) -> dict[str, object]:
    fake = FakeMonday()
    create_cost = fake.cost_of(operations.CREATE_ITEM.text)
    budget = args.creates_per_window * create_cost
    fake.limits = Limits(complexity=budget, complexity_window=args.window)
    board = fake.boards.add_board(
        BOARD,
        {KEY_COLUMN: "text", "email": "email", "phone": "phone", "text_title": "text"},
        name="Contacts",
    )
    if args.lose_responses:
        fake.faults.lose_response(times=None, chance=args.lose_responses)
    api_url = await fake.start()
    daemon = start_daemon(
        url,
        SYNCD_DAEMON__CONCURRENCY=str(args.concurrency),
        SYNCD_QUEUES__SYNC__CONCURRENCY=str(args.concurrency),
        SYNCD_QUEUES__DOCUMENTS__ENABLED="false",
        SYNCD_LOG__LEVEL="error",
        SYNCD_RETRY__DELAYS="[1]",
        SYNCD_MONDAY__API_URL=api_url,
        SYNCD_MONDAY__TOKEN=TOKEN,
        SYNCD_MONDAY__TIMEOUT="10",
        SYNCD_MONDAY__ENTITIES=json.dumps(ENTITIES),
    )
    try:
        expected = args.contacts / args.creates_per_window * args.window
        statuses = await wait_finished(url, args.contacts, timeout=3 * expected + 120)
    finally:
        daemon.terminate()
        await asyncio.to_thread(daemon.wait, 30)
        await fake.stop()

    items = fake.boards.on_board(BOARD, state="all")
    created = sorted(i.made for i in items)
    if not created:
        raise RuntimeError(f"no item reached the board: {statuses}")
    per_entity = Counter(text(board.columns[KEY_COLUMN], i) for i in items)
    history = fake.limits.windows["complexity"].history
    opened = [w.at for w in history]
    warm_end = opened[1] if len(opened) > 1 else opened[0]
    # The window in which the backlog ran out is not a whole one: it ends the measure.
    last = max(w for w in opened if w <= created[-1])
    measured = [t for t in created if warm_end <= t < last]
    whole = [w for w in history if warm_end <= w.at < last]
    seconds = last - warm_end
    hits = [r for r in fake.received if r.status == 429]
    ceiling = args.creates_per_window / args.window
    rate = len(measured) / seconds if seconds > 0 else 0.0
    return {
        "jobs": args.contacts,
        "outcomes": statuses,
        "budget": {
            "complexity": budget,
            "window_s": args.window,
            "create_cost": create_cost,
            "creates_per_window": args.creates_per_window,
        },
        "lose_responses": args.lose_responses,
        "ceiling_per_s": round(ceiling, 2),
        "push_rate_per_s": round(rate, 2),
        "of_ceiling": round(rate / ceiling, 3),
        "measured_windows": len(whole),
        # Complexity spent in them, of what the budget allowed: retries spend it too.
        "budget_used": round(sum(w.spent for w in whole) / (budget * len(whole) or 1), 3),
        "measured_items": len(measured),
        "warmup_s": round(warm_end - opened[0], 2),
        "total_s": round(created[-1] - fake.received[0].at, 2),
        "limit_hits": sum(fake.limit_hits.values()),
        "warmup_limit_hits": len([r for r in hits if r.at < warm_end]),
        "limit_hit_codes": dict(fake.limit_hits),
        "requests": fake.requests,
        # What the requests were: recoveries show as lookups and updates.
        "requests_by_field": dict(
            Counter(f for r in fake.received for f in r.fields if f != "complexity")
        ),
        "items": len(items),
        "missing": args.contacts - len(per_entity),
        "duplicates": sum(n - 1 for n in per_entity.values() if n > 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--creates-per-window", type=int, default=200)
    parser.add_argument("--window", type=float, default=10.0, help="seconds")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument(
        "--lose-responses", type=float, default=0.0, metavar="P", help="0.05: lose 5 %%"
    )
    args = parser.parse_args()
    with database(args.database_url, "syncd_bench_monday") as url:
        asyncio.run(enqueue(url, args.contacts))
        result = asyncio.run(run(url, args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
