"""Rebuilding the projection from the change log, and copying a recording's state (POST duplicate)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ras_core.states import JobState, Source
from ras_platform.state_store import RecordingBusy, StateStore, UnknownRecording

from .conftest import recording, run_to


def _busy_history(store: StateStore, rec: str) -> None:
    run_to(store, rec, "event-detection", JobState.COMPLETED, "ema-1")
    run_to(store, rec, "player-tracking", JobState.RUNNING, "ema-2")
    store.transition(rec, "player-tracking", JobState.FAILED, source=Source.CALLBACK, reason="exit code 3")
    store.transition(rec, "player-tracking", JobState.PENDING, source=Source.API, reason="retry requested")
    run_to(store, rec, "ball-tracking", JobState.SCHEDULED, "ema-3")
    store.transition(rec, "ball-tracking", JobState.COMPLETED, source=Source.IMPORT)  # illegal, ignored
    store.transition(rec, "match-report", JobState.FAILED, source=Source.DISPATCH, reason="EMA refused")


def test_rebuild_equals_the_live_projection(store: StateStore, rec: str) -> None:
    _busy_history(store, rec)
    live = store.job_states(rec)
    assert store.rebuild_projection(rec) == live
    assert store.job_states(rec) == live


def test_rebuild_repairs_a_damaged_projection(store: StateStore, rec: str) -> None:
    _busy_history(store, rec)
    live = store.job_states(rec)
    # Simulate a projection gone wrong (a bug, a manual edit): the log is the source of truth.
    store.rebuild_projection(rec)
    with store._engine.begin() as conn:  # deliberately bypassing the store
        conn.exec_driver_sql("UPDATE job_states SET state = 'completed', ema_job_id = 'bogus'")
    assert store.rebuild_projection(rec) == live


def test_rebuild_of_an_unknown_recording(store: StateStore) -> None:
    with pytest.raises(UnknownRecording):
        store.rebuild_projection("nope")


def test_copy_gives_a_new_recording_the_same_job_states(store: StateStore, rec: str) -> None:
    run_to(store, rec, "event-detection", JobState.COMPLETED, "ema-1")
    store.transition(rec, "match-report", JobState.FAILED, source=Source.DISPATCH, reason="EMA refused")
    store.mark_validated(rec)
    store.copy_recording_state(rec, "rec-copy")
    # Same match, same videos: only the id differs.
    assert store.get_recording("rec-copy") == replace(recording(), recording_id="rec-copy")
    assert store.is_validated("rec-copy")
    copied = {s.job_type: s for s in store.job_states("rec-copy")}
    source = {s.job_type: s for s in store.job_states(rec)}
    for job_type, status in copied.items():
        assert (status.state, status.attempt, status.ema_job_id) == (
            source[job_type].state,
            source[job_type].attempt,
            source[job_type].ema_job_id,
        )
    assert copied["match-report"].reason == "EMA refused"
    assert copied["event-detection"].reason == f"copied from recording {rec}"
    log = store.change_log("rec-copy")
    assert {e.source for e in log} == {Source.API} and len(log) == 2  # untouched pending jobs need no row
    store.copy_recording_state(rec, "rec-copy")
    assert len(store.change_log("rec-copy")) == 2  # repeating the copy changes nothing
    assert store.rebuild_projection("rec-copy") == store.job_states("rec-copy")


def test_copy_is_refused_while_jobs_are_in_flight(store: StateStore, rec: str) -> None:
    run_to(store, rec, "event-detection", JobState.RUNNING, "ema-1")
    with pytest.raises(RecordingBusy, match="event-detection"):
        store.copy_recording_state(rec, "rec-copy")
    assert not store.recording_exists("rec-copy")  # the whole copy rolled back
    with pytest.raises(UnknownRecording):
        store.copy_recording_state("nope", "rec-copy")
