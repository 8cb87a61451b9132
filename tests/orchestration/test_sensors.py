from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from dagster import AssetKey, build_sensor_context

from ras_core.states import JobState, Source
from sensors.dispatch import dispatch_sensor
from sensors.ema_callbacks import ema_callback_sensor
from tests.lifecycle_support import answer_trigger
from tests.orchestration.support import UNREACHABLE, Platform

_emitted = count()


def _callback(platform: Platform, job_type: str, state: str, job_id: str | None = None) -> None:
    status = platform.store.job_status(platform.recording_id, job_type)
    platform.store.add_callback(
        platform.recording_id,
        {
            "job_id": job_id or status.ema_job_id,
            "job_kind": job_type,
            "job_state": state,
            "job_exit_code": None,
            "job_reason": None,
            "emitted_at": f"2026-11-23T12:00:{next(_emitted):02d}Z",
        },
    )


def _schedule(platform: Platform, job_type: str) -> None:
    platform.store.transition(platform.recording_id, job_type, JobState.SCHEDULED, source=Source.DISPATCH)
    answer_trigger(platform.store, platform.recording_id, job_type, 1, f"ema-{job_type}")


def _tick(sensor, platform: Platform):
    context = build_sensor_context(instance=platform.instance, resources=platform.resources)
    return sensor(context)


def _triggered(result) -> list[str]:
    return sorted(
        job
        for request in result.run_requests
        if request.job_name == "trigger_ema_jobs"
        for job in request.run_config["ops"]["trigger_ema"]["config"]["jobs"]
    )


def _complete(platform: Platform, job_type: str) -> None:
    for state in (JobState.SCHEDULED, JobState.SUCCEEDED, JobState.COMPLETED):
        platform.store.transition(platform.recording_id, job_type, state, source=Source.IMPORT)


def test_dispatch_follows_the_catalogue_dependency_order(platform: Platform) -> None:
    rec = platform.recording_id
    first = _tick(dispatch_sensor, platform)
    assert _triggered(first) == [
        f"{rec}:ball-tracking:1",
        f"{rec}:event-detection:1",
        f"{rec}:player-tracking:1",
    ]
    assert _triggered(_tick(dispatch_sensor, platform)) == [], "scheduled jobs are not triggered twice"

    for job in ("event-detection", "player-tracking"):
        platform.store.transition(rec, job, JobState.SUCCEEDED, source=Source.CALLBACK)
        platform.store.transition(rec, job, JobState.COMPLETED, source=Source.IMPORT)
    assert _triggered(_tick(dispatch_sensor, platform)) == [], "dependent jobs wait for all three"

    platform.store.transition(rec, "ball-tracking", JobState.SUCCEEDED, source=Source.CALLBACK)
    platform.store.transition(rec, "ball-tracking", JobState.COMPLETED, source=Source.IMPORT)
    second = _tick(dispatch_sensor, platform)
    assert _triggered(second) == [f"{rec}:match-details:1", f"{rec}:match-report:1", f"{rec}:shot-details:1"]

    platform.store.transition(rec, "shot-details", JobState.SUCCEEDED, source=Source.CALLBACK)
    platform.store.transition(rec, "shot-details", JobState.COMPLETED, source=Source.IMPORT)
    third = _tick(dispatch_sensor, platform)
    [clips] = third.run_requests
    assert clips.job_name == "import_processed" and clips.partition_key == rec
    assert clips.asset_selection == [AssetKey("training_clips")]


def test_unvalidated_recordings_are_not_dispatched(platform: Platform, tmp_path) -> None:
    from ras_core.recording import parse_recording_metadata

    other = parse_recording_metadata({**platform.recording.to_dict(), "recording_id": "rec-unvalidated"})
    platform.store.register_recording(other)
    assert all(":rec-unvalidated:" not in f":{job}" for job in _triggered(_tick(dispatch_sensor, platform)))


def test_callbacks_materialize_raw_assets_and_group_imports_per_recording(platform: Platform) -> None:
    for job in ("player-tracking", "ball-tracking"):
        _schedule(platform, job)
    for raw in ("player-tracking", "match-momentum", "physical-metrics", "ball-tracking"):
        platform.put_raw(raw)
    _callback(platform, "player-tracking", "running")
    _callback(platform, "player-tracking", "succeeded")
    _callback(platform, "ball-tracking", "succeeded")
    _callback(platform, "ball-tracking", "running")  # out of order: recorded, never applied
    _callback(platform, "ball-tracking", "succeeded", job_id="ema-from-an-old-attempt")  # stale

    result = _tick(ema_callback_sensor, platform)

    raw_events = sorted(e.asset_key.path[-1] for e in result.asset_events)
    assert raw_events == ["ball_tracking", "match_momentum", "physical_metrics", "player_tracking"]
    assert {e.partition for e in result.asset_events} == {platform.recording_id}
    assert all(e.metadata["size_bytes"].value > 0 for e in result.asset_events)
    [run] = result.run_requests
    assert run.partition_key == platform.recording_id
    assert sorted(k.path[-1] for k in run.asset_selection) == [
        "ball_tracking",
        "match_momentum",
        "physical_metrics",
        "player_tracking",
    ]
    outcomes = [e.outcome for e in platform.store.change_log(platform.recording_id)]
    assert "illegal" in outcomes and "stale" in outcomes
    assert platform.state("ball-tracking") is JobState.SUCCEEDED

    again = _tick(ema_callback_sensor, platform)
    assert again.run_requests == [] and again.asset_events == []


