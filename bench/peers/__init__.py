"""The peers syncd is compared with (bench/compare.py): pgqueuer and procrastinate.

Each module here is what a user of that library would write: a no-op job that,
like bench/noop.py for syncd, notes when it started in the file named by
$SYNCD_BENCH_TIMES, one "KEY UNIX_TIME" line per job. The worker runs through the
library's own command line (`pgq run`, `procrastinate worker`), with its defaults
except where bench/compare.py says otherwise.
"""

from __future__ import annotations

import os
import time
from typing import TextIO

_times: TextIO | None = None


def note(key: str) -> None:
    """Record that job `key` started now, if this worker was asked to."""
    global _times
    if _times is None:
        path = os.environ.get("SYNCD_BENCH_TIMES")
        if not path:
            return
        _times = open(path, "a", buffering=1)  # noqa: SIM115 - open for the process's life
    _times.write(f"{key} {time.time():.6f}\n")
