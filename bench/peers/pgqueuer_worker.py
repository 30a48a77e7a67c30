"""A pgqueuer 1.6 worker with one no-op entrypoint, run as `pgq run` runs it.

    BENCH_DATABASE_URL=... python -m bench.peers.pgqueuer_worker

The factory yields a QueueManager, pgqueuer's queue worker. (The PgQueuer class
adds its cron scheduler, which polls pgqueuer_schedules every second even with
no schedule registered: about 10 more transactions per 10 s of idling, for a
feature syncd does not have.)

$BENCH_PGQ_CONCURRENCY_LIMIT sets the entrypoint's concurrency_limit (pgqueuer's
default, 0, means unlimited). The payload is the job's key for the times file.

`pgq run` itself cannot start here: with the installed typer its --log-level
option reaches pgqueuer as a str and setup_fancy_logger fails. So main() does
what its body does: the fancy logger, then pgqueuer.run(factory) on the CLI's
event loop, which is uvloop (a dependency of pgqueuer on Linux).
BENCH_EVENT_LOOP=asyncio runs it on the standard asyncio loop instead, as
syncd runs, and as `asyncio.run(pgqueuer.run(...))` in a user's program would.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pgqueuer
from pgqueuer import AsyncpgDriver, Queries, QueueManager
from pgqueuer.adapters.cli.cli import asyncio_run
from pgqueuer.core.logconfig import LogLevel, setup_fancy_logger
from pgqueuer.models import Job

from bench.peers import note

ENTRYPOINT = "bench"


@asynccontextmanager
async def create() -> AsyncIterator[QueueManager]:
    connection = await asyncpg.connect(os.environ["BENCH_DATABASE_URL"])
    qm = QueueManager(Queries(AsyncpgDriver(connection)))
    limit = int(os.environ.get("BENCH_PGQ_CONCURRENCY_LIMIT", "0"))

    @qm.entrypoint(ENTRYPOINT, concurrency_limit=limit)
    async def noop(job: Job) -> None:
        note((job.payload or b"").decode())

    try:
        yield qm
    finally:
        await connection.close()


def main() -> None:
    # syncd runs at log level warning in the benchmarks; so does its peer.
    setup_fancy_logger(LogLevel.WARNING)
    if os.environ.get("BENCH_EVENT_LOOP") == "asyncio":
        asyncio.run(pgqueuer.run(create))
    else:
        asyncio_run(pgqueuer.run(create))


if __name__ == "__main__":
    main()
