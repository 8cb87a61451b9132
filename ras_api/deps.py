"""Dependencies shared by the routers: the platform's adapters and a validated recording id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from ras_api.problems import Problem
from ras_core.ids import RECORDING_ID_PATTERN, is_valid_recording_id
from ras_core.recording import RecordingMetadata
from ras_platform.platform import Platform


# Dependencies that neither block nor wait are `async def`: FastAPI runs a sync one through the
# threadpool, a thread hop per dependency per request (measured: ~0.2 ms of CPU each here).
async def get_platform(request: Request) -> Platform:
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def recording_id_path(
    recording_id: Annotated[
        str,
        Path(description="recording id (contracts.md)", pattern=RECORDING_ID_PATTERN, max_length=64),
    ],
) -> str:
    # The pattern is also in the OpenAPI document; FastAPI's check of it answers 400 (path errors
    # are 400, like query errors), and this one stays for callers outside a request.
    if not is_valid_recording_id(recording_id):
        raise Problem(
            400,
            f"recording_id must match {RECORDING_ID_PATTERN}",
            invalid_params=[{"name": "recording_id", "reason": "pattern"}],
        )
    return recording_id


RecordingId = Annotated[str, Depends(recording_id_path)]


def existing_recording(recording_id: RecordingId, platform: PlatformDep) -> RecordingMetadata:
    meta = platform.state_store.get_recording(recording_id)
    if meta is None:
        raise Problem(404, f"recording {recording_id} is not registered")
    return meta


ExistingRecording = Annotated[RecordingMetadata, Depends(existing_recording)]
