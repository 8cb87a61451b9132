"""The state store's public value types: job status, change-log entry, inbox callback, outbox event.

`project` is the one rule turning an applied change-log row into the projection; the live path and
`rebuild_projection` both use it, so a rebuilt projection equals the live one by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ras_core.states import Decision, JobState, Outcome, Source


@dataclass(frozen=True)
class JobStatus:
    recording_id: str
    job_type: str
    state: JobState
    attempt: int
    ema_job_id: str | None
    reason: str | None
    updated_at: datetime
    not_before: datetime | None = None  # a retry waiting for its backoff


@dataclass(frozen=True)
class ChangeLogEntry:
    id: int
    recording_id: str
    version: int
    job_type: str
    from_state: JobState
    to_state: JobState
    attempt: int
    ema_job_id: str | None
    source: Source
    outcome: Outcome
    reason: str | None
    at: datetime
    reason_class: str | None = None  # ras_core.failures.FailureClass
    detail: dict[str, Any] | None = None  # file, sha256, attempts read, not_before

    @property
    def not_before(self) -> datetime | None:
        value = (self.detail or {}).get("not_before")
        return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class InboxCallback:
    id: int
    recording_id: str
    job_id: str
    job_kind: str
    job_state: str
    payload: dict[str, Any]
    received_at: datetime


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    event_id: str
    recording_id: str
    detail_type: str
    detail: dict[str, Any]
    created_at: datetime
    attempts: int


@dataclass(frozen=True)
class TransitionResult:
    """What became of a requested transition: the decision, the job afterwards, the change-log row."""

    decision: Decision
    status: JobStatus
    entry: ChangeLogEntry


def initial_status(recording_id: str, job_type: str, registered_at: datetime) -> JobStatus:
    return JobStatus(recording_id, job_type, JobState.PENDING, 1, None, None, registered_at)


def project(entry: ChangeLogEntry) -> JobStatus:
    """The projection after an applied change: the row carries the resulting state, attempt and EMA id."""
    # A job back in pending starts afresh; why it was reset stays in the change log.
    reason = None if entry.to_state is JobState.PENDING else entry.reason
    return JobStatus(
        entry.recording_id,
        entry.job_type,
        entry.to_state,
        entry.attempt,
        entry.ema_job_id,
        reason,
        entry.at,
        entry.not_before,
    )


@dataclass(frozen=True)
class QualityReport:
    """The quality figures of one processed output, as its latest import measured them.

    `checks` holds `CheckOutcome.as_report()` dicts: check, severity, passed, description, figures.
    """

    recording_id: str
    output: str
    job_type: str
    attempt: int
    checks: list[dict[str, Any]]
    measured_at: datetime

    @property
    def warnings(self) -> list[str]:
        return [check["check"] for check in self.checks if not check["passed"]]
