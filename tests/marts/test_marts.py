"""The dbt marts, materialized through Dagster over processed files imported from the fixtures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, Failure, instance_for_test, materialize

from ras_assets.marts import DBT_EXECUTABLE, MartsWarehouseResource, dbt_project, marts
from ras_core import catalogue
from ras_core.importers import run_import
from ras_core.processed import read_document, write_document
from ras_core.recording import parse_recording_metadata
from tests.orchestration.support import FIXTURES, RAW_FIXTURES

# A second recording that has only a match report and no shots: its summary must still have a row.
GOALLESS = "rec-goalless"


def _import_fixtures(objects: Path) -> str:
    """Every processed output of the fixture recording, written where the object store keeps it."""
    recording = parse_recording_metadata(json.loads((FIXTURES / "recording.json").read_text()))
    rec = recording.recording_id
    for out in catalogue.PROCESSED_OUTPUTS:
        if out.from_video:
            continue  # cut from the video by its own asset; no mart reads clips
        inputs = {name: FIXTURES / "raw" / RAW_FIXTURES[name] for name in out.raw_inputs}
        inputs |= {name: objects / catalogue.processed_output(name).key(rec) for name in out.processed_inputs}
        target = objects / out.key(rec)
        target.parent.mkdir(parents=True, exist_ok=True)
        assert run_import(out.name, inputs, recording, target).passed, out.name
    goalless = {"match_report": {"score": {"home": 0, "away": 0}}, "shot_details": {"shots": []}}
    for name, changes in goalless.items():
        out = catalogue.processed_output(name)
        document = read_document(objects / out.key(rec))
        write_document({**document, "recording_id": GOALLESS, **changes}, objects / out.key(GOALLESS))
    return rec


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, str, object]]:
    root = tmp_path_factory.mktemp("marts")
    objects, database = root / "objects", root / "marts.duckdb"
    rec = _import_fixtures(objects)
    from dagster_dbt import DbtCliResource

    resources = {
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
        "marts_warehouse": MartsWarehouseResource(database_path=str(database), objects_dir=str(objects)),
    }
    with instance_for_test() as instance:
        result = materialize([marts], instance=instance, resources=resources)
        yield objects, database, rec, result


def _rows(database: Path, query: str) -> list[dict]:
    with duckdb.connect(str(database), read_only=True) as con:
        relation = con.sql(query)
        return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def test_marts_depend_on_the_processed_assets() -> None:
    deps = {dep.asset_key for spec in marts.specs for dep in spec.deps}
    read = ("player_tracking", "physical_metrics", "events", "shot_details", "match_details", "match_report")
    assert deps == {AssetKey(name) for name in read}
    assert {spec.group_name for spec in marts.specs} == {"marts"}


def test_every_mart_builds_and_its_dbt_tests_pass(built) -> None:
    _, _, _, result = built
    assert result.success
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized == {AssetKey(m) for m in ("recording_summary", "player_physical", "team_match_stats")}
    checks = result.get_asset_check_evaluations()
    assert checks and all(check.passed for check in checks)


def test_recording_summary_agrees_with_the_processed_documents(built) -> None:
    objects, database, rec, _ = built
    report = read_document(objects / catalogue.processed_output("match_report").key(rec))
    shots = read_document(objects / catalogue.processed_output("shot_details").key(rec))["shots"]
    events = read_document(objects / catalogue.processed_output("events").key(rec))["events"]
    tracking = pq.read_table(objects / catalogue.processed_output("player_tracking").key(rec))

    rows = {row["recording_id"]: row for row in _rows(database, "select * from recording_summary")}

    assert set(rows) == {rec, GOALLESS}
    summary = rows[rec]
    assert summary["home_goals"] == report["score"]["home"]
    assert summary["away_goals"] == report["score"]["away"]
    assert summary["result"] == "away"
    assert summary["home_shots"] == sum(shot["team_side"] == "home" for shot in shots)
    assert summary["away_xg"] == pytest.approx(sum(s["xg"] for s in shots if s["team_side"] == "away"))
    assert summary["event_count"] == len(events)
    assert summary["frames_covered"] == len(pc.unique(tracking["frame"]))
    goalless = rows[GOALLESS]
    assert goalless["result"] == "draw" and goalless["home_shots"] == 0 and goalless["home_xg"] == 0
    assert goalless["frames_covered"] is None  # no tracking for it


def test_player_physical_and_team_match_stats_agree_with_the_processed_files(built) -> None:
    objects, database, rec, _ = built
    metrics = pq.read_table(objects / catalogue.processed_output("physical_metrics").key(rec)).to_pylist()
    details = read_document(objects / catalogue.processed_output("match_details").key(rec))["teams"]

    players = _rows(database, "select * from player_physical")
    teams = {row["team_side"]: row for row in _rows(database, "select * from team_match_stats")}

    assert {row["track_id"] for row in players} == {m["track_id"] for m in metrics}
    for player in players:
        periods = [m for m in metrics if m["track_id"] == player["track_id"]]
        assert player["distance_m"] == pytest.approx(sum(m["distance_m"] for m in periods), abs=0.1)
        assert player["sprint_count"] == sum(m["sprint_count"] for m in periods)
    assert set(teams) == {"home", "away"}  # match details only exist for the fixture recording
    assert teams["home"]["passes"] == details["home"]["passes"]
    assert (teams["away"]["goals_for"], teams["away"]["goals_against"]) == (1, 0)


def test_each_mart_records_its_column_schema_and_row_count(built) -> None:
    _, _, _, result = built
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        assert metadata["dagster/row_count"].value >= 1, event.asset_key
        columns = {column.name: column.type for column in metadata["dagster/column_schema"].value.columns}
        assert "recording_id" in columns, (event.asset_key, columns)


def test_marts_rebuild_after_processed_data_changed_at_most_once_per_tick() -> None:
    from datetime import UTC, datetime, timedelta

    from dagster import AssetMaterialization, AssetSpec, Definitions, evaluate_automation_conditions

    from ras_assets.marts import marts_resources
    from ras_assets.partitions import recordings_partitions
    from ras_platform.settings import Settings

    upstream = [
        AssetSpec(key, partitions_def=recordings_partitions)
        for key in {dep.asset_key for spec in marts.specs for dep in spec.deps}
    ]
    defs = Definitions(assets=[marts, *upstream], resources=marts_resources(Settings()))
    start = datetime(2026, 11, 29, 9, 1, tzinfo=UTC)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("recordings", ["rec-1"])

        def tick(at: datetime, cursor=None):  # type: ignore[no-untyped-def]
            return evaluate_automation_conditions(defs, instance, evaluation_time=at, cursor=cursor)

        first = tick(start)
        assert first.total_requested == 0  # nothing changed
        instance.report_runless_asset_event(AssetMaterialization("events", partition="rec-1"))
        same_tick = tick(start + timedelta(minutes=1), first.cursor)
        assert same_tick.total_requested == 0  # changed, but the 5-minute tick has not passed
        next_tick = tick(start + timedelta(minutes=5), same_tick.cursor)
        readers = {spec.key for spec in marts.specs if AssetKey("events") in {d.asset_key for d in spec.deps}}
        requested = {spec.key for spec in marts.specs if next_tick.get_num_requested(spec.key)}
        assert readers and requested == readers and next_tick.total_requested == len(readers)
        quiet = tick(start + timedelta(minutes=11), next_tick.cursor)
        assert quiet.total_requested == 0  # nothing changed since


@pytest.mark.parametrize(("object_store", "status"), [("local", "RUNNING"), ("s3", "STOPPED")])
def test_the_marts_refresh_by_themselves_only_where_they_can_be_built(object_store: str, status: str) -> None:
    from ras_assets.marts import marts_automation_sensor, marts_resources
    from ras_platform.settings import Settings

    settings = Settings(object_store=object_store, s3_bucket="marts-test")
    assert marts_automation_sensor(settings).default_status.name == status
    warehouse = marts_resources(settings)["marts_warehouse"]
    if object_store == "s3":  # built by hand anyway, the asset says why it cannot
        with pytest.raises(Failure, match="local object store; this one is S3"):
            warehouse.dbt_vars()  # type: ignore[attr-defined]


def test_the_marts_automation_can_be_turned_off() -> None:
    from ras_assets.marts import marts_automation_sensor
    from ras_platform.settings import Settings

    sensor = marts_automation_sensor(Settings(object_store="local", marts_automation=False))
    assert sensor.default_status.name == "STOPPED"
    assert "RAS_MARTS_AUTOMATION is off" in (sensor.description or "")
