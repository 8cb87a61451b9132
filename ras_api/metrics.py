"""Prometheus metrics at `GET /metrics` (contracts.md, "Alerts"; alert rules in deploy/prometheus/).

Two kinds of figures:
- this process's own: HTTP requests and their latency per route (delivery latency), callbacks
  received, and the process collector's CPU and memory;
- the platform's, read from the state store at scrape time because the processes that change them
  (Dagster sensors and runs) are not scraped: jobs per type and state, the inbox's and outbox's
  backlog and age, and counters folded from the change log (`ras_platform.change_tally`).
The state-store figures are cached for `READ_TTL_S`, so several scrapers cost one read.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from ras_api.exchange import Exchange, call_noting_exchange
from ras_core import catalogue
from ras_core.failures import FailureClass
from ras_core.states import JobState, Outcome
from ras_platform.change_tally import IMPORT_BUCKETS, JOB_BUCKETS, SETTLE, ChangeLogCounter, ChangeTally
from ras_platform.change_tally import Histogram as TallyHistogram
from ras_platform.db.readings import OperationsReading, QueueReading
from ras_platform.state_store import StateStore, read_operations

READ_TTL_S = 5.0
# prometheus_client's multiprocess mode: read when the first metric is built, so set before import.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
CALLBACK_ROUTE = "/recordings/{recording_id}/jobs/callback"
# Delivery answers in milliseconds from cache, up to seconds for a long tracking window.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PlatformCollector(Collector):
    """The state store's figures, read at scrape time."""

    def __init__(
        self, store: Callable[[], StateStore], *, ttl_s: float = READ_TTL_S, settle: timedelta = SETTLE
    ) -> None:
        # A callable: the store is opened on the first scrape, not when the app is built.
        self._store = store
        self._ttl_s = ttl_s
        self._settle = settle
        self._lock = threading.Lock()
        self._changes: ChangeLogCounter | None = None
        self._cached: tuple[float, OperationsReading, ChangeTally] | None = None

    def _read(self) -> tuple[OperationsReading, ChangeTally]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self._ttl_s:
                # Started on the first scrape, not with the app: counting starts when someone looks.
                store = self._store()
                self._changes = self._changes or ChangeLogCounter(store, settle=self._settle)
                self._cached = (now, read_operations(store), self._changes.refresh())
            return self._cached[1], self._cached[2]

    def collect(self) -> Iterator[Metric]:
        reading, tally = self._read()
        yield from _job_gauges(reading)
        yield from _queue_gauges("inbox", "EMA callbacks in the inbox not yet applied", reading.inbox)
        yield from _queue_gauges("outbox", "domain events in the outbox not yet published", reading.outbox)
        quarantined = GaugeMetricFamily(
            "ras_quarantined",
            "Inbox and outbox rows set aside after repeated failures (dead letters); `ras redrive` "
            "puts them back once fixed.",
            labels=["source"],
        )
        for source, count in sorted(reading.quarantined.items()):
            quarantined.add_metric([source], count)
        yield quarantined
        yield from _tally_counters(tally)
        yield _histograms(
            "ras_import_latency_seconds",
            "From EMA's succeeded callback applied to the job completed: the wait for an import run "
            "and the import itself.",
            tally.import_latency,
            [job.name for job in catalogue.JOB_TYPES if job.is_ema],
            IMPORT_BUCKETS,
        )
        yield _histograms(
            "ras_job_duration_seconds",
            "From a job attempt scheduled to completed (EMA's work, callbacks and the import).",
            tally.job_duration,
            catalogue.job_type_names(),
            JOB_BUCKETS,
        )


def _job_gauges(reading: OperationsReading) -> Iterator[Metric]:
    jobs = GaugeMetricFamily(
        "ras_jobs", "Jobs per type and state (the projection).", labels=["job_type", "state"]
    )
    for job_type in catalogue.job_type_names():
        for state in JobState:
            jobs.add_metric([job_type, state.value], reading.jobs.get((job_type, state.value), 0))
    yield jobs


