"""Any number of syncd processes share one database; none runs a job twice (SPEC §3)."""

from __future__ import annotations

import uuid

import asyncpg

from tests.plugin import SETUP_SQL
from tests.support import event, wait_for
from tests.support.daemons import Daemon


async def test_two_daemons_share_1000_jobs_and_run_each_once(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await conn.execute(SETUP_SQL)
    daemons = [Daemon(database_url) for _ in range(2)]
    try:
        for d in daemons:
            await event(d, "daemon.ready")
        # 300 entities with repeated changes, and plain one-off jobs.
        entities = [uuid.uuid4() for _ in range(300)]
        await conn.executemany(
            "INSERT INTO sync_queue (entity_type, entity_id, payload) VALUES ('probe', $1, $2)",
            [(entities[i % 300], {"n": i}) for i in range(1000)],
        )

        async def drained() -> bool:
            left = await conn.fetchval(
                "SELECT count(*) FROM sync_queue WHERE status <> 'completed'"
            )
            return left == 0

        await wait_for(drained, timeout=120)
    finally:
        codes = [d.stop() for d in daemons]
    assert codes == [0, 0]
    jobs = await conn.fetchval("SELECT count(*) FROM sync_queue")
    runs = await conn.fetch("SELECT job_id, pid FROM probe_runs")
    assert len(runs) == jobs
    assert len({r["job_id"] for r in runs}) == jobs  # no job ran twice
    assert len({r["pid"] for r in runs}) == 2  # both daemons worked
    overlapping = await conn.fetchval(
        """
        SELECT count(*) FROM probe_runs a JOIN probe_runs b
          ON a.entity_id = b.entity_id AND a.run_id < b.run_id
         AND a.started_at < b.finished_at AND b.started_at < a.finished_at
        """
    )
    assert overlapping == 0  # no entity was pushed by two jobs at once
