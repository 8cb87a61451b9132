"""Plain tests of the pure state machine, ras_core.states.decide."""

from __future__ import annotations

import pytest

from ras_core.states import JobState, Outcome, decide

P, SC, ST, R, SU, C, F = (
    JobState.PENDING,
    JobState.SCHEDULED,
    JobState.STARTING,
    JobState.RUNNING,
    JobState.SUCCEEDED,
    JobState.COMPLETED,
    JobState.FAILED,
)


@pytest.mark.parametrize(
    ("current", "target"),
    [(P, SC), (SC, ST), (ST, R), (R, SU), (SU, C), (SC, R), (SC, SU), (ST, SU), (P, F), (R, F), (SU, F)],
)
def test_forward_moves_and_failures_apply(current: JobState, target: JobState) -> None:
    decision = decide(current, 1, target)
    assert (decision.outcome, decision.to_state, decision.attempt) == (Outcome.APPLIED, target, 1)


@pytest.mark.parametrize("state", list(JobState))
def test_same_state_is_a_duplicate(state: JobState) -> None:
    decision = decide(state, 3, state)
    assert (decision.outcome, decision.to_state, decision.attempt) == (Outcome.DUPLICATE, state, 3)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (R, ST),  # a late `starting` callback must not move a job back
        (SU, SC),
        (C, R),
        (C, F),  # completed data stays completed
        (F, R),  # only a retry (→ pending) leaves failed
        (P, R),  # a callback cannot start a job dispatch never scheduled
        (P, SU),
        (R, C),  # completed only after succeeded and the import
        (SC, P),  # in flight: cancel by failing first
        (R, P),
    ],
)
def test_illegal_moves_keep_the_state_and_say_why(current: JobState, target: JobState) -> None:
    decision = decide(current, 2, target)
    assert (decision.outcome, decision.to_state, decision.attempt) == (Outcome.ILLEGAL, current, 2)
    assert decision.reason == f"illegal transition {current.value} → {target.value}"
    assert not decision.applied


@pytest.mark.parametrize("terminal", [C, F])
def test_back_to_pending_counts_an_attempt(terminal: JobState) -> None:
    decision = decide(terminal, 2, P, reason="forced re-run")
    assert (decision.outcome, decision.to_state, decision.attempt, decision.reason) == (
        Outcome.APPLIED,
        P,
        3,
        "forced re-run",
    )


def test_failure_keeps_its_reason() -> None:
    assert decide(R, 1, F, reason="exit code 3").reason == "exit code 3"
