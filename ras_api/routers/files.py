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
from ras_core.catalogue import RawOutput
from ras_core.states import IN_FLIGHT, JobState
from ras_platform.object_store import ObjectInfo, ObjectStore
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
    # The current attempt's keys: a retry uploads beside the attempt that failed, never over it.
    attempt = platform.state_store.job_status(recording.recording_id, job_type).attempt
    uploads = [
        UploadUrl(
            name=raw.name,
            format=raw.file_format,
            key=(key := raw.key(recording.recording_id, attempt)),
            url=platform.object_store.presign_put(key, UPLOAD_URL_EXPIRY_S),
            attempt=attempt,
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
            # Every attempt's file, oldest first: support staff compare a failed attempt with its retry.
            for info, attempt in _attempt_files(store, raw, recording.recording_id):
                url = store.presign_get(info.key, DOWNLOAD_URL_EXPIRY_S)
                files.append(
                    RawFile(
                        job_type=job.name,
                        name=raw.name,
                        key=info.key,
                        size_bytes=info.size,
                        etag=info.etag,
                        url=url,
                        attempt=attempt,
                    )
                )
    return RawFiles(
        recording_id=recording.recording_id, expires_at=_expires_at(DOWNLOAD_URL_EXPIRY_S), files=files
    )


def _attempt_files(store: ObjectStore, raw: RawOutput, recording_id: str) -> list[tuple[ObjectInfo, int]]:
    found = []
    for info in store.list(raw.prefix(recording_id)):
        parsed = catalogue.parse_raw_key(info.key)
        if parsed is not None and parsed[0] == raw and parsed[1] == recording_id:
            found.append((info, parsed[2]))
    return sorted(found, key=lambda pair: pair[1])


def _recording_keys(store: ObjectStore, recording_id: str) -> dict[str, str]:
    """The recording's objects that exist, by a name shared across recordings: every attempt's raw
    file (raw name and attempt) and every processed output."""
    keys = {
        f"{raw.name}@{attempt}": info.key
        for raw in catalogue.raw_outputs()
        for info, attempt in _attempt_files(store, raw, recording_id)
    }
    processed = {out.name: out.key(recording_id) for out in catalogue.PROCESSED_OUTPUTS}
    # Sidecars too: a copy without its sidecar would be served, only more slowly (ras_core.rendered).
    sidecars = {
        f"{out.name}.{sidecar}": out.sidecar_key(recording_id, sidecar)
        for out in catalogue.PROCESSED_OUTPUTS
        for sidecar in out.sidecars
    }
    return keys | {name: key for name, key in (processed | sidecars).items() if store.exists(key)}


def _target_key(source_key: str, source_id: str, target_id: str) -> str:
    if (parsed := catalogue.parse_raw_key(source_key)) is not None:
        return parsed[0].key(target_id, parsed[2])
    out = catalogue.processed_output(source_key.split("/")[1])
    for sidecar in out.sidecars:
        if source_key == out.sidecar_key(source_id, sidecar):
            return out.sidecar_key(target_id, sidecar)
    return out.key(target_id)


def _target_has_data(platform: PlatformDep, target_id: str) -> bool:
    if _recording_keys(platform.object_store, target_id):
        return True
    states = platform.state_store.job_states(target_id)
    return any(status.state is not JobState.PENDING for status in states)


def _copy_objects(store: ObjectStore, source_id: str, target_id: str) -> tuple[list[str], list[str]]:
    """Make the target's objects mirror the source's; returns (copied, deleted) target keys.

    Raw files are write-once in every store, so the target's are removed before the copy: a forced
    duplicate replaces the target recording wholesale, it never rewrites one attempt's file.
    """
    copied, deleted = [], []
    wanted = {
        _target_key(key, source_id, target_id): key for key in _recording_keys(store, source_id).values()
    }
    for target_key in _recording_keys(store, target_id).values():
        if target_key not in wanted or catalogue.parse_raw_key(target_key) is not None:
            store.delete(target_key)
            if target_key not in wanted:
                deleted.append(target_key)
    for target_key, source_key in sorted(wanted.items()):
        store.copy(source_key, target_key)
        copied.append(target_key)
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
        platform.lifecycle.copy_recording(source_id, target_id)
    except RecordingBusy as error:
        raise Problem(409, str(error)) from error
    return Duplicated(
        source_recording_id=source_id, target_recording_id=target_id, copied=copied, deleted=deleted
    )
