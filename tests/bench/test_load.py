"""The load scenario's machinery on a handful of short recordings (its full size takes hours): every
recording ends completed, nothing is left in the inbox, and every figure the issue asks for is measured."""

from __future__ import annotations

import math

import pytest

from bench.load import LOCAL_THROUGHPUT, SMOKE, IdealRates, ideal_s, load_rows, run_load

pytestmark = pytest.mark.e2e  # starts the whole stack


def test_the_smoke_load_completes_everything_and_measures_each_figure() -> None:
    result = run_load(SMOKE, profile="embedded")

    assert result.completed == SMOKE.recordings, result.lost
    assert result.lost == [] and result.stuck_inbox_rows == 0
    assert {"ema_callback_sensor", "dispatch_sensor"} <= set(result.tick_p95_s)
    assert result.queue_depth and all(depth >= 0 for _, depth in result.queue_depth)
    assert result.daemon_peak_rss_mb > 0 and result.api_peak_rss_mb > 0

    # The stack's own processes are sampled (the embedded profile has no PostgreSQL, no AWS double).
    assert result.cpu_s.get("api", 0) > 0 and "aws-double (harness)" not in result.cpu_s

    rows = {r["metric"]: r for r in load_rows(result, "smoke", IdealRates(600.0, 600.0, LOCAL_THROUGHPUT))}
    ratio = rows["load.completion_ratio_to_ideal"]
    assert ratio["value"] == pytest.approx(result.elapsed_s / ideal_s(SMOKE, 600.0), rel=1e-2)
    assert rows["load.cpu_s_per_recording"]["value"] > 0
    assert rows["load.lost_or_stuck"]["value"] == 0 and rows["load.lost_or_stuck"]["met"] is True
    assert all(
        not math.isnan(rows[m]["value"]) for m in ("load.sensor_tick_p95_s", "load.daemon_peak_rss_mb")
    )


def test_the_ideal_is_the_longer_of_the_throughput_and_the_ema_bound() -> None:
    assert ideal_s(SMOKE, None) == SMOKE.start_window_s + 2 * SMOKE.job_max_s
    assert ideal_s(SMOKE, 1.0) == SMOKE.recordings * 3600
