"""Resumable video uploads over the object store's multipart protocol (contracts.md "Video uploads").

The API initiates, reports, completes and aborts uploads here; the upload sensor reads the same
objects and writes each upload's outcome. Everything an upload is lives in the object store under
`uploads/{upload_id}/` (ras_core.uploads), so the sensor needs no API table and a client may even
bring a video and its sidecar with plain object-store writes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ras_core.uploads import (
    UploadState,
    metadata_key,
    new_upload_id,
    original_key,
    outcome_key,
    part_count,
    part_size_for,
    record_key,
)
from ras_platform.object_store import ObjectNotFound, ObjectStore, PartInfo, UploadNotFound
from ras_platform.settings import Settings


class UnknownUpload(LookupError):
    """No upload with this id (never initiated, or aborted)."""


class UploadClosed(RuntimeError):
    """The upload can take no more parts: it completed, expired or failed."""


@dataclass(frozen=True)
class UploadRecord:
    """What the API wrote at initiation (`upload.json`)."""

    upload_id: str
    recording_id: str
    filename: str
    extension: str
    size_bytes: int
    content_type: str
    part_size: int
    multipart_id: str  # the object store's own id of the multipart upload
    created_at: datetime
    expires_at: datetime

    @property
    def original_key(self) -> str:
        return original_key(self.upload_id, self.extension)

    @property
    def part_count(self) -> int:
        return part_count(self.size_bytes, self.part_size)

    def to_json(self) -> bytes:
        data = asdict(self)
        data.update(created_at=self.created_at.isoformat(), expires_at=self.expires_at.isoformat())
        return json.dumps(data, indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> UploadRecord:
        data = json.loads(raw)
        data.update(
            created_at=datetime.fromisoformat(data["created_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
        )
        return cls(**data)


@dataclass(frozen=True)
class UploadOutcome:
    """What the upload sensor decided (`outcome.json`): registered or failed, and why."""

    state: str
    reason: str | None = None
    recording_id: str | None = None
    sha256: str | None = None
    video: dict[str, Any] | None = None
    started_analysis: bool = False

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> UploadOutcome:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class UploadStatus:
    record: UploadRecord
    state: str
    parts_received: list[PartInfo] = field(default_factory=list)
    reason: str | None = None


@dataclass(frozen=True)
class Uploads:
    """The upload operations over one object store."""

    objects: ObjectStore
    preferred_part_size: int
    expiry: timedelta

    def initiate(
        self,
        *,
        recording_id: str,
        filename: str,
        extension: str,
        size_bytes: int,
        content_type: str,
        metadata: dict[str, Any],
        now: datetime | None = None,
    ) -> UploadRecord:
        now = now or datetime.now(UTC)
        upload_id = new_upload_id()
        key = original_key(upload_id, extension)
        record = UploadRecord(
            upload_id=upload_id,
            recording_id=recording_id,
            filename=filename,
            extension=extension,
            size_bytes=size_bytes,
            content_type=content_type,
            part_size=part_size_for(size_bytes, self.preferred_part_size),
            multipart_id=self.objects.create_multipart(key),
            created_at=now,
            expires_at=now + self.expiry,
        )
        sidecar = {"recording_id": recording_id, **metadata}
        self.objects.put_bytes(metadata_key(upload_id), json.dumps(sidecar, indent=1).encode())
        # The record last: an upload exists (for GET and the sweep) once everything it names does.
        self.objects.put_bytes(record_key(upload_id), record.to_json())
        return record

    def part_urls(
        self, record: UploadRecord, numbers: list[int], *, now: datetime | None = None
    ) -> list[str]:
        """Presigned PUT URLs for these parts, valid until the upload expires."""
        seconds_left = int((record.expires_at - (now or datetime.now(UTC))).total_seconds())
        return [
            self.objects.presign_upload_part(record.original_key, record.multipart_id, number, seconds_left)
            for number in numbers
        ]

    def record(self, upload_id: str) -> UploadRecord:
        try:
            return UploadRecord.from_json(self.objects.get_bytes(record_key(upload_id)))
        except ObjectNotFound:
            raise UnknownUpload(upload_id) from None

    def outcome(self, upload_id: str) -> UploadOutcome | None:
        try:
            return UploadOutcome.from_json(self.objects.get_bytes(outcome_key(upload_id)))
        except ObjectNotFound:
            return None

    def status(self, upload_id: str) -> UploadStatus:
        record = self.record(upload_id)
        outcome = self.outcome(upload_id)
        if outcome is not None:
            return UploadStatus(record, outcome.state, reason=outcome.reason)
        if self.objects.exists(record.original_key):
            return UploadStatus(record, UploadState.COMPLETED)
        try:
            parts = self.objects.list_parts(record.original_key, record.multipart_id)
        except UploadNotFound:
            # Neither parts nor a video: the sweep is expiring it right now.
            return UploadStatus(record, UploadState.FAILED, reason=_expired_reason(record))
        state = UploadState.UPLOADING if parts else UploadState.INITIATED
        return UploadStatus(record, state, parts_received=parts)

    def complete(
        self, upload_id: str, parts: list[tuple[int, str]], *, now: datetime | None = None
    ) -> UploadStatus:
        """Assemble the parts into `original.{ext}`. Completing a completed upload changes nothing."""
        record = self.record(upload_id)
        if self.objects.exists(record.original_key):
            return self.status(upload_id)
        if (now or datetime.now(UTC)) > record.expires_at:
            raise UploadClosed(_expired_reason(record))
        try:
            self.objects.complete_multipart(record.original_key, record.multipart_id, parts)
        except UploadNotFound:
            if self.objects.exists(record.original_key):  # a concurrent complete won
                return self.status(upload_id)
            raise UploadClosed(_expired_reason(record)) from None
        return self.status(upload_id)

    def abort(self, upload_id: str) -> None:
        """Remove the upload's parts and its objects; an aborted upload is unknown afterwards."""
        record = self.record(upload_id)
        self.objects.abort_multipart(record.original_key, record.multipart_id)
        for key in (record.original_key, metadata_key(upload_id), outcome_key(upload_id)):
            self.objects.delete(key)
        self.objects.delete(record_key(upload_id))

    def fail(self, upload_id: str, reason: str, *, recording_id: str | None = None) -> UploadOutcome:
        outcome = UploadOutcome(UploadState.FAILED, reason=reason, recording_id=recording_id)
        self.objects.put_bytes(outcome_key(upload_id), outcome.to_json())
        return outcome

    def expire_stale(self, *, now: datetime | None = None, limit: int = 100) -> list[str]:
        """Abort the multipart uploads under `uploads/` whose upload expired, and mark those uploads
        failed; at most `limit` per call. Returns the upload ids expired.

        The store's initiation time only preselects (moto reports a fixed date in 2010); the upload's
        own record decides. A multipart upload without a record (initiate crashed between the two
        writes) is left to the bucket's lifecycle rule AbortIncompleteMultipartUpload
        (docs/deployment.md): from here it cannot be told apart from one being initiated right now.
        """
        now = now or datetime.now(UTC)
        expired: list[str] = []
        for upload in self.objects.list_multipart("uploads/"):
            if upload.initiated >= now - self.expiry or len(expired) >= limit:
                continue
            upload_id = upload.key.split("/")[1]
            try:
                record = self.record(upload_id)
            except UnknownUpload:
                continue
            if now <= record.expires_at or upload.upload_id != record.multipart_id:
                continue
            self.objects.abort_multipart(upload.key, upload.upload_id)
            if self.outcome(upload_id) is None:
                self.fail(upload_id, f"expired: not completed within {self.expiry}")
            expired.append(upload_id)
        return expired


def _expired_reason(record: UploadRecord) -> str:
    return f"expired: not completed before {record.expires_at.isoformat()}"


def uploads_of(objects: ObjectStore, settings: Settings) -> Uploads:
    return Uploads(objects, settings.upload_part_size, timedelta(seconds=settings.upload_expiry_s))
