"""EMA callbacks: validated, written to the durable inbox, then 202; then, after the answer, the
callback fast path applies it and launches its import run (`ras_platform/callback_fast_path.py`).
Whatever the fast path does not finish, `ema_callback_sensor` does."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, status

from ras_api.auth import EmaAuth
from ras_api.deps import ExistingRecording, PlatformDep
from ras_api.edge import GuardedRoute
from ras_api.models import CallbackAccepted, EmaCallback

router = APIRouter(tags=["ema"], route_class=GuardedRoute)


@router.post(
    "/recordings/{recording_id}/jobs/callback",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[EmaAuth],
    response_model=CallbackAccepted,
    summary="EMA job state callback (durable inbox)",
)
def receive_callback(
    callback: EmaCallback, recording: ExistingRecording, platform: PlatformDep, after: BackgroundTasks
) -> CallbackAccepted:
    # Validated once, by the model (bounds, EMA job kinds, cleaned text); it travels typed to the inbox.
    # On disk (committed) before the 202: an acknowledged callback is never lost.
    inbox_id, duplicate = platform.state_store.add_callback(recording.recording_id, callback)
    if not duplicate and platform.settings.callback_fast_path:
        # After the 202 is sent: EMA never waits for Dagster.
        delay = platform.settings.callback_fast_path_delay_s
        after.add_task(platform.callback_fast_path.apply_after, delay, recording.recording_id)
    return CallbackAccepted(inbox_id=inbox_id, duplicate=duplicate)
