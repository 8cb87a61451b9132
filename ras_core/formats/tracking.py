"""Player and ball tracking CSVs, v2 (frame_id) and v3 (pts), told apart by their header."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ras_core.formats._csv import TEAM_SIDES, Column, CsvVariant, read_csv

_TRACK = (
    Column("track_id", "int"),
    Column("team_side", "str", allowed=TEAM_SIDES),
    Column("jersey_number", "int", nullable=True),
    Column("x", "float"),
    Column("y", "float"),
)
_V3_CLOCK = (Column("pts", "int"), Column("timestamp_in_seconds", "float"), Column("period", "int"))

PLAYER_TRACKING_V3 = CsvVariant(
    "player-tracking",
    "3",
    (*_V3_CLOCK, *_TRACK, Column("speed_mps", "float", nullable=True), Column("confidence", "float")),
)
PLAYER_TRACKING_V2 = CsvVariant(
    "player-tracking", "2", (Column("frame_id", "int"), *_TRACK, Column("confidence", "float"))
)
_BALL = (Column("x", "float"), Column("y", "float"), Column("z", "float"), Column("confidence", "float"))
BALL_TRACKING_V3 = CsvVariant("ball-tracking", "3", (*_V3_CLOCK, *_BALL))
BALL_TRACKING_V2 = CsvVariant("ball-tracking", "2", (Column("frame_id", "int"), *_BALL))


@dataclass(frozen=True)
class RawTracking:
    """A parsed tracking file: typed columns as in the file, plus the version its header told."""

    schema_version: str
    table: pa.Table

    @property
    def has_clock(self) -> bool:
        """v3 files carry pts and period; v2 files only frame ids."""
        return "pts" in self.table.column_names


def read_player_tracking(path: Path, file: str) -> RawTracking:
    variant, table = read_csv(path, file, (PLAYER_TRACKING_V3, PLAYER_TRACKING_V2))
    return RawTracking(variant.version, table)


def read_ball_tracking(path: Path, file: str) -> RawTracking:
    variant, table = read_csv(path, file, (BALL_TRACKING_V3, BALL_TRACKING_V2))
    return RawTracking(variant.version, table)
