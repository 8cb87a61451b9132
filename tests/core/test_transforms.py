"""Pure transforms: clock, periods, tracking with the ball merged, events of all versions, documents."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ras_core import formats
from ras_core.recording import Period, RecordingMetadata
from ras_core.transforms import documents, events, tracking
from ras_core.transforms.clock import expected_frames, period_id_at

RAW = Path(__file__).parents[1] / "fixtures" / "raw"
PERIODS = (Period(1, 0.0, 2820.0), Period(2, 2940.0, 5760.0))


@pytest.mark.parametrize(
    ("t", "period"), [(0.0, 1), (2819.9, 1), (2900.0, 1), (2940.0, 2), (6000.0, 2), (-1.0, 1)]
)
def test_period_is_the_last_one_started(t: float, period: int) -> None:
    assert period_id_at(t, PERIODS) == period


def test_expected_frames_are_counted_inside_periods_only() -> None:
    # Bounds inclusive: the frame on each period's end belongs to it.
    assert expected_frames(PERIODS, 25.0) == (2820 + 2820) * 25 + 2


def test_touching_periods_share_their_boundary_frame_once() -> None:
    halves = (Period(1, 0.0, 2.0), Period(2, 2.0, 4.0))
    assert expected_frames(halves, 10.0) == 41


def _players(name: str, recording: RecordingMetadata) -> pl.DataFrame:
    return tracking.clocked(formats.read_player_tracking(RAW / name, name), recording)


def _ball(name: str, recording: RecordingMetadata) -> pl.DataFrame:
    return tracking.clocked(formats.read_ball_tracking(RAW / name, name), recording)


def test_v2_and_v3_give_the_same_clock_periods_and_positions(recording: RecordingMetadata) -> None:
    # The fixtures hold the same people at the same places: pts/90000 and frame_id/fps must agree.
    columns = ["frame", "period", "t", "track_id", "x", "y"]
    v3, v2 = _players("player-tracking-v3.csv", recording), _players("player-tracking-v2.csv", recording)
    assert v3.select(columns).equals(v2.select(columns))
    assert v3.get_column("frame").unique().sort().to_list() == [0, 1, 2, 3, 6, 7, 8, 9]
    assert v2.filter(pl.col("frame") >= 6).get_column("period").unique().to_list() == [2]


def test_ball_is_merged_on_frame_with_nulls_where_unseen(recording: RecordingMetadata) -> None:
    ball = tracking.processed_ball(_ball("ball-tracking-v3.csv", recording))
    merged = tracking.processed_players(_players("player-tracking-v2.csv", recording), ball)
    assert merged.schema == pl.Schema(tracking.PLAYER_COLUMNS)
    unseen = merged.filter(pl.col("ball_x").is_null()).get_column("frame").unique().sort().to_list()
    assert unseen == [2, 8]
    kick_off = merged.filter(pl.col("frame") == 0).row(0, named=True)
    assert (kick_off["ball_x"], kick_off["ball_y"], kick_off["ball_z"]) == (0.0, 0.0, 0.0)  # the corner flag
    assert merged.get_column("speed_mps").is_null().all()  # v2 has no speed
    assert merged.select(["t", "track_id"]).equals(merged.select(["t", "track_id"]).sort(["t", "track_id"]))


def test_a_duplicated_ball_row_does_not_duplicate_players(recording: RecordingMetadata) -> None:
    ball = tracking.processed_ball(_ball("ball-tracking-v3.csv", recording))
    players = _players("player-tracking-v3.csv", recording)
    merged = tracking.processed_players(players, pl.concat([ball, ball.head(1)]))
    assert merged.height == players.height


def test_ball_z_stays_in_metres(recording: RecordingMetadata) -> None:
    ball = tracking.processed_ball(_ball("ball-tracking-v2.csv", recording))
    assert ball.get_column("z").to_list() == pytest.approx([0.0, 0.1, 0.3, 0.6, 0.7, 0.9])


EVENT_KEYS = {"id", "type", "start_s", "end_s", "period", "team_side", "confidence", "position"}


@pytest.mark.parametrize("version", ["2", "2.1", "2.2", "3"])
def test_every_event_version_becomes_one_shape(version: str, recording: RecordingMetadata) -> None:
    raw = formats.read_event_detection(RAW / f"event-detection-v{version}.json", "e")
    processed = events.processed_events(raw, recording)
    assert all(set(event) == EVENT_KEYS for event in processed)
    goal = next(e for e in processed if e["type"] == "goal")
    assert (goal["start_s"], goal["period"], goal["team_side"]) == (4.0, 2, "away")
    if version == "2":
        assert goal["end_s"] == goal["start_s"] and goal["confidence"] is None and goal["position"] is None
    if version in ("2.2", "3"):
        assert goal["position"] == pytest.approx({"x": 2.5 / 105, "y": 32.0 / 68})


def test_frame_based_event_ids_are_deterministic(recording: RecordingMetadata) -> None:
    raw = formats.read_event_detection(RAW / "event-detection-v2.1.json", "e")
    first = [e["id"] for e in events.processed_events(raw, recording)]
    assert first == [f"rec-fixture-e{i}" for i in range(4)]
    assert first == [e["id"] for e in events.processed_events(raw, recording)]


def test_match_details_have_team_totals_and_periods() -> None:
    details = documents.match_details(formats.read_match_details(RAW / "match-details.csv", "m"), "m")
    assert details["teams"]["home"]["possession_pct"] == 51.8
    assert [p["period"] for p in details["periods"]] == [1, 2]
    assert details["periods"][1]["away"]["shots"] == 1


def test_momentum_timeline_is_sorted_by_time() -> None:
    table = formats.read_match_momentum(RAW / "match-momentum.csv", "m")
    timeline = documents.momentum_timeline(table.take([3, 0, 2, 1]))
    assert [point["t"] for point in timeline] == [0.0, 1.0, 3.0, 4.0]


def test_shots_are_normalised_and_sorted(recording: RecordingMetadata) -> None:
    shots = documents.processed_shots(formats.read_shot_details(RAW / "shot-details.json", "s"), recording)
    assert [s["id"] for s in shots] == ["shot-1", "shot-2"]
    assert shots[0]["position"] == pytest.approx({"x": 92.5 / 105, "y": 39.0 / 68})
