"""run_import end to end on fixture files, for every processed output, good and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ras_core.catalogue import CHECK_NAMES, PROCESSED_OUTPUTS, processed_output
from ras_core.checks import CHECKS_BY_OUTPUT, NOT_RUN
from ras_core.importers import ImportResult, run_import
from ras_core.processed import read_document, read_parquet_metadata
from ras_core.recording import RecordingMetadata

RAW = Path(__file__).parents[1] / "fixtures" / "raw"

GOOD_INPUTS: dict[str, dict[str, str]] = {
    "events": {"event-detection": "event-detection-v3.json"},
    "ball_tracking": {"ball-tracking": "ball-tracking-v2.csv"},
    "player_tracking": {"player-tracking": "player-tracking-v3.csv", "ball-tracking": "ball-tracking-v3.csv"},
    "match_momentum": {"match-momentum": "match-momentum.csv"},
    "physical_metrics": {"physical-metrics": "physical-metrics.parquet"},
    "match_details": {"match-details": "match-details.csv"},
    "shot_details": {"shot-details": "shot-details.json"},
    "match_report": {"match-report": "match-report.json"},
}


def _run(output: str, inputs: dict[str, Path], recording: RecordingMetadata, tmp_path: Path) -> ImportResult:
    return run_import(output, inputs, recording, tmp_path / f"{output}.out")


def _raw(names: dict[str, str]) -> dict[str, Path]:
    return {key: RAW / name for key, name in names.items()}


def test_every_catalogue_entry_names_an_importer_that_exists() -> None:
    assert all(callable(out.load_importer()) for out in PROCESSED_OUTPUTS if not out.from_video)
    assert set(CHECKS_BY_OUTPUT) == {out.name for out in PROCESSED_OUTPUTS}
    assert all(
        checks[0] == "schema_valid" and set(checks) <= set(CHECK_NAMES)
        for name, checks in CHECKS_BY_OUTPUT.items()
        if not processed_output(name).from_video
    )


@pytest.mark.parametrize("output", sorted(GOOD_INPUTS))
def test_every_output_imports_from_fixtures(
    output: str, recording: RecordingMetadata, tmp_path: Path
) -> None:
    result = _run(output, _raw(GOOD_INPUTS[output]), recording, tmp_path)
    assert result.passed, result.failure_reason()
    assert result.failure_reason() is None
    assert tuple(c.name for c in result.checks) == CHECKS_BY_OUTPUT[output]
    json.dumps(result.metadata)  # the Dagster UI gets JSON-able metadata
    out = tmp_path / f"{output}.out"
    assert result.metadata["file_size_bytes"] == out.stat().st_size > 0
    stored = read_parquet_metadata(out) if output.endswith(("tracking", "metrics")) else read_document(out)
    assert stored["recording_id"] == "rec-fixture"
    assert stored["coordinate_system"]["name"] == "normalised-top-left"
    assert stored["pitch"] == {"length_m": 105.0, "width_m": 68.0}
    assert set(stored["source"]) == {"schema_version", "file"}


def test_player_tracking_metadata_tells_the_story(recording: RecordingMetadata, tmp_path: Path) -> None:
    result = _run("player_tracking", _raw(GOOD_INPUTS["player_tracking"]), recording, tmp_path)
    meta = result.metadata
    assert (meta["rows"], meta["frames"], meta["duration_covered_s"]) == (20, 8, 4.0)
    assert meta["players_per_side"] == {"away": 1, "home": 1, "referee": 1}
    assert (meta["schema_version"], meta["ball_schema_version"]) == ("3", "3")
    coverage = next(c for c in result.checks if c.name == "frame_coverage")
    # Period bounds are inclusive: frames 0-4 and 6-10 are expected; the file has 0-3 and 6-9.
    assert "80.0% of the 10 frames" in coverage.description and coverage.passed


def test_events_metadata_counts_types(recording: RecordingMetadata, tmp_path: Path) -> None:
    result = _run("events", _raw({"event-detection": "event-detection-v2.json"}), recording, tmp_path)
    assert result.metadata["event_counts_by_type"] == {"goal": 1, "kick-off": 2, "period-end": 1, "shot": 1}
    assert result.metadata["schema_version"] == "2"


@pytest.mark.parametrize(
    ("output", "inputs", "reason"),
    [
        (
            "player_tracking",
            {"player-tracking": "player-tracking-non-numeric.csv", "ball-tracking": "ball-tracking-v3.csv"},
            "raw/player-tracking/rec-fixture/attempt-1.csv row 5, column x: expected a number, got 'abc'",
        ),
        (
            "player_tracking",
            {"player-tracking": "player-tracking-v2.csv", "ball-tracking": "ball-tracking-non-numeric.csv"},
            "raw/ball-tracking/rec-fixture/attempt-1.csv row 4, column z",
        ),
        (
            "events",
            {"event-detection": "event-detection-wrong-version.json"},
            "raw/event-detection/rec-fixture/attempt-1.json $.schema_version",
        ),
        (
            "match_report",
            {"match-report": "match-report-other-recording.json"},
            "$.recording_id: expected 'rec-fixture'",
        ),
        ("match_details", {"match-details": "match-details-missing-all.csv"}, "none for away"),
        (
            "physical_metrics",
            {"physical-metrics": "physical-metrics-not-parquet.parquet"},
            "expected a parquet file",
        ),
        (
            "ball_tracking",
            {"ball-tracking": "does-not-exist.csv"},
            "raw/ball-tracking/rec-fixture/attempt-1.csv",
        ),
    ],
)
def test_corrupt_input_is_a_failed_schema_check_not_an_exception(
    output: str, inputs: dict[str, str], reason: str, recording: RecordingMetadata, tmp_path: Path
) -> None:
    result = _run(output, _raw(inputs), recording, tmp_path)
    assert not result.passed
    schema, *others = result.checks
    assert schema.name == "schema_valid" and not schema.passed and reason in schema.description
    assert result.failure_reason() == schema.description
    assert [(c.name, c.passed, c.description) for c in others] == [
        (name, False, NOT_RUN) for name in CHECKS_BY_OUTPUT[output][1:]
    ]
    assert not (tmp_path / f"{output}.out").exists()  # the previous processed version stays in place


def _edited_copy(
    tmp_path: Path, name: str, keep: int | None = None, swap: tuple[str, str] | None = None
) -> Path:
    lines = (RAW / name).read_text().splitlines()
    lines = lines[:keep] if keep is not None else lines
    text = "\n".join(lines) + "\n"
    if swap is not None:
        text = text.replace(*swap, 1)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_time_going_backwards_fails_with_the_row(recording: RecordingMetadata, tmp_path: Path) -> None:
    path = _edited_copy(tmp_path, "match-momentum.csv", swap=("\n1.0,0.25", "\n-1.0,0.25"))
    result = _run("match_momentum", {"match-momentum": path}, recording, tmp_path)
    check = result.checks[1]
    assert check.name == "time_monotonic" and not check.passed
    assert "backwards 1 times" in check.description and "row 2" in check.description
    assert not (tmp_path / "match_momentum.out").exists()


def test_low_frame_coverage_is_a_warning_with_its_share(recording: RecordingMetadata, tmp_path: Path) -> None:
    # Keep only period 1 (header + 10 rows): 4 of the 10 expected frames.
    players = _edited_copy(tmp_path, "player-tracking-v3.csv", keep=11)
    inputs = {"player-tracking": players, "ball-tracking": RAW / "ball-tracking-v3.csv"}
    result = _run("player_tracking", inputs, recording, tmp_path)
    coverage = next(c for c in result.checks if c.name == "frame_coverage")
    assert not coverage.passed and "40.0% of the 10 frames" in coverage.description
    assert coverage.metadata["share"] == 0.4
    assert result.passed and result.failure_reason() is None  # quality never fails an import
    assert coverage in result.warnings and "frame_coverage" in result.metadata["quality_warnings"]
    assert (tmp_path / "player_tracking.out").exists()


def test_coordinates_beyond_the_band_break_the_contract(recording: RecordingMetadata, tmp_path: Path) -> None:
    # x = 4250 (centimetres, not metres) is 40 pitch lengths away: outside [-1, 2] normalised.
    ball = _edited_copy(tmp_path, "ball-tracking-v2.csv", swap=("\n1,-42.5,", "\n1,4250,"))
    result = _run("ball_tracking", {"ball-tracking": ball}, recording, tmp_path)
    band = next(c for c in result.checks if c.name == "coordinates_in_band")
    assert not band.passed and band.description.startswith(
        "raw/ball-tracking/rec-fixture/attempt-1.csv: 1 of 6 positions"
    )
    assert band.metadata == {"outside": 1, "positions": 6}
    assert not result.passed and result.failure_reason() == band.description


def test_import_is_repeatable(recording: RecordingMetadata, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        _run("events", _raw(GOOD_INPUTS["events"]), recording, folder)
    assert (first / "events.out").read_bytes() == (second / "events.out").read_bytes()
