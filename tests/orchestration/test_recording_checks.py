"""Per-recording truth in the UI: check results are kept per recording (partitioned check specs), and
the `recording` asset's `analytics_state` check says which recordings failed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetObservation,
    build_sensor_context,
    materialize,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

import sensors.recording_state
from ras_assets.processed import processed_assets
from ras_assets.recording import recording
from ras_core import catalogue
from ras_core.states import JobState, Source
from resources import AlertsResource
from sensors.recording_state import recording_state_sensor
from tests.orchestration.support import IMPORT_RUN_TAGS, Platform

SECOND = "rec-second"


def _second_recording(platform: Platform) -> Platform:
    platform.store.register_recording(replace(platform.recording, recording_id=SECOND))
    platform.store.mark_validated(SECOND)
    platform.instance.add_dynamic_partitions("recordings", [SECOND])
    return replace(platform, recording=replace(platform.recording, recording_id=SECOND))


def _import_events(platform: Platform, fixture: str) -> bool:
    platform.put_raw("event-detection", fixture)
    platform.walk_to_succeeded("event-detection")
    result = materialize(
        processed_assets,
        tags=IMPORT_RUN_TAGS,
        selection=["events"],
        partition_key=platform.recording_id,
        instance=platform.instance,
        resources=platform.resources,
        raise_on_error=False,
    )
    return result.success


def _check_status(platform: Platform, asset: str, check: str) -> dict[str, AssetCheckExecutionRecordStatus]:
    key = AssetCheckKey(AssetKey(asset), check)
    infos = platform.instance.event_log_storage.get_asset_check_partition_info(
        [key], partition_keys=[platform.recording_id, SECOND]
    )
    return {info.partition_key: info.latest_execution_status for info in infos}


def test_two_recordings_keep_their_own_check_results(platform: Platform) -> None:
    second = _second_recording(platform)

    assert _import_events(platform, "event-detection-v3.json")
    assert not _import_events(second, "event-detection-missing-field.json")  # imported last

    statuses = _check_status(platform, "events", "schema_valid")
    assert statuses == {
        platform.recording_id: AssetCheckExecutionRecordStatus.SUCCEEDED,
        SECOND: AssetCheckExecutionRecordStatus.FAILED,
    }


def test_the_recording_asset_shows_each_recordings_state(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sensors.recording_state, "SETTLE", timedelta(0))
    _second_recording(platform)
    for job in catalogue.job_type_names():
        platform.store.transition(platform.recording_id, job, JobState.SCHEDULED, source=Source.DISPATCH)
        platform.store.transition(platform.recording_id, job, JobState.SUCCEEDED, source=Source.CALLBACK)
        platform.store.transition(platform.recording_id, job, JobState.COMPLETED, source=Source.IMPORT)
    platform.store.transition(
        SECOND, "ball-tracking", JobState.FAILED, source=Source.IMPORT, reason="row 3: bad"
    )
    settings = {**platform.resources["alerts"].settings, "api_base_url": "http://api.test"}
    resources = {**platform.resources, "alerts": AlertsResource(settings=settings)}

    def tick() -> dict[str, AssetObservation]:
        context = build_sensor_context(instance=platform.instance, resources=resources, cursor=cursor)
        result = recording_state_sensor(context)
        for event in getattr(result, "asset_events", []):  # what the daemon does with them
            platform.instance.report_runless_asset_event(event)
        ticks.append(context.cursor)
        return {e.partition: e for e in getattr(result, "asset_events", [])}

    cursor, ticks = None, []
    observed = tick()
    cursor = ticks[-1]
    platform.store.transition(SECOND, "event-detection", JobState.SCHEDULED, source=Source.DISPATCH)
    again = tick()
    cursor = ticks[-1]
    quiet = tick()

    completed = observed[platform.recording_id].metadata
    assert completed["overall"].value == "completed"
    assert "http://api.test/recordings/rec-fixture/pictures/team-heatmaps.png" in completed["pictures"].value
    assert observed[SECOND].metadata["overall"].value == "failed"
    assert "| ball-tracking | failed | 1 | row 3: bad |" in observed[SECOND].metadata["jobs"].value
    assert set(again) == {SECOND} and quiet == {}  # only what changed, and each change once
    assert "| event-detection | scheduled | 1 |" in again[SECOND].metadata["jobs"].value


def test_past_its_time_budget_the_sensor_leaves_the_rest_to_the_next_tick(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sensors.recording_state, "SETTLE", timedelta(0))
    monkeypatch.setattr(sensors.recording_state, "TICK_BUDGET_S", 0.0)  # a saturated machine
    _second_recording(platform)
    first = platform.recording_id
    for recording_id, job in ((first, "event-detection"), (SECOND, "event-detection"),
                              (first, "player-tracking"), (SECOND, "ball-tracking")):  # fmt: skip
        platform.store.transition(recording_id, job, JobState.SCHEDULED, source=Source.DISPATCH)

    cursor, observed = None, []
    for _ in range(5):
        context = build_sensor_context(
            instance=platform.instance, resources=platform.resources, cursor=cursor
        )
        result = recording_state_sensor(context)
        observed.append({e.partition: e for e in getattr(result, "asset_events", [])})
        cursor = context.cursor

    # One recording a tick, and every change seen: a recording whose later change lies past the
    # first row left for the next tick is observed again (a repeat, never a miss), then nothing.
    assert [list(tick) for tick in observed] == [[first], [SECOND], [first], [SECOND], []]
    assert "| ball-tracking | scheduled |" in observed[3][SECOND].metadata["jobs"].value
    assert "| player-tracking | scheduled |" in observed[2][first].metadata["jobs"].value


def test_a_run_launched_without_the_recording_tag_gets_it(platform: Platform) -> None:
    # As from the UI: Dagster's own asset job, only `dagster/partition` set.
    platform.put_raw("event-detection")
    platform.walk_to_succeeded("event-detection")
    result = materialize(
        processed_assets,
        selection=["events"],
        partition_key=platform.recording_id,
        instance=platform.instance,
        resources=platform.resources,
    )

    run = platform.instance.get_run_by_id(result.run_id)
    assert run is not None and run.tags["ras/recording"] == platform.recording_id


def test_a_partition_added_in_the_ui_but_never_registered_is_refused_with_what_to_do(
    platform: Platform,
) -> None:
    platform.instance.add_dynamic_partitions("recordings", ["rec-ui-only"])

    result = materialize(
        [recording],
        partition_key="rec-ui-only",
        instance=platform.instance,
        resources=platform.resources,
        raise_on_error=False,
    )

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error_display_string
    assert "rec-ui-only is not registered with the platform" in message
    assert "PUT /recordings/rec-ui-only" in message
    assert platform.store.get_recording("rec-ui-only") is None
