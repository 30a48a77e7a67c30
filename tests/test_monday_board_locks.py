"""Board locks are limits: a 423 or monday's lock error snoozes the job until the time
monday names, gives the attempt back, and no request goes to that board before then,
whatever ``board_concurrency`` is (SPEC §3)."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from syncd import monday_commands, status
from syncd.errors import Kind, classify
from syncd.fake_monday import FakeMonday
from syncd.handlers import Registry
from syncd.handlers.monday import install, operations
from syncd.handlers.monday.client import MondayClient
from syncd.handlers.monday.errors import BoardLocked
from tests.support import add_contact, capture_logs, enqueue, events, running_worker, wait_for
from tests.support.monday import (
    CONTACTS_BOARD,
    ORGANIZATIONS_BOARD,
    create_variables,
    daemon_settings,
    fake,
    monday_settings,
    open_client,
)

__all__ = ["fake"]


def seconds_until(moment: datetime) -> float:
    return (moment - datetime.now(UTC)).total_seconds()


async def test_a_423_snoozes_and_leaves_the_board_alone_until_retry_after(
    fake: FakeMonday,
) -> None:
    client = await open_client(fake, board_concurrency=4)
    fake.faults.lock_board(CONTACTS_BOARD, seconds=3)
    try:
        with capture_logs() as logs, pytest.raises(BoardLocked) as caught:
            await client.call(operations.CREATE_ITEM, create_variables(), board_id=CONTACTS_BOARD)
        assert classify(caught.value) == Kind.RATE_LIMITED
        assert str(caught.value).startswith("monday HTTP 423 ResourceLockedException:")
        assert 2 < seconds_until(caught.value.until) <= 3.1
        sent = fake.requests
        # The board is left alone: the next job for it is snoozed without a request...
        with pytest.raises(BoardLocked, match="locked for"):
            await client.call(operations.CREATE_ITEM, create_variables(), board_id=CONTACTS_BOARD)
        assert fake.requests == sent
        # ...while another board, and the token, are not held up.
        await client.call(
            operations.CREATE_ITEM,
            create_variables(board=ORGANIZATIONS_BOARD),
            board_id=ORGANIZATIONS_BOARD,
        )
    finally:
        await client.stop()
    [locked] = events(logs, "monday.board_locked")
    assert locked["board_id"] == CONTACTS_BOARD and not events(logs, "monday.rate_limited")
    assert [len(lock.arrived) for lock in fake.locks] == [0]


async def test_a_lock_is_shared_through_the_database_shown_and_resumable(
    fake: FakeMonday, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    settings = monday_settings(fake)
    first, second = MondayClient(settings), MondayClient(settings)
    await first.start(pool)
    await second.start(pool)
    fake.faults.lock_board(CONTACTS_BOARD, seconds=60)
    try:
        with pytest.raises(BoardLocked):
            await first.call(operations.CREATE_ITEM, create_variables(), board_id=CONTACTS_BOARD)
        # Another daemon on the token leaves the board alone without learning it itself.
        with pytest.raises(BoardLocked, match="locked for"):
            await second.call(operations.CREATE_ITEM, create_variables(), board_id=CONTACTS_BOARD)
        assert fake.requests == 1
        report = await status.gather(conn, rescue_after=20.0)
        [lock] = report["monday_pauses"]
        assert lock["board_id"] == str(CONTACTS_BOARD)
        assert f"monday board {CONTACTS_BOARD} locked until" in status.render(report)
        # The token itself is not paused: other boards go on.
        await second.call(
            operations.CREATE_ITEM,
            create_variables(board=ORGANIZATIONS_BOARD),
            board_id=ORGANIZATIONS_BOARD,
        )
        [ended] = await monday_commands.resume(conn)
        assert ended.reason == "ResourceLockedException"
        fake.locks.clear()  # monday lifted it too
        await second.call(operations.CREATE_ITEM, create_variables(), board_id=CONTACTS_BOARD)
    finally:
        await first.stop()
        await second.stop()


async def test_mondays_lock_error_in_an_answer_is_a_lock_too(fake: FakeMonday) -> None:
    client = await open_client(fake)
    locked = {
        "errors": [
            {
                "message": "Resource is currently locked, please try again later",
                "extensions": {"code": "ResourceLockedException", "retry_in_seconds": 7},
            }
        ],
        "account_id": 1,
    }
    fake.faults.fail(200, body=locked)
    try:
        with pytest.raises(BoardLocked) as caught:
            await client.call(operations.CREATE_ITEM, create_variables(), board_id=CONTACTS_BOARD)
    finally:
        await client.stop()
    assert 6 < seconds_until(caught.value.until) <= 7.1


async def test_a_lock_without_a_time_waits_lock_pause_and_an_absurd_one_max_pause(
    fake: FakeMonday,
) -> None:
    client = await open_client(fake, lock_pause=2, max_pause=30)
    fake.faults.fail(423)
    fake.faults.fail(423, headers={"Retry-After": "1e9"})
    try:
        with pytest.raises(BoardLocked) as unnamed:
            await client.call(operations.UPDATE_ITEM, {"board": "1", "item": "1", "values": "{}"})
        with pytest.raises(BoardLocked) as absurd:
            await client.call(operations.UPDATE_ITEM, {"board": "1", "item": "1", "values": "{}"})
    finally:
        await client.stop()
    assert 1 < seconds_until(unnamed.value.until) <= 2
    assert 29 < seconds_until(absurd.value.until) <= 30


async def test_a_lock_storm_under_board_concurrency_4_burns_no_attempt(
    fake: FakeMonday, database_url: str, conn: asyncpg.Connection
) -> None:
    settings = daemon_settings(database_url, fake, board_concurrency=4)
    registry = Registry()
    install(registry, settings)
    # Three locks of 1.5 s, one after the other: each new mutation after a lock
    # ends starts the next. Before the fix every 423 cost an attempt and the
    # retries (1 s apart here) hit the board while it was still locked.
    fake.faults.lock_board(CONTACTS_BOARD, times=3, seconds=1.5)
    contacts = [await add_contact(conn, email=f"c{i}@example.com") for i in range(12)]
    with capture_logs() as logs:
        async with running_worker(settings, registry):
            jobs = [await enqueue(conn, entity_id=c) for c in contacts]

            async def all_completed() -> bool:
                done = await conn.fetchval(
                    "SELECT count(*) FROM sync_queue WHERE id = any($1) AND status = 'completed'",
                    jobs,
                )
                return bool(done == len(jobs))

            await wait_for(all_completed, timeout=60)
    rows = await conn.fetch("SELECT attempts FROM sync_queue WHERE id = any($1)", jobs)
    # Every lock was given back: each job used the one attempt that succeeded.
    assert sorted(r["attempts"] for r in rows) == [1] * len(jobs)
    assert len(fake.locks) == 3 and events(logs, "job.snoozed")
    # While a board was locked only the requests already on their way reached it
    # (at most board_concurrency - 1 beside the one that met the lock): none was
    # sent once the 423 was in.
    assert all(len(lock.arrived) <= 3 for lock in fake.locks), [
        len(lock.arrived) for lock in fake.locks
    ]
    assert not events(logs, "job.retry_scheduled") and not events(logs, "job.failed")
    assert await conn.fetchval("SELECT count(*) FROM monday_items") == len(jobs)
