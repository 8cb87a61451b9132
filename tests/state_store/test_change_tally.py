"""Counters folded from the change log (ras_platform.change_tally), on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ras_core.states import JobState, Source
from ras_platform.change_tally import ChangeLogCounter
from ras_platform.state_store import StateStore
from tests.lifecycle_support import lifecycle_for
from tests.state_store.conftest import recording, run_to

LATER = datetime.now(UTC) + timedelta(hours=1)


def test_counts_only_what_happens_after_it_starts(store: StateStore, rec: str) -> None:
    run_to(store, rec, "event-detection", JobState.COMPLETED, "ema-1")
    counter = ChangeLogCounter(store)

    run_to(store, rec, "ball-tracking", JobState.COMPLETED, "ema-2")
    tally = counter.refresh(now=LATER)

    assert tally.transitions[("event-detection", "completed")] == 0
    assert tally.transitions[("ball-tracking", "completed")] == 1
    [latency] = tally.import_latency.values()
    assert latency.count == 1 and latency.buckets[-1] == 1
    assert tally.job_duration["ball-tracking"].count == 1


def test_failures_are_counted_per_attempt_with_their_class(store: StateStore, rec: str) -> None:
    counter = ChangeLogCounter(store)
    run_to(store, rec, "event-detection", JobState.RUNNING, "ema-1")
    store.add_callback(
        rec,
        {
            "job_id": "ema-1",
            "job_kind": "event-detection",
            "job_state": "failed",
            "job_reason": "model crashed",
            "emitted_at": "2026-11-29T09:00:00Z",
        },
    )
    lifecycle_for(store).process_inbox()  # failed, and retried in the same transaction
    run_to(store, rec, "event-detection", JobState.SUCCEEDED, "ema-2")
    store.transition(
        rec, "event-detection", JobState.FAILED, source=Source.IMPORT, reason="events: bad row 3"
    )

    tally = counter.refresh(now=LATER)

    assert tally.failures == {("event-detection", "ema_failed"): 1, ("event-detection", "contract"): 1}
    assert tally.transitions[("event-detection", "failed")] == 2
    assert tally.transitions[("event-detection", "pending")] == 1  # the automatic retry
    assert tally.job_duration == {}  # nothing completed


def test_rows_younger_than_the_settle_time_wait_for_a_later_scrape(store: StateStore, rec: str) -> None:
    counter = ChangeLogCounter(store, settle=timedelta(seconds=30))
    run_to(store, rec, "event-detection", JobState.COMPLETED, "ema-1")

    assert counter.refresh(now=datetime.now(UTC)).transitions[("event-detection", "completed")] == 0
    assert counter.refresh(now=LATER).transitions[("event-detection", "completed")] == 1
    assert counter.refresh(now=LATER).transitions[("event-detection", "completed")] == 1  # counted once


def test_callback_outcomes_come_from_the_rows_the_inbox_wrote(store: StateStore, rec: str) -> None:
    store.register_recording(recording("rec-002"))
    run_to(store, rec, "event-detection", JobState.SCHEDULED, "ema-1")
    counter = ChangeLogCounter(store)
    for job_id, state in (("ema-1", "running"), ("ema-old", "failed"), ("ema-1", "running")):
        store.add_callback(
            rec,
            {
                "job_id": job_id,
                "job_kind": "event-detection",
                "job_state": state,
                # one emission per (job, state): the repeated one is a duplicate
                "emitted_at": f"2026-11-23T12:00:{len(job_id + state):02d}Z",
            },
        )
    lifecycle_for(store).process_inbox()

    tally = counter.refresh(now=LATER)

    assert tally.callbacks == {"applied": 1, "stale": 1}
