"""The checks every import runs before its processed file may replace the previous version.

Each check returns a `CheckOutcome` whose description is what support staff read in the Dagster UI,
so it says the numbers (share covered, rows outside, steps backwards), not only pass or fail.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ras_core.catalogue import PROCESSED_OUTPUTS
from ras_core.errors import RawFormatError
from ras_core.recording import RecordingMetadata
from ras_core.transforms.clock import expected_frames

CHECKS_BY_OUTPUT: dict[str, tuple[str, ...]] = {out.name: out.checks for out in PROCESSED_OUTPUTS}

# Normalised coordinates may leave [0, 1] (players off the pitch, a ball in the stands) but not by much.
BAND = (-0.1, 1.1)
# A handful of tracking glitches must not fail a match; metres mistaken for centimetres would.
MAX_SHARE_OUTSIDE_BAND = 0.001
NOT_RUN = "not run: schema invalid"


@dataclass(frozen=True)
class CheckOutcome:
    name: str  # one of CHECK_NAMES
    passed: bool
    description: str  # the reason a person reads in the UI
    metadata: dict[str, int | float | str]


def schema_valid(error: RawFormatError | None, what: str) -> CheckOutcome:
    if error is not None:
        return CheckOutcome("schema_valid", False, str(error), {"file": error.file})
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
        return CheckOutcome("time_monotonic", False, description, {"backward_steps": backwards})
    return CheckOutcome("time_monotonic", True, f"{what}: time never goes backwards within a period", {})


def frame_coverage(
    frames: pl.DataFrame, recording: RecordingMetadata, minimum_share: float, what: str
) -> CheckOutcome:
    """Share of the frames expected inside the recording's periods that have at least one row.

    Periods, not the whole duration: nothing is tracked in the half-time break.
    """
    expected = expected_frames(recording.periods, recording.fps)
    inside = pl.lit(False)
    for period in recording.periods:
        inside = inside | pl.col("t").is_between(period.start_s, period.end_s, closed="left")
    present = frames.filter(inside).select(pl.col("frame").n_unique()).item()
    share = present / expected if expected else 0.0
    passed = share >= minimum_share
    description = (
        f"{what} covers {share:.1%} of the {expected} frames in the recording's periods "
        f"({present} present); needs at least {minimum_share:.0%}"
    )
    metadata: dict[str, int | float | str] = {
        "share": round(share, 4),
        "present": present,
        "expected": expected,
    }
    return CheckOutcome("frame_coverage", passed, description, metadata)


def coordinates_in_band(points: pl.DataFrame, what: str) -> CheckOutcome:
    """`points` has normalised `x`, `y`; rows with no position (nulls) are not counted."""
    low, high = BAND
    located = points.filter(pl.col("x").is_not_null() & pl.col("y").is_not_null())
    outside = located.filter(~pl.col("x").is_between(low, high) | ~pl.col("y").is_between(low, high)).height
    share = outside / located.height if located.height else 0.0
    passed = share <= MAX_SHARE_OUTSIDE_BAND
    description = (
        f"{what}: {outside} of {located.height} positions outside the band [{low}, {high}] around the pitch "
        f"({share:.2%}; at most {MAX_SHARE_OUTSIDE_BAND:.1%} allowed)"
    )
    return CheckOutcome(
        "coordinates_in_band", passed, description, {"outside": outside, "positions": located.height}
    )
