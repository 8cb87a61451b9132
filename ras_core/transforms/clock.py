"""Time on the processed side: seconds, integer frame indices and periods.

pts are 90 kHz ticks; v2 files count frames. The frame index of a row is round(t * fps), the key
players and ball are joined on (kloppy's lesson: never join on float timestamps). One clock: every
served time is derived from that integer index the same way, t = frame / fps to the microsecond,
whether the file said pts (v3) or frame_id (v2), so one match delivered in either version serves
bit-identical times.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import polars as pl

from ras_core.recording import Period

PTS_PER_SECOND = 90_000
# Served times are frame times to the microsecond: finer digits are float noise of the division
# (polars divides by a multiplied reciprocal, so 1536 / 10 would be 153.60000000000002).
TIME_DECIMALS = 6


def frame_index_of_pts(pts: pl.Expr, fps: float) -> pl.Expr:
    """round(pts / 90000 * fps), in one division: fewer float steps between the file and the index."""
    return (pts * fps / PTS_PER_SECOND).round().cast(pl.Int64)


def frame_time(frame: pl.Expr, fps: float) -> pl.Expr:
    """The time of a frame index: the one clock every version is served in."""
    return (frame / fps).round(TIME_DECIMALS)


def period_id_at(t: float, periods: Sequence[Period], *, ends_period: bool = False) -> int:
    """The period a time belongs to when the file does not say: the last one started at or before t.

    A break (or stoppage tail) belongs to the period before it; anything before kick-off to the first.
    Bounds are inclusive (contracts.md): a time on a period's end belongs to it. Where one period ends
    the instant the next starts, that instant starts the next one, unless it is what ends a period
    (`ends_period`, a period-end event).
    """
    ordered = sorted(periods, key=lambda p: p.start_s)
    starts = [p.start_s for p in ordered]
    index = max(bisect.bisect_right(starts, t) - 1, 0)
    if ends_period and index > 0 and ordered[index].start_s == t and ordered[index - 1].end_s >= t:
        index -= 1
    return ordered[index].id


def period_id_expr(t: pl.Expr, periods: Sequence[Period]) -> pl.Expr:
    """`period_id_at` over a column; the same rule, built as one vectorised when/then chain."""
    ordered = sorted(periods, key=lambda p: p.start_s)
    expr = pl.lit(ordered[0].id)
    for period in ordered[1:]:
        expr = pl.when(t >= period.start_s).then(pl.lit(period.id)).otherwise(expr)
    return expr.cast(pl.Int16)


def expected_frame_ranges(periods: Sequence[Period], fps: float) -> list[tuple[int, int]]:
    """Frame indices f with start_s <= f / fps <= end_s (bounds inclusive), as merged inclusive
    ranges: periods that touch share their boundary frame once."""
    ranges = sorted(
        (_first_frame_at_or_after(p.start_s, fps), _last_frame_at_or_before(p.end_s, fps)) for p in periods
    )
    merged: list[tuple[int, int]] = []
    for first, last in ranges:
        if last < first:
            continue
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def expected_frames(periods: Sequence[Period], fps: float) -> int:
    """How many frame indices lie inside the periods (bounds inclusive)."""
    return sum(last - first + 1 for first, last in expected_frame_ranges(periods, fps))


def _scaled(t: float, fps: float) -> float:
    # Round first: 2820 * 25 computed in floats must not become 70500.000001 and lose a frame.
    return round(t * fps, 6)


def _first_frame_at_or_after(t: float, fps: float) -> int:
    return math.ceil(_scaled(t, fps))


def _last_frame_at_or_before(t: float, fps: float) -> int:
    return math.floor(_scaled(t, fps))
