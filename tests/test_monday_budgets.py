"""monday's budgets reach the database for the console and `syncd status`: each process's
pacer reports them (handlers/monday/budgets.py), off the request path, only when they
changed, and never again once stopped."""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket

import asyncpg

from syncd import status
from syncd.fake_monday import TOKEN, FakeMonday
from syncd.handlers import Registry
from syncd.handlers.monday import install
from syncd.handlers.monday.budgets import BudgetReporter
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.pacing import Budget, Pacer
from syncd.handlers.monday.pauses import token_id
from tests.support import (
    add_contact,
    capture_logs,
    enqueue,
    events,
    running_worker,
    timings,
    wait_for,
    wait_status,
)
from tests.support.monday import daemon_settings, fake, monday_settings

__all__ = ["fake"]

THIS_PROCESS = f"{socket.gethostname()}:{os.getpid()}"


def pacer_at(seconds: float, **budgets: Budget) -> Pacer:
    """A pacer whose clock stands still at `seconds`, knowing `budgets`."""
    pacer = Pacer(clock=lambda: seconds)
    pacer.budgets.update(budgets)
    return pacer


async def rows(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    found = await conn.fetch(
        "SELECT *, extract(epoch FROM resets_at - now())::float8 AS resets_in_s FROM monday_budgets"
    )
    return {r["budget"]: r for r in found}


async def test_the_pacers_budgets_become_rows_and_an_unchanged_pacer_writes_nothing(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    complexity = Budget("complexity", 4_820_000, reset_lo=141.0, reset_hi=142.0, limit=5_000_000)
    # Refilled after its reset, to a level no answer has told yet (no limit known).
    daily = Budget("daily", math.inf, reset_lo=90.0, reset_hi=math.inf)
    pacer = pacer_at(100.0, complexity=complexity, daily=daily)
    reporter = BudgetReporter(pool, pacer, "t0ken", "host:42")

    assert await reporter.run_once() == 2
    found = await rows(conn)
    row = found["complexity"]
    assert (row["token_id"], row["reported_by"]) == ("t0ken", "host:42")
    assert (row["remaining"], row["budget_limit"]) == (4_820_000, 5_000_000)
    assert 40 < row["resets_in_s"] <= 42  # the latest moment the pacer places the reset
    daily_row = found["daily"]
    assert (daily_row["remaining"], daily_row["budget_limit"], daily_row["resets_at"]) == (
        None,
        None,
        None,
    )

    # Nothing changed: nothing is written.
    assert await reporter.run_once() == 0
    assert (await rows(conn))["complexity"]["updated_at"] == row["updated_at"]

    # An answer spent some: that budget alone is written again.
    complexity.remaining = 4_700_000
    assert await reporter.run_once() == 1
    again = await rows(conn)
    assert again["complexity"]["remaining"] == 4_700_000
    assert again["complexity"]["updated_at"] > row["updated_at"]
    assert again["daily"]["updated_at"] == daily_row["updated_at"]


async def test_two_daemons_on_one_token_share_the_row_and_the_newest_report_wins(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    first = pacer_at(0.0, complexity=Budget("complexity", 900, 0.0, 30.0, limit=1000))
    second = pacer_at(0.0, complexity=Budget("complexity", 700, 0.0, 20.0, limit=1000))
    await BudgetReporter(pool, first, "t0ken", "a:1").run_once()
    await BudgetReporter(pool, second, "t0ken", "b:2").run_once()
    [row] = (await rows(conn)).values()
    assert (row["remaining"], row["reported_by"]) == (700, "b:2")


async def test_a_stopped_report_writes_no_more_and_leaves_no_task(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    complexity = Budget("complexity", 900, 0.0, 30.0, limit=1000)
    reporter = BudgetReporter(pool, pacer_at(0.0, complexity=complexity), "t0ken", "a:1", 0.05)
    reporter.start()
    await wait_for(lambda: conn.fetchval("SELECT remaining = 900 FROM monday_budgets"))
    complexity.remaining = 800
    await wait_for(lambda: conn.fetchval("SELECT remaining = 800 FROM monday_budgets"))
    await asyncio.wait_for(reporter.stop(), timings.WAIT)  # a hang guard
    assert [t for t in asyncio.all_tasks() if t.get_name() == "monday-budgets"] == []

    complexity.remaining = 700
    await asyncio.sleep(0.3)  # six of its periods: a live loop would have written
    assert await conn.fetchval("SELECT remaining FROM monday_budgets") == 800


async def test_a_refused_report_is_logged_once_a_minute_and_tried_again(
    pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    pacer = pacer_at(0.0, complexity=Budget("complexity", 900, 0.0, 30.0, limit=1000))
    reporter = BudgetReporter(pool, pacer, "t0ken", "a:1")
    await conn.execute("ALTER TABLE monday_budgets RENAME TO monday_budgets_gone")
    with capture_logs() as logs:
        assert await reporter.run_once() == 0
        assert await reporter.run_once() == 0
    [warning] = events(logs, "monday.budget_write_failed")
    assert warning["log_level"] == "warning"
    assert "monday_budgets" in warning["error"]

    await conn.execute("ALTER TABLE monday_budgets_gone RENAME TO monday_budgets")
    assert await reporter.run_once() == 1
    assert await conn.fetchval("SELECT remaining FROM monday_budgets") == 900


async def test_a_client_with_a_pool_reports_and_its_stop_ends_the_report(
    fake: FakeMonday, pool: asyncpg.Pool
) -> None:
    client = MondayClient(monday_settings(fake))
    await client.start(pool)
    assert [t for t in asyncio.all_tasks() if t.get_name() == "monday-budgets"] != []
    await client.stop()
    assert [t for t in asyncio.all_tasks() if t.get_name() == "monday-budgets"] == []


async def test_a_daemon_pushing_to_monday_reports_the_budgets_the_fake_announces(
    fake: FakeMonday, database_url: str, conn: asyncpg.Connection
) -> None:
    settings = daemon_settings(database_url, fake)
    registry = Registry()
    install(registry, settings)
    complexity = fake.limits.windows["complexity"]
    with capture_logs() as logs:
        async with running_worker(settings, registry):
            for email in ("ada@example.com", "bob@example.com", "cy@example.com"):
                job_id = await enqueue(conn, entity_id=await add_contact(conn, email=email))
                assert job_id is not None
                await wait_status(conn, job_id, "completed")
            left = complexity.remaining()
            assert left < complexity.limit

            async def reported() -> bool:
                row = (await rows(conn)).get("complexity")
                return row is not None and row["remaining"] == left

            await wait_for(reported)  # within one of its periods (5 s)
    found = await rows(conn)
    row = found["complexity"]
    assert row["budget_limit"] == complexity.limit == fake.limits.complexity
    assert 0 < row["resets_in_s"] <= complexity.seconds
    assert (row["token_id"], row["reported_by"]) == (token_id(TOKEN), THIS_PROCESS)
    # The per-minute request budget of the fake's RateLimit headers, too.
    assert found["minute"]["budget_limit"] == fake.limits.per_minute
    assert found["minute"]["remaining"] == fake.limits.windows["minute"].remaining()
    assert events(logs, "monday.budget_write_failed") == []


async def test_jobs_go_on_when_the_budget_cannot_be_written(
    fake: FakeMonday, database_url: str, conn: asyncpg.Connection
) -> None:
    await conn.execute("ALTER TABLE monday_budgets RENAME TO monday_budgets_gone")
    settings = daemon_settings(database_url, fake)
    registry = Registry()
    install(registry, settings)
    with capture_logs() as logs:
        async with running_worker(settings, registry):
            first = await enqueue(conn, entity_id=await add_contact(conn))
            assert first is not None
            await wait_status(conn, first, "completed")
            await wait_for(lambda: events(logs, "monday.budget_write_failed"))
            second = await enqueue(conn, entity_id=await add_contact(conn, email="b@example.com"))
            assert second is not None
            await wait_status(conn, second, "completed")
    assert len(events(logs, "monday.budget_write_failed")) == 1
    assert [e for e in logs if e["log_level"] == "error"] == []


async def test_status_says_what_the_budget_is_refilled_or_unknown(
    conn: asyncpg.Connection,
) -> None:
    await conn.execute(
        "INSERT INTO monday_budgets"
        " (token_id, budget, remaining, budget_limit, resets_at, updated_at, reported_by)"
        " VALUES ('t0ken', 'complexity', 4820000, 5000000, now() + interval '42 s',"
        "         now() - interval '3 s', 'web1:4242'),"
        "        ('t0ken', 'minute', 12, 5000, now() - interval '13 minutes',"
        "         now() - interval '14 minutes', 'web1:4242'),"
        "        ('t0ken', 'daily', NULL, NULL, NULL, now(), E'web2:\\x1b[31m')"
    )
    report = await status.gather(conn, rescue_after=20.0)
    complexity, daily, minute = report["monday_budgets"]
    assert (complexity["budget"], complexity["old"], complexity["refilled"]) == (
        "complexity",
        False,
        False,
    )
    assert (daily["remaining"], daily["refilled"]) == (None, False)
    assert (minute["old"], minute["refilled"]) == (True, True)
    json.dumps(report)  # `status --json` can print it
    lines = [line for line in status.render(report).splitlines() if "monday budget" in line]
    assert lines[0].startswith(
        "monday budget complexity: 4,820,000 of 5,000,000 complexity points left, resets in 4"
    )
    assert "reported 3.0 s ago by web1:4242" in lines[0]
    assert lines[1].startswith("monday budget daily: refilled (requests: monday's next answer")
    assert "web2:\\x1b[31m" in lines[1] and "\x1b" not in lines[1]
    assert lines[2].startswith("monday budget minute: refilled to 5,000 requests 13 min ago")
    assert "last reported 14 min ago" in lines[2]
