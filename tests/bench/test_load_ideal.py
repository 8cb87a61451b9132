"""The load's ideal comes from the throughput of the load's own profile (the production rows) when
results.json has them, else from the local profile's, and its rows say which (no stack started)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import row
from bench.load import (
    FULL,
    LOCAL_THROUGHPUT,
    PRODUCTION_THROUGHPUT,
    SMOKE,
    IdealRates,
    LoadRun,
    ideal_rates,
    ideal_s,
    load_rows,
)


def _results(tmp_path: Path, *rows: tuple[str, str, float]) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps([row(metric, value, "rec/h", size=size) for metric, size, value in rows]))
    return path


def test_the_ideal_uses_the_production_profile_throughput_at_the_same_size(tmp_path: Path) -> None:
    path = _results(
        tmp_path,
        (LOCAL_THROUGHPUT, "full", 1400.0),
        (PRODUCTION_THROUGHPUT, "full", 460.0),
        (PRODUCTION_THROUGHPUT, "reduced", 300.0),
    )
    assert ideal_rates("full", path=path) == IdealRates(460.0, 1400.0, PRODUCTION_THROUGHPUT)
    assert not ideal_rates("full", path=path).fell_back


@pytest.mark.parametrize("production", [None, 0.0], ids=["missing", "incomplete run (0)"])
def test_without_a_production_row_the_ideal_falls_back_to_the_local_one(
    tmp_path: Path, production: float | None
) -> None:
    rows = [(LOCAL_THROUGHPUT, "full", 1400.0), (PRODUCTION_THROUGHPUT, "reduced", 300.0)]
    if production is not None:
        rows.append((PRODUCTION_THROUGHPUT, "full", production))
    rates = ideal_rates("full", path=_results(tmp_path, *rows))
    assert rates == IdealRates(1400.0, 1400.0, LOCAL_THROUGHPUT) and rates.fell_back


def test_a_load_on_another_profile_uses_the_local_throughput(tmp_path: Path) -> None:
    path = _results(tmp_path, (LOCAL_THROUGHPUT, "full", 1400.0), (PRODUCTION_THROUGHPUT, "full", 460.0))
    assert ideal_rates("full", profile="embedded", path=path).per_hour == 1400.0


def test_no_results_file_leaves_the_ema_bound(tmp_path: Path) -> None:
    rates = ideal_rates("full", path=tmp_path / "missing.json")
    assert rates.per_hour is None and ideal_s(FULL, rates.per_hour) == 60.0 + 2 * 600.0


def _finished_load() -> LoadRun:
    result = LoadRun(SMOKE, "production", elapsed_s=90.0, completed=SMOKE.recordings)
    result.cpu_s = {"api": 3.0, "code-ras": 6.0, "daemon": 1.5, "webserver": 0.6, "postgres": 1.5,
                    "ema": 0.9, "aws-double (harness)": 2.4}  # fmt: skip
    result.threads_s = {"its main thread": 0.3, "this CPU sampler's /proc reads": 0.6}
    return result


def test_both_ratios_are_reported_each_against_its_own_ideal() -> None:
    result = _finished_load()
    rows = {r["metric"]: r for r in load_rows(result, "reduced", IdealRates(300.0, 900.0))}

    assert {
        "load.completion_s",
        "load.completion_ratio_to_ideal",
        "load.completion_ratio_to_local_ideal",
        "load.cpu_s_per_recording",
    } <= set(rows)
    ideal, local_ideal = ideal_s(SMOKE, 300.0), ideal_s(SMOKE, 900.0)
    assert rows["load.completion_s"]["reference"] == pytest.approx(ideal)
    assert rows["load.completion_ratio_to_ideal"]["value"] == pytest.approx(90.0 / ideal, abs=1e-3)
    assert rows["load.completion_ratio_to_local_ideal"]["value"] == pytest.approx(
        90.0 / local_ideal, abs=1e-3
    )
    assert PRODUCTION_THROUGHPUT in rows["load.completion_ratio_to_ideal"]["note"]
    assert LOCAL_THROUGHPUT in rows["load.completion_ratio_to_local_ideal"]["note"]
    assert "production profile's throughput" in rows["load.completion_s"]["reference_is"]
    assert not any("FALLBACK" in r.get("note", "") for r in rows.values())


def test_the_load_cpu_is_the_platform_s_with_the_doubles_apart() -> None:
    rows = {r["metric"]: r for r in load_rows(_finished_load(), "reduced", IdealRates(300.0, 900.0))}
    cpu = rows["load.cpu_s_per_recording"]
    # api, code server, daemon, webserver and postgres: not the EMA simulator, not the AWS double.
    assert cpu["value"] == pytest.approx((3.0 + 6.0 + 1.5 + 0.6 + 1.5) / SMOKE.recordings, abs=0.01)
    assert "postgres 0.50" in cpu["note"] and "aws-double (harness) 0.80" in cpu["note"]
    assert "harness's own work" in cpu["note"] and "sampler" in cpu["note"]


def test_the_fallback_is_named_in_the_notes() -> None:
    rows = {
        r["metric"]: r
        for r in load_rows(_finished_load(), "reduced", IdealRates(900.0, 900.0, LOCAL_THROUGHPUT))
    }
    assert "FALLBACK" in rows["load.completion_ratio_to_ideal"]["note"]
    assert "FALLBACK" in rows["load.completion_s"]["note"]
    assert "local profile's throughput" in rows["load.completion_s"]["reference_is"]
    assert (
        rows["load.completion_ratio_to_ideal"]["value"]
        == rows["load.completion_ratio_to_local_ideal"]["value"]
    )
