"""Registering recordings, and the analytics state of a recording: GET/POST analytics, logs."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
from fastapi import APIRouter, Response

from ras_api.auth import ZolaAuth
from ras_api.deps import ExistingRecording, PlatformDep, RecordingId
from ras_api.edge import GuardedRoute
from ras_api.models import (
    Analytics,
    ChangeLog,
    ChangeLogEntryModel,
    DeadLetterModel,
    JobStatusModel,
    OutputQualityModel,
    QualityCheckModel,
    RecordingModel,
    RecordingRegistered,
)
from ras_api.problems import Problem
from ras_core.recording import InvalidRecordingMetadata, parse_recording_metadata
from ras_core.states import overall_state
from ras_platform.dagster_client import RECORDINGS_PARTITIONS, DagsterError
from ras_platform.state_store import JobStatus, QualityReport, StateStore

router = APIRouter(tags=["analytics"], route_class=GuardedRoute)
NO_STORE = {"Cache-Control": "no-store"}


def job_status_model(status: JobStatus) -> JobStatusModel:
    return JobStatusModel(
        job_type=status.job_type,
        state=status.state.value,
        attempt=status.attempt,
        ema_job_id=status.ema_job_id,
        updated_at=status.updated_at,
        reason=status.reason,
    )


def analytics_of(store: StateStore, recording_id: str, statuses: list[JobStatus] | None = None) -> Analytics:
    statuses = statuses if statuses is not None else store.job_states(recording_id)
    return Analytics(
        recording_id=recording_id,
        overall_state=overall_state([s.state for s in statuses]),
        jobs=[job_status_model(s) for s in statuses],
        quality=[output_quality_model(report) for report in store.quality_reports(recording_id)],
    )


def output_quality_model(report: QualityReport) -> OutputQualityModel:
    return OutputQualityModel(
        output=report.output,
        job_type=report.job_type,
        attempt=report.attempt,
        measured_at=report.measured_at,
        warnings=report.warnings,
        checks=[QualityCheckModel.model_validate(check) for check in report.checks],
    )


@router.put(
    "/recordings/{recording_id}",
    dependencies=[ZolaAuth],
    response_model=RecordingRegistered,
    responses={
        200: {"description": "already registered (its metadata updated if it changed)"},
        201: {"model": RecordingRegistered, "description": "registered (new)"},
    },
    tags=["recordings"],
    summary="Register a recording (idempotent)",
)
def register_recording(
    recording_id: RecordingId, platform: PlatformDep, response: Response, metadata: RecordingModel
) -> RecordingRegistered:
    data: dict[str, Any] = metadata.model_dump()
    if data.get("recording_id") not in (None, recording_id):
        raise Problem(
            422,
            "recording_id in the body differs from the path",
            invalid_params=[{"name": "recording_id", "reason": "mismatch"}],
        )
    data["recording_id"] = recording_id
    try:
        meta = parse_recording_metadata(data)
    except InvalidRecordingMetadata as invalid:
        raise Problem(
            422,
            str(invalid),
            invalid_params=[
                {"name": p.split(":")[0], "reason": p.split(":", 1)[-1].strip()} for p in invalid.problems
            ],
        ) from invalid
    created = platform.state_store.register_recording(meta)
    # Best effort: POST /jobs adds the partition again before it launches anything.
    with contextlib.suppress(httpx.HTTPError, DagsterError):
        platform.dagster.add_partition(RECORDINGS_PARTITIONS, recording_id)
    response.status_code = 201 if created else 200
    return RecordingRegistered(recording_id=recording_id, created=created)


@router.get(
    "/recordings/{recording_id}/analytics",
    response_model=Analytics,
    summary="State of every job of a recording, and overall",
)
def get_analytics(recording: ExistingRecording, platform: PlatformDep, response: Response) -> Analytics:
    response.headers.update(NO_STORE)
    return analytics_of(platform.state_store, recording.recording_id)


@router.post(
    "/recordings/{recording_id}/analytics",
    dependencies=[ZolaAuth],
    response_model=Analytics,
    summary="Rebuild the state projection by replaying the change log",
)
def rebuild_analytics(recording: ExistingRecording, platform: PlatformDep) -> Analytics:
    statuses = platform.state_store.rebuild_projection(recording.recording_id)
    return analytics_of(platform.state_store, recording.recording_id, statuses)


@router.get(
    "/recordings/{recording_id}/analytics/logs",
    response_model=ChangeLog,
    summary="The change log of a recording, oldest first",
)
def get_change_log(recording: ExistingRecording, platform: PlatformDep, response: Response) -> ChangeLog:
    response.headers.update(NO_STORE)
    entries = platform.state_store.change_log(recording.recording_id)
    return ChangeLog(
        recording_id=recording.recording_id,
        entries=[
            ChangeLogEntryModel(
                version=e.version,
                job_type=e.job_type,
                from_state=e.from_state,
                to_state=e.to_state,
                attempt=e.attempt,
                ema_job_id=e.ema_job_id,
                source=e.source,
                outcome=e.outcome,
                reason=e.reason,
                at=e.at,
                reason_class=e.reason_class,
                detail=e.detail,
            )
            for e in entries
        ],
        dead_letters=[
            DeadLetterModel(
                source=d.source,
                row_id=d.row_id,
                state=d.state,
                failures=d.failures,
                reason=d.reason,
                first_failed_at=d.first_failed_at,
                last_failed_at=d.last_failed_at,
                quarantined_at=d.quarantined_at,
                redriven_at=d.redriven_at,
            )
            for d in platform.state_store.dead_letters.of_recording(recording.recording_id)
        ],
    )
