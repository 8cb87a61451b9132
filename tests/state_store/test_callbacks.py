"""The durable callback inbox and how callbacks become changes (stale, early, repeated)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, update
from sqlalchemy.pool import NullPool

from ras_core.lifecycle import DEFER_LIMIT, Dispatch, RetryPolicy, decide_next
from ras_core.states import JobState, Outcome, Source
from ras_platform.db import sql
from ras_platform.db.engine import normalise_url
from ras_platform.db.schema import callback_inbox
from ras_platform.db.sql import now
from ras_platform.state_store import InvalidCallback, StateStore, UnknownRecording
from tests.lifecycle_support import answer_trigger, lifecycle_for

from .conftest import run_to

PT = "player-tracking"
LAST_ATTEMPT = RetryPolicy(max_attempts=1)


def callback(job_id: str, job_state: str, emitted_at: str = "2026-11-23T12:00:00Z", **extra: Any) -> dict:
    return {
        "job_id": job_id,
        "job_kind": PT,
        "job_state": job_state,
        "job_exit_code": None,
        "job_reason": None,
        "emitted_at": emitted_at,
        **extra,
    }


def test_duplicate_callback_is_acknowledged_and_stored_once(store: StateStore, rec: str) -> None:
    first = store.add_callback(rec, callback("ema-1", "running"))
    again = store.add_callback(rec, callback("ema-1", "running"))
    assert first == (first[0], False)
    assert again == (first[0], True)
    other = store.add_callback(rec, callback("ema-1", "running", emitted_at="2026-11-23T12:00:05Z"))
    assert other[1] is False and other[0] != first[0]  # a new emission is a new row
    assert [c.id for c in store.pending_callbacks()] == [first[0], other[0]]


def test_invalid_or_unknown_callbacks_are_refused(store: StateStore, rec: str) -> None:
    with pytest.raises(InvalidCallback) as invalid:
        store.add_callback(rec, {"job_id": "", "job_kind": "goal-detection", "job_state": "done"})
    assert len(invalid.value.problems) == 4
    with pytest.raises(UnknownRecording):
        store.add_callback("nope", callback("ema-1", "running"))


def test_callback_applies_once_and_marks_the_row_processed(store: StateStore, rec: str) -> None:
    run_to(store, rec, PT, JobState.SCHEDULED, "ema-1")
    store.add_callback(rec, callback("ema-1", "running"))
    [pending] = store.pending_callbacks()
    plan = lifecycle_for(store).apply_callback(pending)
    assert plan is not None and plan.outcome is Outcome.APPLIED
    assert store.job_status(rec, PT).state is JobState.RUNNING
    assert store.change_log(rec)[-1].source is Source.CALLBACK
    assert lifecycle_for(store).apply_callback(pending) is None  # idempotent: already processed
    assert store.pending_callbacks() == []
    assert len(store.change_log(rec)) == 3


def test_failed_callback_carries_reason_and_exit_code(store: StateStore, rec: str) -> None:
    run_to(store, rec, PT, JobState.RUNNING, "ema-1")
    store.add_callback(rec, callback("ema-1", "failed", job_reason="out of memory", job_exit_code=137))
    lifecycle_for(store, policy=LAST_ATTEMPT).apply_callback(store.pending_callbacks()[0])
    status = store.job_status(rec, PT)
    assert (status.state, status.reason) == (JobState.FAILED, "out of memory; exit code 137")
    assert store.change_log(rec)[-1].reason_class == "ema_failed"


def test_stale_callback_is_recorded_not_applied(store: StateStore, rec: str) -> None:
    run_to(store, rec, PT, JobState.RUNNING, "ema-2")
    store.add_callback(rec, callback("ema-1", "succeeded"))
    plan = lifecycle_for(store).apply_callback(store.pending_callbacks()[0])
    assert plan is not None and plan.outcome is Outcome.STALE
    assert store.job_status(rec, PT).state is JobState.RUNNING
    entry = store.change_log(rec)[-1]
    assert (entry.outcome, entry.ema_job_id, entry.source) == (Outcome.STALE, "ema-1", Source.CALLBACK)
    assert store.pending_callbacks() == []


def test_early_callback_waits_for_the_ema_job_id(store: StateStore, rec: str) -> None:
    store.transition(rec, PT, JobState.SCHEDULED, source=Source.DISPATCH)
    store.add_callback(rec, callback("ema-1", "running"))  # EMA answered the callback before the trigger
    [early] = store.pending_callbacks()
    assert lifecycle_for(store).apply_callback(early) is None
    assert store.pending_callbacks() == [early]  # left for the next tick, nothing logged
    assert len(store.change_log(rec)) == 1
    answer_trigger(store, rec, PT, 1, "ema-1")
    assert lifecycle_for(store).apply_callback(early) is not None
    assert store.job_status(rec, PT).state is JobState.RUNNING


def test_early_callback_turns_stale_after_the_defer_limit(store: StateStore, rec: str) -> None:
    store.transition(rec, PT, JobState.SCHEDULED, source=Source.DISPATCH)
    store.add_callback(rec, callback("ema-1", "running"))
    _age_inbox(store, DEFER_LIMIT)
    plan = lifecycle_for(store).apply_callback(store.pending_callbacks()[0])
    assert plan is not None and plan.outcome is Outcome.STALE


def _age_inbox(store: StateStore, by: timedelta) -> None:
    engine = create_engine(normalise_url(store.url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(update(callback_inbox).values(received_at=now() - by - timedelta(seconds=1)))
    finally:
        engine.dispose()


def test_row_committed_late_with_a_lower_id_is_still_seen(store: StateStore, rec: str) -> None:
    """A slow API process reserves an id, another commits a higher one first; neither is skipped."""
    engine = create_engine(normalise_url(store.url), poolclass=NullPool)
    row = {
        "recording_id": rec,
        "job_id": "ema-1",
        "job_kind": PT,
        "job_state": "running",
        "payload": callback("ema-1", "running", emitted_at="slow"),
        "dedupe_key": "slow",
        "received_at": now(),
    }
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as slow:
                slow_id = slow.execute(
                    insert(callback_inbox).values(row).returning(callback_inbox.c.id)
                ).scalar()
                fast_id, _ = store.add_callback(rec, callback("ema-1", "starting"))
                _process_all(store)  # the sensor ticks while the slow transaction is open
        else:
            # SQLite admits one writer at a time, so an id can only be late by being given explicitly.
            fast_id, _ = store.add_callback(rec, callback("ema-1", "starting"))
            _process_all(store)
            slow_id = fast_id - 1 if fast_id > 1 else 0
            with engine.begin() as slow:
                slow.execute(insert(callback_inbox).values(id=slow_id, **row))
        assert slow_id < fast_id
        assert [c.id for c in store.pending_callbacks()] == [slow_id]
    finally:
        engine.dispose()


def _process_all(store: StateStore) -> None:
    _age_inbox(store, DEFER_LIMIT)
    for pending in store.pending_callbacks():
        lifecycle_for(store).apply_callback(pending)


def test_failed_callback_with_attempts_left_is_retried_in_the_same_transaction(
    store: StateStore, rec: str
) -> None:
    run_to(store, rec, PT, JobState.RUNNING, "ema-1")
    store.add_callback(rec, callback("ema-1", "failed", job_reason="out of memory"))
    plan = lifecycle_for(store).apply_callback(store.pending_callbacks()[0])
    assert plan is not None
    assert [c.decision.to_state for c in plan.changes] == [JobState.FAILED, JobState.PENDING]
    status = store.job_status(rec, PT)
    assert (status.state, status.attempt) == (JobState.PENDING, 2)
    failed, retried = store.change_log(rec)[-2:]
    assert (failed.to_state, failed.reason) == (JobState.FAILED, "out of memory")
    assert (retried.from_state, retried.to_state, retried.reason) == (
        JobState.FAILED,
        JobState.PENDING,
        "retry 2/3 after ema_failed: out of memory",
    )
    assert (failed.reason_class, retried.reason_class) == ("ema_failed", "ema_failed")
    assert store.rebuild_projection(rec)[1] == store.job_status(rec, PT)


def test_a_retry_waits_for_its_backoff_before_dispatch(store: StateStore, rec: str) -> None:
    store.mark_validated(rec)
    run_to(store, rec, PT, JobState.RUNNING, "ema-1")
    store.add_callback(rec, callback("ema-1", "failed", job_reason="out of memory"))
    patient = lifecycle_for(store, policy=RetryPolicy(max_attempts=3, backoff_s=600.0))
    patient.apply_callback(store.pending_callbacks()[0])
    status = store.job_status(rec, PT)
    assert status.state is JobState.PENDING and status.not_before is not None
    assert store.rebuild_projection(rec)[1] == status  # the backoff survives a replay
    assert PT not in {ref.job_type for ref in patient.dispatch().ema_jobs}
    later = status.not_before + timedelta(seconds=1)
    jobs = {s.job_type: s for s in store.job_states(rec)}
    assert (PT, 2) in decide_next(jobs, Dispatch(), policy=RetryPolicy(), now=later).trigger


def test_last_attempt_stays_failed(store: StateStore, rec: str) -> None:
    run_to(store, rec, PT, JobState.RUNNING, "ema-1")
    store.add_callback(rec, callback("ema-1", "failed", job_reason="bad video"))
    lifecycle_for(store, policy=LAST_ATTEMPT).apply_callback(store.pending_callbacks()[0])
    status = store.job_status(rec, PT)
    assert (status.state, status.reason) == (JobState.FAILED, "bad video")


def test_crash_while_writing_the_retry_loses_the_failure_too(
    store: StateStore, rec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure and retry commit together: a crash between them leaves the callback to apply again,
    never a job failed with attempts to spare."""
    run_to(store, rec, PT, JobState.RUNNING, "ema-1")
    store.add_callback(rec, callback("ema-1", "failed", job_reason="out of memory"))
    before = store.change_log(rec)
    real_append = sql.append_change

    def crash_on_retry(conn: Any, current: Any, decision: Any, *args: Any, **kwargs: Any) -> Any:
        if decision.to_state is JobState.PENDING:
            raise RuntimeError("process killed")
        return real_append(conn, current, decision, *args, **kwargs)

    monkeypatch.setattr(sql, "append_change", crash_on_retry)
    with pytest.raises(RuntimeError):
        lifecycle_for(store).apply_callback(store.pending_callbacks()[0])
    monkeypatch.undo()
    assert store.job_status(rec, PT).state is JobState.RUNNING
    assert store.change_log(rec) == before
    lifecycle_for(store).apply_callback(store.pending_callbacks()[0])  # the next tick
    status = store.job_status(rec, PT)
    assert (status.state, status.attempt) == (JobState.PENDING, 2)
