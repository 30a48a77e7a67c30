"""The metrics and health endpoints on their own: what a scrape and a probe see."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp
import pytest

from syncd.config import parse_listen
from syncd.httpd import Endpoints
from syncd.metrics import Metrics, QueueSnapshot


class Probe:
    def __init__(self) -> None:
        self.why: str | None = None
        self.queues: dict[str, QueueSnapshot] = {}

    async def snapshot(self) -> Mapping[str, QueueSnapshot]:
        return self.queues

    async def unready(self) -> str | None:
        return self.why


@pytest.fixture
async def served() -> AsyncIterator[tuple[Endpoints, Metrics, Probe, str]]:
    metrics, probe = Metrics(), Probe()
    endpoints = Endpoints("127.0.0.1:0", metrics, probe.snapshot, probe.unready)
    await endpoints.start()
    try:
        yield endpoints, metrics, probe, f"http://127.0.0.1:{endpoints.port}"
    finally:
        await endpoints.stop()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def test_a_scrape_carries_counts_durations_and_the_queue_snapshot(
    served: tuple[Endpoints, Metrics, Probe, str],
) -> None:
    _, metrics, probe, base = served
    metrics.outcomes("sync", [("contact", "completed", 0.02)] * 3 + [("contact", "retry", 1.5)])
    metrics.outcomes("documents", [("extract", "failed", None)])
    probe.queues = {
        "sync": QueueSnapshot({"pending": 7, "failed": 1}, oldest_due_s=12.5, paused=["invoice"])
    }
    status, content_type, text = await get(base + "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    assert 'syncd_jobs_total{kind="contact",outcome="completed",queue="sync"} 3.0' in text
    assert 'syncd_jobs_total{kind="contact",outcome="retry",queue="sync"} 1.0' in text
    assert 'syncd_jobs_total{kind="extract",outcome="failed",queue="documents"} 1.0' in text
    assert 'syncd_job_duration_seconds_count{kind="contact",queue="sync"} 4.0' in text
    assert 'syncd_queue_jobs{queue="sync",status="pending"} 7.0' in text
    assert 'syncd_queue_oldest_due_seconds{queue="sync"} 12.5' in text
    assert 'syncd_queue_paused{kind="invoice",queue="sync"} 1.0' in text
    for name in (
        "syncd_running_jobs",
        "syncd_listener_connected",
        "syncd_monday_paused_seconds",
        "syncd_monday_budget_remaining",
        "syncd_extractor_restarts_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


async def test_watched_gauges_are_read_at_scrape_time(
    served: tuple[Endpoints, Metrics, Probe, str],
) -> None:
    _, metrics, _, base = served
    connected = [1.0]
    metrics.watch(metrics.listener_connected, lambda: connected[0])
    assert "syncd_listener_connected 1.0" in (await get(base + "/metrics"))[2]
    connected[0] = 0.0
    assert "syncd_listener_connected 0.0" in (await get(base + "/metrics"))[2]


async def test_ready_until_the_probe_finds_a_reason_not_to_be(
    served: tuple[Endpoints, Metrics, Probe, str],
) -> None:
    _, _, probe, base = served
    assert (await get(base + "/healthz"))[0] == 200
    assert (await get(base + "/readyz"))[0] == 200
    probe.why = "the listener connection is down"
    status, _, text = await get(base + "/readyz")
    assert status == 503 and "the listener connection is down" in text
    assert (await get(base + "/healthz"))[0] == 200  # alive, only not ready


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("127.0.0.1:9187", ("127.0.0.1", 9187)), ("[::1]:80", ("::1", 80)), (":9", ("0.0.0.0", 9))],
)
def test_listen_addresses(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["9187", "host:", "host:99999", "host:http"])
def test_bad_listen_addresses_are_refused(listen: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(listen)
