"""The durable callback inbox and how callbacks become changes (stale, early, repeated)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.pool import NullPool

from ras_core.states import JobState, Outcome, Source
from ras_platform.db import sql
from ras_platform.db.engine import normalise_url
from ras_platform.db.schema import callback_inbox
from ras_platform.db.sql import now
from ras_platform.state_store import InvalidCallback, StateStore, UnknownRecording

from .conftest import run_to

PT = "player-tracking"


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
    result = store.apply_callback(pending)
    assert result is not None and result.decision.applied
    assert (result.status.state, result.entry.source) == (JobState.RUNNING, Source.CALLBACK)
    assert store.apply_callback(pending) is None  # idempotent: already processed
    assert store.pending_callbacks() == []
    assert len(store.change_log(rec)) == 3


def test_failed_callback_carries_reason_and_exit_code(store: StateStore, rec: str) -> None:
    run_to(store, rec, PT, JobState.RUNNING, "ema-1")
    store.add_callback(rec, callback("ema-1", "failed", job_reason="out of memory", job_exit_code=137))
    result = store.apply_callback(store.pending_callbacks()[0])
    assert result is not None
    assert (result.status.state, result.status.reason) == (JobState.FAILED, "out of memory; exit code 137")


def test_stale_callback_is_recorded_not_applied(store: StateStore, rec: str) -> None:
    run_to(store, rec, PT, JobState.RUNNING, "ema-2")
    store.add_callback(rec, callback("ema-1", "succeeded"))
    result = store.apply_callback(store.pending_callbacks()[0])
    assert result is not None and result.decision.outcome is Outcome.STALE
    assert store.job_status(rec, PT).state is JobState.RUNNING
    entry = store.change_log(rec)[-1]
    assert (entry.outcome, entry.ema_job_id, entry.source) == (Outcome.STALE, "ema-1", Source.CALLBACK)
    assert store.pending_callbacks() == []


def test_early_callback_waits_for_the_ema_job_id(store: StateStore, rec: str) -> None:
    store.transition(rec, PT, JobState.SCHEDULED, source=Source.DISPATCH)
    store.add_callback(rec, callback("ema-1", "running"))  # EMA answered the callback before the trigger
    [early] = store.pending_callbacks()
    assert store.apply_callback(early) is None
    assert store.pending_callbacks() == [early]  # left for the next tick, nothing logged
    assert len(store.change_log(rec)) == 1
    store.record_ema_job_id(rec, PT, 1, "ema-1")
    result = store.apply_callback(early)
    assert result is not None and result.status.state is JobState.RUNNING


def test_early_callback_turns_stale_after_the_defer_limit(store: StateStore, rec: str) -> None:
    store.transition(rec, PT, JobState.SCHEDULED, source=Source.DISPATCH)
    store.add_callback(rec, callback("ema-1", "running"))
    result = store.apply_callback(store.pending_callbacks()[0], defer_limit_s=0)
    assert result is not None and result.decision.outcome is Outcome.STALE


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
    for pending in store.pending_callbacks():
        store.apply_callback(pending, defer_limit_s=0)


def test_failed_callback_with_attempts_left_is_retried_in_the_same_transaction(
    store: StateStore, rec: str
) -> None:
    run_to(store, rec, PT, JobState.RUNNING, "ema-1")
    store.add_callback(rec, callback("ema-1", "failed", job_reason="out of memory"))
    result = store.apply_callback(store.pending_callbacks()[0], retry_within=3)
    assert result is not None and result.retry is not None
    assert (result.decision.to_state, result.status.state, result.status.attempt) == (
        JobState.FAILED,
        JobState.PENDING,
        2,
    )
    failed, retried = store.change_log(rec)[-2:]
    assert (failed.to_state, failed.reason) == (JobState.FAILED, "out of memory")
    assert (retried.from_state, retried.to_state, retried.reason) == (
        JobState.FAILED,
        JobState.PENDING,
        "retry 2/3 after: out of memory",
    )
    assert store.rebuild_projection(rec)[1] == store.job_status(rec, PT)


def test_last_attempt_stays_failed(store: StateStore, rec: str) -> None:
    run_to(store, rec, PT, JobState.RUNNING, "ema-1")
    store.add_callback(rec, callback("ema-1", "failed", job_reason="bad video"))
    result = store.apply_callback(store.pending_callbacks()[0], retry_within=1)
    assert result is not None and result.retry is None
    assert (result.status.state, result.status.reason) == (JobState.FAILED, "bad video")


def test_crash_while_writing_the_retry_loses_the_failure_too(
    store: StateStore, rec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure and retry commit together: a crash between them leaves the callback to apply again,
    never a job failed with attempts to spare."""
    run_to(store, rec, PT, JobState.RUNNING, "ema-1")
    store.add_callback(rec, callback("ema-1", "failed", job_reason="out of memory"))
    before = store.change_log(rec)
    real_append = sql.append_change

    def crash_on_retry(conn: Any, current: Any, decision: Any, *args: Any) -> Any:
        if decision.to_state is JobState.PENDING:
            raise RuntimeError("process killed")
        return real_append(conn, current, decision, *args)

    monkeypatch.setattr(sql, "append_change", crash_on_retry)
    with pytest.raises(RuntimeError):
        store.apply_callback(store.pending_callbacks()[0], retry_within=3)
    monkeypatch.undo()
    assert store.job_status(rec, PT).state is JobState.RUNNING
    assert store.change_log(rec) == before
    result = store.apply_callback(store.pending_callbacks()[0], retry_within=3)  # the next tick
    assert result is not None and (result.status.state, result.status.attempt) == (JobState.PENDING, 2)
