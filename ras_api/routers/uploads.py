"""Video uploads (contracts.md "Video uploads"): initiate, status, complete, abort.

Videos never pass through the API: the client PUTs parts straight to the object store through the
presigned URLs answered here (S3 multipart in production, the API's own `/objects` route on the local
store), so an upload over a bad network resumes from `GET /uploads/{id}`. Completing assembles
`uploads/{upload_id}/original.{ext}`; the upload sensor takes it from there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ras_api.auth import ZolaAuth
from ras_api.deps import PlatformDep
from ras_api.edge import GuardedRoute
from ras_api.models import PeriodModel, PitchModel
from ras_api.problems import Problem
from ras_core.ids import RECORDING_ID_PATTERN, is_valid_recording_id
from ras_core.text import SAFE_TEXT_PATTERN, Label
from ras_core.uploads import VIDEO_EXTENSIONS, UploadState, is_upload_id, video_extension
from ras_platform.object_store import InvalidMultipart
from ras_platform.uploads import UnknownUpload, UploadClosed, UploadRecord, Uploads, UploadStatus

router = APIRouter(tags=["uploads"], dependencies=[ZolaAuth], route_class=GuardedRoute)
NO_STORE = {"Cache-Control": "no-store"}


class UploadMetadata(BaseModel):
    """The recording metadata without recording_id, fps, duration_s and video_uris (those come from
    the upload and the probe). Without periods, the whole video is one period."""

    model_config = ConfigDict(extra="forbid")
    pitch: PitchModel
    periods: list[PeriodModel] | None = None
    home_team: Label | None = Field(default=None, max_length=200)
    away_team: Label | None = Field(default=None, max_length=200)


class InitiateUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recording_id: str = Field(
        pattern=RECORDING_ID_PATTERN, max_length=64, description="the recording the video is of"
    )
    filename: str = Field(
        min_length=1,
        max_length=255,
        pattern=SAFE_TEXT_PATTERN,
        description=f"ends in .{', .'.join(VIDEO_EXTENSIONS)}",
    )
    size_bytes: int = Field(gt=0, le=5 * 1024**4, description="the whole file (S3's limit: 5 TiB)")
    content_type: str = Field(default="video/mp4", max_length=100)
    metadata: UploadMetadata


class PartUrl(BaseModel):
    part_number: int
    url: str


class ReceivedPart(BaseModel):
    part_number: int
    etag: str
    size: int


class UploadInitiated(BaseModel):
    upload_id: str
    recording_id: str
    part_size: int = Field(description="every part but the last has exactly this many bytes")
    parts: list[PartUrl]
    expires_at: datetime


class UploadStatusModel(BaseModel):
    upload_id: str
    recording_id: str
    state: str = Field(description="initiated, uploading, completed, registered or failed")
    parts_received: list[ReceivedPart]
    reason: str | None
    expires_at: datetime
    part_size: int
    parts_missing: list[PartUrl] = Field(
        description="fresh presigned URLs for the parts not received yet, while the upload takes parts"
    )


class CompletedPart(BaseModel):
    part_number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=200)


class CompleteUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parts: list[CompletedPart] = Field(min_length=1)


def upload_id_path(upload_id: Annotated[str, Path(description="32 lower-case hex digits")]) -> str:
    if not is_upload_id(upload_id):
        raise Problem(404, "no such upload")
    return upload_id


UploadId = Annotated[str, Depends(upload_id_path)]


def _status_model(uploads: Uploads, current: UploadStatus) -> UploadStatusModel:
    record = current.record
    taking_parts = current.state in (UploadState.INITIATED, UploadState.UPLOADING)
    received = {part.part_number for part in current.parts_received}
    missing = [n for n in range(1, record.part_count + 1) if n not in received] if taking_parts else []
    return UploadStatusModel(
        upload_id=record.upload_id,
        recording_id=record.recording_id,
        state=current.state,
        parts_received=[
            ReceivedPart(part_number=p.part_number, etag=p.etag, size=p.size) for p in current.parts_received
        ],
        reason=current.reason,
        expires_at=record.expires_at,
        part_size=record.part_size,
        parts_missing=_part_urls(uploads, record, missing),
    )


def _part_urls(uploads: Uploads, record: UploadRecord, numbers: list[int]) -> list[PartUrl]:
    urls = uploads.part_urls(record, numbers)
    return [PartUrl(part_number=n, url=url) for n, url in zip(numbers, urls, strict=True)]


def _status(uploads: Uploads, upload_id: str) -> UploadStatus:
    try:
        return uploads.status(upload_id)
    except UnknownUpload:
        raise Problem(404, f"no upload {upload_id}") from None


@router.post(
    "/uploads", status_code=status.HTTP_201_CREATED, response_model=UploadInitiated, summary="Start an upload"
)
def initiate_upload(request: InitiateUpload, platform: PlatformDep) -> UploadInitiated:
    if not is_valid_recording_id(request.recording_id):
        raise Problem(
            422,
            f"recording_id must match {RECORDING_ID_PATTERN}",
            invalid_params=[{"name": "recording_id", "reason": "pattern"}],
        )
    extension = video_extension(request.filename)
    if extension is None:
        raise Problem(
            422,
            f"filename must end in one of .{', .'.join(VIDEO_EXTENSIONS)}",
            invalid_params=[{"name": "filename", "reason": "not a video file name"}],
        )
    uploads = platform.uploads
    record = uploads.initiate(
        recording_id=request.recording_id,
        filename=request.filename,
        extension=extension,
        size_bytes=request.size_bytes,
        content_type=request.content_type,
        metadata=request.metadata.model_dump(exclude_none=True),
    )
    return UploadInitiated(
        upload_id=record.upload_id,
        recording_id=record.recording_id,
        part_size=record.part_size,
        parts=_part_urls(uploads, record, list(range(1, record.part_count + 1))),
        expires_at=record.expires_at,
    )


@router.get(
    "/uploads/{upload_id}", response_model=UploadStatusModel, summary="An upload's state and parts received"
)
def get_upload(upload_id: UploadId, platform: PlatformDep, response: Response) -> UploadStatusModel:
    response.headers.update(NO_STORE)
    return _status_model(platform.uploads, _status(platform.uploads, upload_id))


@router.post(
    "/uploads/{upload_id}/complete",
    response_model=UploadStatusModel,
    summary="Assemble the parts into the video",
)
def complete_upload(upload_id: UploadId, request: CompleteUpload, platform: PlatformDep) -> UploadStatusModel:
    uploads = platform.uploads
    parts = [(part.part_number, part.etag) for part in request.parts]
    try:
        completed = uploads.complete(upload_id, parts)
    except UnknownUpload:
        raise Problem(404, f"no upload {upload_id}") from None
    except UploadClosed as closed:
        raise Problem(409, str(closed)) from None
    except InvalidMultipart as invalid:
        raise Problem(400, f"the parts do not make the upload: {invalid}") from None
    return _status_model(uploads, completed)


@router.delete("/uploads/{upload_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Abort an upload")
def abort_upload(upload_id: UploadId, platform: PlatformDep) -> Response:
    current = _status(platform.uploads, upload_id)
    if current.state == UploadState.REGISTERED:
        raise Problem(409, f"upload {upload_id} registered recording {current.record.recording_id}; it stays")
    platform.uploads.abort(upload_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
