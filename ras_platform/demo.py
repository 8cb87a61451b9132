"""`ras demo`: `ras serve` plus the EMA simulator, processing N synthetic recordings end to end."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

from ras_core import catalogue
from ras_platform.ffmpeg import make_test_video
from ras_platform.object_store import ObjectStore, build_object_store
from ras_platform.serve import run_platform
from ras_platform.stack import Stack

TERMINAL_OVERALL = {"completed", "failed"}
BROADCAST_FPS = 10


def demo_video_key(recording_id: str) -> str:
    return f"videos/{recording_id}/panorama.mp4"


def put_demo_video(objects: ObjectStore, recording_id: str, duration_s: float) -> str:
    """A small generated video (testsrc2 with a match clock, 160x90 at 10 fps: tens of kB a minute)
    for a synthetic recording, at the key its metadata names, so its training clips have a source."""
    key = demo_video_key(recording_id)
    if not objects.exists(key):
        with tempfile.TemporaryDirectory(prefix="ras-demo-video-") as tmp:
            video = Path(tmp) / "panorama.mp4"
            make_test_video(video, duration_s=duration_s, width=160, height=90, fps=10)
            objects.put_file(key, video)
    return key


def demo_metadata(recording_id: str, duration_s: float, fps: float = 25.0) -> dict:
    half = duration_s / 2
    return {
        "recording_id": recording_id,
        "fps": fps,
        "duration_s": duration_s,
        "pitch": {"length_m": 105.0, "width_m": 68.0},
        "video_uris": [demo_video_key(recording_id)],
        "periods": [
            {"id": 1, "start_s": 0.0, "end_s": half},
            {"id": 2, "start_s": half, "end_s": duration_s},
        ],
        "home_team": "Home FC",
        "away_team": "Away FC",
    }


class ApiClient:
    """What Zola does: register, start jobs, read analytics."""

    def __init__(self, base_url: str, zola_token: str):
        self.http = httpx.Client(base_url=base_url, timeout=30, headers={"X-Token": zola_token})

    def register(self, metadata: dict) -> None:
        self.http.put(f"/recordings/{metadata['recording_id']}", json=metadata).raise_for_status()

    def start_jobs(self, recording_id: str, **body: object) -> dict:
        answer = self.http.post(f"/recordings/{recording_id}/jobs", json=body)
        answer.raise_for_status()
        return answer.json()

    def analytics(self, recording_id: str) -> dict:
        answer = self.http.get(f"/recordings/{recording_id}/analytics")
        answer.raise_for_status()
        return answer.json()


def progress_line(recording_id: str, analytics: dict) -> str:
    jobs = analytics["jobs"]
    done = sum(job["state"] == "completed" for job in jobs)
    marks = " ".join(f"{job['job_type']}={job['state']}" for job in jobs if job["state"] != "completed")
    return f"{recording_id:>12}  {analytics['overall_state']:<9} {done}/{len(jobs)} completed  {marks}"


def wait_until_done(
    api: ApiClient, recording_ids: list[str], *, timeout_s: float, out=sys.stdout
) -> dict[str, dict]:
    """Poll analytics, printing a line whenever a recording's progress changes."""
    last: dict[str, str] = {}
    latest: dict[str, dict] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for recording_id in recording_ids:
            try:
                latest[recording_id] = api.analytics(recording_id)
            except httpx.HTTPError:
                continue  # the API may be restarting (chaos run); ask again next round
            line = progress_line(recording_id, latest[recording_id])
            if last.get(recording_id) != line:
                print(f"{datetime.now():%H:%M:%S} {line}", file=out, flush=True)
                last[recording_id] = line
        if len(latest) == len(recording_ids) and all(
            a["overall_state"] in TERMINAL_OVERALL for a in latest.values()
        ):
            break
        time.sleep(1.0)
    return latest


def settle(stack: Stack, timeout_s: float = 120) -> None:
    """Before stopping: let Dagster's runs finish (a recording completes inside its last import run,
    which still has events to write) and the outbox publish the last domain events."""
    from ras_platform.state_store import StateStore

    stack.wait_for_runs(timeout_s)
    store = StateStore(stack.settings.resolved_database_url, migrate=False)
    try:
        deadline = time.monotonic() + timeout_s
        while store.pending_events(limit=1) and time.monotonic() < deadline:
            time.sleep(1.0)
    finally:
        store.close()


