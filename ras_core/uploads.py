"""Video uploads (contracts.md "Video uploads"): where an upload's objects live, how it is cut into
parts, and how a probed video plus the metadata given at initiation become a recording.

An upload is a folder of objects, the source of truth for the API and the upload sensor alike:
- `uploads/{upload_id}/upload.json`: what the client declared at initiation (written by the API);
- `uploads/{upload_id}/metadata.json`: the recording metadata without fps, duration and video URIs
  (the sidecar; the API writes it from the initiation, a client may write it itself);
- `uploads/{upload_id}/original.{ext}`: the video, appearing whole when the upload completes;
- `uploads/{upload_id}/outcome.json`: what the upload sensor made of it (registered or failed, why).
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ras_core.recording import RecordingMetadata, parse_recording_metadata

UPLOADS_PREFIX = "uploads/"
ORIGINAL_STEM = "original"
VIDEO_EXTENSIONS = ("mp4", "mov", "m4v", "mkv", "webm", "avi", "ts", "mts")
MAX_PARTS = 10_000  # S3's limit on the parts of one upload
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part (all but the last)
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_ORIGINAL_KEY = re.compile(rf"uploads/([0-9a-f]{{32}})/{ORIGINAL_STEM}\.([a-z0-9]{{1,5}})")


class UploadState:
    """The states of contracts.md, in the order an upload moves through them."""

    INITIATED = "initiated"
    UPLOADING = "uploading"
    COMPLETED = "completed"
    REGISTERED = "registered"
    FAILED = "failed"


def new_upload_id(now: datetime | None = None) -> str:
    """32 hex digits, time-ordered like a UUIDv7: the initiation's milliseconds since the epoch (12
    digits), then 80 random bits. Listing from `upload_id_floor(t)` skips every upload begun before t."""
    moment = now or datetime.now(UTC)
    return f"{int(moment.timestamp() * 1000):012x}{secrets.token_hex(10)}"


def upload_id_floor(moment: datetime) -> str:
    """The smallest upload id initiated at or after `moment`."""
    return f"{max(0, int(moment.timestamp() * 1000)):012x}" + "0" * 20


def is_upload_id(value: str) -> bool:
    return _UPLOAD_ID.fullmatch(value) is not None


def upload_folder(upload_id: str) -> str:
    return f"{UPLOADS_PREFIX}{upload_id}/"


def record_key(upload_id: str) -> str:
    return f"{upload_folder(upload_id)}upload.json"


def metadata_key(upload_id: str) -> str:
    return f"{upload_folder(upload_id)}metadata.json"


def outcome_key(upload_id: str) -> str:
    return f"{upload_folder(upload_id)}outcome.json"


def original_key(upload_id: str, extension: str) -> str:
    return f"{upload_folder(upload_id)}{ORIGINAL_STEM}.{extension}"


def parse_original_key(key: str) -> str | None:
    """The upload id if `key` is an upload's video (`uploads/{id}/original.{ext}`), else None."""
    match = _ORIGINAL_KEY.fullmatch(key)
    return match.group(1) if match else None


def video_extension(filename: str) -> str | None:
    """The lower-case extension of a video file name, or None if it names no known container.

    Only the name is judged here; whether the bytes are a video is the prober's call.
    """
    _, dot, extension = filename.rpartition(".")
    extension = extension.lower()
    return extension if dot and extension in VIDEO_EXTENSIONS else None


def part_size_for(size_bytes: int, preferred: int) -> int:
    """The part size for a file: `preferred`, grown when the file would need more than MAX_PARTS."""
    return max(preferred, math.ceil(size_bytes / MAX_PARTS))


def part_count(size_bytes: int, part_size: int) -> int:
    return max(1, math.ceil(size_bytes / part_size))


@dataclass(frozen=True)
class ProbedVideo:
    """What the prober read from a video's container and first video stream."""

    duration_s: float
    fps: float
    width: int
    height: int
    codec: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration_s,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "codec": self.codec,
        }


def recording_from_upload(
    recording_id: str, sidecar: dict[str, Any], video: ProbedVideo, video_uri: str
) -> RecordingMetadata:
    """The recording an upload registers: fps and duration from the probe, the video URI from the
    upload, the rest from the sidecar. Without periods the whole video is one period.

    Raises InvalidRecordingMetadata naming every problem (periods beyond the video, no pitch, ...).
    """
    data = {key: value for key, value in sidecar.items() if key != "recording_id"}
    data.setdefault("periods", [{"id": 1, "start_s": 0.0, "end_s": video.duration_s}])
    data.update(recording_id=recording_id, fps=video.fps, duration_s=video.duration_s, video_uris=[video_uri])
    return parse_recording_metadata(data)
