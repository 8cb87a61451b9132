"""The registry and the state machine as the store applies and records it, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ras_core import catalogue
from ras_core.states import JobState, Outcome, Source
from ras_platform.state_store import StateStore, UnknownRecording
from tests.lifecycle_support import answer_trigger

from .conftest import recording, run_to

PT = "player-tracking"


def test_register_creates_one_pending_job_per_catalogue_entry(store: StateStore) -> None:
    assert store.register_recording(recording()) is True
    states = store.job_states("rec-001")
    assert [s.job_type for s in states] == list(catalogue.job_type_names())
    assert {(s.state, s.attempt, s.ema_job_id, s.reason) for s in states} == {
        (JobState.PENDING, 1, None, None)
    }
    assert store.change_log("rec-001") == []  # creation is not a change


def test_register_is_idempotent_and_replaces_changed_metadata(store: StateStore, rec: str) -> None:
    store.mark_validated(rec)
    assert store.register_recording(recording()) is False
    assert store.is_validated(rec)  # equal metadata: nothing changes
    assert store.register_recording(recording(fps=50.0)) is False
    assert store.get_recording(rec) == recording(fps=50.0)
    assert not store.is_validated(rec)  # new metadata must be validated again


def test_a_recording_with_its_jobs_in_one_read(store: StateStore, rec: str) -> None:
    store.transition(rec, PT, JobState.SCHEDULED, source=Source.DISPATCH)
    found = store.recording_with_jobs(rec)
    assert found is not None
    meta, jobs = found
    assert meta == store.get_recording(rec)
    assert jobs == {status.job_type: status for status in store.job_states(rec)}
    assert jobs[PT] == store.job_status(rec, PT) and jobs[PT].state is JobState.SCHEDULED


def test_unknown_recordings(store: StateStore) -> None:
    assert store.get_recording("nope") is None
    assert store.recording_with_jobs("nope") is None
    assert not store.recording_exists("nope")
    assert store.job_states("nope") == []
    with pytest.raises(UnknownRecording):
        store.transition("nope", PT, JobState.SCHEDULED, source=Source.DISPATCH)
    with pytest.raises(KeyError, match="unknown job type"):
        store.transition("nope", "goal-detection", JobState.SCHEDULED, source=Source.DISPATCH)


def test_legal_path_is_applied_and_logged_with_its_sources(store: StateStore, rec: str) -> None:
    run_to(store, rec, PT, JobState.COMPLETED, "ema-1")
    status = store.job_status(rec, PT)
    assert (status.state, status.attempt, status.ema_job_id) == (JobState.COMPLETED, 1, "ema-1")
    log = store.change_log(rec)
    assert [e.version for e in log] == list(range(1, len(log) + 1))
    assert [(e.from_state.value, e.to_state.value, e.source.value) for e in log] == [
        ("pending", "scheduled", "dispatch"),
        ("scheduled", "scheduled", "dispatch"),  # EMA job id recorded
        ("scheduled", "starting", "callback"),
        ("starting", "running", "callback"),
        ("running", "succeeded", "callback"),
        ("succeeded", "completed", "import"),
    ]
    assert {e.outcome for e in log} == {Outcome.APPLIED}
    assert log[-1].at == status.updated_at


def test_illegal_transition_is_recorded_not_applied(store: StateStore, rec: str) -> None:
    run_to(store, rec, PT, JobState.RUNNING, "ema-1")
    result = store.transition(rec, PT, JobState.STARTING, source=Source.CALLBACK)
    assert result.decision.outcome is Outcome.ILLEGAL
    assert store.job_status(rec, PT).state is JobState.RUNNING
    assert result.status == store.job_status(rec, PT)
    entry = store.change_log(rec)[-1]
    assert (entry.outcome, entry.from_state, entry.to_state) == (
        Outcome.ILLEGAL,
        JobState.RUNNING,
        JobState.RUNNING,
    )
    assert entry.reason == "illegal transition running → starting"


def test_duplicate_is_recorded_and_changes_nothing(store: StateStore, rec: str) -> None:
    first = store.transition(rec, PT, JobState.SCHEDULED, source=Source.DISPATCH)
    again = store.transition(rec, PT, JobState.SCHEDULED, source=Source.DISPATCH)
    assert again.decision.outcome is Outcome.DUPLICATE
    assert again.status == first.status  # updated_at untouched
    assert [e.outcome for e in store.change_log(rec)] == [Outcome.APPLIED, Outcome.DUPLICATE]


def test_retry_after_failure_counts_an_attempt_and_clears_the_ema_job(store: StateStore, rec: str) -> None:
    run_to(store, rec, PT, JobState.RUNNING, "ema-1")
    failed = store.transition(rec, PT, JobState.FAILED, source=Source.CALLBACK, reason="exit code 3")
    assert (failed.status.reason, failed.status.ema_job_id) == ("exit code 3", "ema-1")
    retry = store.transition(rec, PT, JobState.PENDING, source=Source.API, reason="retry requested")
    assert (retry.status.state, retry.status.attempt) == (JobState.PENDING, 2)
    assert (retry.status.ema_job_id, retry.status.reason) == (None, None)
    assert retry.entry.reason == "retry requested"  # the why stays in the log
    assert store.jobs_in_state(JobState.PENDING, limit=100)[-1] == retry.status


def test_forced_rerun_moves_completed_back_to_pending(store: StateStore, rec: str) -> None:
    run_to(store, rec, PT, JobState.COMPLETED, "ema-1")
    result = store.transition(rec, PT, JobState.PENDING, source=Source.API, reason="forced re-run")
    assert result.decision.applied
    assert (result.status.state, result.status.attempt) == (JobState.PENDING, 2)


def test_record_ema_job_id_only_for_the_current_attempt(store: StateStore, rec: str) -> None:
    assert not answer_trigger(store, rec, PT, 1, "ema-1")  # still pending: no trigger yet
    store.transition(rec, PT, JobState.SCHEDULED, source=Source.DISPATCH)
    assert not answer_trigger(store, rec, PT, 2, "ema-1")  # a future attempt
    assert answer_trigger(store, rec, PT, 1, "ema-1")
    assert answer_trigger(store, rec, PT, 1, "ema-1")  # idempotent, logged once
    assert not answer_trigger(store, rec, PT, 1, "ema-other")  # first id wins
    assert store.job_status(rec, PT).ema_job_id == "ema-1"
    assert len(store.change_log(rec)) == 2


def test_jobs_in_state_lists_oldest_first_and_respects_the_limit(store: StateStore) -> None:
    for name in ("rec-a", "rec-b"):
        store.register_recording(recording(name))
    store.transition("rec-a", PT, JobState.SCHEDULED, source=Source.DISPATCH)
    scheduled = store.jobs_in_state(JobState.SCHEDULED)
    assert [(s.recording_id, s.job_type) for s in scheduled] == [("rec-a", PT)]
    pending = store.jobs_in_state(JobState.PENDING, limit=3)
    assert len(pending) == 3
    assert [s.updated_at for s in pending] == sorted(s.updated_at for s in pending)


def test_change_log_pages_by_version(store: StateStore, rec: str) -> None:
    run_to(store, rec, PT, JobState.COMPLETED, "ema-1")
    page = store.change_log(rec, after_version=2, limit=2)
    assert [e.version for e in page] == [3, 4]
