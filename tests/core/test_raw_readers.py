"""Every raw variant reads; every malformed fixture fails naming the file, the row or JSON path."""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ras_core import formats
from ras_core.errors import RawFormatError

RAW = Path(__file__).parents[1] / "fixtures" / "raw"

Reader = Callable[[Path, str], Any]


def _version(parsed: Any) -> str:
    return parsed.schema_version if hasattr(parsed, "schema_version") else parsed.get("schema_version", "1")


@pytest.mark.parametrize(
    ("reader", "name", "version", "rows"),
    [
        (formats.read_player_tracking, "player-tracking-v3.csv", "3", 20),
        (formats.read_player_tracking, "player-tracking-v2.csv", "2", 20),
        (formats.read_ball_tracking, "ball-tracking-v3.csv", "3", 6),
        (formats.read_ball_tracking, "ball-tracking-v2.csv", "2", 6),
        (formats.read_event_detection, "event-detection-v2.json", "2", 5),
        (formats.read_event_detection, "event-detection-v2.1.json", "2.1", 4),
        (formats.read_event_detection, "event-detection-v2.2.json", "2.2", 4),
        (formats.read_event_detection, "event-detection-v3.json", "3", 4),
        (formats.read_shot_details, "shot-details.json", "1", 2),
        (formats.read_match_report, "match-report.json", "1", 2),
    ],
)
def test_every_versioned_variant_reads(reader: Reader, name: str, version: str, rows: int) -> None:
    parsed = reader(RAW / name, f"raw/{name}")
    assert _version(parsed) == version
    if hasattr(parsed, "table"):
        assert parsed.table.num_rows == rows
    elif hasattr(parsed, "events"):
        assert len(parsed.events) == rows
    else:
        assert len(parsed.get("shots", parsed.get("key_moments", []))) == rows


@pytest.mark.parametrize(
    ("reader", "name", "rows"),
    [
        (formats.read_match_details, "match-details.csv", 6),
        (formats.read_match_momentum, "match-momentum.csv", 4),
        (formats.read_physical_metrics, "physical-metrics.parquet", 5),
    ],
)
def test_every_unversioned_table_reads(reader: Reader, name: str, rows: int) -> None:
    assert reader(RAW / name, f"raw/{name}").num_rows == rows


def test_empty_jersey_number_and_speed_are_null() -> None:
    table = formats.read_player_tracking(RAW / "player-tracking-v3.csv", "p").table
    assert table.column("jersey_number").to_pylist()[:3] == [10, None, None]
    assert table.column("speed_mps").to_pylist()[1] is None


MALFORMED = [
    (formats.read_player_tracking, "player-tracking-non-numeric.csv", "row 5, column x", "a number", "'abc'"),
    (
        formats.read_player_tracking,
        "player-tracking-bad-header.csv",
        "row 1 (header)",
        "timestamp_in_seconds",
        None,
    ),
    (
        formats.read_player_tracking,
        "player-tracking-missing-column.csv",
        "row 1 (header)",
        "confidence",
        None,
    ),
    (
        formats.read_player_tracking,
        "player-tracking-bad-team-side.csv",
        "row 6, column team_side",
        "referee",
        "'visitors'",
    ),
    (formats.read_player_tracking, "player-tracking-short-row.csv", "row 3", "10 columns", "9"),
    (
        formats.read_player_tracking,
        "player-tracking-empty-x.csv",
        "row 4, column x",
        "a number",
        "an empty cell",
    ),
    (
        formats.read_player_tracking,
        "player-tracking-v2-fractional-jersey.csv",
        "row 3, column jersey_number",
        "an integer",
        "'7.5'",
    ),
    (formats.read_ball_tracking, "ball-tracking-non-numeric.csv", "row 4, column z", "a number", "'high'"),
    (
        formats.read_match_momentum,
        "match-momentum-out-of-range.csv",
        "row 4, column momentum",
        "[-1, 1]",
        "'-1.5'",
    ),
    (formats.read_match_details, "match-details-bad-period.csv", "row 4, column period", "'all'", "'second'"),
    (formats.read_event_detection, "event-detection-missing-field.json", "$.events[1]", "'end_frame'", None),
    (formats.read_event_detection, "event-detection-wrong-version.json", "$.schema_version", '"2.2"', "'4'"),
    (
        formats.read_event_detection,
        "event-detection-bad-team-side.json",
        "$.events[3].team_side",
        "home",
        '"visitors"',
    ),
    (formats.read_event_detection, "event-detection-truncated.json", "line 4, column 24", "valid JSON", None),
    (
        formats.read_event_detection,
        "event-detection-end-before-start.json",
        "$.events[3].end_frame",
        "frame (8)",
        "7",
    ),
    (formats.read_shot_details, "shot-details-bad-outcome.json", "$.shots[1].outcome", "saved", '"wide"'),
    (formats.read_match_report, "match-report-missing-score.json", "$", "'score'", None),
    (
        formats.read_physical_metrics,
        "physical-metrics-missing-column.parquet",
        "schema",
        "sprint_count",
        None,
    ),
    (
        formats.read_physical_metrics,
        "physical-metrics-bad-team-side.parquet",
        "row 4, column team_side",
        "home",
        "'visitors'",
    ),
    (formats.read_physical_metrics, "physical-metrics-not-parquet.parquet", None, "a parquet file", None),
]


@pytest.mark.parametrize(
    ("reader", "name", "location", "expected", "got"), MALFORMED, ids=[m[1] for m in MALFORMED]
)
def test_malformed_file_names_file_location_and_expectation(
    reader: Reader, name: str, location: str | None, expected: str, got: str | None
) -> None:
    key = f"raw/some-job/{name}"
    with pytest.raises(RawFormatError) as caught:
        reader(RAW / name, key)
    error = caught.value
    assert error.file == key
    assert error.location == location
    assert expected in error.expected
    if got is not None:
        assert error.got == got
    message = str(error)
    assert message.startswith(f"{key} {location}:" if location else f"{key}:")
    # No library internals or local paths leak into what a person reads.
    assert "Traceback" not in message and str(RAW) not in message
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_missing_file_is_a_format_error_not_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(RawFormatError, match=re.escape("raw/ball-tracking/x.csv")):
        formats.read_ball_tracking(tmp_path / "absent.csv", "raw/ball-tracking/x.csv")


def test_error_message_reads_as_the_contract_example() -> None:
    error = RawFormatError("raw/player-tracking/rec-001.csv", "row 17, column x", "a number", "'abc'")
    assert str(error) == "raw/player-tracking/rec-001.csv row 17, column x: expected a number, got 'abc'"
    assert str(pickle.loads(pickle.dumps(error))) == str(error)
