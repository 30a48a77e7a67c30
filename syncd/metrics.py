"""The daemon's Prometheus metrics (SPEC §10): what `/metrics` serves.

Two kinds of figure live here. Counts of what this process did (jobs by outcome,
their durations, extractor restarts) are kept in memory as they happen; the
outcome writer reports a whole batch at once, so a busy worker pays one counter
update per (queue, kind, outcome) and batch, not per job. Figures about the
queues themselves (jobs by status, the oldest due job's wait) belong to the
database, not to this process: they are read when Prometheus scrapes, from a
snapshot query that uses indexes and statistics only, so a scrape costs the same
on ten rows as on ten million.

Each daemon has a registry of its own rather than prometheus-client's global
one, so tests (and two workers in one process) never share counters.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from syncd import logs
from syncd.errors import describe

# Job durations: from a no-op (well under a millisecond) to a long extraction.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass
class QueueSnapshot:
    """What the database says about one queue at scrape time."""

    jobs: Mapping[str, float] = field(default_factory=dict)  # by status
    oldest_due_s: float = 0.0
    paused: Iterable[str] = ()  # kinds paused ("*": the whole queue)


class _Snapshot(Collector):
    """Serves the latest queue snapshot taken for this scrape."""

    def __init__(self) -> None:
        self.queues: dict[str, QueueSnapshot] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "syncd_queue_jobs", "Jobs in the queue by status", labels=["queue", "status"]
        )
        oldest = GaugeMetricFamily(
            "syncd_queue_oldest_due_seconds",
            "How long the oldest due job has been waiting",
            labels=["queue"],
        )
        paused = GaugeMetricFamily(
            "syncd_queue_paused",
            "1 while claims are paused for the queue (kind '*') or one of its kinds",
            labels=["queue", "kind"],
        )
        for name, snap in self.queues.items():
            for status, count in snap.jobs.items():
                jobs.add_metric([name, status], count)
            oldest.add_metric([name], snap.oldest_due_s)
            for kind in snap.paused:
                paused.add_metric([name, kind], 1)
        yield jobs
        yield oldest
        yield paused


class _Durations:
    """One histogram series: how many durations fell in each bucket, and their sum."""

    __slots__ = ("in_bucket", "total")

    def __init__(self) -> None:
        self.in_bucket = [0] * (len(DURATION_BUCKETS) + 1)  # the last: above every bound
        self.total = 0.0


class _Outcomes(Collector):
    """syncd_jobs_total and syncd_job_duration_seconds, counted in plain dicts.

    prometheus-client's Counter and Histogram take a lock and a label lookup per
    call: some 4 µs a job, a few per cent of the daemon's throughput at no-op
    speed. The counts are only ever touched from the event loop's thread (the
    writer and the scrape alike), so no lock is needed, and a batch costs one
    dictionary lookup and one bisect per job.
    """

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str, str], int] = {}
        self.durations: dict[tuple[str, str], _Durations] = {}

    def count(self, queue: str, finished: Iterable[tuple[str, str, float | None]]) -> None:
        jobs, durations = self.jobs, self.durations
        for kind, outcome, seconds in finished:
            counted = (queue, kind, outcome)
            jobs[counted] = jobs.get(counted, 0) + 1
            if seconds is not None:
                series = durations.get((queue, kind))
                if series is None:
                    series = durations[queue, kind] = _Durations()
                series.in_bucket[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
                series.total += seconds

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        jobs = CounterMetricFamily(
            "syncd_jobs",
            "Attempts finished, by queue, kind and outcome",
            labels=["queue", "kind", "outcome"],
        )
        for counted, n in self.jobs.items():
            jobs.add_metric(list(counted), n)
        durations = HistogramMetricFamily(
            "syncd_job_duration_seconds", "How long a job's handler ran", labels=["queue", "kind"]
        )
        for series_of, series in self.durations.items():
            cumulative = list(itertools.accumulate(series.in_bucket))
            buckets = [(_bound(le), n) for le, n in zip(DURATION_BUCKETS, cumulative, strict=False)]
            buckets.append(("+Inf", cumulative[-1]))
            durations.add_metric(list(series_of), buckets, series.total)
        yield jobs
        yield durations


def _bound(le: float) -> str:
    return repr(float(le))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._outcomes = _Outcomes()
        r.register(self._outcomes)
        self.running = Gauge("syncd_running_jobs", "Handlers running now", ["queue"], registry=r)
        self.listener_connected = Gauge(
            "syncd_listener_connected", "1 while the LISTEN connection is up", registry=r
        )
        self.monday_paused = Gauge(
            "syncd_monday_paused_seconds",
            "Seconds left in a monday.com pause in force (0: none)",
            registry=r,
        )
        self.monday_budget = Gauge(
            "syncd_monday_budget_remaining",
            "Complexity points left in monday.com's current budget window",
            registry=r,
        )
        self.extractor_restarts = Counter(
            "syncd_extractor_restarts",
            "Document extractor processes replaced (crashed, killed, recycled)",
            registry=r,
        )
        self.monday_drift = Gauge(
            "syncd_monday_drift",
            "Items found differing from their rows at the last drift reconciliation",
            ["entity_type"],
            registry=r,
        )
        self._snapshot = _Snapshot()
        self._refreshers: list[Callable[[], Awaitable[None]]] = []
        r.register(self._snapshot)

    def outcomes(self, queue: str, finished: Iterable[tuple[str, str, float | None]]) -> None:
        """Count a batch of written outcomes: (kind, outcome, seconds or None) each."""
        self._outcomes.count(queue, finished)

    def watch(self, gauge: Gauge, read: Callable[[], float]) -> None:
        """Read `gauge`'s value from `read` at every scrape."""
        gauge.set_function(read)

    def refresh_with(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """Run `refresh` before every scrape: for gauges whose value lives in the
        database (a monday pause, the last reconcile's drift), so it is read only
        when someone looks."""
        self._refreshers.append(refresh)

    async def refresh(self) -> None:
        """Every refresher at once; one that fails leaves its gauges as they were."""
        if self._refreshers:
            done = await asyncio.gather(*(r() for r in self._refreshers), return_exceptions=True)
            for result in done:
                if isinstance(result, Exception):
                    # Debug only: during an outage every scrape would say it again,
                    # and /readyz and syncd_listener_connected already tell.
                    logs.get().debug("metrics.read_failed", error=describe(result))
                elif isinstance(result, BaseException):
                    raise result

    def render(self, queues: Mapping[str, QueueSnapshot]) -> bytes:
        """The text exposition format, with this scrape's queue snapshot."""
        self._snapshot.queues = dict(queues)
        return generate_latest(self.registry)
