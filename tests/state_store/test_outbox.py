"""Domain events are written with the completing transition, exactly once per materialization."""

from __future__ import annotations

from ras_core import catalogue, domain_events
from ras_core.states import JobState, Source
from ras_platform.state_store import StateStore

from .conftest import run_to


def test_completing_a_job_with_a_domain_event_writes_it_once(store: StateStore, rec: str) -> None:
    run_to(store, rec, "event-detection", JobState.COMPLETED, "ema-1")
    store.transition(rec, "event-detection", JobState.COMPLETED, source=Source.IMPORT)  # duplicate
    [event] = store.pending_events()
    assert event.detail_type == "EventDetectionProcessedV1"
    assert event.event_id == domain_events.event_id(rec, "event-detection", 1, "EventDetectionProcessedV1")
    assert event.detail == {
        "recording_id": rec,
        "event_id": event.event_id,
        "occurred_at": store.job_status(rec, "event-detection").updated_at.isoformat().replace("+00:00", "Z"),
        "job_type": "event-detection",
        "attempt": 1,
        "links": {"analytics": f"/recordings/{rec}/analytics", "events": f"/recordings/{rec}/events"},
    }


def test_jobs_without_a_domain_event_write_none(store: StateStore, rec: str) -> None:
    run_to(store, rec, "ball-tracking", JobState.COMPLETED, "ema-1")
    assert store.pending_events() == []


def test_a_rerun_is_a_new_materialization_with_a_new_event(store: StateStore, rec: str) -> None:
    run_to(store, rec, "shot-details", JobState.COMPLETED, "ema-1")
    store.transition(rec, "shot-details", JobState.PENDING, source=Source.API, reason="forced re-run")
    run_to(store, rec, "shot-details", JobState.COMPLETED, "ema-2")
    assert [e.detail["attempt"] for e in store.pending_events()] == [1, 2]


def test_recording_processed_once_every_job_is_completed(store: StateStore, rec: str) -> None:
    names = catalogue.job_type_names()
    for i, name in enumerate(names):
        run_to(store, rec, name, JobState.COMPLETED, f"ema-{i}")
        processed = [e for e in store.pending_events() if e.detail_type == catalogue.ALL_PROCESSED_EVENT]
        assert len(processed) == (1 if name == names[-1] else 0)
    store.transition(rec, names[-1], JobState.COMPLETED, source=Source.IMPORT)
    [processed] = [e for e in store.pending_events() if e.detail_type == catalogue.ALL_PROCESSED_EVENT]
    assert processed.detail["links"] == {
        endpoint: f"/recordings/{rec}/{endpoint}" for endpoint in domain_events.DELIVERY_ENDPOINTS
    }
    assert len(store.pending_events()) == 4  # three per-job events and the recording's


def test_published_events_leave_the_queue_and_failures_are_counted(store: StateStore, rec: str) -> None:
    run_to(store, rec, "event-detection", JobState.COMPLETED, "ema-1")
    run_to(store, rec, "match-report", JobState.COMPLETED, "ema-2")
    first, second = store.pending_events()
    store.mark_publish_failed([first.event_id])
    store.mark_publish_failed([first.event_id])
    store.mark_published([second.event_id])
    [left] = store.pending_events()
    assert (left.event_id, left.attempts) == (first.event_id, 2)
    store.mark_published([first.event_id])
    assert store.pending_events() == []
