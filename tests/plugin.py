"""A handler plugin for tests that run `syncd run` as a real process.

It reaches the daemon the way a deployment's own handler would: through the
`syncd.handlers` entry-point group (tests/support/plugin_dist declares the entry point).
Each run is recorded in `probe_runs`, so a test can tell how often and how
concurrently each job ran, across processes.
"""

from __future__ import annotations

import asyncio
import os

from syncd.config import Settings
from syncd.errors import PermanentError, RetryableError
from syncd.handlers import DOCUMENTS, SYNC, Context, Job, Registry

SETUP_SQL = """
CREATE TABLE IF NOT EXISTS probe_runs (
    run_id      bigserial   PRIMARY KEY,
    job_id      uuid        NOT NULL,
    entity_id   uuid,
    attempt     integer     NOT NULL,
    pid         integer     NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz
)
"""


async def probe(job: Job, ctx: Context) -> None:
    run_id = await ctx.pool.fetchval(
        "INSERT INTO probe_runs (job_id, entity_id, attempt, pid) VALUES ($1, $2, $3, $4) "
        "RETURNING run_id",
        job.id,
        job.entity_id,
        job.attempt,
        os.getpid(),
    )
    await asyncio.sleep(float(job.payload.get("sleep", 0)))
    failure = job.payload.get("fail")
    if failure == "permanent":
        raise PermanentError("probe refused")
    if failure == "retry":
        raise RetryableError("probe wobbled")
    await ctx.pool.execute(
        "UPDATE probe_runs SET finished_at = clock_timestamp() WHERE run_id = $1", run_id
    )


def install(registry: Registry, settings: Settings) -> None:
    registry.add(SYNC, "probe", probe)
    registry.add(DOCUMENTS, "probe", probe)