def test_succeeded_without_the_upload_fails_the_job_and_retries_it(platform: Platform) -> None:
    _schedule(platform, "event-detection")
    _callback(platform, "event-detection", "succeeded")  # but nothing was uploaded

    result = _tick(ema_callback_sensor, platform)

    assert result.run_requests == [] and result.asset_events == []
    status = platform.store.job_status(platform.recording_id, "event-detection")
    assert status.state is JobState.PENDING and status.attempt == 2
    failed = [e for e in platform.store.change_log(platform.recording_id) if e.to_state == "failed"]
    assert "was not uploaded" in (failed[-1].reason or "")


def test_shot_details_and_its_training_clips_are_imported_in_one_run(platform: Platform) -> None:
    _schedule(platform, "shot-details")
    platform.put_raw("shot-details")
    _callback(platform, "shot-details", "succeeded")

    [run] = _tick(ema_callback_sensor, platform).run_requests

    assert sorted(k.path[-1] for k in run.asset_selection) == ["shot_details", "training_clips"]


def _age_validation_request(platform: Platform, recording_id: str, age: timedelta) -> None:
    from sqlalchemy import update

    from ras_platform.db.engine import write_transaction
    from ras_platform.db.schema import recordings

    with write_transaction(platform.store._engine) as connection:
        connection.execute(
            update(recordings)
            .where(recordings.c.recording_id == recording_id)
            .values(validation_requested_at=datetime.now(UTC) - age)
        )


def test_a_validation_request_left_without_a_run_gets_one(platform: Platform) -> None:
    from dagster import DagsterRun, DagsterRunStatus

    def validation_runs() -> list:
        return [
            r for r in _tick(dispatch_sensor, platform).run_requests if r.job_name == "validate_recordings"
        ]

    platform.store.request_validation(platform.recording_id)
    assert validation_runs() == []  # just asked: POST /jobs is launching or joining its run

    # The API was killed between writing the request and launching the run.
    _age_validation_request(platform, platform.recording_id, timedelta(minutes=2))
    [request] = validation_runs()
    assert request.run_key and request.run_key.startswith("validate-requested:")

    # A run is under way: it reads the requests until none is left, so nothing more is asked for.
    platform.instance.add_run(
        DagsterRun(job_name="validate_recordings", run_id="e" * 36, status=DagsterRunStatus.STARTED)
    )
    assert validation_runs() == []


def test_every_sensor_ticks_on_every_daemon_loop() -> None:
    # A minimum interval equal to the daemon's loop period skips every other loop (10 s gaps,
    # measured by bench latency); this fails if a sensor is set back to it or Dagster's loop changes.
    from dagster._daemon.sensor import MIN_INTERVAL_LOOP_TIME

    from ras_assets.definitions import defs

    # The training dataset spans every recording: rebuilding it is batch work, refreshed deliberately
    # less often. Every other sensor is on a recording's path and must not add a loop of latency.
    batch_sensors = {"training_dataset_sensor"}
    sensors = defs.get_repository_def().sensor_defs
    assert {s.name for s in sensors} >= {"ema_callback_sensor", "dispatch_sensor", "domain_events_sensor"}
    for sensor_def in sensors:
        if sensor_def.name in batch_sensors:
            assert sensor_def.minimum_interval_seconds >= MIN_INTERVAL_LOOP_TIME, sensor_def.name
            continue
        assert 0 < sensor_def.minimum_interval_seconds < MIN_INTERVAL_LOOP_TIME, sensor_def.name


def test_platform_jobs_wait_for_the_import_run_that_builds_them(platform: Platform) -> None:
    from dagster import DagsterRun, DagsterRunStatus

    rec = platform.recording_id
    for job in ("event-detection", "player-tracking", "ball-tracking", "shot-details"):
        _complete(platform, job)
    # shot-details completed inside an import run that has yet to build training clips.
    run = DagsterRun(
        job_name="import_processed",
        run_id="a" * 36,
        status=DagsterRunStatus.STARTED,
        tags={"ras/recording": rec, "dagster/partition": rec},
    )
    platform.instance.add_run(run)

    busy = _tick(dispatch_sensor, platform)

    assert [r for r in busy.run_requests if r.job_name == "import_processed"] == []
    assert platform.state("training-clips") is JobState.PENDING

    platform.instance.report_run_canceled(run)  # ended without building them: the next tick does
    [clips] = [r for r in _tick(dispatch_sensor, platform).run_requests if r.job_name == "import_processed"]
    assert clips.asset_selection == [AssetKey("training_clips")]
    assert platform.state("training-clips") is JobState.SCHEDULED


def test_a_stuck_platform_job_is_asked_for_again_only_when_no_import_run_is_active(
    platform: Platform,
) -> None:
    from dagster import DagsterRun, DagsterRunStatus

    from resources import EmaResource

    rec = platform.recording_id
    for job in ("event-detection", "player-tracking", "ball-tracking", "shot-details"):
        _complete(platform, job)
    # Its run was lost: with a trigger timeout of 1 ms a scheduled job counts as stuck at once.
    ema = EmaResource(settings={"ema_base_url": UNREACHABLE, "ema_trigger_timeout_s": "0.001"})
    impatient = {**platform.resources, "ema": ema}

    def imports() -> list:
        context = build_sensor_context(instance=platform.instance, resources=impatient)
        return [r for r in dispatch_sensor(context).run_requests if r.job_name == "import_processed"]

    [first] = imports()  # schedules training clips
    assert platform.state("training-clips") is JobState.SCHEDULED

    run = DagsterRun(job_name="import_processed", run_id="b" * 36, status=DagsterRunStatus.STARTED,
                     tags={"ras/recording": rec, "dagster/partition": rec})  # fmt: skip
    platform.instance.add_run(run)
    assert imports() == [], "the import run under way will build the clips"

    platform.instance.report_run_canceled(run)
    [again] = imports()
    assert again.asset_selection == [AssetKey("training_clips")] and again.run_key != first.run_key
