"""Raw files of a recording: upload URLs for EMA, download links for Zola, and duplicating a recording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from ras_api.auth import EmaAuth, ZolaAuth
from ras_api.caching import PRIVATE_60_S
from ras_api.delivery_models import Duplicated, DuplicateRequest, RawFile, RawFiles, UploadUrl, UploadUrls
from ras_api.deps import ExistingRecording, PlatformDep
from ras_api.edge import GuardedRoute
from ras_api.problems import Problem
from ras_api.routers.delivery import problem_doc
from ras_core import catalogue
from ras_core.states import IN_FLIGHT, JobState
from ras_platform.object_store import ObjectStore
from ras_platform.state_store import RecordingBusy

router = APIRouter(tags=["files"], route_class=GuardedRoute)
BASE = "/recordings/{recording_id}"
UPLOAD_URL_EXPIRY_S = 3 * 24 * 3600  # EMA may queue a job for days before it uploads
DOWNLOAD_URL_EXPIRY_S = 15 * 60
EMA_JOB_TYPES = tuple(job.name for job in catalogue.JOB_TYPES if job.raw_outputs)
EmaJobType = Literal[EMA_JOB_TYPES]  # type: ignore[valid-type]
_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: problem_doc("no X-Token header"),
    403: problem_doc("the X-Token header holds the wrong token"),
    404: problem_doc("unknown recording"),
}


def _expires_at(seconds: int) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


@router.get(
    f"{BASE}/upload-url",
    dependencies=[EmaAuth],
    response_model=UploadUrls,
    responses={**_AUTH_RESPONSES, 400: problem_doc("unknown jobType")},
    summary="Presigned PUT URLs for every raw file of a job type (EMA token)",
)
def get_upload_urls(
    recording: ExistingRecording,
    platform: PlatformDep,
    response: Response,
    job_type: Annotated[
        EmaJobType, Query(alias="jobType", description="the job whose raw files EMA uploads")
    ],
) -> UploadUrls:
    response.headers["Cache-Control"] = "no-store"  # the URLs are credentials
    expires_at = _expires_at(UPLOAD_URL_EXPIRY_S)
    uploads = [
        UploadUrl(
            name=raw.name,
            format=raw.file_format,
            key=(key := raw.key(recording.recording_id)),
            url=platform.object_store.presign_put(key, UPLOAD_URL_EXPIRY_S),
        )
        for raw in catalogue.job_type(job_type).raw_outputs
    ]
    return UploadUrls(
        recording_id=recording.recording_id, job_type=job_type, expires_at=expires_at, uploads=uploads
    )


@router.get(
    f"{BASE}/raw-files",
    dependencies=[ZolaAuth],
    response_model=RawFiles,
    responses=_AUTH_RESPONSES,
    summary="Presigned GET links (15 min) for each raw file that exists (Zola token)",
)
def get_raw_files(recording: ExistingRecording, platform: PlatformDep, response: Response) -> RawFiles:
    response.headers["Cache-Control"] = PRIVATE_60_S
    store = platform.object_store
    files = []
    for job in catalogue.JOB_TYPES:
        for raw in job.raw_outputs:
            info = store.stat(raw.key(recording.recording_id))
            if info is not None:
                url = store.presign_get(info.key, DOWNLOAD_URL_EXPIRY_S)
                files.append(
                    RawFile(
                        job_type=job.name,
                        name=raw.name,
                        key=info.key,
                        size_bytes=info.size,
                        etag=info.etag,
                        url=url,
                    )
                )
    return RawFiles(
        recording_id=recording.recording_id, expires_at=_expires_at(DOWNLOAD_URL_EXPIRY_S), files=files
    )


def _recording_keys(recording_id: str) -> list[str]:
    raw = [out.key(recording_id) for out in catalogue.raw_outputs()]
    return raw + [out.key(recording_id) for out in catalogue.PROCESSED_OUTPUTS]


def _target_has_data(platform: PlatformDep, target_id: str) -> bool:
    if any(platform.object_store.exists(key) for key in _recording_keys(target_id)):
        return True
    states = platform.state_store.job_states(target_id)
    return any(status.state is not JobState.PENDING for status in states)


def _copy_objects(store: ObjectStore, source_id: str, target_id: str) -> tuple[list[str], list[str]]:
    """Make the target's objects mirror the source's; returns (copied, deleted) target keys."""
    copied, deleted = [], []
    for source_key, target_key in zip(_recording_keys(source_id), _recording_keys(target_id), strict=True):
        if store.exists(source_key):
            store.copy(source_key, target_key)
            copied.append(target_key)
        elif store.exists(target_key):
            store.delete(target_key)
            deleted.append(target_key)
    return copied, deleted


@router.post(
    f"{BASE}/duplicate",
    dependencies=[ZolaAuth],
    response_model=Duplicated,
    responses={
        **_AUTH_RESPONSES,
        409: problem_doc("the target has data (use force), or the source or the target has jobs in flight"),
        422: problem_doc("invalid body, or the target is the source"),
    },
    summary="Copy raw, processed and state to another recording (Zola token)",
    description=(
        "The target is registered with the source's metadata under its own id if it is new. A target "
        "that already has raw or processed files, or jobs past pending, is refused with 409 unless "
        "`force` is true; then it becomes an exact copy (target files the source lacks are deleted). "
        "Refused (409) while a job of the source or of the target is in flight, `force` or not."
    ),
)
def duplicate_recording(
    recording: ExistingRecording, platform: PlatformDep, body: DuplicateRequest
) -> Duplicated:
    source_id, target_id = recording.recording_id, body.target_recording_id
    if source_id == target_id:
        raise Problem(
            422,
            "target_recording_id is the source recording",
            invalid_params=[{"name": "target_recording_id", "reason": "same as source"}],
        )
    if not body.force and _target_has_data(platform, target_id):
        raise Problem(409, f"recording {target_id} already has data; repeat with force=true to overwrite it")
    # Checked before copying files, so a refused copy leaves the target untouched; `force` overwrites
    # data, never a job still at work (copy_recording_state checks both again in its transaction).
    for recording_id in (source_id, target_id):
        busy = [s.job_type for s in platform.state_store.job_states(recording_id) if s.state in IN_FLIGHT]
        if busy:
            raise Problem(409, f"recording {recording_id} has jobs in flight: {', '.join(busy)}")
    copied, deleted = _copy_objects(platform.object_store, source_id, target_id)
    try:
        platform.state_store.copy_recording_state(source_id, target_id)
    except RecordingBusy as error:
        raise Problem(409, str(error)) from error
    return Duplicated(
        source_recording_id=source_id, target_recording_id=target_id, copied=copied, deleted=deleted
    )
