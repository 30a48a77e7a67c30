"""Where a job's microseconds go: `syncd run --once` under cProfile on a no-op drain.

    python bench/profile.py [--database-url URL] [--jobs 100000] [--concurrency 10]
                            [--top 25] [--stats FILE]
    python bench/profile.py --cpu . /work/main [--jobs 50000] [--rounds 3]

Enqueues --jobs no-op sync jobs (bench/common.enqueue_sync), drains them with one
`syncd run --once` (the bench handler, concurrency 10) under cProfile, and prints
the daemon's own CPU time (not wall time) per job in microseconds, grouped by part of the hot path,
then the functions with the most own time per job. cProfile counts every call, so
its figures are inflated but its call counts are exact, and on a shared machine
the per-job call counts and the shares are what compare from run to run.

With --cpu, no profiler: each checkout's `syncd run --once` drains --jobs jobs,
interleaved over --rounds, and the CPU time the kernel counted for the process,
less that of an empty run (start-up), is divided by the jobs. A change's cost or
saving per job, before and after, unmoved by the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time

from common import (  # type: ignore[import-not-found]
    database,
    enqueue_sync,
    plugin_path,
    start_worker,
)

# Parts of the hot path, by the file a function lives in: the first that matches.
PARTS = (
    ("event loop (asyncio / uvloop)", ("asyncio/", "uvloop")),
    ("asyncpg (protocol, pool, records)", ("asyncpg",)),
    ("logging (structlog, json)", ("structlog", "syncd/logs.py", "json/", "orjson")),
    ("dispatch and slots (worker.py, slots.py)", ("syncd/worker.py", "syncd/slots.py")),
    ("attempt and outcome (outcomes.py)", ("syncd/outcomes.py",)),
    (
        "outcome writer and store (writer.py, store.py, rescuer.py)",
        ("syncd/loops/writer.py", "syncd/store.py", "syncd/loops/rescuer.py"),
    ),
    ("job fields (queues.py, job.py)", ("syncd/queues.py", "syncd/job.py")),
    ("handler (bench/noop.py, registry)", ("bench/noop.py", "syncd/handlers")),
)


# `syncd run --once` under cProfile counting CPU time, not wall time: on a shared
# machine the wall clock charges other processes' turns to whatever call was waiting.
PROFILED = """
import cProfile, sys, time
from syncd.cli import main
stats = sys.argv[1]
sys.argv = ["syncd", "run", "--once"]
profile = cProfile.Profile(time.process_time)
profile.enable()
try:
    code = main()
finally:
    profile.disable()
    profile.dump_stats(stats)
sys.exit(code)
"""


def part_of(filename: str) -> str:
    for name, markers in PARTS:
        if any(m in filename for m in markers):
            return name
    return "other (uuid, dataclasses, builtins...)"


def summarize(stats_file: str, jobs: int, top: int) -> str:
    stats = pstats.Stats(stats_file)
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in raw.values())
    parts: dict[str, float] = {}
    for (filename, _, _), (_, _, tt, _, _) in raw.items():
        key = part_of(filename)
        parts[key] = parts.get(key, 0.0) + tt
    calls = sum(nc for (_, nc, _, _, _) in raw.values())
    lines = [
        f"{jobs} jobs, {total:.2f} s of profiled CPU, {total / jobs * 1e6:.1f} µs a job, "
        f"{calls / jobs:.1f} function calls a job",
        "",
        "| part of the hot path | µs a job | share |",
        "|---|---|---|",
    ]
    for name, tt in sorted(parts.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {tt / jobs * 1e6:.1f} | {tt / total:.0%} |")
    lines += ["", "| function (own time) | calls a job | µs a job |", "|---|---|---|"]
    ranked = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    for (filename, line, func), (_, nc, tt, _, _) in ranked:
        where = filename.rsplit("site-packages/", 1)[-1].rsplit("/work/", 1)[-1]
        lines.append(f"| {func} ({where}:{line}) | {nc / jobs:.2f} | {tt / jobs * 1e6:.2f} |")
    return "\n".join(lines)


def drain_cpu(url: str, jobs: int, concurrency: int, checkout: str) -> float:
    """CPU seconds (user + system) of one `syncd run --once` from `checkout` over `jobs`
    fresh jobs, as the kernel counted them: what the machine's load does not change."""
    if jobs:
        asyncio.run(enqueue_sync(url, jobs))
    worker = start_worker(
        ["-m", "syncd", "run", "--once"],
        PYTHONPATH=os.pathsep.join([plugin_path(), checkout]),
        SYNCD_DATABASE__URL=url,
        SYNCD_LOG__LEVEL="warning",
        SYNCD_LOG__FORMAT="json",
        SYNCD_DAEMON__CONCURRENCY=str(concurrency),
        SYNCD_QUEUES__SYNC__CONCURRENCY=str(concurrency),
    )
    _, status, usage = os.wait4(worker.pid, 0)
    worker.returncode = os.waitstatus_to_exitcode(status)
    if worker.returncode != 0:
        sys.exit(f"syncd run --once ({checkout}) exited with {worker.returncode}")
    return usage.ru_utime + usage.ru_stime


