"""The checks every import runs before its processed file may replace the previous version.

Two kinds (`ras_core.catalogue.CHECKS` says which check is which): contract checks guard what
contracts.md promises (schema, time order, metres on this pitch) and fail the import; quality checks
measure what real broadcast data is like (camera gaps, a ball in the stands, unknown jerseys) and
only warn, with their figures. Each returns a `CheckOutcome` whose description is what support staff
read in the Dagster UI and in GET analytics, so it says the numbers, not only pass or fail.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ras_core.catalogue import PROCESSED_OUTPUTS, CheckSeverity, check_kind
from ras_core.errors import RawFormatError
from ras_core.quality import QualityThresholds
from ras_core.recording import RecordingMetadata
from ras_core.transforms.clock import expected_frame_ranges

CHECKS_BY_OUTPUT: dict[str, tuple[str, ...]] = {out.name: out.checks for out in PROCESSED_OUTPUTS}

# Normalised coordinates may leave [0, 1] (players off the pitch, a ball tens of metres into the
# stands) but not by a whole pitch: beyond that a position is in the wrong unit or the wrong system.
BAND = (-1.0, 2.0)
# A handful of tracking glitches must not fail a match; metres mistaken for centimetres would.
MAX_SHARE_OUTSIDE_BAND = 0.001
NOT_RUN = "not run: schema invalid"
PLAYING_SIDES = ("home", "away")

__all__ = ["QualityThresholds"]  # re-exported: the importers take it from here


@dataclass(frozen=True)
class CheckOutcome:
    name: str  # one of catalogue.CHECK_NAMES
    passed: bool
    description: str  # the reason a person reads in the UI
    metadata: dict[str, int | float | str]
    # The file (object key) whose content the check judged: a failure is charged to its job.
    file: str | None = None

    @property
    def severity(self) -> CheckSeverity:
        return check_kind(self.name).severity

    @property
    def blocking(self) -> bool:
        return check_kind(self.name).blocking

    def as_report(self) -> dict[str, object]:
        """The JSON shape stored with a recording's quality and served by GET analytics."""
        return {
            "check": self.name,
            "severity": self.severity.value,
            "passed": self.passed,
            "description": self.description,
            "figures": dict(self.metadata),
        }


def schema_valid(error: RawFormatError | None, what: str) -> CheckOutcome:
    if error is not None:
        metadata: dict[str, int | float | str] = {"file": error.file}
        if error.count > 1:
            metadata["problems"] = error.count
        return CheckOutcome("schema_valid", False, str(error), metadata, error.file)
    return CheckOutcome("schema_valid", True, f"{what} follows its contract", {})


def not_run(name: str) -> CheckOutcome:
    return CheckOutcome(name, False, NOT_RUN, {})


def time_monotonic(times: pl.DataFrame, what: str) -> CheckOutcome:
    """`times` has `t` and `period` in file order; time may repeat (rows of one frame), never go back."""
    backwards = times.select((pl.col("t").diff().over("period") < 0).sum()).item()
    if backwards:
        first = times.with_row_index("row").filter(pl.col("t").diff().over("period") < 0).row(0, named=True)
        description = (
            f"{what}: time goes backwards {backwards} times within a period, "
            f"first at row {first['row'] + 1} (t={first['t']:g} s, period {first['period']})"
        )
        return CheckOutcome("time_monotonic", False, description, {"backward_steps": backwards}, what)
    passed = f"{what}: time never goes backwards within a period"
    return CheckOutcome("time_monotonic", True, passed, {}, what)


def _located(points: pl.DataFrame) -> pl.DataFrame:
    return points.filter(pl.col("x").is_not_null() & pl.col("y").is_not_null())


def coordinates_in_band(points: pl.DataFrame, what: str) -> CheckOutcome:
    """Contract: positions are metres on this pitch. `points` has normalised `x`, `y`; rows with no
    position (nulls: an event without a location) are not counted."""
    low, high = BAND
    located = _located(points)
    outside = located.filter(~pl.col("x").is_between(low, high) | ~pl.col("y").is_between(low, high)).height
    share = outside / located.height if located.height else 0.0
    passed = share <= MAX_SHARE_OUTSIDE_BAND
    description = (
        f"{what}: {outside} of {located.height} positions more than a pitch length or width beyond "
        f"the lines (normalised band [{low:g}, {high:g}]; {share:.2%}, at most {MAX_SHARE_OUTSIDE_BAND:.1%} "
        "allowed: more means metres were not used or the pitch size is wrong)"
    )
    figures = {"outside": outside, "positions": located.height}
    return CheckOutcome("coordinates_in_band", passed, description, figures, what)


