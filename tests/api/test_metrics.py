"""GET /metrics: this process's HTTP figures and the state store's, in Prometheus' text format."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from ras_api.metrics import PlatformCollector
from ras_core.states import JobState, Source
from ras_platform.logs import JsonFormatter
from tests.api.conftest import EMA, RECORDING_ID, RUNNING_ID, Api


def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = api.client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_jobs_by_type_and_state_come_from_the_state_store(api: Api) -> None:
    samples = scrape(api)

    # rec-api has every job completed; rec-running has player-tracking running; rec-pending nothing.
    assert value(samples, "ras_jobs", job_type="event-detection", state="completed") == 1
    assert value(samples, "ras_jobs", job_type="player-tracking", state="running") == 1
    assert value(samples, "ras_jobs", job_type="player-tracking", state="pending") == 1
    assert value(samples, "ras_jobs", job_type="match-report", state="failed") == 0
    assert value(samples, "ras_inbox_waiting") == 0 and value(samples, "ras_inbox_lag_seconds") == 0


def test_a_callback_is_counted_received_and_waits_in_the_inbox(api: Api) -> None:
    body = {
        "job_id": "ema-1",
        "job_kind": "player-tracking",
        "job_state": "succeeded",
        "emitted_at": "2026-11-23T12:00:00Z",
    }
    assert (
        api.client.post(f"/recordings/{RUNNING_ID}/jobs/callback", json=body, headers=EMA).status_code == 202
    )
    assert api.client.post(f"/recordings/{RUNNING_ID}/jobs/callback", json=body).status_code == 401

    samples = scrape(api)

    assert value(samples, "ras_callbacks_received_total", result="accepted") == 1
    assert value(samples, "ras_callbacks_received_total", result="rejected") == 1
    assert value(samples, "ras_inbox_waiting") == 1 and value(samples, "ras_inbox_lag_seconds") >= 0


def test_delivery_latency_is_measured_per_route_template_not_per_recording(api: Api) -> None:
    for _ in range(3):
        assert api.get(f"{RECORDING_ID}/events").status_code == 200
    assert api.get("rec-nobody/events").status_code == 404

    samples = scrape(api)

    route = "/recordings/{recording_id}/events"
    assert value(samples, "ras_http_request_duration_seconds_count", route=route, method="GET") == 4
    assert value(samples, "ras_http_requests_total", route=route, method="GET", status="200") == 3
    assert value(samples, "ras_http_requests_total", route=route, method="GET", status="404") == 1
    assert not [key for key in samples if RECORDING_ID in str(key)]


def test_counters_of_other_processes_start_at_zero_for_every_series(api: Api) -> None:
    samples = scrape(api)

    # Zero before anything happened, so `increase()` sees the first event and ratios have a denominator.
    assert value(samples, "ras_job_failures_total", job_type="match-report", reason_class="contract") == 0
    assert value(samples, "ras_job_transitions_total", job_type="event-detection", to_state="completed") == 0
    assert value(samples, "ras_callbacks_processed_total", outcome="stale") == 0
    assert value(samples, "ras_import_latency_seconds_count", job_type="ball-tracking") == 0
    assert value(samples, "ras_job_duration_seconds_bucket", job_type="training-clips", le="+Inf") == 0
    assert value(samples, "process_resident_memory_bytes") > 0


def test_failures_made_by_other_processes_appear_on_the_next_scrape(api: Api) -> None:
    store = api.platform.state_store
    collector = PlatformCollector(lambda: store, ttl_s=0, settle=timedelta(0))
    registry = CollectorRegistry()
    registry.register(collector)
    list(registry.collect())  # the first scrape starts counting from the newest change
    store.transition(
        RUNNING_ID, "player-tracking", JobState.FAILED, source=Source.CALLBACK, reason="EMA: OOM"
    )

    assert (
        registry.get_sample_value(
            "ras_job_failures_total", {"job_type": "player-tracking", "reason_class": "ema_failed"}
        )
        == 1
    )
    assert registry.get_sample_value("ras_jobs", {"job_type": "player-tracking", "state": "failed"}) == 1


def test_each_request_logs_one_json_line_with_its_recording(api: Api) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ras.api")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        assert api.get(f"{RECORDING_ID}/events").status_code == 200
    finally:
        logger.removeHandler(handler)

    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["recording_id"] == RECORDING_ID and line["status"] == 200
    assert line["route"] == "/recordings/{recording_id}/events" and line["level"] == "info"
    assert {"job_type", "attempt", "run_id"} <= set(line)


def test_quarantined_rows_are_counted_per_source(api: Api) -> None:
    store = api.platform.state_store
    body = {
        "job_id": "x",
        "job_kind": "player-tracking",
        "job_state": "running",
        "emitted_at": "2026-11-23T12:00:00Z",
    }
    inbox_id, _ = store.add_callback(RUNNING_ID, body)
    store.dead_letters.quarantine_now("callback_inbox", inbox_id, RUNNING_ID, "cannot be applied")

    samples = scrape(api)

    assert value(samples, "ras_quarantined", source="callback_inbox") == 1
    assert value(samples, "ras_quarantined", source="outbox") == 0
