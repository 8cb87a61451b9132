"""EMA callbacks: validated, written to the durable inbox, then 202. The sensor does the rest."""

from __future__ import annotations

from fastapi import APIRouter, status

from ras_api.auth import EmaAuth
from ras_api.deps import ExistingRecording, PlatformDep
from ras_api.models import CallbackAccepted, EmaCallback
from ras_api.problems import Problem
from ras_core import catalogue

router = APIRouter(tags=["ema"])
_EMA_JOB_KINDS = {job.name for job in catalogue.JOB_TYPES if job.is_ema}


@router.post(
    "/recordings/{recording_id}/jobs/callback",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[EmaAuth],
    response_model=CallbackAccepted,
    summary="EMA job state callback (durable inbox)",
)
def receive_callback(
    callback: EmaCallback, recording: ExistingRecording, platform: PlatformDep
) -> CallbackAccepted:
    if callback.job_kind not in _EMA_JOB_KINDS:
        raise Problem(
            422,
            f"job_kind: expected one of {', '.join(sorted(_EMA_JOB_KINDS))}",
            invalid_params=[{"name": "job_kind", "reason": "unknown job kind"}],
        )
    payload = callback.model_dump(mode="json")
    # On disk (committed) before the 202: an acknowledged callback is never lost.
    inbox_id, duplicate = platform.state_store.add_callback(recording.recording_id, payload)
    return CallbackAccepted(inbox_id=inbox_id, duplicate=duplicate)
