"""The `recording` asset validates metadata and triggers the jobs that are ready, against the real
EMA simulator on a loopback port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from dagster import AssetKey, DagsterEventType, EventRecordsFilter, materialize

from ema_simulator.app import create_app
from ema_simulator.config import SimulatorConfig
from ras_assets.recording import recording
from ras_core.recording import Period, RecordingMetadata
from ras_core.states import JobState
from ras_platform.stack import free_port
from resources import EmaResource
from tests.orchestration.support import UNREACHABLE, Platform

INDEPENDENT = ("event-detection", "player-tracking", "ball-tracking")


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


def test_validating_a_recording_triggers_its_independent_jobs(platform: Platform, ema_url: str) -> None:
    resources = {
        **platform.resources,
        "ema": EmaResource(base_url=ema_url, api_key="sim-key", api_base_url=UNREACHABLE),
    }

    result = materialize(
        [recording], partition_key=platform.recording_id, instance=platform.instance, resources=resources
    )

    assert result.success
    for job in INDEPENDENT:
        status = platform.store.job_status(platform.recording_id, job)
        assert status.state is JobState.SCHEDULED and status.ema_job_id, job
    for job in ("match-details", "shot-details", "match-report", "training-clips"):
        assert platform.state(job) is JobState.PENDING, job
    observations = platform.instance.get_event_records(
        EventRecordsFilter(DagsterEventType.ASSET_OBSERVATION, asset_key=AssetKey(["ema", "ball_tracking"]))
    )
    [observed] = observations
    assert observed.event_log_entry.dagster_event.partition == platform.recording_id


def test_invalid_metadata_fails_the_pending_jobs_with_the_reason(platform: Platform) -> None:
    # Registered behind the API's back (which validates), as a recordings service with bad data would.
    meta = RecordingMetadata(
        **{**platform.recording.__dict__, "recording_id": "rec-broken", "periods": (Period(1, 0.0, 9999.0),)}
    )
    platform.store.register_recording(meta)
    platform.instance.add_dynamic_partitions("recordings", ["rec-broken"])

    result = materialize(
        [recording],
        partition_key="rec-broken",
        instance=platform.instance,
        resources=platform.resources,
        raise_on_error=False,
    )

    assert not result.success
    status = platform.store.job_status("rec-broken", "event-detection")
    assert status.state is JobState.FAILED and "after the recording's duration" in (status.reason or "")
