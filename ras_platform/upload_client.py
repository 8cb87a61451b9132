"""A client of the upload API (contracts.md "Video uploads"): `ras upload` and `ras demo` use it.

The video goes straight to the object store through the presigned part URLs the API hands out. The
upload id is kept in a small resume file next to the video until the upload completes, so running
the same command again after an interruption asks `GET /uploads/{id}` which parts arrived and sends
only the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PART_TIMEOUT_S = 300.0
# What a metadata file may hold beyond the upload's metadata: the fields the upload and the probe
# provide are dropped, so a full recording metadata file (contracts.md) works as well.
_FROM_THE_UPLOAD = ("recording_id", "fps", "duration_s", "video_uris")

Progress = Callable[[int], None]  # called with the bytes just sent


class UploadFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class UploadResult:
    upload_id: str
    state: str
    resumed: bool
    parts_sent: int


def resume_file(video: Path) -> Path:
    return video.with_name(f"{video.name}.ras-upload.json")


def upload_metadata(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in _FROM_THE_UPLOAD}


class UploadClient:
    def __init__(self, api_base_url: str, token: str, *, client: httpx.Client | None = None) -> None:
        self._api = client or httpx.Client(base_url=api_base_url, headers={"X-Token": token}, timeout=60.0)
        # Part URLs are absolute (the object store's); they get no API token.
        self._parts = httpx.Client(timeout=PART_TIMEOUT_S)

    def close(self) -> None:
        self._api.close()
        self._parts.close()

    def __enter__(self) -> UploadClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def upload(
        self,
        video: Path,
        *,
        recording_id: str,
        metadata: dict[str, Any],
        progress: Progress | None = None,
        stop_after_parts: int | None = None,
    ) -> UploadResult:
        """Upload `video` (resuming an earlier attempt of the same file and recording) and complete.

        `stop_after_parts` ends the call after sending that many parts, leaving the upload open, as
        a dropped connection would: the next call resumes it.
        """
        status, resumed = self._resume(video, recording_id), True
        if status is None:
            status, resumed = self._initiate(video, recording_id, metadata), False
            resume_file(video).write_text(
                json.dumps({"upload_id": status["upload_id"], "recording_id": recording_id})
            )
        upload_id = status["upload_id"]
        if status.get("state") == "completed":  # an earlier run completed it but was cut off after
            resume_file(video).unlink(missing_ok=True)
            return UploadResult(upload_id, "completed", resumed, 0)
        if progress is not None:
            progress(sum(part["size"] for part in status.get("parts_received", [])))
        etags = {part["part_number"]: part["etag"] for part in status.get("parts_received", [])}
        sent = 0
        for part in status["parts_missing"]:
            if stop_after_parts is not None and sent >= stop_after_parts:
                return UploadResult(upload_id, "uploading", resumed, sent)
            etags[part["part_number"]] = self._send_part(video, part, status["part_size"], progress)
            sent += 1
        completed = self._api.post(
            f"/uploads/{upload_id}/complete",
            json={"parts": [{"part_number": n, "etag": etag} for n, etag in sorted(etags.items())]},
        )
        _raise_for(completed, f"completing upload {upload_id}")
        resume_file(video).unlink(missing_ok=True)
        return UploadResult(upload_id, completed.json()["state"], resumed, sent)

    def status(self, upload_id: str) -> dict[str, Any]:
        response = self._api.get(f"/uploads/{upload_id}")
        _raise_for(response, f"reading upload {upload_id}")
        return response.json()

    def _resume(self, video: Path, recording_id: str) -> dict[str, Any] | None:
        try:
            earlier = json.loads(resume_file(video).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if earlier.get("recording_id") != recording_id:
            return None
        response = self._api.get(f"/uploads/{earlier['upload_id']}")
        if response.status_code == 404:
            return None
        _raise_for(response, "reading the upload to resume")
        status = response.json()
        # Completed ones re-complete harmlessly; failed or expired ones start afresh.
        return status if status["state"] in ("initiated", "uploading", "completed") else None

    def _initiate(self, video: Path, recording_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
        response = self._api.post(
            "/uploads",
            json={
                "recording_id": recording_id,
                "filename": video.name,
                "size_bytes": video.stat().st_size,
                "content_type": "video/mp4",
                "metadata": upload_metadata(metadata),
            },
        )
        _raise_for(response, "starting the upload")
        initiated = response.json()
        # The same shape as a status, so a fresh upload and a resumed one go through one loop.
        return {**initiated, "parts_missing": initiated["parts"], "parts_received": []}

    def _send_part(self, video: Path, part: dict[str, Any], part_size: int, progress: Progress | None) -> str:
        with open(video, "rb") as source:
            source.seek((part["part_number"] - 1) * part_size)
            body = source.read(part_size)
        response = self._parts.put(part["url"], content=body)
        _raise_for(response, f"sending part {part['part_number']}")
        if progress is not None:
            progress(len(body))
        return response.headers["etag"]


def _raise_for(response: httpx.Response, doing: str) -> None:
    if response.is_success:
        return
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise UploadFailed(f"{doing}: HTTP {response.status_code}: {detail}")
