"""Time on the processed side: seconds, integer frame indices and periods.

pts are 90 kHz ticks; v2 files count frames. The frame index of a row is round(t * fps), the key
players and ball are joined on (kloppy's lesson: never join on float timestamps).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import polars as pl

from ras_core.recording import Period

PTS_PER_SECOND = 90_000


def pts_to_seconds(pts: pl.Expr) -> pl.Expr:
    return pts / PTS_PER_SECOND


def frame_index(t: pl.Expr, fps: float) -> pl.Expr:
    return (t * fps).round().cast(pl.Int64)


def period_id_at(t: float, periods: Sequence[Period]) -> int:
    """The period a time belongs to when the file does not say: the last one started at or before t.

    A break (or stoppage tail) belongs to the period before it; anything before kick-off to the first.
    """
    starts = [p.start_s for p in periods]
    return periods[max(bisect.bisect_right(starts, t) - 1, 0)].id


def period_id_expr(t: pl.Expr, periods: Sequence[Period]) -> pl.Expr:
    """`period_id_at` over a column; the same rule, built as one vectorised when/then chain."""
    ordered = sorted(periods, key=lambda p: p.start_s)
    expr = pl.lit(ordered[0].id)
    for period in ordered[1:]:
        expr = pl.when(t >= period.start_s).then(pl.lit(period.id)).otherwise(expr)
    return expr.cast(pl.Int16)


def expected_frames(periods: Sequence[Period], fps: float) -> int:
    """Frame indices f with start_s <= f / fps < end_s, summed over the periods."""
    return sum(
        _first_frame_at_or_after(p.end_s, fps) - _first_frame_at_or_after(p.start_s, fps) for p in periods
    )


def _first_frame_at_or_after(t: float, fps: float) -> int:
    # Round first: 2820 * 25 computed in floats must not become 70500.000001 and lose a frame.
    scaled = round(t * fps, 6)
    return int(scaled) if scaled == int(scaled) else int(scaled) + 1
