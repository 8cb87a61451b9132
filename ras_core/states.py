"""The per-(recording, job type) state machine of architecture.md.

pending → scheduled → starting → running → succeeded → completed, or failed from any state;
failed or completed → pending on a retry or a forced re-run (the attempt is counted there).

EMA delivers callbacks at least once and out of order, so a callback may skip forward along the
chain (a lost `running` must not strand a job) but never move it back. Everything here is pure:
`ras_core.lifecycle` builds its plans from these decisions, and the state store records them in the
change log together with their source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ras_core import catalogue


class JobState(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    COMPLETED = "completed"
    FAILED = "failed"


class Source(StrEnum):
    """Who asked for a transition; recorded with every change-log row."""

    API = "api"
    DISPATCH = "dispatch"
    CALLBACK = "callback"
    IMPORT = "import"


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # already in that state: acknowledged, nothing changes
    ILLEGAL = "illegal"  # recorded, never applied
    STALE = "stale"  # callback for an EMA job id that is not the current one


# The forward chain; a callback may move a job forward along it, skipping states.
_CHAIN = (
    JobState.PENDING,
    JobState.SCHEDULED,
    JobState.STARTING,
    JobState.RUNNING,
    JobState.SUCCEEDED,
    JobState.COMPLETED,
)
_RANK = {state: i for i, state in enumerate(_CHAIN)}
TERMINAL = frozenset({JobState.COMPLETED, JobState.FAILED})
IN_FLIGHT = frozenset({JobState.SCHEDULED, JobState.STARTING, JobState.RUNNING, JobState.SUCCEEDED})

# EMA's job_state values map one to one onto ours.
EMA_STATES = frozenset({"scheduled", "starting", "running", "succeeded", "failed"})


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    to_state: JobState
    attempt: int
    reason: str | None = None

    @property
    def applied(self) -> bool:
        return self.outcome is Outcome.APPLIED


def decide(
    current: JobState, attempt: int, target: JobState, *, reason: str | None = None
) -> Decision:
    """Decide whether `current → target` is legal; re-entering pending counts a new attempt."""
    if target is JobState.PENDING:
        if current is JobState.PENDING:
            return Decision(Outcome.DUPLICATE, current, attempt)
        if current in TERMINAL:
            return Decision(Outcome.APPLIED, target, attempt + 1, reason)
        return _illegal(current, target, attempt)
    if target is current:
        return Decision(Outcome.DUPLICATE, current, attempt)
    if target is JobState.FAILED:
        if current is JobState.COMPLETED:
            return _illegal(current, target, attempt)
        return Decision(Outcome.APPLIED, target, attempt, reason)
    if current is JobState.FAILED:
        return _illegal(current, target, attempt)
    if target is JobState.COMPLETED and current is not JobState.SUCCEEDED:
        return _illegal(current, target, attempt)
    if current is JobState.PENDING and target is not JobState.SCHEDULED:
        # Nothing but dispatch may start a job: a callback cannot conjure one.
        return _illegal(current, target, attempt)
    if _RANK[target] > _RANK[current]:
        return Decision(Outcome.APPLIED, target, attempt, reason)
    return _illegal(current, target, attempt)


def _illegal(current: JobState, target: JobState, attempt: int) -> Decision:
    return Decision(
        Outcome.ILLEGAL, current, attempt, f"illegal transition {current.value} → {target.value}"
    )


def ready_job_types(states: Mapping[str, JobState]) -> list[str]:
    """Pending jobs whose upstream job types are all completed, in catalogue order: the only
    dependency rule. `states` maps job type → state for one recording."""
    return [
        name
        for name in catalogue.job_type_names()
        if states.get(name) is JobState.PENDING
        and all(states.get(dep) is JobState.COMPLETED for dep in catalogue.job_type(name).depends_on)
    ]


def overall_state(states: list[JobState]) -> str:
    """One word for a recording: completed, failed, running, pending or unknown."""
    if not states:
        return "unknown"
    if all(s is JobState.COMPLETED for s in states):
        return "completed"
    if any(s is JobState.FAILED for s in states):
        return "failed"
    if all(s is JobState.PENDING for s in states):
        return "pending"
    return "running"
