"""The `recording` asset validates metadata and triggers the jobs that are ready, against the real
EMA simulator on a loopback port."""

from __future__ import annotations

from dagster import AssetKey, DagsterEventType, EventRecordsFilter, materialize

from ras_assets.recording import recording, validate_recordings
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


def _register(platform: Platform, recording_id: str, **changes: object) -> None:
    meta = RecordingMetadata(**{**platform.recording.__dict__, "recording_id": recording_id, **changes})
    platform.store.register_recording(meta)


def test_one_validate_recordings_run_validates_every_requested_recording(
    platform: Platform, ema_url: str
) -> None:
    # Three recordings asked for validation while the run waited in the queue; one has bad metadata
    # (registered behind the API's back), one was never asked for.
    for recording_id in ("rec-a", "rec-b", "rec-never-asked"):
        _register(platform, recording_id)
    _register(platform, "rec-broken", periods=(Period(1, 0.0, 9999.0),))
    for recording_id in ("rec-a", "rec-broken", "rec-b"):
        platform.store.request_validation(recording_id)
    ema = EmaResource(
        settings={"ema_base_url": ema_url, "ema_api_key": "sim-key", "api_base_url": UNREACHABLE}
    )

    result = validate_recordings.execute_in_process(
        instance=platform.instance, resources={**platform.resources, "ema": ema}
    )

    assert result.success
    for recording_id in ("rec-a", "rec-b"):
        for job in INDEPENDENT:
            status = platform.store.job_status(recording_id, job)
            assert status.state is JobState.SCHEDULED and status.ema_job_id, (recording_id, job)
        assert platform.store.is_validated(recording_id)
    broken = platform.store.job_status("rec-broken", "event-detection")
    assert broken.state is JobState.FAILED and "after the recording's duration" in (broken.reason or "")
    assert platform.store.job_status("rec-never-asked", "event-detection").state is JobState.PENDING
    assert platform.store.validation_requests() == []
    # Each partition's page in the UI tells it: materialized when valid, an observation saying why not.
    materialized = platform.instance.get_event_records(
        EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION, asset_key=AssetKey("recording"))
    )
    assert sorted(r.event_log_entry.dagster_event.partition for r in materialized) == ["rec-a", "rec-b"]
    observed = platform.instance.get_event_records(
        EventRecordsFilter(DagsterEventType.ASSET_OBSERVATION, asset_key=AssetKey("recording"))
    )
    [why] = [r.asset_observation for r in observed]
    assert why.partition == "rec-broken" and "invalid" in (why.description or "")


def test_a_request_made_again_during_the_run_is_kept_for_the_next_one(platform: Platform) -> None:
    _register(platform, "rec-a")
    platform.store.request_validation("rec-a")
    [(_, asked)] = platform.store.validation_requests()  # what a run read

    # Asked again (POST /jobs with force, say) while that run validates: its clear must not swallow it.
    platform.store.request_validation("rec-a")
    platform.store.clear_validation_request("rec-a", asked)
    [(_, kept)] = platform.store.validation_requests()
    assert kept > asked
    platform.store.clear_validation_request("rec-a", kept)  # the next run's
    assert platform.store.validation_requests() == []


def test_a_recording_that_cannot_be_read_does_not_hold_up_the_others(
    platform: Platform, ema_url: str
) -> None:
    from sqlalchemy import update

    from ras_platform.db.engine import write_transaction
    from ras_platform.db.schema import recordings

    for recording_id in ("rec-unreadable", "rec-fine"):
        _register(platform, recording_id)
        platform.store.request_validation(recording_id)
    # Stored metadata no reader understands (a row written by hand, a botched migration).
    with write_transaction(platform.store._engine) as connection:
        connection.execute(
            update(recordings)
            .where(recordings.c.recording_id == "rec-unreadable")
            .values(metadata={"fps": "x"})
        )

    ema = EmaResource(
        settings={"ema_base_url": ema_url, "ema_api_key": "sim-key", "api_base_url": UNREACHABLE}
    )

    result = validate_recordings.execute_in_process(
        instance=platform.instance, resources={**platform.resources, "ema": ema}
    )

    assert result.success
    assert platform.store.job_status("rec-fine", "event-detection").state is JobState.SCHEDULED
    unreadable = platform.store.job_status("rec-unreadable", "event-detection")
    assert unreadable.state is JobState.FAILED and "validation failed" in (unreadable.reason or "")
    assert platform.store.validation_requests() == []
