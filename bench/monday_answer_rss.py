"""Peak memory of the monday client under a huge answer: what one job costs when monday
(or something in between) sends 300 MiB.

    python bench/monday_answer_rss.py [--mib 300] [--max-response-bytes 4194304]

The fake monday.com runs in a child process and streams `--mib` MiB of body to one
create_item call; this process runs the client alone, so its peak RSS (``ru_maxrss``)
is the client's cost. The client reads at most ``max_response_bytes`` and gives up
with a retryable error; pass a bound larger than the answer to see what reading it
all costs. Prints one JSON line: peak_rss_mib, before_mib, the error, and the bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import sys
import time
from typing import Any


def serve(mib: int, ports: Any) -> None:
    from syncd.fake_monday import FakeMonday

    async def main() -> None:
        fake = FakeMonday()
        fake.faults.answer_raw(b'{"data": {"create_item": {"id": "', size=mib * 1024 * 1024)
        url = await fake.start()
        ports.put(url)
        await asyncio.Event().wait()

    asyncio.run(main())


def rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def one_call(url: str, bound: int) -> str:
    from syncd.fake_monday import TOKEN
    from syncd.handlers.monday import operations
    from syncd.handlers.monday.client import MondayClient
    from syncd.handlers.monday.pauses import MemoryPauses
    from syncd.handlers.monday.settings import MondaySettings

    settings = MondaySettings(api_url=url, token=TOKEN, timeout=120, max_response_bytes=bound)
    client = MondayClient(settings, pauses=MemoryPauses())
    await client.start(None)
    variables = {"board": "1", "group": None, "name": "x", "values": "{}"}
    try:
        await client.call(operations.CREATE_ITEM, variables, board_id=1)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.stop()
    return "no error"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=300)
    parser.add_argument("--max-response-bytes", type=int, default=4 * 1024 * 1024)
    args = parser.parse_args()
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(args.mib, ports), daemon=True)
    server.start()
    try:
        url = ports.get(timeout=30)
        # Everything the call needs is imported before the baseline is taken.
        import syncd.handlers.monday.client  # noqa: F401

        before = rss_mib()
        started = time.monotonic()
        error = asyncio.run(one_call(url, args.max_response_bytes))
        seconds = time.monotonic() - started
    finally:
        server.terminate()
    print(
        json.dumps(
            {
                "answer_mib": args.mib,
                "max_response_bytes": args.max_response_bytes,
                "before_mib": round(before, 1),
                "peak_rss_mib": round(rss_mib(), 1),
                "seconds": round(seconds, 2),
                "error": error[:160],
            }
        )
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
