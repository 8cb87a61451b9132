import dataclasses
from typing import Any

import pytest

from ras_core import catalogue
from ras_core.catalogue import Catalogue, Executor, IncompleteCatalogue, JobType, ProcessedOutput, RawOutput
from ras_core.ids import is_valid_recording_id


def test_every_processed_output_belongs_to_exactly_one_job() -> None:
    owners = [name for job in catalogue.JOB_TYPES for name in job.processed_outputs]
    assert sorted(owners) == sorted(out.name for out in catalogue.PROCESSED_OUTPUTS)


def test_dependent_jobs_need_the_three_independent_ones() -> None:
    for name in ("match-details", "shot-details", "match-report"):
        assert set(catalogue.job_type(name).depends_on) == {
            "event-detection",
            "player-tracking",
            "ball-tracking",
        }


def test_raw_keys_follow_the_contract_layout() -> None:
    raw = catalogue.raw_output("physical-metrics")
    assert raw.key("rec-001", 2) == "raw/physical-metrics/rec-001/attempt-2.parquet"
    assert catalogue.parse_raw_key(raw.key("rec-001", 2)) == (raw, "rec-001", 2)
    assert catalogue.parse_raw_key("raw/physical-metrics/rec-001/attempt-2.csv") is None  # wrong format
    assert catalogue.parse_raw_key("processed/events/rec-001.json") is None


def test_unknown_job_type_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="event-detection"):
        catalogue.job_type("goal-detection")


@pytest.mark.parametrize(
    ("value", "valid"),
    [("rec-001", True), ("A", True), ("a" * 64, True), ("a" * 65, False), ("-rec", False),
     ("rec/1", False), ("rec 1", False), ("", False), ("rec-1\n", False), ("ré", False)],
)
def test_recording_id_pattern(value: str, valid: bool) -> None:
    assert is_valid_recording_id(value) is valid


# --- adding a job type is one entry -------------------------------------------------------------------

HEAT_MAP_JOB = JobType(
    "heat-map",
    Executor.EMA_V2,
    (RawOutput("heat-map", "json"),),
    ("heat_map",),
    depends_on=("player-tracking",),
    domain_event="HeatMapProcessedV1",
)
HEAT_MAP = ProcessedOutput(
    "heat_map",
    "json",
    raw_inputs=("heat-map",),
    endpoint="heat-map",
    checks=("schema_valid", "coordinates_in_band"),
    description="Where each player spent the match, on a grid over the pitch.",
    importer="tests.test_catalogue:import_heat_map",
    more_endpoints=("heat-map/zones",),
)


def import_heat_map(inputs: object, recording: object) -> None:
    """The entry's importer; only its being found matters here."""


def with_heat_map(**changes: Any) -> Catalogue:
    entry = dataclasses.replace(HEAT_MAP, **changes)
    return Catalogue((*catalogue.JOB_TYPES, HEAT_MAP_JOB), (*catalogue.PROCESSED_OUTPUTS, entry))


def test_one_entry_brings_its_asset_importer_checks_and_endpoints() -> None:
    from dagster import AssetKey

    from ras_assets.processed import build_processed_assets
    from ras_assets.raw import build_raw_asset_specs

    cat = with_heat_map()
    [asset] = [a for a in build_processed_assets(cat) if a.key == AssetKey("heat_map")]
    assert asset.descriptions_by_key[asset.key] == HEAT_MAP.description
    # The UI label (contract or quality) is the asset layer's; the words come from the catalogue.
    descriptions = {spec.name: spec.description or "" for spec in asset.check_specs}
    assert set(descriptions) == {"schema_valid", "coordinates_in_band"}
    for name, description in descriptions.items():
        assert description.endswith(catalogue.check_kind(name).description)
    assert all(spec.blocking for spec in asset.check_specs)
    assert AssetKey(["ema", "heat_map"]) in {dep.asset_key for dep in asset.specs_by_key[asset.key].deps}
    [raw] = [spec for spec in build_raw_asset_specs(cat) if spec.key == AssetKey(["ema", "heat_map"])]
    # EMA gets read URLs of what the job depends on: the raw asset depends on those processed assets.
    assert {dep.asset_key for dep in raw.deps} >= {AssetKey("player_tracking"), AssetKey("recording")}
    assert set(cat.ema_upstream_inputs(cat.job_type("heat-map"))) == {
        "player-tracking",
        "match-momentum",
        "physical-metrics",
    }
    assert cat.processed_output("heat_map").load_importer() is import_heat_map
    assert {"heat-map", "heat-map/zones"} <= set(cat.delivery_endpoints())
    assert "heat-map" not in catalogue.delivery_endpoints()  # the platform's own catalogue is untouched


@pytest.mark.parametrize(
    ("change", "lacks"),
    [
        ({"description": " "}, "a description"),
        ({"importer": ""}, 'an importer ("module:function")'),
        ({"checks": ("coordinates_in_band",)}, "checks starting with schema_valid"),
        ({"checks": ("schema_valid", "heat_in_band")}, "a known check instead of 'heat_in_band'"),
        ({"raw_inputs": ("heat-maps",)}, "a known raw input instead of 'heat-maps'"),
        ({"endpoint": "events"}, "an endpoint of its own instead of 'events'"),
    ],
)
def test_an_incomplete_entry_is_refused_naming_what_it_lacks(change: dict[str, Any], lacks: str) -> None:
    with pytest.raises(IncompleteCatalogue) as refused:
        with_heat_map(**change)
    assert f"processed output 'heat_map' lacks {lacks}" in refused.value.problems


def test_an_entry_listed_before_its_processed_input_is_refused() -> None:
    # A run importing several outputs of a recording takes them in the catalogue's order.
    early = dataclasses.replace(HEAT_MAP, processed_inputs=("player_tracking",))
    with pytest.raises(IncompleteCatalogue) as refused:
        Catalogue((*catalogue.JOB_TYPES, HEAT_MAP_JOB), (early, *catalogue.PROCESSED_OUTPUTS))
    assert "processed output 'heat_map' lacks its processed input 'player_tracking' listed before it" in (
        refused.value.problems
    )
    assert Catalogue((*catalogue.JOB_TYPES, HEAT_MAP_JOB), (*catalogue.PROCESSED_OUTPUTS, early))


def test_a_job_type_without_its_output_entry_is_refused() -> None:
    with pytest.raises(IncompleteCatalogue, match="job type 'heat-map' lacks a known processed output"):
        Catalogue((*catalogue.JOB_TYPES, HEAT_MAP_JOB), catalogue.PROCESSED_OUTPUTS)


def test_the_platforms_catalogue_is_whole_and_every_importer_loads() -> None:
    assert Catalogue(catalogue.JOB_TYPES, catalogue.PROCESSED_OUTPUTS) == catalogue.CATALOGUE
    assert all(callable(out.load_importer()) for out in catalogue.PROCESSED_OUTPUTS if not out.from_video)
