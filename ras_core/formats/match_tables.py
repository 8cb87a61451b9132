"""Match details and match momentum CSVs (one layout each)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from ras_core.formats._csv import Column, CsvVariant, read_csv

MATCH_DETAILS_STATS = (
    "possession_pct",
    "passes",
    "pass_accuracy_pct",
    "shots",
    "shots_on_target",
    "corners",
    "fouls",
    "offsides",
)
_PERCENT = (0.0, 100.0)
_COUNT = (0.0, float("inf"))

MATCH_DETAILS = CsvVariant(
    "match-details",
    "1",
    (
        # Text, not int: "all" is the whole-match row.
        Column("period", "str", pattern=r"[0-9]+|all", description="a period number or 'all'"),
        Column("team_side", "str", allowed=("home", "away")),
        Column("possession_pct", "float", bounds=_PERCENT),
        Column("passes", "int", bounds=_COUNT),
        Column("pass_accuracy_pct", "float", bounds=_PERCENT),
        Column("shots", "int", bounds=_COUNT),
        Column("shots_on_target", "int", bounds=_COUNT),
        Column("corners", "int", bounds=_COUNT),
        Column("fouls", "int", bounds=_COUNT),
        Column("offsides", "int", bounds=_COUNT),
    ),
)
MATCH_MOMENTUM = CsvVariant(
    "match-momentum",
    "1",
    (Column("timestamp_in_seconds", "float"), Column("momentum", "float", bounds=(-1.0, 1.0))),
)


def read_match_details(path: Path, file: str) -> pa.Table:
    return read_csv(path, file, (MATCH_DETAILS,))[1]


def read_match_momentum(path: Path, file: str) -> pa.Table:
    return read_csv(path, file, (MATCH_MOMENTUM,))[1]
