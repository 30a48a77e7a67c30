"""Quick jobs are claimed a little ahead of free slots; running ones never exceed the limit."""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg

from syncd.job import Job
from syncd.queues import SYNC_QUEUE
from syncd.slots import QueueState
from tests.support import enqueue, make_settings, registry_with, running_worker, wait_for


def test_how_far_ahead_follows_the_ratio_of_claim_to_job_time() -> None:
    state = QueueState(SYNC_QUEUE, limit=10, enabled=True, most_ahead=100)
    assert state.ahead() == 0  # nothing measured yet: no guessing
    state.claim_s, state.job_s = 0.002, 0.0001  # no-op jobs: 200 would finish, 100 at most
    assert state.ahead() == 100
    state.job_s = 0.004  # 10 slots free 5 jobs during one claim
    assert state.ahead() == 5
    state.job_s = 0.2  # a monday push: nothing claimed ahead
    assert state.ahead() == 0
    assert state.room() == 10


async def test_quick_jobs_are_claimed_ahead_but_never_run_beyond_the_limit(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await conn.execute(
        "INSERT INTO sync_queue (entity_type, entity_id) "
        "SELECT 'contact', gen_random_uuid() FROM generate_series(1, 600)"
    )
    running = 0
    most = 0

    async def quick(job: Job, ctx: object) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        running -= 1

    settings = make_settings(
        database_url, daemon={"concurrency": 5}, queues={"sync": {"concurrency": 5}}
    )
    async with running_worker(settings, registry_with(sync={"contact": quick})):
        await wait_for(
            lambda: conn.fetchval(
                "SELECT count(*) = 600 FROM sync_queue WHERE status = 'completed'"
            ),
            timeout=60,
        )
    assert most <= 5
    # Every claim stamps its rows with one started_at: some claims took more jobs
    # than there were slots.
    sizes = Counter(r["started_at"] for r in await conn.fetch("SELECT started_at FROM sync_queue"))
    assert max(sizes.values()) > 5


async def test_shutdown_gives_back_jobs_claimed_ahead_with_their_attempt(
    database_url: str, conn: asyncpg.Connection
) -> None:
    from syncd.worker import Worker

    release = asyncio.Event()
    started: list[Job] = []

    async def blocked(job: Job, ctx: object) -> None:
        started.append(job)
        await release.wait()

    settings = make_settings(
        database_url,
        daemon={"concurrency": 2, "shutdown_grace": 20},
        queues={"sync": {"concurrency": 2}},
    )
    worker = Worker(settings, registry_with(sync={"contact": blocked}))
    # As if very quick jobs had been measured, with a cap of as many again as the
    # limit: the cap, not the ratio (which the real claims keep re-measuring), sets 2.
    sync = worker.queues["sync"]
    sync.claim_s, sync.job_s, sync.most_ahead = 0.002, 0.0001, 2
    ids = [await enqueue(conn) for _ in range(6)]
    task = asyncio.create_task(worker.run())
    await wait_for(
        lambda: conn.fetchval("SELECT count(*) = 4 FROM sync_queue WHERE status = 'processing'")
    )
    # The claim's commit comes before the worker has its answer: wait until the worker
    # has handed two jobs to handlers and holds the two claimed ahead.
    await wait_for(lambda: len(started) == 2 and len(sync.ready) == 2)
    assert len(started) == 2 and len(worker.queues["sync"].ready) == 2
    worker.stop()
    await wait_for(
        lambda: conn.fetchval("SELECT count(*) = 2 FROM sync_queue WHERE status = 'processing'")
    )
    release.set()
    await asyncio.wait_for(task, 30)

    rows = {r["id"]: r for r in await conn.fetch("SELECT id, status, attempts FROM sync_queue")}
    ran = {j.id for j in started}
    assert {(rows[i]["status"], rows[i]["attempts"]) for i in ran} == {("completed", 1)}
    assert {(rows[i]["status"], rows[i]["attempts"]) for i in set(ids) - ran} == {("pending", 0)}
