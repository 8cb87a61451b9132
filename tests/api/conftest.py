"""The API over real processed files: a small synthetic match imported once per session, copied into a
fresh local object store and SQLite state store for every test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ema_simulator.synthetic import synthetic_match, two_half_recording, write_all_raw_outputs
from ras_api.app import create_app
from ras_core import catalogue
from ras_core.importers import run_import
from ras_core.recording import RecordingMetadata
from ras_core.states import JobState, Source
from ras_platform.platform import Platform
from ras_platform.settings import Settings
from ras_platform.state_store import StateStore
from tests.lifecycle_support import answer_trigger

RECORDING_ID = "rec-api"
PENDING_ID = "rec-pending"  # registered, nothing run
RUNNING_ID = "rec-running"  # registered, player-tracking running
ZOLA = {"X-Token": "zola-test-token"}
EMA = {"X-Token": "ema-test-token"}
# Ten minutes at 10 fps: shots, goals and sprints to find, and a second with the whole suite.
RECORDING = two_half_recording(RECORDING_ID, fps=10.0, duration_s=600.0)


def import_all(recording: RecordingMetadata, objects: Path) -> None:
    """Raw files of the synthetic match, then every processed output, in the object store's layout."""
    write_all_raw_outputs(synthetic_match(recording), objects)
    paths = {raw.name: objects / raw.key(recording.recording_id, 1) for raw in catalogue.raw_outputs()}
    for output in catalogue.PROCESSED_OUTPUTS:  # catalogue order puts inputs before their readers
        if output.from_video:
            continue  # cut from the video by its own asset, not imported from files
        out_path = objects / output.key(recording.recording_id)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        result = run_import(output.name, paths, recording, out_path)
        assert result.passed, result.failure_reason()
        paths[output.name] = out_path


def complete_all_jobs(store: StateStore, recording_id: str) -> None:
    for job_type in catalogue.job_type_names():
        walk_to(store, recording_id, job_type, JobState.COMPLETED)


def walk_to(store: StateStore, recording_id: str, job_type: str, target: JobState) -> None:
    store.transition(recording_id, job_type, JobState.SCHEDULED, source=Source.DISPATCH)
    answer_trigger(store, recording_id, job_type, store.job_status(recording_id, job_type).attempt, "ema-1")
    path = (JobState.RUNNING, JobState.SUCCEEDED, JobState.COMPLETED)
    for state in path[: path.index(target) + 1] if target in path else ():
        source = Source.IMPORT if state is JobState.COMPLETED else Source.CALLBACK
        store.transition(recording_id, job_type, state, source=source)


@pytest.fixture(scope="session")
def processed_objects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    objects = tmp_path_factory.mktemp("processed") / "objects"
    import_all(RECORDING, objects)
    return objects


@dataclass
class Api:
    client: TestClient
    platform: Platform

    def get(self, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.get(f"/recordings/{path}", **kwargs)


def build_app(data_dir: Path, processed_objects: Path) -> Api:
    shutil.copytree(processed_objects, data_dir / "objects")
    settings = Settings(
        data_dir=data_dir,
        api_base_url="http://testserver",
        zola_token=ZOLA["X-Token"],
        ema_token=EMA["X-Token"],
        signing_key="test-signing-key",
        # These tests look at the inbox the callback sensor reads; no Dagster listens here. The fast
        # path is tested against a Dagster webserver in tests/orchestration/test_callback_fast_path.py.
        callback_fast_path=False,
    )
    app = create_app(settings)
    platform: Platform = app.state.platform
    store = platform.state_store
    store.register_recording(RECORDING)
    complete_all_jobs(store, RECORDING_ID)
    for other in (PENDING_ID, RUNNING_ID):
        store.register_recording(two_half_recording(other, fps=10.0, duration_s=600.0))
    walk_to(store, RUNNING_ID, "player-tracking", JobState.RUNNING)
    return Api(TestClient(app), platform)


@pytest.fixture
def api(tmp_path: Path, processed_objects: Path) -> Iterator[Api]:
    built = build_app(tmp_path, processed_objects)
    with built.client:
        yield built
    built.platform.state_store.close()