def _queue_gauges(name: str, what: str, queue: QueueReading) -> Iterator[Metric]:
    yield GaugeMetricFamily(f"ras_{name}_waiting", f"Number of {what}.", value=queue.waiting)
    age = 0.0 if queue.oldest_at is None else (datetime.now(UTC) - queue.oldest_at).total_seconds()
    yield GaugeMetricFamily(
        f"ras_{name}_lag_seconds", f"Age of the oldest of the {what}; 0 when none waits.", value=max(age, 0.0)
    )


def _tally_counters(tally: ChangeTally) -> Iterator[Metric]:
    # Every series is present from the first scrape, zero or not: `increase()` then sees its first
    # event, and a ratio in an alert rule has a denominator.
    job_types = catalogue.job_type_names()
    transitions = CounterMetricFamily(
        "ras_job_transitions",
        "Applied job state transitions, by job type and target state (from the change log).",
        labels=["job_type", "to_state"],
    )
    for job_type in job_types:
        for state in JobState:
            transitions.add_metric([job_type, state.value], tally.transitions[(job_type, state.value)])
    yield transitions
    failures = CounterMetricFamily(
        "ras_job_failures",
        "Failed job attempts, by job type and failure class (ras_core.failures).",
        labels=["job_type", "reason_class"],
    )
    for job_type in job_types:
        for failure_class in FailureClass:
            failures.add_metric(
                [job_type, failure_class.value], tally.failures[(job_type, failure_class.value)]
            )
    yield failures
    callbacks = CounterMetricFamily(
        "ras_callbacks_processed",
        "Inbox callbacks the callback sensor handled, by outcome (applied, duplicate, illegal, stale).",
        labels=["outcome"],
    )
    for outcome in Outcome:
        callbacks.add_metric([outcome.value], tally.callbacks[outcome.value])
    yield callbacks


def _histograms(
    name: str,
    documentation: str,
    histograms: dict[str, TallyHistogram],
    job_types: list[str],
    bounds: tuple[float, ...],
) -> Metric:
    family = HistogramMetricFamily(name, documentation, labels=["job_type"])
    for job_type in job_types:
        histogram = histograms.get(job_type) or TallyHistogram(bounds)
        edges = [*(str(bound) for bound in histogram.bounds), "+Inf"]
        family.add_metric([job_type], list(zip(edges, histogram.buckets, strict=True)), histogram.total)
    return family


class HttpFigures:
    """This process's HTTP figures: requests and their latency per route template (never the raw
    path, which holds recording ids), and EMA callbacks received by answer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "ras_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "ras_http_request_duration_seconds",
            "Time to answer an HTTP request (to the last body byte), by route template and method.",
            ["route", "method"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.callbacks = Counter(
            "ras_callbacks_received",
            "EMA callbacks received by this API process, by answer (accepted = in the inbox).",
            ["result"],
            registry=registry,
        )

    def observe(self, route: str, method: str, status: int, elapsed: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(elapsed)
        if route == CALLBACK_ROUTE and method == "POST":
            self.callbacks.labels("accepted" if status == 202 else "rejected").inc()


class HttpMetrics:
    """Pure ASGI middleware feeding `HttpFigures` (cheaper than a BaseHTTPMiddleware per request)."""

    def __init__(self, app: Any, figures: HttpFigures) -> None:
        self.app = app
        self.figures = figures

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await call_noting_exchange(self.app, scope, receive, send, self._observe)

    def _observe(self, exchange: Exchange) -> None:
        self.figures.observe(exchange.route, exchange.method, exchange.status, exchange.elapsed_s)


def install_metrics(app: FastAPI, store: Callable[[], StateStore]) -> CollectorRegistry:
    """Add the middleware and `GET /metrics`; one registry per app (tests build many apps).

    Under several API workers (`python -m ras_api` sets `PROMETHEUS_MULTIPROC_DIR`), each worker
    writes its HTTP figures to files in that directory and a scrape, whichever worker answers it,
    sums every worker's: one worker's own counters would jump between scrapes.
    """
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_DIR_ENV):
        MultiProcessCollector(registry)
        app.add_middleware(HttpMetrics, figures=HttpFigures(CollectorRegistry()))  # values go to files
    else:
        ProcessCollector(registry=registry)
        app.add_middleware(HttpMetrics, figures=HttpFigures(registry))
    registry.register(PlatformCollector(store))

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    return registry
