"""`upload_sensor` against a temporary Dagster instance and a real local object store: new videos are
registered and started once, the cursor neither misses nor repeats a video across ticks, and a tick
does bounded work however many uploads wait."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster import SensorResult, build_sensor_context

from ras_core.uploads import metadata_key, new_upload_id, original_key, outcome_key
from ras_platform.ffmpeg import make_test_video
from ras_platform.uploads import UploadOutcome
from resources import UploadsResource
from sensors.uploads import VIDEOS_PER_TICK, upload_sensor
from tests.orchestration.support import Platform

PITCH = {"length_m": 105.0, "width_m": 68.0}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    make_test_video(path, duration_s=3, match_clock=False)
    return path


def _upload(platform: Platform, recording_id: str, video: Path | bytes, *, sidecar: bool = True) -> str:
    """What a completed upload leaves in the object store: the sidecar and the video."""
    upload_id = new_upload_id()
    if sidecar:
        meta = {"recording_id": recording_id, "pitch": PITCH, "home_team": "Home FC"}
        platform.objects.put_bytes(metadata_key(upload_id), json.dumps(meta).encode())
    if isinstance(video, Path):
        platform.objects.put_file(original_key(upload_id, "mp4"), video)
    else:
        platform.objects.put_bytes(original_key(upload_id, "mp4"), video)
    _stamp(platform, upload_id, time.time() - 60)  # completed a minute ago: settled
    return upload_id


def _tick(platform: Platform, cursor: str | None = None) -> SensorResult:
    resources = {**platform.resources, "uploads": UploadsResource()}
    context = build_sensor_context(instance=platform.instance, cursor=cursor, resources=resources)
    return upload_sensor(context)


def _outcome(platform: Platform, upload_id: str) -> UploadOutcome:
    return UploadOutcome.from_json(platform.objects.get_bytes(outcome_key(upload_id)))


def _observed(result: SensorResult) -> list[dict]:
    return [{k: v.value for k, v in event.metadata.items()} for event in result.asset_events]


def test_a_new_video_is_probed_registered_and_started_once(platform: Platform, clip: Path) -> None:
    upload_id = _upload(platform, "rec-upload", clip)
    result = _tick(platform)

    recording = platform.store.get_recording("rec-upload")
    assert recording is not None
    assert (recording.fps, recording.duration_s) == (25.0, 3.0)
    assert recording.video_uris == (platform.objects.uri(original_key(upload_id, "mp4")),)
    assert recording.home_team == "Home FC"
    assert sorted(r.job_name for r in result.run_requests) == ["process_video", "validate_recordings"]
    [video_run] = [r for r in result.run_requests if r.job_name == "process_video"]
    assert video_run.partition_key == "rec-upload"
    assert [r for r, _ in platform.store.validation_requests()] == ["rec-upload"]
    assert [r.partition_keys for r in result.dynamic_partitions_requests] == [["rec-upload"]]
    outcome = _outcome(platform, upload_id)
    assert outcome.state == "registered" and outcome.started_analysis
    assert outcome.video == {"duration_s": 3.0, "fps": 25.0, "width": 320, "height": 180, "codec": "h264"}

    again = _tick(platform, result.cursor)
    assert again.run_requests == [] and again.asset_events == []


def test_the_same_bytes_again_end_registered_and_start_nothing(platform: Platform, clip: Path) -> None:
    first = _tick(platform, None) if _upload(platform, "rec-twice", clip) else None
    assert first is not None and len(first.run_requests) == 2
    second_id = _upload(platform, "rec-twice", clip)
    result = _tick(platform, first.cursor)
    assert result.run_requests == [] and result.dynamic_partitions_requests == []
    outcome = _outcome(platform, second_id)
    assert outcome.state == "registered" and not outcome.started_analysis
    assert "same video" in (outcome.reason or "")


def test_a_text_file_named_mp4_fails_with_the_probers_reason(platform: Platform) -> None:
    upload_id = _upload(platform, "rec-text", b"these are match notes, not a video\n" * 10)
    result = _tick(platform)
    outcome = _outcome(platform, upload_id)
    assert outcome.state == "failed"
    assert outcome.reason and "Invalid data found when processing input" in outcome.reason
    assert platform.store.get_recording("rec-text") is None
    assert result.run_requests == []
    assert _observed(result) == [
        {
            "upload_id": upload_id,
            "recording_id": "rec-text",
            "state": "failed",
            "reason": outcome.reason,
            "started_analysis": False,
        }
    ]


def _stamp(platform: Platform, upload_id: str, unix_time: float) -> None:
    os.utime(platform.objects.path_of(original_key(upload_id, "mp4")), (unix_time, unix_time))


def test_cursor_misses_and_repeats_nothing_and_each_tick_is_bounded(platform: Platform) -> None:
    # 1,000 uploads waiting, all stamped with the same second (the cursor's hardest case: S3 lists
    # times to the second), without sidecars so each is decided without a probe; more arrive while
    # the backlog drains.
    same_second = 1_700_000_000
    waiting = [_upload(platform, f"rec-{n}", b"x", sidecar=False) for n in range(1000)]
    for upload_id in waiting:
        _stamp(platform, upload_id, same_second)
    seen: list[str] = []
    cursor, late = None, []
    for tick in range(1000 // VIDEOS_PER_TICK + 5):
        result = _tick(platform, cursor)
        observed = [event["upload_id"] for event in _observed(result)]
        assert len(observed) <= VIDEOS_PER_TICK
        seen += observed
        cursor = result.cursor
        if tick in (3, 20):  # newer videos arrive while the older ones are still being taken in
            late.append(_upload(platform, "rec-late", b"y", sidecar=False))
            _stamp(platform, late[-1], same_second + tick)
    assert sorted(seen) == sorted(waiting + late)  # every one, once
    assert all(_outcome(platform, upload_id).reason.startswith("no metadata") for upload_id in seen)


def test_a_video_is_taken_only_once_its_second_is_over(platform: Platform) -> None:
    upload_id = _upload(platform, "rec-fresh", b"z", sidecar=False)
    _stamp(platform, upload_id, time.time() + 60)  # as young as it gets: still in the current second
    first = _tick(platform)
    assert first.asset_events == [] and first.cursor is None
    _stamp(platform, upload_id, time.time() - 60)
    assert [event["upload_id"] for event in _observed(_tick(platform, first.cursor))] == [upload_id]


def test_the_listing_starts_one_upload_horizon_before_the_cursor(platform: Platform) -> None:
    # Upload ids are time-ordered: an upload initiated more than its expiry before the cursor has
    # completed or expired long ago, so the listing skips it; a recent one is still found.
    _upload(platform, "rec-first", b"1", sidecar=False)
    cursor = _tick(platform).cursor
    now = datetime.now(UTC)
    ancient, recent = new_upload_id(now - timedelta(days=3)), new_upload_id(now - timedelta(hours=1))
    for upload_id in (ancient, recent):
        platform.objects.put_bytes(original_key(upload_id, "mp4"), b"2")
        _stamp(platform, upload_id, time.time() - 5)
    assert [event["upload_id"] for event in _observed(_tick(platform, cursor))] == [recent]
