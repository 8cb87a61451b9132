"""The lifecycle's rules, one input at a time, over plain job values (no store, no Dagster)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ras_core import catalogue
from ras_core.failures import FailureClass
from ras_core.lifecycle import (
    Callback,
    Cancel,
    Delivery,
    ImportFailed,
    ImportPassed,
    ImportStarted,
    Job,
    RetryPolicy,
    Start,
    SweepImport,
    TriggerFailed,
    decide_next,
)
from ras_core.states import JobState, Outcome

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, backoff_s=2.0)
PT, BT, ED = "player-tracking", "ball-tracking", "event-detection"
S, C = JobState.SUCCEEDED, JobState.COMPLETED


def jobs(**states: tuple[JobState, int] | JobState) -> dict[str, Job]:
    """Every catalogue job pending at attempt 1, except those given (by snake_case name)."""
    out = {name: Job(name, JobState.PENDING, 1) for name in catalogue.job_type_names()}
    for key, value in states.items():
        name = key.replace("_", "-")
        state, attempt = value if isinstance(value, tuple) else (value, 1)
        out[name] = Job(
            name, state, attempt, ema_job_id=None if state is JobState.PENDING else f"ema-{attempt}"
        )
    return out


def decide(current: dict[str, Job], event):  # type: ignore[no-untyped-def]
    return decide_next(current, event, policy=POLICY, now=NOW)


def moves(plan) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    return [
        (c.job_type, c.decision.to_state.value, c.decision.attempt)
        for c in plan.changes
        if c.decision.applied
    ]


def key(raw: str, attempt: int) -> str:
    return catalogue.raw_output(raw).key("rec-1", attempt)


# --- the wrong-attempt charge ---------------------------------------------------------------------


def test_a_failed_import_is_charged_to_the_job_whose_file_failed_not_to_the_output_owner() -> None:
    """player_tracking reads both tracking files; the ball file breaking its contract fails ball
    tracking (the attempt read), never player tracking."""
    current = jobs(player_tracking=S, ball_tracking=S)
    failed = ImportFailed(
        "player_tracking",
        {PT: 1, BT: 1},
        f"{key(BT, 1)} row 3, column z: expected a number",
        FailureClass.CONTRACT,
        file=key(BT, 1),
        sha256="abc",
    )

    plan = decide(current, failed)

    assert moves(plan) == [(BT, "failed", 1), (BT, "pending", 2)]
    assert plan.changes[0].detail["file"] == key(BT, 1)  # type: ignore[index]
    assert plan.changes[0].reason_class is FailureClass.CONTRACT


def test_a_job_whose_attempt_is_still_at_ema_is_never_failed_by_another_jobs_import() -> None:
    """The issue's case: ball tracking's retry re-imports player_tracking while player tracking's
    new attempt is still scheduled at EMA. A failure on player tracking's attempt-1 file is stale."""
    current = jobs(player_tracking=(JobState.SCHEDULED, 2), ball_tracking=S)
    failed = ImportFailed(
        "player_tracking",
        {PT: 1, BT: 1},
        f"{key(PT, 1)} row 9: time goes backwards",
        FailureClass.CONTRACT,
        file=key(PT, 1),
    )

    plan = decide(current, failed)

    assert moves(plan) == []
    [stale] = plan.changes
    assert (stale.job_type, stale.decision.outcome) == (PT, Outcome.STALE)


def test_an_import_waits_for_every_input_job_to_deliver_its_current_attempt() -> None:
    waiting = decide(
        jobs(player_tracking=S, ball_tracking=(JobState.RUNNING, 2)), ImportStarted("player_tracking")
    )
    assert waiting.read is None and "ball-tracking" in (waiting.why or "")
    ready = decide(jobs(player_tracking=S, ball_tracking=(C, 2)), ImportStarted("player_tracking"))
    assert ready.read == {PT: 1, BT: 2}


def test_a_succeeded_job_imports_only_outputs_whose_inputs_were_all_delivered() -> None:
    current = jobs(ball_tracking=(JobState.RUNNING, 1))
    current[BT] = Job(BT, JobState.RUNNING, 1, "ema-b")
    plan = decide(current, Callback(BT, "ema-b", "succeeded", delivery=Delivery(1)))
    assert plan.imports == {"ball_tracking"}  # player_tracking waits for player tracking's file
    current = jobs(player_tracking=S)
    current[BT] = Job(BT, JobState.RUNNING, 1, "ema-b")
    plan = decide(current, Callback(BT, "ema-b", "succeeded", delivery=Delivery(1)))
    assert plan.imports == {"ball_tracking", "player_tracking"}


def test_a_job_completes_when_every_output_came_from_its_current_attempt() -> None:
    current = jobs(event_detection=JobState.RUNNING, player_tracking=(S, 2), ball_tracking=C)
    imported = {"match_momentum": {PT: 2}, "physical_metrics": {PT: 1}}  # physical metrics is stale
    plan = decide(current, ImportPassed("player_tracking", {PT: 2, BT: 1}, imported))
    assert moves(plan) == [] and plan.record_import == ("player_tracking", {PT: 2, BT: 1})
    imported["physical_metrics"] = {PT: 2}
    plan = decide(current, ImportPassed("player_tracking", {PT: 2, BT: 1}, imported))
    assert moves(plan) == [(PT, "completed", 2)]


