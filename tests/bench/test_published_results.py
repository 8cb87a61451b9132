"""What issue 6 promises the reader of the results: the published file and one scenario run the
way `python -m bench --only import` runs it."""

from __future__ import annotations

import json
from pathlib import Path

from bench.harness import RESULTS_JSON, run_scenarios

REQUIRED_METRICS = {
    "import.full_match_s", "import.ratio_to_pyarrow", "import.peak_rss_mb", "delivery.window_p95_ms",
    "delivery.rps_16", "throughput.recordings_per_hour", "throughput.runs_per_recording",
    "latency.callback_to_run_start_p95_s", "scale.sensor_tick_200_s", "scale.analytics_p95_ms",
}  # fmt: skip
REQUIRED_KEYS = {"metric", "value", "unit", "reference", "ratio", "target", "met", "size", "date"}


def test_the_published_results_hold_every_required_metric_at_both_sizes() -> None:
    rows = json.loads(Path(RESULTS_JSON).read_text())
    assert all(set(r) >= REQUIRED_KEYS for r in rows)
    for size in ("reduced", "full"):
        measured = {r["metric"] for r in rows if r["size"] == size and r["value"] is not None}
        assert measured >= REQUIRED_METRICS, f"{size}: missing {sorted(REQUIRED_METRICS - measured)}"


def test_the_import_scenario_runs_through_the_harness() -> None:
    lines: list[str] = []
    rows = run_scenarios(["import"], "reduced", 1, log=lines.append)

    by_metric = {r["metric"]: r for r in rows}
    assert {"import.full_match_s", "import.ratio_to_pyarrow", "import.peak_rss_mb"} <= set(by_metric), lines
    assert all(r["value"] > 0 and r["reference"] > 0 and r["met"] is not None for r in by_metric.values())
    assert by_metric["import.ratio_to_pyarrow"]["value"] == by_metric["import.full_match_s"]["ratio"]
    # Every row says how busy the machine was while it was measured.
    assert all("load average" in r["note"] for r in by_metric.values())
