"""The per-job savings keep what a job's log line and outcome say (syncd/speedups.py,
logs.batch, the outcome writer's NULL arrays)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from syncd import logs, speedups


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_a_batch_of_events_is_one_flush_and_a_lone_event_is_flushed_at_once() -> None:
    out = CountingStream()
    logs.setup("info", "json", stream=out)
    try:
        log = logs.get()
        with logs.batch():
            for n in range(3):
                log.info("job.completed", n=n)
            assert out.flushes == 0  # written, not yet flushed
        assert out.flushes == 1
        log.info("job.completed", n=3)
        assert out.flushes == 2
    finally:
        logs.setup("info", "json")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["n"] for line in lines] == [0, 1, 2, 3]


def test_the_log_serializer_reads_as_json_would() -> None:
    dumps = speedups.log_serializer()
    at = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)
    event = {"event": "job.snoozed", "at": at, 3: "non-string key", "big": 2**70}
    assert json.loads(dumps(event, default=str)) == json.loads(json.dumps(event, default=str))


@pytest.mark.skipif(speedups.uvloop is None, reason="uvloop is not installed")
def test_run_uses_uvloop_when_installed() -> None:
    async def loop_type() -> str:
        import asyncio

        return type(asyncio.get_running_loop()).__module__

    assert speedups.run(loop_type()).startswith("uvloop")