def test_the_import_that_completes_the_last_independent_job_triggers_the_dependent_ones() -> None:
    current = jobs(event_detection=C, player_tracking=C, ball_tracking=S)
    plan = decide(current, ImportPassed("ball_tracking", {BT: 1}))
    assert plan.trigger == [("match-details", 1), ("shot-details", 1), ("match-report", 1)]
    assert current["training-clips"].state is JobState.PENDING  # built by the import run itself


# --- the identical-bytes retry --------------------------------------------------------------------


def test_a_retry_that_uploads_the_bytes_that_failed_ends_the_jobs_retries() -> None:
    current = jobs()
    current[ED] = Job(ED, JobState.RUNNING, 2, "ema-2")
    same = Delivery(2, identical_to_failed=f"{key(ED, 1)} $.events: expected a list")

    plan = decide(current, Callback(ED, "ema-2", "succeeded", delivery=same))

    assert moves(plan) == [(ED, "succeeded", 2), (ED, "failed", 2)]  # attempts were left: not retried
    assert plan.imports == set()
    failed = plan.changes[-1]
    assert failed.reason_class is FailureClass.IDENTICAL_BYTES and key(ED, 1) in (
        failed.decision.reason or ""
    )
    assert [a.job_type for a in plan.alerts] == [ED]


def test_a_contract_violation_is_retried_without_backoff_and_a_transient_one_with_it() -> None:
    contract = ImportFailed("events", {ED: 1}, f"{key(ED, 1)}: bad", FailureClass.CONTRACT, file=key(ED, 1))
    plan = decide(jobs(event_detection=S), contract)
    assert moves(plan) == [(ED, "failed", 1), (ED, "pending", 2)] and plan.changes[-1].not_before is None
    trigger = TriggerFailed(ED, 1, "EMA 503 after retries: busy", FailureClass.EMA_UNREACHABLE)
    plan = decide(jobs(event_detection=JobState.SCHEDULED), trigger)
    assert plan.changes[-1].not_before == NOW + timedelta(seconds=2)


def test_transient_backoff_doubles_per_attempt_and_is_capped() -> None:
    policy = RetryPolicy(backoff_s=2.0, backoff_cap_s=5.0)
    assert [policy.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [2.0, 4.0, 5.0, 5.0]


def test_a_refused_trigger_is_not_retried() -> None:
    plan = decide(
        jobs(event_detection=JobState.SCHEDULED), TriggerFailed(ED, 1, "EMA 400", FailureClass.EMA_REFUSED)
    )
    assert moves(plan) == [(ED, "failed", 1)]


# --- a full disk during an import (issue 14 item 8) ------------------------------------------------


def test_a_transient_import_failure_is_retried_after_a_backoff_then_fails_the_job() -> None:
    full = "OSError: [Errno 28] No space left on device"
    first = decide(jobs(event_detection=S), ImportFailed("events", {ED: 1}, full, FailureClass.TRANSIENT))
    [note] = first.changes
    assert (note.decision.to_state, note.reason_class) == (S, FailureClass.TRANSIENT)
    assert note.not_before == NOW + timedelta(seconds=2) and "No space left" in (note.decision.reason or "")
    last = ImportFailed("events", {ED: 1}, full, FailureClass.TRANSIENT, earlier_transient=2)
    plan = decide(jobs(event_detection=S), last)
    assert moves(plan) == [(ED, "failed", 1), (ED, "pending", 2)]


# --- stale callbacks of a superseded attempt -------------------------------------------------------


def test_a_stale_callback_of_a_superseded_attempt_neither_fails_nor_imports() -> None:
    current = jobs()
    current[PT] = Job(PT, JobState.RUNNING, 2, "ema-2")
    for state in ("succeeded", "failed"):
        plan = decide(current, Callback(PT, "ema-1", state, reason="late"))
        assert moves(plan) == [] and plan.imports == set()
        assert plan.outcome is Outcome.STALE


# --- failing for good ------------------------------------------------------------------------------


def test_failing_for_good_alerts_once_and_fails_jobs_that_read_its_file() -> None:
    current = jobs(player_tracking=S, ball_tracking=(S, 3))
    failed = ImportFailed("ball_tracking", {BT: 3}, "bad", FailureClass.CONTRACT, file=key(BT, 3))

    plan = decide(current, failed)

    assert moves(plan) == [(BT, "failed", 3), (PT, "failed", 1)]
    assert plan.changes[-1].reason_class is FailureClass.INPUT_FAILED
    assert [(a.job_type, a.attempt) for a in plan.alerts] == [(BT, 3)]  # one alert per recording


def test_sweep_fails_a_succeeded_job_whose_input_failed_for_good() -> None:
    current = jobs(player_tracking=S, ball_tracking=(JobState.FAILED, 3))
    plan = decide(current, SweepImport(PT))
    assert moves(plan) == [(PT, "failed", 1)] and plan.alerts == []


def test_cancel_fails_every_unfinished_job_without_retry_or_alert() -> None:
    plan = decide(jobs(event_detection=C, player_tracking=JobState.RUNNING), Cancel())
    assert (PT, "failed", 1) in moves(plan) and all(state != "pending" for _, state, _ in moves(plan))
    assert plan.alerts == []


def test_start_retries_failed_jobs_and_forces_completed_ones() -> None:
    current = jobs(event_detection=C, player_tracking=JobState.FAILED)
    assert moves(decide(current, Start((ED, PT)))) == [(PT, "pending", 2)]
    assert moves(decide(current, Start((ED,), force=True))) == [(ED, "pending", 2)]
