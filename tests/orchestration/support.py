"""Tier 2: assets and sensors against a temporary Dagster instance with real local resources."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from dagster import DagsterInstance, instance_for_test

from ema_simulator.app import create_app
from ema_simulator.config import SimulatorConfig
from ras_core import catalogue
from ras_core.recording import RecordingMetadata, parse_recording_metadata
from ras_core.states import JobState, Source
from ras_platform.ffmpeg import make_test_video
from ras_platform.object_store import LocalObjectStore
from ras_platform.stack import free_port
from ras_platform.state_store import StateStore
from resources import platform_resources
from tests.lifecycle_support import answer_trigger

FIXTURES = Path(__file__).parents[1] / "fixtures"
RAW_FIXTURES = {
    "event-detection": "event-detection-v3.json",
    "player-tracking": "player-tracking-v3.csv",
    "ball-tracking": "ball-tracking-v3.csv",
    "match-momentum": "match-momentum.csv",
    "physical-metrics": "physical-metrics.parquet",
    "match-details": "match-details.csv",
    "shot-details": "shot-details.json",
    "match-report": "match-report.json",
}
SIGNING_KEY = "test-signing-key"
UNREACHABLE = "http://127.0.0.1:9"
# The tags of the platform's own import runs (`import_processed`, launched by the sensors): a run
# without them is an operator's (a backfill, the UI), which re-runs a job not awaiting its import.
IMPORT_RUN_TAGS = {"ras/kind": "import"}  # nothing listens: these tests must not need EMA or the API


@dataclass
class Platform:
    instance: DagsterInstance
    store: StateStore
    objects: LocalObjectStore
    recording: RecordingMetadata
    resources: dict

    @property
    def recording_id(self) -> str:
        return self.recording.recording_id

    def raw_key(self, raw_name: str, attempt: int | None = None) -> str:
        """The key of `raw_name` for `attempt` (by default its job's current attempt)."""
        job = catalogue.job_of_raw(raw_name).name
        attempt = attempt or self.store.job_status(self.recording_id, job).attempt
        return catalogue.raw_output(raw_name).key(self.recording_id, attempt)

    def put_raw(self, raw_name: str, fixture: str | None = None, *, attempt: int | None = None) -> bool:
        """Upload a raw file as EMA would, for the job's current attempt; False if already there."""
        source = FIXTURES / "raw" / (fixture or RAW_FIXTURES[raw_name])
        return self.objects.put_file(self.raw_key(raw_name, attempt), source)

    def put_video(self) -> None:
        """A generated video (testsrc2) at each of the recording's video URIs, as long as the recording."""
        for key in self.recording.video_uris:
            path = self.objects.path_of(key)
            make_test_video(path, duration_s=self.recording.duration_s, width=160, height=90, fps=10)

    def walk_to_succeeded(self, job_type: str, ema_job_id: str = "ema-1") -> None:
        store, rec = self.store, self.recording_id
        store.transition(rec, job_type, JobState.SCHEDULED, source=Source.DISPATCH)
        status = store.job_status(rec, job_type)
        answer_trigger(store, rec, job_type, status.attempt, f"{ema_job_id}-{status.attempt}")
        store.transition(rec, job_type, JobState.SUCCEEDED, source=Source.CALLBACK)

    def state(self, job_type: str) -> JobState:
        return self.store.job_status(self.recording_id, job_type).state


def platform_settings(tmp_path: Path, **more: str) -> dict[str, str]:
    """`Settings` overrides putting the platform's database and files under `tmp_path`."""
    return {"data_dir": str(tmp_path), "api_base_url": UNREACHABLE, "signing_key": SIGNING_KEY, **more}


@pytest.fixture
def platform(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'ras.sqlite'}"
    store = StateStore(url)
    objects = LocalObjectStore(tmp_path / "objects", base_url=UNREACHABLE, signing_key=SIGNING_KEY)
    recording = parse_recording_metadata(json.loads((FIXTURES / "recording.json").read_text()))
    store.register_recording(recording)
    store.mark_validated(recording.recording_id)
    settings = platform_settings(tmp_path, ema_base_url=UNREACHABLE, ema_max_attempts="2")
    resources = platform_resources(settings)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("recordings", [recording.recording_id])
        yield Platform(instance, store, objects, recording, resources)


@pytest.fixture
def ema_url() -> Iterator[str]:
    port = free_port()
    # Long jobs: this test looks at the trigger, not at callbacks (no API listens for them).
    config = SimulatorConfig(job_duration_s=600.0, api_key="sim-key", callback_token="t")
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
