"""The bounded read dispatch uses: jobs blocked on their dependencies must not crowd out ready ones."""

from __future__ import annotations

from ras_core.states import JobState, Source
from ras_platform.state_store import StateStore
from tests.state_store.conftest import recording

INDEPENDENT = ("event-detection", "player-tracking", "ball-tracking")


def test_recordings_blocked_on_dependencies_do_not_starve_ready_ones(store: StateStore) -> None:
    # Many recordings in their first wave: independent jobs scheduled, dependent ones pending, blocked.
    for i in range(5):
        rec = f"rec-busy-{i}"
        store.register_recording(recording(rec))
        store.mark_validated(rec)
        for job in INDEPENDENT:
            store.transition(rec, job, JobState.SCHEDULED, source=Source.DISPATCH)
    store.register_recording(recording("rec-new"))
    store.mark_validated("rec-new")
    store.register_recording(recording("rec-unvalidated"))

    assert store.recordings_with_ready_jobs(limit=1) == ["rec-new"]
    assert store.recordings_with_ready_jobs(limit=10) == ["rec-new"]


def test_a_recording_whose_upstream_completed_is_ready_again(store: StateStore) -> None:
    store.register_recording(recording("rec-wave-2"))
    store.mark_validated("rec-wave-2")
    for job in INDEPENDENT:
        for state in (JobState.SCHEDULED, JobState.SUCCEEDED, JobState.COMPLETED):
            store.transition("rec-wave-2", job, state, source=Source.IMPORT)
    assert store.recordings_with_ready_jobs() == ["rec-wave-2"]

    for job in ("match-details", "shot-details", "match-report", "training-clips"):
        store.transition("rec-wave-2", job, JobState.SCHEDULED, source=Source.DISPATCH)
    assert store.recordings_with_ready_jobs() == []

    store.transition("rec-wave-2", "player-tracking", JobState.PENDING, source=Source.API)  # forced re-run
    assert store.recordings_with_ready_jobs() == ["rec-wave-2"]
