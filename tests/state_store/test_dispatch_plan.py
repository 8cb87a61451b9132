"""Dispatch's plan: ready jobs are scheduled once; a trigger lost past the timeout is asked for again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ras_core.lifecycle import Dispatch, JobRef
from ras_core.states import JobState, Source
from ras_platform.state_store import StateStore
from tests.lifecycle_support import answer_trigger, lifecycle_for

from .conftest import run_to

INDEPENDENT = ["event-detection", "player-tracking", "ball-tracking"]


def test_ready_jobs_are_scheduled_once(store: StateStore, rec: str) -> None:
    assert lifecycle_for(store).dispatch().ema_jobs == [], "an unvalidated recording waits"
    store.mark_validated(rec)
    first = lifecycle_for(store).dispatch()
    assert sorted(ref.job_type for ref in first.ema_jobs) == sorted(INDEPENDENT)
    assert all(store.job_status(rec, job).state is JobState.SCHEDULED for job in INDEPENDENT)
    assert lifecycle_for(store).dispatch().ema_jobs == []


def test_a_trigger_lost_past_the_timeout_is_asked_for_again(store: StateStore, rec: str) -> None:
    store.mark_validated(rec)
    lifecycle_for(store).dispatch()
    answer_trigger(store, rec, "event-detection", 1, "ema-1")  # only this trigger came back
    later = datetime.now(UTC) + timedelta(seconds=120)
    minute = timedelta(seconds=60)
    assert lifecycle_for(store).dispatch(now=later, trigger_timeout=5 * minute).ema_jobs == []
    lifecycle = lifecycle_for(store)
    assert lifecycle.dispatch(now=later, include_stuck=False, trigger_timeout=minute).ema_jobs == []
    again = lifecycle_for(store).dispatch(now=later, trigger_timeout=minute)
    assert sorted(again.ema_jobs, key=lambda r: r.job_type) == [
        JobRef(rec, "ball-tracking", 1),
        JobRef(rec, "player-tracking", 1),
    ]


def test_dependent_jobs_become_ready_only_when_all_three_completed(store: StateStore, rec: str) -> None:
    store.mark_validated(rec)
    lifecycle_for(store).dispatch()
    for job in INDEPENDENT[:2]:
        run_to(store, rec, job, JobState.COMPLETED, f"ema-{job}")
    assert _scheduled(store, rec) == []
    run_to_completed_from_scheduled(store, rec, INDEPENDENT[2])
    scheduled = _scheduled(store, rec, ema_only=True)
    assert scheduled == ["match-details", "shot-details", "match-report"]  # catalogue order, EMA only
    assert _scheduled(store, rec) == []  # training clips wait for shots


def _scheduled(store: StateStore, rec: str, *, ema_only: bool = False) -> list[str]:
    plan = lifecycle_for(store).decide(rec, Dispatch(ema_only=ema_only))
    return [c.job_type for c in plan.changes if c.decision.to_state is JobState.SCHEDULED]


def run_to_completed_from_scheduled(store: StateStore, rec: str, job: str) -> None:
    answer_trigger(store, rec, job, 1, f"ema-{job}")
    for state in (JobState.RUNNING, JobState.SUCCEEDED, JobState.COMPLETED):
        store.transition(rec, job, state, source=Source.CALLBACK)
