"""What the upload sensor does with one complete video: probe it, register its recording, and
write the upload's outcome. Dagster-free, so it is tested as a plain function.

Idempotent: an upload whose outcome is written is left alone; one that registered its recording but
crashed before writing the outcome is recognised by the recording's video URI and finishes the same
way; the same bytes uploaded again for a registered recording end `registered` and start nothing.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ras_core.ids import is_valid_recording_id
from ras_core.recording import InvalidRecordingMetadata, RecordingMetadata
from ras_core.uploads import (
    UPLOADS_PREFIX,
    UploadState,
    metadata_key,
    outcome_key,
    parse_original_key,
    recording_from_upload,
    upload_id_floor,
)
from ras_platform.clip_cutting import UnreadableVideo, video_key
from ras_platform.object_store import ObjectInfo, ObjectNotFound, ObjectStore, file_sha256
from ras_platform.state_store import StateStore
from ras_platform.uploads import UploadOutcome
from ras_platform.video import NotAVideo, probe_video


@dataclass(frozen=True)
class Intake:
    upload_id: str
    outcome: UploadOutcome
    # Set when this upload's recording should be analysed now (new, or registered before a crash).
    start_recording: str | None = None
    already_decided: bool = False


def take_in(key: str, objects: ObjectStore, store: StateStore) -> Intake:
    """Decide one `uploads/{id}/original.{ext}`; writes `outcome.json` unless it was decided before."""
    upload_id = parse_original_key(key)
    if upload_id is None:
        raise ValueError(f"{key} is not an upload's video")
    try:
        return Intake(
            upload_id,
            UploadOutcome.from_json(objects.get_bytes(outcome_key(upload_id))),
            already_decided=True,
        )
    except ObjectNotFound:
        pass
    intake = _decide(upload_id, key, objects, store)
    objects.put_bytes(outcome_key(upload_id), intake.outcome.to_json())
    return intake


def _decide(upload_id: str, key: str, objects: ObjectStore, store: StateStore) -> Intake:
    def failed(reason: str, recording_id: str | None = None) -> Intake:
        return Intake(upload_id, UploadOutcome(UploadState.FAILED, reason=reason, recording_id=recording_id))

    try:
        sidecar = json.loads(objects.get_bytes(metadata_key(upload_id)))
    except ObjectNotFound:
        return failed("no metadata: neither given at initiation nor as metadata.json beside the video")
    except json.JSONDecodeError as error:
        return failed(f"metadata.json is not JSON: {error}")
    recording_id = sidecar.get("recording_id") if isinstance(sidecar, dict) else None
    if not isinstance(recording_id, str) or not is_valid_recording_id(recording_id):
        return failed(f"metadata.json names no valid recording_id: {recording_id!r}")
    with tempfile.TemporaryDirectory(prefix="ras-upload-") as workdir:
        path = objects.local_path(key) or objects.download(key, Path(workdir) / Path(key).name)
        try:
            probe = probe_video(path)
        except NotAVideo as error:
            return failed(f"not a readable video: {error}", recording_id)
        sha256 = file_sha256(path)
    uri = objects.uri(key)
    try:
        recording = recording_from_upload(recording_id, sidecar, probe, uri)
    except InvalidRecordingMetadata as invalid:
        return failed(f"recording metadata invalid: {invalid}", recording_id)

    def registered(reason: str | None, start: bool) -> Intake:
        outcome = UploadOutcome(
            UploadState.REGISTERED,
            reason=reason,
            recording_id=recording_id,
            sha256=sha256,
            video=probe.to_dict(),
            started_analysis=start,
        )
        return Intake(upload_id, outcome, start_recording=recording_id if start else None)

    existing = store.get_recording(recording_id)
    if existing is None:
        store.register_recording(recording)
        return registered(None, True)
    if uri in existing.video_uris:  # registered by this very upload before a crash: finish the job
        return registered(None, True)
    earlier_id = upload_of_recording(existing, objects)
    earlier = _outcome_of(earlier_id, objects) if earlier_id else None
    if earlier is not None and earlier.sha256 == sha256:
        return registered(f"the same video as upload {earlier_id}: nothing to do", False)
    return failed(f"recording {recording_id} is already registered with another video", recording_id)


def _outcome_of(upload_id: str, objects: ObjectStore) -> UploadOutcome | None:
    try:
        return UploadOutcome.from_json(objects.get_bytes(outcome_key(upload_id)))
    except ObjectNotFound:
        return None


def upload_of_recording(recording: RecordingMetadata, objects: ObjectStore) -> str | None:
    """The upload a recording's video came from, if it came from one."""
    for uri in recording.video_uris:
        try:
            upload_id = parse_original_key(video_key(objects, uri))
        except UnreadableVideo:
            continue
        if upload_id is not None:
            return upload_id
    return None


@dataclass(frozen=True, order=True)
class UploadCursor:
    modified: datetime
    key: str

    def encode(self) -> str:
        return json.dumps({"modified": self.modified.isoformat(), "key": self.key})

    @classmethod
    def decode(cls, raw: str | None) -> UploadCursor | None:
        if not raw:
            return None
        data = json.loads(raw)
        return cls(datetime.fromisoformat(data["modified"]), data["key"])

    @classmethod
    def of(cls, info: ObjectInfo) -> UploadCursor:
        return cls(info.modified, info.key)


# S3 lists LastModified to the second. A video completing later in a second the cursor has already
# passed would sort before the cursor and be missed; videos younger than this are left for a later
# tick, so a second is closed before the cursor moves into it.
SETTLE = timedelta(seconds=2)


def videos_after(
    objects: ObjectStore,
    cursor: UploadCursor | None,
    limit: int,
    *,
    now: datetime | None = None,
    horizon: timedelta | None = None,
) -> list[ObjectInfo]:
    """The complete, settled videos under uploads/ after `cursor`, oldest first, at most `limit`.

    With a `horizon` (how long an upload may take), the listing starts at the first upload id that
    could still complete after the cursor, not at the first upload ever: upload ids are time-ordered
    (`new_upload_id`), and one initiated more than `horizon` before the cursor completed or expired
    before it. So the listing covers the uploads of one horizon, however many came before.
    """
    settled = (now or datetime.now(UTC)) - SETTLE
    start_after = None
    if cursor is not None and horizon is not None:
        start_after = f"{UPLOADS_PREFIX}{upload_id_floor(cursor.modified - horizon)}"
    videos = [
        info
        for info in objects.list(UPLOADS_PREFIX, start_after=start_after)
        if parse_original_key(info.key)
        and info.modified < settled
        and (cursor is None or UploadCursor.of(info) > cursor)
    ]
    return sorted(videos, key=UploadCursor.of)[:limit]
