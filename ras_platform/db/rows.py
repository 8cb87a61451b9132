"""Rows of the state store's tables mapped to the value types of `ras_core.records`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from ras_core.records import ChangeLogEntry, InboxCallback, JobStatus, OutboxEvent, QualityReport
from ras_core.states import JobState, Outcome, Source


def job_status_from_row(row: Row[Any]) -> JobStatus:
    return JobStatus(
        row.recording_id,
        row.job_type,
        JobState(row.state),
        row.attempt,
        row.ema_job_id,
        row.reason,
        row.updated_at,
        row.not_before,
    )


def change_from_row(row: Row[Any]) -> ChangeLogEntry:
    return ChangeLogEntry(
        id=row.id,
        recording_id=row.recording_id,
        version=row.version,
        job_type=row.job_type,
        from_state=JobState(row.from_state),
        to_state=JobState(row.to_state),
        attempt=row.attempt,
        ema_job_id=row.ema_job_id,
        source=Source(row.source),
        outcome=Outcome(row.outcome),
        reason=row.reason,
        at=row.at,
        reason_class=row.reason_class,
        detail=row.detail,
    )


def inbox_from_row(row: Row[Any]) -> InboxCallback:
    return InboxCallback(
        row.id, row.recording_id, row.job_id, row.job_kind, row.job_state, row.payload, row.received_at
    )


def outbox_from_row(row: Row[Any]) -> OutboxEvent:
    return OutboxEvent(
        row.id, row.event_id, row.recording_id, row.detail_type, row.detail, row.created_at, row.attempts
    )


def quality_from_row(row: Row[Any]) -> QualityReport:
    return QualityReport(
        row.recording_id, row.output, row.job_type, row.attempt, list(row.checks), row.measured_at
    )
