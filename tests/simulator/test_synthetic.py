"""The synthetic match: deterministic, plausible, and in the contract's raw formats (parsed here by hand)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ema_simulator import synthetic
from ras_core.catalogue import raw_output, raw_outputs
from ras_core.recording import Pitch

FPS = 10.0
PITCH = Pitch(105.0, 68.0)
EVENT_TYPES = {
    "kick-off", "goal", "shot", "save", "corner", "free-kick", "penalty", "throw-in", "goal-kick", "offside",
    "foul", "card", "substitution", "period-start", "period-end",
}  # fmt: skip
SIDES = {"home", "away", "referee", "unknown"}
V3_PLAYER = "pts,timestamp_in_seconds,period,track_id,team_side,jersey_number,x,y,speed_mps,confidence"


@pytest.fixture(scope="module")
def match() -> synthetic.SyntheticMatch:
    return synthetic.synthetic_match(synthetic.two_half_recording("rec-test", FPS, 1200.0, PITCH))


def raw(match: synthetic.SyntheticMatch, name: str, variant: str | None = None) -> bytes:
    return synthetic.raw_output_bytes(match, name, variant=variant)


def read_csv(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=[""])


def test_same_recording_same_bytes_different_recording_different_bytes() -> None:
    def files(recording_id: str) -> dict[str, bytes]:
        match = synthetic.synthetic_match(synthetic.two_half_recording(recording_id, 5.0, 120.0))
        return {out.name: raw(match, out.name) for out in raw_outputs()}

    first, again, other = files("rec-a"), files("rec-a"), files("rec-b")
    assert first == again
    for name in ("player-tracking", "ball-tracking", "match-momentum", "physical-metrics"):
        assert first[name] != other[name], name


def test_write_raw_output_writes_the_same_bytes(match: synthetic.SyntheticMatch, tmp_path: Path) -> None:
    for out in raw_outputs():
        dest = tmp_path / out.key("rec-test", 1)
        synthetic.write_raw_output(match, out.name, dest)
        assert dest.read_bytes() == raw(match, out.name), out.name


def test_player_tracking_v3_follows_the_contract(match: synthetic.SyntheticMatch) -> None:
    data = raw(match, "player-tracking")
    assert data.split(b"\n", 1)[0].decode() == V3_PLAYER
    frame = read_csv(data)
    assert np.allclose(frame["timestamp_in_seconds"], frame["pts"] / 90_000)
    assert set(frame["team_side"]) <= SIDES
    per_frame = frame.groupby("pts")["track_id"].agg(["size", "nunique"])
    assert (per_frame["size"] == 25).all() and (per_frame["nunique"] == 25).all()
    sides = frame.drop_duplicates("track_id")["team_side"].value_counts().to_dict()
    assert sides == {"home": 11, "away": 11, "referee": 3}
    assert frame.loc[frame["team_side"] == "referee", "jersey_number"].isna().all()
    players = frame[frame["team_side"] != "referee"]
    assert players.groupby("team_side")["jersey_number"].nunique().eq(11).all()
    assert (
        frame["x"].abs().max() <= PITCH.length_m / 2 + 5 and frame["y"].abs().max() <= PITCH.width_m / 2 + 5
    )
    assert frame["confidence"].between(0, 1).all()
    assert set(frame["period"]) == {1, 2}


def test_speeds_are_plausible_and_agree_with_positions(match: synthetic.SyntheticMatch) -> None:
    frame = read_csv(raw(match, "player-tracking"))
    assert frame["speed_mps"].max() <= 9.0 + 1e-6
    for _, track in frame.groupby(["track_id", "period"]):
        step = np.hypot(track["x"].diff(), track["y"].diff()).to_numpy()[1:] * FPS
        assert step.max() < 9.5  # no teleporting, even at 10 fps
        # Mean of the instantaneous speeds at both ends ≈ displacement per frame (2-decimal rounding).
        mean_speed = (track["speed_mps"].to_numpy()[1:] + track["speed_mps"].to_numpy()[:-1]) / 2
        assert np.abs(step - mean_speed).max() < 0.6
    outfield_top = frame[frame["team_side"] != "referee"].groupby("track_id")["speed_mps"].max()
    assert outfield_top.median() > 5.0  # somebody runs


def test_tracking_v2_has_frame_ids_and_no_clock(match: synthetic.SyntheticMatch) -> None:
    players = read_csv(raw(match, "player-tracking", "v2"))
    assert list(players.columns) == [
        "frame_id", "track_id", "team_side", "jersey_number", "x", "y", "confidence",
    ]  # fmt: skip
    v3 = read_csv(raw(match, "player-tracking"))
    assert np.array_equal(players["frame_id"].unique(), np.round(v3["timestamp_in_seconds"].unique() * FPS))
    ball = read_csv(raw(match, "ball-tracking", "v2"))
    assert list(ball.columns) == ["frame_id", "x", "y", "z", "confidence"]
    assert set(ball["frame_id"]) <= set(players["frame_id"])


def test_ball_is_seen_in_most_frames_and_kicks_off_from_the_centre(match: synthetic.SyntheticMatch) -> None:
    ball = read_csv(raw(match, "ball-tracking"))
    assert list(ball.columns) == ["pts", "timestamp_in_seconds", "period", "x", "y", "z", "confidence"]
    seen = len(ball) / match.frames.size
    assert 0.8 < seen < 1.0
    assert (ball["z"] >= 0).all() and ball["z"].max() > 1.0
    players = read_csv(raw(match, "player-tracking"))
    assert set(np.round(ball["timestamp_in_seconds"] * FPS)) <= set(
        np.round(players["timestamp_in_seconds"] * FPS)
    )
    first = match.ball[0]
    assert abs(first[0]) < 0.5 and abs(first[1]) < 0.5


@pytest.mark.parametrize("schema", synthetic.EVENT_SCHEMAS)
def test_event_detection_schemas(match: synthetic.SyntheticMatch, schema: str) -> None:
    doc = json.loads(raw(match, "event-detection", schema))
    assert doc["schema_version"] == schema and doc["recording_id"] == "rec-test"
    events = doc["events"]
    assert {e["type"] for e in events} <= EVENT_TYPES
    if schema == "3":
        assert "fps" not in doc
        for e in events:
            assert set(e) == {
                "id",
                "type",
                "start_s",
                "end_s",
                "period",
                "team_side",
                "confidence",
                "position",
            }
            assert e["start_s"] <= e["end_s"] and 0 <= e["confidence"] <= 1 and e["team_side"] in SIDES
            assert e["position"] is None or set(e["position"]) == {"x", "y"}
        return
    assert doc["fps"] == FPS
    expected = {"type", "frame", "team"} | ({"end_frame", "confidence"} if schema != "2" else set())
    expected |= {"position"} if schema == "2.2" else set()
    for e in events:
        assert set(e) == expected and isinstance(e["frame"], int)
        if schema != "2":
            assert e["frame"] <= e["end_frame"] and 0 <= e["confidence"] <= 1


def test_event_schema_default_varies_by_recording() -> None:
    chosen = {synthetic.default_event_schema(f"rec-{n}") for n in range(40)}
    assert chosen == set(synthetic.EVENT_SCHEMAS)


def test_events_are_consistent_with_tracking_and_shots(match: synthetic.SyntheticMatch) -> None:
    events = json.loads(raw(match, "event-detection", "3"))["events"]
    for period in match.recording.periods:
        starts = [e["type"] for e in events if e["start_s"] == period.start_s]
        assert {"period-start", "kick-off"} <= set(starts)
        assert any(e["type"] == "period-end" and e["start_s"] == period.end_s for e in events)
    shots = json.loads(raw(match, "shot-details"))["shots"]
    assert [e["start_s"] for e in events if e["type"] == "shot"] == [s["time_s"] for s in shots]
    goals = [e for e in events if e["type"] == "goal"]
    assert len(goals) == sum(s["outcome"] == "goal" for s in shots)
    for shot in shots:
        index = int(np.searchsorted(match.frames, round(shot["time_s"] * FPS)))
        ball_xy = match.ball[index, :2]
        assert np.hypot(*(ball_xy - [shot["position"]["x"], shot["position"]["y"]])) < 0.1


def test_shot_details_follow_the_contract(match: synthetic.SyntheticMatch) -> None:
    doc = json.loads(raw(match, "shot-details"))
    assert doc["schema_version"] == "1" and doc["shots"]
    for shot in doc["shots"]:
        assert set(shot) == {
            "id",
            "time_s",
            "period",
            "team_side",
            "jersey_number",
            "position",
            "xg",
            "outcome",
            "body_part",
        }
        assert 0 <= shot["xg"] <= 1 and shot["outcome"] in synthetic.SHOT_OUTCOMES
        assert shot["body_part"] in {"foot", "head", "other"} and shot["team_side"] in {"home", "away"}
        # Near the goal the shooting side attacks in that period (home attacks +x in period 1).
        attack = 1 if (shot["team_side"] == "home") == (shot["period"] == 1) else -1
        assert attack * shot["position"]["x"] > 0


def test_report_score_equals_goals_and_details_equal_shots(match: synthetic.SyntheticMatch) -> None:
    report = json.loads(raw(match, "match-report"))
    shots = json.loads(raw(match, "shot-details"))["shots"]
    for side in ("home", "away"):
        assert report["score"][side] == sum(s["outcome"] == "goal" and s["team_side"] == side for s in shots)
    assert {"schema_version", "recording_id", "score", "summary", "key_moments"} <= set(report)
    assert all(set(m) == {"time_s", "type", "team_side", "description"} for m in report["key_moments"])
    details = read_csv(raw(match, "match-details"))
    assert tuple(details.columns) == synthetic.MATCH_DETAILS_COLUMNS
    assert sorted(details["period"].astype(str).unique()) == ["1", "2", "all"]
    for side in ("home", "away"):
        row = details[(details["period"].astype(str) == "all") & (details["team_side"] == side)].iloc[0]
        assert row["shots"] == sum(s["team_side"] == side for s in shots)
        on_target = sum(s["team_side"] == side and s["outcome"] in ("goal", "saved") for s in shots)
        assert row["shots_on_target"] == on_target
    for period in ("1", "2", "all"):
        assert details.loc[details["period"].astype(str) == period, "possession_pct"].sum() == pytest.approx(
            100
        )


def test_momentum_is_in_range(match: synthetic.SyntheticMatch) -> None:
    momentum = read_csv(raw(match, "match-momentum"))
    assert list(momentum.columns) == ["timestamp_in_seconds", "momentum"]
    assert momentum["momentum"].between(-1, 1).all() and momentum["momentum"].std() > 0.05
    assert momentum["timestamp_in_seconds"].is_monotonic_increasing


def test_physical_metrics_match_tracking_distances(match: synthetic.SyntheticMatch) -> None:
    metrics = pq.read_table(io.BytesIO(raw(match, "physical-metrics"))).to_pandas()
    assert list(metrics.columns) == [
        "track_id",
        "team_side",
        "jersey_number",
        "period",
        "distance_m",
        "high_intensity_distance_m",
        "sprint_count",
        "top_speed_mps",
    ]
    assert len(metrics) == 25 * 2
    tracking = read_csv(raw(match, "player-tracking"))
    walked = tracking.groupby(["track_id", "period"])[["x", "y"]].apply(
        lambda t: float(np.hypot(t["x"].diff(), t["y"].diff()).sum())
    )
    joined = metrics.set_index(["track_id", "period"])["distance_m"]
    assert np.allclose(joined.sort_index(), walked.sort_index(), rtol=0.03, atol=2)
    assert (metrics["high_intensity_distance_m"] <= metrics["distance_m"]).all()
    assert metrics["top_speed_mps"].max() <= 9.0


@pytest.mark.parametrize("name", [out.name for out in raw_outputs()])
def test_malformed_outputs_are_broken_in_a_readable_way(name: str) -> None:
    data = synthetic.malformed_output_bytes(name)
    file_format = raw_output(name).file_format
    if file_format == "json":
        doc = json.loads(data)
        assert {"events", "shots", "score"}.isdisjoint(doc)
    elif file_format == "parquet":
        assert "distance_m" not in pq.read_table(io.BytesIO(data)).column_names
    else:
        assert b"not-a-number" in data and not data.endswith(b"\n")


def test_cli_writes_the_contract_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synthetic.main(
        [
            "--recording-id",
            "rec-cli",
            "--duration-s",
            "60",
            "--fps",
            "5",
            "--out",
            str(tmp_path),
            "--event-schema",
            "2.2",
        ]
    )
    for out in raw_outputs():
        assert (tmp_path / "raw" / out.name / "rec-cli" / f"attempt-1.{out.file_format}").stat().st_size > 0
    events = tmp_path / "raw/event-detection/rec-cli/attempt-1.json"
    assert json.loads(events.read_text())["schema_version"] == "2.2"
    assert "raw/player-tracking/rec-cli/attempt-1.csv" in capsys.readouterr().out


# --- broadcast mode --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broadcast() -> synthetic.SyntheticMatch:
    return synthetic.synthetic_match(
        synthetic.two_half_recording("rec-test", FPS, 1200.0, PITCH), broadcast=True
    )


def test_broadcast_leaves_30_to_50_percent_of_frames_without_players(
    broadcast: synthetic.SyntheticMatch,
) -> None:
    players = read_csv(raw(broadcast, "player-tracking", "v3"))
    frames_with_players = players["pts"].nunique()
    assert 0.3 <= 1 - frames_with_players / broadcast.frames.size <= 0.5 + 0.01
    per_side = players[players["team_side"].isin(["home", "away"])].groupby(["pts", "team_side"]).size()
    assert 3 <= per_side.median() <= 11  # the people near the ball, not all 22
    assert (players["team_side"] == "unknown").any() and players["jersey_number"].isna().mean() > 0.2


def test_broadcast_ball_goes_up_to_30_m_beyond_the_lines(broadcast: synthetic.SyntheticMatch) -> None:
    ball = read_csv(raw(broadcast, "ball-tracking", "v3"))
    beyond = np.maximum(ball["x"].abs() - PITCH.length_m / 2, ball["y"].abs() - PITCH.width_m / 2)
    assert 10.0 < beyond.max() <= synthetic.BALL_OUT_OF_PLAY_M
    assert 0 < (beyond > 0).mean() < 0.25


@pytest.mark.parametrize("schema", ["2.2", "3"])
def test_broadcast_events_without_a_location_carry_no_position(
    broadcast: synthetic.SyntheticMatch, schema: str
) -> None:
    events = json.loads(raw(broadcast, "event-detection", schema))["events"]
    unlocated = [e for e in events if e.get("position") is None]
    assert {"substitution", "card", "period-start", "period-end"} <= {e["type"] for e in unlocated}
    assert any("position" not in e for e in unlocated)  # absent, not only null
    side = "team_side" if schema == "3" else "team"
    assert events[-1]["type"] == "period-end" and events[-1][side] == "unknown"  # the final whistle


def test_broadcast_mode_leaves_the_standard_match_as_it_was(
    match: synthetic.SyntheticMatch, broadcast: synthetic.SyntheticMatch
) -> None:
    assert match.broadcast is None and broadcast.broadcast is not None
    again = synthetic.synthetic_match(synthetic.two_half_recording("rec-test", FPS, 1200.0, PITCH))
    assert raw(again, "player-tracking") == raw(match, "player-tracking")
    assert raw(broadcast, "player-tracking") != raw(match, "player-tracking")
    np.testing.assert_array_equal(broadcast.positions, match.positions)  # the same match, seen otherwise


@pytest.mark.parametrize("name", [out.name for out in raw_outputs()])
def test_a_malformed_glitch_differs_per_attempt_but_a_systematic_fault_does_not(name: str) -> None:
    """The platform stops retrying a file it has seen fail byte for byte (issue 11): the simulator's
    random malformed outputs must differ between attempts, its always-malformed ones must not."""
    systematic = synthetic.malformed_output_bytes(name, "rec-1")
    assert synthetic.malformed_output_bytes(name, "rec-1") == systematic
    glitches = {synthetic.malformed_output_bytes(name, "rec-1", glitch=n) for n in (1, 2)}
    assert len(glitches) == 2 and systematic not in glitches
