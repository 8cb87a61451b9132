"""The `recording` asset validates metadata and triggers the jobs that are ready, against the real
EMA simulator on a loopback port."""

from __future__ import annotations

from dagster import AssetKey, DagsterEventType, EventRecordsFilter, materialize

from ras_assets.recording import recording
from ras_core.recording import Period, RecordingMetadata
from ras_core.states import JobState
from resources import EmaResource
from tests.orchestration.support import UNREACHABLE, Platform

INDEPENDENT = ("event-detection", "player-tracking", "ball-tracking")


def test_validating_a_recording_triggers_its_independent_jobs(platform: Platform, ema_url: str) -> None:
    resources = {
        **platform.resources,
        "ema": EmaResource(
            settings={"ema_base_url": ema_url, "ema_api_key": "sim-key", "api_base_url": UNREACHABLE}
        ),
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
