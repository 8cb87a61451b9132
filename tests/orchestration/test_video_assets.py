"""`video` and `video_renditions` for an uploaded recording, then the API plays them back."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import materialize
from fastapi.testclient import TestClient

from ras_api.app import create_app
from ras_assets.video import video, video_renditions
from ras_core.uploads import metadata_key, new_upload_id, original_key
from ras_platform.ffmpeg import make_test_video
from ras_platform.settings import Settings
from ras_platform.upload_intake import take_in
from ras_platform.video import renditions_key, video_folder
from tests.orchestration.support import SIGNING_KEY, Platform

RECORDING_ID = "rec-video"


def _uploaded_recording(platform: Platform, tmp_path: Path) -> None:
    source = tmp_path / "source.mp4"
    make_test_video(source, duration_s=9, width=640, height=360, match_clock=False)
    upload_id = new_upload_id()
    sidecar = {"recording_id": RECORDING_ID, "pitch": {"length_m": 105.0, "width_m": 68.0}}
    platform.objects.put_bytes(metadata_key(upload_id), json.dumps(sidecar).encode())
    platform.objects.put_file(original_key(upload_id, "mp4"), source)
    assert (
        take_in(original_key(upload_id, "mp4"), platform.objects, platform.store).start_recording
        == RECORDING_ID
    )
    platform.instance.add_dynamic_partitions("recordings", [RECORDING_ID])


def test_renditions_are_written_once_and_played_back(platform: Platform, tmp_path: Path) -> None:
    _uploaded_recording(platform, tmp_path)
    result = materialize(
        [video, video_renditions],
        partition_key=RECORDING_ID,
        resources=platform.resources,
        instance=platform.instance,
    )
    assert result.success
    probed = result.asset_materializations_for_node("video")[0].metadata
    assert probed["resolution"].value == "640x360" and probed["duration_s"].value == 9.0
    assert platform.objects.exists(f"{video_folder(RECORDING_ID)}thumbnail.jpg")
    listing = json.loads(platform.objects.get_bytes(renditions_key(RECORDING_ID)))
    assert [r["name"] for r in listing["renditions"]] == ["360p"]  # 720p is above the source: skipped
    segments = [
        info
        for info in platform.objects.list(f"{video_folder(RECORDING_ID)}360p/")
        if info.key.endswith(".ts")
    ]
    assert len(segments) == 3  # 9 s in ~4 s segments
    etags = {info.key: info.etag for info in platform.objects.list(video_folder(RECORDING_ID))}

    again = materialize(
        [video_renditions],
        partition_key=RECORDING_ID,
        resources=platform.resources,
        instance=platform.instance,
    )
    rerun = again.asset_materializations_for_node("video_renditions")[0].metadata
    assert rerun["written"].value == "before (write-once)"
    now = {info.key: info.etag for info in platform.objects.list(video_folder(RECORDING_ID))}
    assert {k: v for k, v in now.items() if "/360p/" in k} == {
        k: v for k, v in etags.items() if "/360p/" in k
    }

    settings = Settings(data_dir=tmp_path, api_base_url="http://testserver", signing_key=SIGNING_KEY)
    with TestClient(create_app(settings)) as client:
        master = client.get(f"/recordings/{RECORDING_ID}/video/master.m3u8")
        assert master.status_code == 200
        assert master.headers["cache-control"] == "no-cache"
        assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
        assert "RESOLUTION=640x360" in master.text and "360p/index.m3u8" in master.text
        playlist = client.get(f"/recordings/{RECORDING_ID}/video/360p/index.m3u8")
        assert playlist.headers["cache-control"] == "public, max-age=31536000, immutable"
        first_segment = next(line for line in playlist.text.splitlines() if line.endswith(".ts"))
        segment = client.get(f"/recordings/{RECORDING_ID}/video/360p/{first_segment}")
        assert segment.status_code == 200 and segment.headers["content-type"] == "video/mp2t"
        assert segment.content[:1] == b"\x47"  # an MPEG-TS sync byte
        assert client.get(f"/recordings/{RECORDING_ID}/video/360p/../../ras.sqlite").status_code == 404
        assert client.get("/recordings/rec-none/video/master.m3u8").status_code == 404
