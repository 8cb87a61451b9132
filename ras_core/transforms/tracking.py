"""Tracking CSVs to processed frames: seconds, frame index, period, normalised x/y, ball merged in."""

from __future__ import annotations

import polars as pl

from ras_core.coords import normalise_x, normalise_y
from ras_core.formats.tracking import RawTracking
from ras_core.recording import RecordingMetadata
from ras_core.transforms.clock import frame_index_of_pts, frame_time, period_id_expr

PLAYER_COLUMNS = {
    "frame": pl.Int64,
    "period": pl.Int16,
    "t": pl.Float64,
    "track_id": pl.Int32,
    "team_side": pl.String,
    "jersey_number": pl.Int16,
    "x": pl.Float32,
    "y": pl.Float32,
    "speed_mps": pl.Float32,
    "confidence": pl.Float32,
    "ball_x": pl.Float32,
    "ball_y": pl.Float32,
    "ball_z": pl.Float32,
    "ball_confidence": pl.Float32,
}
BALL_COLUMNS = {
    "frame": pl.Int64,
    "period": pl.Int16,
    "t": pl.Float64,
    "x": pl.Float32,
    "y": pl.Float32,
    "z": pl.Float32,
    "confidence": pl.Float32,
}


def clocked(raw: RawTracking, recording: RecordingMetadata) -> pl.DataFrame:
    """The raw rows in file order with `frame`, `t` (s) and `period`, positions normalised.

    The frame index comes from pts (v3) or is the frame_id (v2); `t` is then that frame's time, the
    same expression for both versions (contracts.md, Clock). File order is kept so the
    monotonic-time check judges what EMA delivered, not our sort.
    """
    rows = pl.from_arrow(raw.table)
    assert isinstance(rows, pl.DataFrame)
    fps = recording.fps
    if raw.has_clock:
        rows = rows.with_columns(frame=frame_index_of_pts(pl.col("pts"), fps))
        rows = rows.with_columns(t=frame_time(pl.col("frame"), fps), period=pl.col("period").cast(pl.Int16))
    else:
        rows = rows.with_columns(frame=pl.col("frame_id").cast(pl.Int64))
        rows = rows.with_columns(t=frame_time(pl.col("frame"), fps))
        rows = rows.with_columns(period=period_id_expr(pl.col("t"), recording.periods))
    return rows.with_columns(
        x=normalise_x(pl.col("x"), recording.pitch),
        y=normalise_y(pl.col("y"), recording.pitch),
    )


def processed_ball(ball: pl.DataFrame) -> pl.DataFrame:
    """Clocked ball rows in the processed ball-tracking shape, sorted by time."""
    return _shape(ball, BALL_COLUMNS).sort("t", maintain_order=True)


def processed_players(players: pl.DataFrame, ball: pl.DataFrame) -> pl.DataFrame:
    """Clocked player rows with the ball of the same (period, frame); nulls where it was not seen."""
    if "speed_mps" not in players.columns:  # v2 has no speed
        players = players.with_columns(speed_mps=pl.lit(None, dtype=pl.Float32))
    ball_by_frame = (
        ball.select("period", "frame", "x", "y", "z", "confidence")
        # One ball per frame: a duplicated ball row must not duplicate every player row of that frame.
        .unique(subset=["period", "frame"], keep="first", maintain_order=True)
        .rename({"x": "ball_x", "y": "ball_y", "z": "ball_z", "confidence": "ball_confidence"})
    )
    merged = players.join(ball_by_frame, on=["period", "frame"], how="left")
    return _shape(merged, PLAYER_COLUMNS).sort(["t", "track_id"], maintain_order=True)


def _shape(rows: pl.DataFrame, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    return rows.select([pl.col(name).cast(dtype) for name, dtype in columns.items()])
