"""Runs launched in Dagster by a person (a backfill, "Materialize" in the UI) go through the lifecycle
like POST /jobs; every change-log row an import makes names its Dagster run."""

from __future__ import annotations

from dagster import AssetKey, materialize

from ras_assets.processed import processed_assets
from ras_core.states import JobState
from resources import EmaResource
from tests.orchestration.support import UNREACHABLE, Platform


def _import_events(platform: Platform, tags: dict[str, str], resources: dict | None = None):
    return materialize(
        processed_assets,
        selection=["events"],
        partition_key=platform.recording_id,
        instance=platform.instance,
        resources=resources or platform.resources,
        tags=tags,
    )


def test_the_change_log_names_the_run_of_each_import(platform: Platform) -> None:
    platform.put_raw("event-detection")
    platform.walk_to_succeeded("event-detection")

    result = _import_events(platform, {"ras/kind": "import"})

    [completed] = [
        e for e in platform.store.change_log(platform.recording_id) if e.to_state is JobState.COMPLETED
    ]
    assert completed.detail is not None and completed.detail["run_id"] == result.run_id


def test_a_backfill_of_a_completed_job_re_runs_it_through_the_lifecycle(
    platform: Platform, ema_url: str
) -> None:
    platform.put_raw("event-detection")
    platform.walk_to_succeeded("event-detection")
    _import_events(platform, {"ras/kind": "import"})
    assert platform.state("event-detection") is JobState.COMPLETED
    ema = EmaResource(
        settings={"ema_base_url": ema_url, "ema_api_key": "sim-key", "api_base_url": UNREACHABLE}
    )

    result = _import_events(platform, {"dagster/backfill": "bf-1"}, {**platform.resources, "ema": ema})

    assert result.success
    assert not result.get_asset_materialization_events()  # the re-run's import run materializes it
    status = platform.store.job_status(platform.recording_id, "event-detection")
    assert status.attempt == 2 and status.state is JobState.SCHEDULED and status.ema_job_id  # EMA asked
    by_run = [
        e
        for e in platform.store.change_log(platform.recording_id)
        if (e.detail or {}).get("run_id") == result.run_id
    ]
    assert [(e.to_state, e.attempt) for e in by_run if e.outcome.value == "applied"][:2] == [
        (JobState.PENDING, 2),
        (JobState.SCHEDULED, 2),
    ]
    run = platform.instance.get_run_by_id(result.run_id)
    assert run is not None and run.tags["ras/recording"] == platform.recording_id
    assert platform.instance.get_latest_materialization_event(AssetKey("events")) is not None  # the first


def test_a_ui_run_of_a_job_awaiting_its_import_simply_imports(platform: Platform) -> None:
    platform.put_raw("event-detection")
    platform.walk_to_succeeded("event-detection")

    result = _import_events(platform, {})  # "Materialize" in the UI: Dagster's own asset job

    assert result.get_asset_materialization_events()
    assert platform.state("event-detection") is JobState.COMPLETED
