from __future__ import annotations

from dagster import AssetCheckKey, AssetCheckSeverity, AssetKey, materialize

from ras_assets.processed import processed_assets
from ras_assets.training import training_clips
from ras_core import catalogue
from ras_core.states import JobState, Source
from resources import EmaResource
from tests.orchestration.support import IMPORT_RUN_TAGS, RAW_FIXTURES, UNREACHABLE, Platform

EMA_JOBS = [job.name for job in catalogue.JOB_TYPES if job.is_ema]


def _materialize(platform: Platform, names: list[str], *, raise_on_error: bool = True):
    return materialize(
        [*processed_assets, training_clips],
        tags=IMPORT_RUN_TAGS,
        selection=names,
        partition_key=platform.recording_id,
        instance=platform.instance,
        resources=platform.resources,
        raise_on_error=raise_on_error,
    )


def _latest_metadata(platform: Platform, asset: str) -> dict:
    event = platform.instance.get_latest_materialization_event(AssetKey(asset))
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_every_import_asset_builds_its_processed_file_and_completes_its_job(platform: Platform) -> None:
    for raw_name in RAW_FIXTURES:
        platform.put_raw(raw_name)
    platform.put_video()
    for job in EMA_JOBS:
        platform.walk_to_succeeded(job)
    platform.store.transition(
        platform.recording_id, "training-clips", JobState.SCHEDULED, source=Source.DISPATCH
    )

    result = _materialize(platform, [out.name for out in catalogue.PROCESSED_OUTPUTS])

    assert result.success
    for out in catalogue.PROCESSED_OUTPUTS:
        assert platform.objects.exists(out.key(platform.recording_id)), out.name
        for sidecar in out.sidecars:  # the delivery files its import writes beside it
            assert platform.objects.exists(out.sidecar_key(platform.recording_id, sidecar)), sidecar
    for job in catalogue.JOB_TYPES:
        assert platform.state(job.name) is JobState.COMPLETED, job.name
    tracking = _latest_metadata(platform, "player_tracking")
    assert tracking["rows"] > 0 and tracking["frames"] > 0 and tracking["size_bytes"] > 0
    assert tracking["job_attempt"] == 1 and tracking["ema_job_id"] == "ema-1-1"
    assert tracking["frames_sidecar_size_bytes"] > 0
    events = _latest_metadata(platform, "events")
    assert events["schema_version"] == "3"
    kinds = {e.detail_type for e in platform.store.pending_events()}
    assert kinds == {
        "EventDetectionProcessedV1",
        "ShotDetailsProcessedV1",
        "MatchReportProcessedV1",
        "RecordingAnalysisProcessedV1",
    }


def test_a_corrupt_raw_file_fails_the_check_and_keeps_the_previous_processed_file(platform: Platform) -> None:
    platform.put_raw("event-detection")
    for job in ("player-tracking", "ball-tracking"):  # triggered with it, as validation does
        platform.store.transition(platform.recording_id, job, JobState.SCHEDULED, source=Source.DISPATCH)
    platform.walk_to_succeeded("event-detection")
    assert _materialize(platform, ["events"]).success
    key = catalogue.processed_output("events").key(platform.recording_id)
    before = platform.objects.get_bytes(key)

    # A re-run whose EMA output is malformed.
    platform.store.transition(platform.recording_id, "event-detection", JobState.PENDING, source=Source.API)
    platform.put_raw("event-detection", "event-detection-missing-field.json")  # attempt 2's key
    platform.walk_to_succeeded("event-detection")
    result = _materialize(platform, ["events"], raise_on_error=False)

    assert not result.success
    assert platform.objects.get_bytes(key) == before
    check = platform.instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [AssetCheckKey(AssetKey("events"), "schema_valid")]
    )[AssetCheckKey(AssetKey("events"), "schema_valid")]
    description = check.event.dagster_event.event_specific_data.description
    assert "raw/event-detection/" in description and "expected" in description
    status = platform.store.job_status(platform.recording_id, "event-detection")
    # Attempt 2 of max_attempts=2: no automatic re-trigger, the job stays failed with the check's reason.
    assert status.state is JobState.FAILED and status.attempt == 2
    assert "raw/event-detection/" in (status.reason or "")


def test_the_run_that_completes_the_independent_jobs_triggers_the_dependent_ones(
    platform: Platform, ema_url: str
) -> None:
    for raw_name in (
        "event-detection",
        "player-tracking",
        "match-momentum",
        "physical-metrics",
        "ball-tracking",
    ):
        platform.put_raw(raw_name)
    for job in ("event-detection", "player-tracking", "ball-tracking"):
        platform.walk_to_succeeded(job)
    resources = {
        **platform.resources,
        "ema": EmaResource(
            settings={"ema_base_url": ema_url, "ema_api_key": "sim-key", "api_base_url": UNREACHABLE}
        ),
    }

    result = materialize(
        processed_assets,
        tags=IMPORT_RUN_TAGS,
        selection=["events", "ball_tracking", "player_tracking", "match_momentum", "physical_metrics"],
        partition_key=platform.recording_id,
        instance=platform.instance,
        resources=resources,
    )

    assert result.success
    for job in ("match-details", "shot-details", "match-report"):
        status = platform.store.job_status(platform.recording_id, job)
        assert status.state is JobState.SCHEDULED and status.ema_job_id, job
    assert platform.state("training-clips") is JobState.PENDING  # waits for shot details
    # The platform's EMA client serves every run of this process: triggering must not close it.
    assert not resources["ema"].client._http.is_closed


def test_poor_quality_tracking_completes_with_warnings_in_the_ui_and_the_state_store(
    platform: Platform,
) -> None:
    # A ball 30 m into the stands in 2 of 5 positions: quality, not contract; the job completes.
    platform.put_raw("ball-tracking", "../real/ball-tracking-out-of-play.csv")
    platform.walk_to_succeeded("ball-tracking")

    assert _materialize(platform, ["ball_tracking"]).success

    assert platform.state("ball-tracking") is JobState.COMPLETED
    checks = platform.instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [AssetCheckKey(AssetKey("ball_tracking"), "off_pitch_share")]
    )
    evaluation = checks[AssetCheckKey(AssetKey("ball_tracking"), "off_pitch_share")].event.dagster_event
    assert evaluation.event_specific_data.passed is False
    assert evaluation.event_specific_data.severity is AssetCheckSeverity.WARN
    (report,) = platform.store.quality_reports(platform.recording_id)
    assert (report.output, report.job_type, report.attempt) == ("ball_tracking", "ball-tracking", 1)
    assert report.warnings == ["off_pitch_share"]
    figures = {check["check"]: check["figures"] for check in report.checks}
    assert figures["off_pitch_share"]["share"] == 0.4 and figures["frame_coverage"]["present"] == 5
