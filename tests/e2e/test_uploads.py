"""Recordings in through video uploads, end to end on both profiles (the real processes on loopback):
a generated video uploaded in presigned parts, interrupted after the first part, resumed from
GET /uploads/{id} and completed; the upload sensor registers the recording, its analysis completes
and its HLS master playlist is served. The same bytes again start nothing; a text file named .mp4
fails with the prober's reason."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ras_core import catalogue
from ras_platform.demo import ApiClient, wait_until_done
from ras_platform.ffmpeg import make_test_video
from ras_platform.stack import Stack
from ras_platform.upload_client import UploadClient, resume_file
from ras_tools.chaos import AwsDouble, production_settings_env
from tests.conftest import PostgresServer

pytestmark = pytest.mark.e2e

RECORDING_ID = "upload-e2e-001"
PART_SIZE = 5 * 1024 * 1024  # S3's smallest part: the video below makes two
METADATA = {
    "pitch": {"length_m": 105.0, "width_m": 68.0},
    "periods": [{"id": 1, "start_s": 0.0, "end_s": 15.0}, {"id": 2, "start_s": 15.0, "end_s": 30.0}],
    "home_team": "Home FC",
    "away_team": "Away FC",
}


def _wait_for(check: Callable[[], object], what: str, timeout_s: float = 180) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


def _upload_state(client: UploadClient, upload_id: str, states: tuple[str, ...]) -> dict:
    status = client.status(upload_id)
    return status if status["state"] in states else {}


def run_upload_scenario(stack: Stack, workdir: Path) -> None:
    video = workdir / "match.mp4"
    make_test_video(video, duration_s=30, width=640, height=360)
    assert video.stat().st_size > PART_SIZE, "the video must make at least two parts"
    with stack, UploadClient(stack.api_url, stack.settings.zola_token) as client:
        api = ApiClient(stack.api_url, stack.settings.zola_token)
        # The connection drops after the first part; the client resumes from GET /uploads/{id}.
        first = client.upload(video, recording_id=RECORDING_ID, metadata=METADATA, stop_after_parts=1)
        status = client.status(first.upload_id)
        assert status["state"] == "uploading"
        assert [p["part_number"] for p in status["parts_received"]] == [1]
        resumed = client.upload(video, recording_id=RECORDING_ID, metadata=METADATA)
        assert (resumed.upload_id, resumed.resumed, resumed.state) == (first.upload_id, True, "completed")
        assert not resume_file(video).exists()

        registered = _wait_for(
            lambda: _upload_state(client, first.upload_id, ("registered", "failed")), "the upload sensor"
        )
        assert registered["state"] == "registered", registered
        final = wait_until_done(api, [RECORDING_ID], timeout_s=300)
        states = {job["job_type"]: job["state"] for job in final[RECORDING_ID]["jobs"]}
        assert states == dict.fromkeys(catalogue.job_type_names(), "completed"), states

        master = _wait_for(
            lambda: (
                (r := httpx.get(f"{stack.api_url}/recordings/{RECORDING_ID}/video/master.m3u8")).is_success
                and r
            ),
            "the HLS renditions",
        )
        assert master.headers["cache-control"] == "no-cache"
        assert "360p/index.m3u8" in master.text and "720p" not in master.text  # the source is 360p
        segment = httpx.get(f"{stack.api_url}/recordings/{RECORDING_ID}/video/360p/seg_00000.ts")
        assert segment.is_success and segment.headers["cache-control"].endswith("immutable")

        # The same bytes again: registered, and nothing starts.
        log_before = api.http.get(f"/recordings/{RECORDING_ID}/analytics/logs").json()["entries"]
        resume_file(video).unlink(missing_ok=True)
        again = client.upload(video, recording_id=RECORDING_ID, metadata=METADATA)
        assert again.upload_id != first.upload_id
        repeat = _wait_for(
            lambda: _upload_state(client, again.upload_id, ("registered", "failed")), "the re-upload"
        )
        assert repeat["state"] == "registered" and "same video" in repeat["reason"], repeat
        stack.wait_for_runs()
        assert api.http.get(f"/recordings/{RECORDING_ID}/analytics/logs").json()["entries"] == log_before

        # A text file named .mp4: the upload fails with ffmpeg's reason and registers nothing.
        notes = workdir / "notes.mp4"
        notes.write_text("half-time notes, not a video\n" * 100)
        text = client.upload(notes, recording_id="upload-e2e-text", metadata=METADATA)
        failed = _wait_for(
            lambda: _upload_state(client, text.upload_id, ("registered", "failed")), "the text upload"
        )
        assert failed["state"] == "failed"
        assert "Invalid data found when processing input" in failed["reason"], failed
        assert api.http.get("/recordings/upload-e2e-text/analytics").status_code == 404


def test_uploads_end_to_end_embedded(tmp_path: Path) -> None:
    stack = Stack(
        home=tmp_path / "home", settings_env={"RAS_UPLOAD_PART_SIZE": str(PART_SIZE)}, simulator_args=[]
    )
    run_upload_scenario(stack, tmp_path)


@pytest.mark.postgres
def test_uploads_end_to_end_on_s3(tmp_path: Path, postgres_server: PostgresServer) -> None:
    database = postgres_server.create_database()
    aws = AwsDouble().start()
    try:
        bucket = f"ras-up-{uuid.uuid4().hex[:8]}"
        aws.create_bucket(bucket)
        env = production_settings_env(database, aws, bucket=bucket, bus=f"ras-up-{uuid.uuid4().hex[:8]}")
        aws.bus_to_queue(env["RAS_EVENT_BUS_NAME"])
        env["RAS_UPLOAD_PART_SIZE"] = str(PART_SIZE)
        stack = Stack(
            home=tmp_path / "home", settings_env=env, simulator_args=[], dagster_postgres_url=database
        )
        run_upload_scenario(stack, tmp_path)
    finally:
        aws.stop()
        postgres_server.drop_database(database)
