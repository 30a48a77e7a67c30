"""A procrastinate 3.10 app with one no-op task, run as its CLI runs it.

    BENCH_DATABASE_URL=... python -m procrastinate \
        --app bench.peers.procrastinate_worker.app worker --concurrency 10

The task's one argument is the job's key for the times file.
"""

from __future__ import annotations

import os

import procrastinate

from bench.peers import note

TASK = "bench"

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(conninfo=os.environ.get("BENCH_DATABASE_URL", ""))
)


@app.task(name=TASK)
async def noop(key: str) -> None:
    note(key)
