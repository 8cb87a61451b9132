"""Benchmarks (not tests): `python -m bench [--full] [--only NAME ...] [--repeats N]`.

Every scenario module has `run(size, repeats) -> list[dict]` returning result rows built by `row`;
`bench.harness` runs them, adds the date and merges the rows into `bench/results.json` and
`bench/results.md`. Every figure is measured next to a reference in the same run: the machine is
shared and noisy, so only the ratio travels between runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

SIZES = ("reduced", "full")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), inclusive method; the value itself for one sample."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[max(1, min(99, round(q))) - 1]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def row(
    metric: str,
    value: float | None,
    unit: str,
    *,
    size: str,
    reference: float | None = None,
    reference_is: str | None = None,
    target: float | None = None,
    higher_is_better: bool = False,
    note: str | None = None,
    digits: int = 3,
) -> dict[str, Any]:
    """One result row: `ratio` is value / reference, `met` compares value with target."""
    met = None
    if target is not None and value is not None:
        met = bool(value >= target if higher_is_better else value <= target)
    ratio = round(value / reference, 3) if value is not None and reference else None
    result: dict[str, Any] = {
        "metric": metric,
        "value": None if value is None else round(float(value), digits),
        "unit": unit,
        "reference": None if reference is None else round(float(reference), digits),
        "ratio": ratio,
        "target": target,
        "met": met,
        "size": size,
    }
    if reference_is:
        result["reference_is"] = reference_is
    if note:
        result["note"] = note
    return result