# --- quality ---------------------------------------------------------------------------------------


def frame_coverage(
    frames: pl.DataFrame, recording: RecordingMetadata, minimum_share: float, what: str
) -> CheckOutcome:
    """Share of the frames expected inside the recording's periods that have at least one row.

    Periods, bounds inclusive (contracts.md), not the whole duration: nothing is tracked in the
    half-time break.
    """
    ranges = expected_frame_ranges(recording.periods, recording.fps)
    expected = sum(last - first + 1 for first, last in ranges)
    inside = pl.lit(False)
    for first, last in ranges:
        inside = inside | pl.col("frame").is_between(first, last, closed="both")
    present = frames.filter(inside).select(pl.col("frame").n_unique()).item()
    share = present / expected if expected else 0.0
    passed = share >= minimum_share
    description = (
        f"{what} covers {share:.1%} of the {expected} frames in the recording's periods "
        f"({present} present); below {minimum_share:.0%} is worth a look"
    )
    metadata: dict[str, int | float | str] = {
        "share": round(share, 4),
        "present": present,
        "expected": expected,
        "threshold": minimum_share,
    }
    return CheckOutcome("frame_coverage", passed, description, metadata, what)


def off_pitch_share(points: pl.DataFrame, maximum_share: float, what: str) -> CheckOutcome:
    """Share of located positions outside the pitch's lines (normalised [0, 1]), and how far out."""
    located = _located(points)
    off = located.filter(~pl.col("x").is_between(0.0, 1.0) | ~pl.col("y").is_between(0.0, 1.0))
    share = off.height / located.height if located.height else 0.0
    # How far beyond the nearest line, in pitch fractions of that axis: a glance tells touchline
    # drift (0.05) from a ball in the stands (0.4).
    beyond = off.select(
        pl.max_horizontal(-pl.col("x"), pl.col("x") - 1, -pl.col("y"), pl.col("y") - 1).max()
    ).item()
    metadata: dict[str, int | float | str] = {
        "share": round(share, 4),
        "off_pitch": off.height,
        "positions": located.height,
        "max_beyond_line": round(float(beyond), 4) if beyond is not None else 0.0,
        "threshold": maximum_share,
    }
    description = (
        f"{what}: {off.height} of {located.height} positions off the pitch ({share:.2%}; "
        f"above {maximum_share:.0%} is worth a look)"
    )
    return CheckOutcome("off_pitch_share", share <= maximum_share, description, metadata, what)


def players_per_side(players: pl.DataFrame, minimum: int, maximum: int, what: str) -> CheckOutcome:
    """Median players of each playing side per frame, over the frames where that side is seen.

    Also says how many rows have an unknown side, which no per-side figure counts.
    """
    playing = players.filter(pl.col("team_side").is_in(PLAYING_SIDES))
    per_frame = playing.group_by("frame", "team_side").len()
    medians = dict(per_frame.group_by("team_side").agg(pl.col("len").median()).iter_rows())
    figures: dict[str, int | float | str] = {side: float(medians.get(side) or 0) for side in PLAYING_SIDES}
    unknown = players.filter(pl.col("team_side") == "unknown").height
    figures |= {
        "unknown_side_share": round(unknown / players.height, 4) if players.height else 0.0,
        "minimum": minimum,
        "maximum": maximum,
    }
    passed = all(minimum <= figures[side] <= maximum for side in PLAYING_SIDES)  # type: ignore[operator]
    description = (
        f"{what}: median players per frame home {figures['home']:g}, away {figures['away']:g} "
        f"(expected {minimum}-{maximum}); {figures['unknown_side_share']:.1%} of rows with an unknown side"
    )
    return CheckOutcome("players_per_side", passed, description, figures, what)


def jersey_coverage(players: pl.DataFrame, minimum_share: float, what: str) -> CheckOutcome:
    """Share of home and away player rows that carry a jersey number."""
    playing = players.filter(pl.col("team_side").is_in(PLAYING_SIDES))
    with_number = playing.get_column("jersey_number").is_not_null().sum()
    share = with_number / playing.height if playing.height else 0.0
    description = (
        f"{what}: {share:.1%} of {playing.height} home and away rows have a jersey number "
        f"(below {minimum_share:.0%} is worth a look)"
    )
    metadata: dict[str, int | float | str] = {
        "share": round(share, 4),
        "rows": playing.height,
        "threshold": minimum_share,
    }
    return CheckOutcome("jersey_coverage", share >= minimum_share, description, metadata, what)