def compare_cpu(url: str, jobs: int, concurrency: int, checkouts: list[str], rounds: int) -> str:
    """µs of CPU a job for each checkout, interleaved, start-up (an empty run) taken off."""
    per_job: dict[str, list[float]] = {c: [] for c in checkouts}
    for _ in range(rounds):
        for checkout in checkouts:
            idle = drain_cpu(url, 0, concurrency, checkout)
            busy = drain_cpu(url, jobs, concurrency, checkout)
            per_job[checkout].append((busy - idle) / jobs * 1e6)
            print(f"  {checkout}: {per_job[checkout][-1]:.1f} µs a job", file=sys.stderr)
    lines = ["| checkout | CPU µs a job, median | rounds |", "|---|---|---|"]
    for checkout, values in per_job.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        lines.append(f"| {checkout} | {statistics.median(values):.1f} | {shown} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--stats", help="keep the raw cProfile stats here")
    parser.add_argument(
        "--cpu",
        nargs="+",
        metavar="CHECKOUT",
        help="no profiler: the CPU time a job of `syncd run --once` from each checkout "
        "(this one is .), interleaved over --rounds",
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.cpu:
        checkouts = [os.path.abspath(c) for c in args.cpu]
        with database(args.database_url, "syncd_bench_profile") as url:
            print(compare_cpu(url, args.jobs, args.concurrency, checkouts, args.rounds))
        return
    stats_file = args.stats or os.path.join(tempfile.mkdtemp(prefix="syncd-profile-"), "run.prof")
    with database(args.database_url, "syncd_bench_profile") as url:
        asyncio.run(enqueue_sync(url, args.jobs))
        started = time.monotonic()
        worker = start_worker(
            ["-c", PROFILED, stats_file],
            PYTHONPATH=os.pathsep.join([plugin_path(), os.path.dirname(os.path.dirname(__file__))]),
            SYNCD_DATABASE__URL=url,
            SYNCD_LOG__LEVEL="warning",
            SYNCD_LOG__FORMAT="json",
            SYNCD_DAEMON__CONCURRENCY=str(args.concurrency),
            SYNCD_QUEUES__SYNC__CONCURRENCY=str(args.concurrency),
        )
        try:
            code = worker.wait(3600)
        except subprocess.TimeoutExpired:
            worker.kill()
            raise
        if code != 0:
            sys.exit(f"syncd run --once exited with {code}")
        print(f"drained under the profiler in {time.monotonic() - started:.1f} s", file=sys.stderr)
    print(summarize(stats_file, args.jobs, args.top))


if __name__ == "__main__":
    main()
