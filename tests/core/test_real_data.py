"""What real EMA output looks like (contracts.md), one tiny fixture per property, kloppy style.

Fixtures under tests/fixtures/real/ share the fixture recording: fps 2, periods [0, 2] and [3, 5]
(bounds inclusive: frames 0-4 and 6-10, 10 expected), pitch 105 x 68. Each property is data quality,
never a reason to fail an import: these tests pin that the import passes and says the figures.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ras_core import formats
from ras_core.checks import CheckOutcome
from ras_core.errors import RawFormatError
from ras_core.importers import ImportResult, run_import
from ras_core.processed import read_document
from ras_core.recording import RecordingMetadata, parse_recording_metadata
from ras_core.transforms import tracking

FIXTURES = Path(__file__).parents[1] / "fixtures"
REAL = FIXTURES / "real"
BALL = FIXTURES / "raw" / "ball-tracking-v3.csv"


def _import(
    output: str, inputs: dict[str, Path], recording: RecordingMetadata, tmp_path: Path
) -> ImportResult:
    result = run_import(output, inputs, recording, tmp_path / f"{output}.out")
    assert result.passed, result.failure_reason()
    assert (tmp_path / f"{output}.out").exists()
    return result


def _check(result: ImportResult, name: str) -> CheckOutcome:
    return next(check for check in result.checks if check.name == name)


def test_camera_gaps_are_measured_not_failed(recording: RecordingMetadata, tmp_path: Path) -> None:
    # The camera followed play: 4 of the 10 frames have no players (40 % without).
    inputs = {"player-tracking": REAL / "player-tracking-camera-gaps.csv", "ball-tracking": BALL}
    coverage = _check(_import("player_tracking", inputs, recording, tmp_path), "frame_coverage")
    assert coverage.passed
    assert coverage.metadata == {"share": 0.6, "present": 6, "expected": 10, "threshold": 0.5}


def test_a_ball_tens_of_metres_out_of_play_is_legal(recording: RecordingMetadata, tmp_path: Path) -> None:
    # 30 m beyond the far touchline and 25 m behind a goal line: off the pitch, not off the contract.
    ball = {"ball-tracking": REAL / "ball-tracking-out-of-play.csv"}
    result = _import("ball_tracking", ball, recording, tmp_path)
    assert _check(result, "coordinates_in_band").passed
    off = _check(result, "off_pitch_share")
    assert (off.metadata["off_pitch"], off.metadata["positions"], off.metadata["share"]) == (2, 5, 0.4)
    assert off.metadata["max_beyond_line"] == pytest.approx(30 / 68, abs=1e-4)
    assert not off.passed and off in result.warnings  # above the 25 % threshold: a warning


@pytest.mark.parametrize(
    "name", ["event-detection-2.2-without-positions.json", "event-detection-3-without-positions.json"]
)
def test_events_without_a_location_have_a_null_position(
    name: str, recording: RecordingMetadata, tmp_path: Path
) -> None:
    result = _import("events", {"event-detection": REAL / name}, recording, tmp_path)
    events = read_document(tmp_path / "events.out")["events"]
    located = {e["type"]: e["position"] for e in events if e["position"] is not None}
    assert set(located) == {"shot"} and located["shot"] == pytest.approx({"x": 92.5 / 105, "y": 37 / 68})
    assert result.metadata["events_without_position"] == len(events) - 1
    assert _check(result, "coordinates_in_band").metadata["positions"] == 1


def test_events_without_a_team_are_unknown(recording: RecordingMetadata, tmp_path: Path) -> None:
    inputs = {"event-detection": REAL / "event-detection-2.2-without-positions.json"}
    _import("events", inputs, recording, tmp_path)
    events = read_document(tmp_path / "events.out")["events"]
    assert next(e for e in events if e["type"] == "period-end")["team_side"] == "unknown"


def test_schema_errors_name_every_offending_item_by_json_path(tmp_path: Path) -> None:
    name = "event-detection-2.2-many-errors.json"
    with pytest.raises(RawFormatError) as raised:
        formats.read_event_detection(REAL / name, name)
    error = raised.value
    assert error.count == 3
    assert [p.location for p in error.problems] == [
        "$.events[1].type",
        "$.events[2].frame",
        "$.events[3].position.x",
    ]
    assert str(error).startswith(f"{name}: 3 problems, $.events[1].type: expected one of kick-off")
    assert '$.events[3].position.x: expected a value of type number, got "left"' in str(error)


def test_csv_errors_name_every_offending_row(recording: RecordingMetadata, tmp_path: Path) -> None:
    bad = tmp_path / "ball.csv"
    bad.write_text("frame_id,x,y,z,confidence\n0,a,0,0,0.9\n1,0,0,0,0.9\n2,0,b,0,0.9\n3,0,0,0\n")
    with pytest.raises(RawFormatError) as raised:
        formats.read_ball_tracking(bad, "ball.csv")
    assert [p.location for p in raised.value.problems] == ["row 2, column x", "row 4, column y", "row 5"]
    result = run_import("ball_tracking", {"ball-tracking": bad}, recording, tmp_path / "out")
    assert result.checks[0].metadata == {"file": "raw/ball-tracking/rec-fixture/attempt-1.csv", "problems": 3}


def test_unknown_sides_and_jerseys_are_figures(recording: RecordingMetadata, tmp_path: Path) -> None:
    inputs = {"player-tracking": REAL / "player-tracking-unknown-side-and-jersey.csv", "ball-tracking": BALL}
    result = _import("player_tracking", inputs, recording, tmp_path)
    jerseys = _check(result, "jersey_coverage")
    assert (jerseys.metadata["share"], jerseys.metadata["rows"]) == (0.25, 4) and not jerseys.passed
    per_side = _check(result, "players_per_side")
    assert (per_side.metadata["home"], per_side.metadata["away"]) == (1.0, 1.0)
    assert per_side.metadata["unknown_side_share"] == pytest.approx(1 / 3, abs=1e-4)


def test_period_end_is_inclusive(recording: RecordingMetadata, tmp_path: Path) -> None:
    # Frames 4 and 10 sit on the ends of periods 1 and 2: they belong to them and count as covered.
    name = "ball-tracking-v2-period-end.csv"
    ball = tracking.clocked(formats.read_ball_tracking(REAL / name, name), recording)
    assert ball.select("frame", "period").rows() == [(0, 1), (4, 1), (6, 2), (10, 2)]
    result = _import("ball_tracking", {"ball-tracking": REAL / name}, recording, tmp_path)
    assert _check(result, "frame_coverage").metadata["present"] == 4


def test_tracking_of_a_small_part_of_the_match_completes(
    recording: RecordingMetadata, tmp_path: Path
) -> None:
    # A failed camera: one frame of ten. The processed file is written; the coverage says so.
    inputs = {"player-tracking": REAL / "player-tracking-short-coverage.csv", "ball-tracking": BALL}
    result = _import("player_tracking", inputs, recording, tmp_path)
    coverage = _check(result, "frame_coverage")
    assert coverage.metadata["share"] == 0.1 and not coverage.passed
    assert "frame_coverage" in result.metadata["quality_warnings"]
    assert pl.read_parquet(tmp_path / "player_tracking.out").height == 2


def test_10_fps_v2_and_v3_serve_one_clock() -> None:
    # pts a few 90 kHz ticks off the frame grid (as real encoders write them) and frame ids of the
    # same frames: both become the frame index, and t = frame / fps, bit for bit the same.
    recording = parse_recording_metadata(
        {
            "recording_id": "rec-10fps",
            "fps": 10.0,
            "duration_s": 400.0,
            "pitch": {"length_m": 105.0, "width_m": 68.0},
            "video_uris": ["s3://videos/rec-10fps/panorama.mp4"],
            "periods": [
                {"id": 1, "start_s": 0.0, "end_s": 200.0},
                {"id": 2, "start_s": 210.0, "end_s": 400.0},
            ],
        }
    )
    rows = {
        version: tracking.clocked(
            formats.read_player_tracking(REAL / f"player-tracking-10fps-{version}.csv", version), recording
        ).select("frame", "t", "period", "track_id", "x", "y")
        for version in ("v2", "v3")
    }
    assert rows["v2"].equals(rows["v3"])
    assert rows["v3"].get_column("frame").unique().sort().to_list() == [1535, 1536, 2105]
    assert rows["v3"].get_column("t").unique().sort().to_list() == [153.5, 153.6, 210.5]
    assert rows["v3"].get_column("period").to_list() == [1, 1, 1, 1, 2, 2]
