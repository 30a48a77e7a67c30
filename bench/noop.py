"""The benchmarks' handler: does nothing, optionally noting when each job started."""

from __future__ import annotations

import os
import time
from typing import TextIO

from syncd.config import Settings
from syncd.handlers import DOCUMENTS, SYNC, Context, Job, Registry

_times: TextIO | None = None


async def noop(job: Job, ctx: Context) -> None:
    if _times is not None:
        _times.write(f"{job.id} {time.time():.6f}\n")


def install(registry: Registry, settings: Settings) -> None:
    global _times
    path = os.environ.get("SYNCD_BENCH_TIMES")
    if path:
        _times = open(path, "a", buffering=1)  # noqa: SIM115 - open for the process's life
    registry.add(SYNC, "bench", noop)
    registry.add(DOCUMENTS, "bench", noop)