# testsrc2 with a match clock, 320x180 at 25 fps: about 1 MB a minute at this quality.
DEMO_VIDEO_CRF = 45


def upload_demo_recording(stack: Stack, recording_id: str, duration_s: float, fps: int = 25) -> str:
    """A generated video of the recording brought in as Zola would: through the upload API."""
    from ras_platform.upload_client import UploadClient

    video = stack.home / "videos" / f"{recording_id}.mp4"
    make_test_video(video, duration_s=duration_s, fps=fps, crf=DEMO_VIDEO_CRF)
    with UploadClient(stack.api_url, stack.settings.zola_token) as client:
        return client.upload(
            video, recording_id=recording_id, metadata=demo_metadata(recording_id, duration_s)
        ).upload_id


def wait_for_training_dataset(
    objects: ObjectStore, recording_ids: list[str], *, timeout_s: float = 90
) -> tuple[int, int] | None:
    """(training, validation) lines once the dataset holds every cut clip of the recordings; None if
    `training_dataset_sensor` has not rebuilt it within `timeout_s`. It rebuilds at most every
    5 minutes (`REBUILD_INTERVAL_S`), so a short demo usually waits the whole timeout for None."""
    deadline = time.monotonic() + timeout_s
    while True:
        cut = 0
        for recording_id in recording_ids:
            key = f"processed/training_clips/{recording_id}/manifest.json"
            if objects.exists(key):
                cut += sum(c["state"] == "cut" for c in json.loads(objects.get_bytes(key))["clips"])
        lines = [
            _lines(objects, f"processed/training_dataset/{name}.jsonl") for name in ("training", "validation")
        ]
        if sum(lines) >= cut and objects.exists("processed/training_dataset/training.jsonl"):
            return lines[0], lines[1]
        if time.monotonic() >= deadline:
            return None
        time.sleep(2.0)


def _lines(objects: ObjectStore, key: str) -> int:
    return len(objects.get_bytes(key).splitlines()) if objects.exists(key) else 0


def broadcast_ids(ids: list[str]) -> list[str]:
    """Every second demo recording comes as a broadcast camera and a real EMA deliver it."""
    return ids[1::2]


def run_demo(
    *,
    recordings: int,
    duration_s: float,
    exit_when_done: bool,
    home: Path | None,
    timeout_s: float,
    simulator_args: list[str],
) -> int:
    """`ras serve` with the simulator as EMA, and synthetic recordings of both kinds: standard ones
    at 25 fps and broadcast-like ones at 10 fps (camera gaps, ball out of play, events without
    position)."""
    home = home or Path(".ras") / f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    ids = [f"demo-{i:03d}" for i in range(1, recordings + 1)]
    broadcast = broadcast_ids(ids)
    if broadcast:
        simulator_args = [f"--broadcast-recordings={','.join(broadcast)}", *simulator_args]
    stack = Stack(home=home, settings_env={}, simulator_args=simulator_args)

    def process_recordings(stack: Stack) -> int | None:
        started = time.monotonic()
        api = ApiClient(stack.api_url, stack.settings.zola_token)
        objects = build_object_store(stack.settings)
        for recording_id in ids:
            # The probe takes the recording's fps from its video: broadcast-like ones are filmed at 10.
            upload_demo_recording(
                stack, recording_id, duration_s, BROADCAST_FPS if recording_id in broadcast else 25
            )
        print(
            f"uploaded {len(ids)} videos of {duration_s:.0f} s ({len(broadcast)} broadcast-like at "
            f"{BROADCAST_FPS} fps); the upload sensor registers each recording and starts its "
            f"{len(catalogue.JOB_TYPES)} jobs",
            flush=True,
        )
        final = wait_until_done(api, ids, timeout_s=timeout_s)
        failed = [r for r, a in final.items() if a["overall_state"] != "completed"]
        print(
            f"done in {time.monotonic() - started:.0f} s: {len(ids) - len(failed)} completed, "
            f"{len(failed)} not completed {failed or ''}",
            flush=True,
        )
        dataset = wait_for_training_dataset(objects, ids)
        print(
            "training dataset: "
            + (f"{dataset[0]} training and {dataset[1]} validation clips" if dataset else "not rebuilt yet")
            + f" in {stack.home / 'data' / 'objects' / 'processed' / 'training_dataset'}",
            flush=True,
        )
        if exit_when_done:
            settle(stack)
            return 1 if failed or len(final) < len(ids) else 0
        return None

    return run_platform(stack, then=process_recordings)
