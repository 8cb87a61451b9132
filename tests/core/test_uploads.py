"""Pure rules of video uploads: keys, part sizes, and the recording an upload registers."""

from __future__ import annotations

import json

import pytest

from ras_core.recording import InvalidRecordingMetadata
from ras_core.uploads import (
    MAX_PARTS,
    ProbedVideo,
    original_key,
    parse_original_key,
    part_count,
    part_size_for,
    recording_from_upload,
    video_extension,
)

UPLOAD_ID = "0123456789abcdef0123456789abcdef"
VIDEO = ProbedVideo(duration_s=60.0, fps=25.0, width=1280, height=720, codec="h264")
SIDECAR = {"recording_id": "rec-1", "pitch": {"length_m": 105.0, "width_m": 68.0}, "home_team": "Home FC"}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (original_key(UPLOAD_ID, "mp4"), UPLOAD_ID),
        (f"uploads/{UPLOAD_ID}/metadata.json", None),
        (f"uploads/{UPLOAD_ID}/original.mp4.part", None),
        ("uploads/not-hex/original.mp4", None),
        (f"raw/{UPLOAD_ID}/original.mp4", None),
    ],
)
def test_only_an_uploads_original_is_a_video_key(key: str, expected: str | None) -> None:
    assert parse_original_key(key) == expected


@pytest.mark.parametrize(
    ("name", "extension"), [("match.MP4", "mp4"), ("a.b.mov", "mov"), ("notes.txt", None), ("mp4", None)]
)
def test_video_extension_is_judged_by_name(name: str, extension: str | None) -> None:
    assert video_extension(name) == extension


def test_part_size_grows_only_when_parts_would_run_out() -> None:
    assert part_size_for(100, 8 << 20) == 8 << 20
    huge = (8 << 20) * MAX_PARTS * 3
    assert part_count(huge, part_size_for(huge, 8 << 20)) <= MAX_PARTS
    assert (
        part_count(0, 8 << 20) == 1
        and part_count(8 << 20, 8 << 20) == 1
        and part_count((8 << 20) + 1, 8 << 20) == 2
    )


def test_recording_takes_fps_and_duration_from_the_probe_and_the_rest_from_the_sidecar() -> None:
    recording = recording_from_upload("rec-1", SIDECAR, VIDEO, "s3://bucket/uploads/x/original.mp4")
    assert (recording.fps, recording.duration_s) == (25.0, 60.0)
    assert recording.video_uris == ("s3://bucket/uploads/x/original.mp4",)
    assert [(p.start_s, p.end_s) for p in recording.periods] == [(0.0, 60.0)]  # one period: the video
    assert recording.home_team == "Home FC"


def test_periods_beyond_the_video_are_named() -> None:
    sidecar = {**SIDECAR, "periods": [{"id": 1, "start_s": 0.0, "end_s": 2700.0}]}
    with pytest.raises(InvalidRecordingMetadata, match="period"):
        recording_from_upload("rec-1", sidecar, VIDEO, "file:///v.mp4")


def test_ema_requests_carry_the_uploaded_video() -> None:
    from ras_core import catalogue
    from ras_core.ema_requests import build_v2_request, build_v3_request

    uri = "s3://bucket/uploads/0123456789abcdef0123456789abcdef/original.mp4"
    recording = recording_from_upload("rec-1", SIDECAR, VIDEO, uri)
    requests = []
    for job_type, build in (("event-detection", build_v2_request), ("player-tracking", build_v3_request)):
        job = catalogue.job_type(job_type)
        upload_urls = {raw.name: f"http://put/{raw.name}" for raw in job.raw_outputs}
        requests.append(build(job, recording, upload_urls, {}, "http://cb"))
    v2, v3 = requests
    assert uri in json.dumps(v2) and uri in json.dumps(v3)


def test_upload_ids_sort_by_initiation_time() -> None:
    from datetime import UTC, datetime, timedelta

    from ras_core.uploads import is_upload_id, new_upload_id, upload_id_floor

    start = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    ids = [new_upload_id(start + timedelta(milliseconds=n)) for n in (0, 1, 1000, 3_600_000)]
    assert ids == sorted(ids) and all(is_upload_id(i) for i in ids)
    assert upload_id_floor(start) <= ids[0] < upload_id_floor(start + timedelta(milliseconds=1)) <= ids[1]
