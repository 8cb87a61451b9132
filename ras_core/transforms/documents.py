"""Match details, momentum, shot details and match report in their processed shapes."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ras_core.coords import normalise_point
from ras_core.errors import RawFormatError
from ras_core.formats.match_tables import MATCH_DETAILS_STATS
from ras_core.recording import RecordingMetadata

SIDES = ("home", "away")


def match_details(table: pa.Table, file: str) -> dict[str, Any]:
    """`{"teams": {side: totals}, "periods": [{"period": n, "home": {...}, "away": {...}}]}`.

    The CSV's `all` rows are EMA's whole-match totals; they are required, not recomputed, because
    percentages such as possession cannot be summed from the period rows.
    """
    stats = _stats_by_period_and_side(table, file)
    missing = [side for side in SIDES if ("all", side) not in stats]
    if missing:
        raise RawFormatError(
            file, "period all", "a whole-match row for home and away", "none for " + ", ".join(missing)
        )
    periods = sorted({int(p) for p, _ in stats if p != "all"})
    for period in periods:
        for side in SIDES:
            if (str(period), side) not in stats:
                raise RawFormatError(file, f"period {period}", f"a row for team_side {side}", "none")
    return {
        "teams": {side: stats[("all", side)] for side in SIDES},
        "periods": [{"period": p, **{side: stats[(str(p), side)] for side in SIDES}} for p in periods],
    }


def _stats_by_period_and_side(table: pa.Table, file: str) -> dict[tuple[str, str], dict[str, Any]]:
    stats: dict[tuple[str, str], dict[str, Any]] = {}
    for row in table.to_pylist():
        # "01" and "1" are the same period.
        key = (row["period"] if row["period"] == "all" else str(int(row["period"])), row["team_side"])
        if key in stats:
            raise RawFormatError(file, f"period {key[0]}, team_side {key[1]}", "one row", "a second row")
        stats[key] = {name: row[name] for name in MATCH_DETAILS_STATS}
    return stats


def momentum_timeline(table: pa.Table) -> list[dict[str, float]]:
    rows = zip(
        table.column("timestamp_in_seconds").to_pylist(), table.column("momentum").to_pylist(), strict=True
    )
    return [{"t": t, "momentum": m} for t, m in sorted(rows, key=lambda row: row[0])]


def processed_shots(document: dict[str, Any], recording: RecordingMetadata) -> list[dict[str, Any]]:
    shots = [
        {**shot, "position": normalise_point(shot["position"], recording.pitch)} for shot in document["shots"]
    ]
    return sorted(shots, key=lambda shot: shot["time_s"])


def processed_match_report(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "score": document["score"],
        "summary": document["summary"],
        "key_moments": sorted(document["key_moments"], key=lambda moment: moment["time_s"]),
    }
