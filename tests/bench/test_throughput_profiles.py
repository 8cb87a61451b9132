"""The throughput scenario's production-profile variant: which profiles run, the rows it reports and
how its CPU is sampled and split (fake runs; no stack started)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.profiles import HARNESS, cpu_split, environment_roots, postmaster_pid
from bench.throughput import (
    PRODUCTION,
    PROFILES_ENV,
    CpuSampler,
    PlatformRun,
    _production_rows,
    selected_profiles,
)

T0 = datetime(2026, 11, 30, tzinfo=UTC)


def test_both_profiles_run_by_default_and_one_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROFILES_ENV, raising=False)
    assert selected_profiles() == ("local", "production")
    assert selected_profiles("production") == ("production",)
    assert selected_profiles(" production , local ") == ("local", "production")
    monkeypatch.setenv(PROFILES_ENV, "local")
    assert selected_profiles() == ("local",)
    with pytest.raises(ValueError, match="prod"):
        selected_profiles("prod")


def _run(seconds: float, cpu: dict[str, float], runs: int) -> PlatformRun:
    ids = [f"r{i}" for i in range(5)]
    run = PlatformRun(ids, T0, T0 + timedelta(seconds=seconds), 5, cpu, Counter({"import_processed": runs}))
    run.threads_s = {"its main thread (uploads, registering, polling)": 0.5}
    return run


def test_the_production_rows_are_their_own_part_against_the_local_design() -> None:
    production = _run(
        60.0,
        {
            "api": 5.0,
            "code-ras": 10.0,
            "daemon": 2.0,
            "webserver": 1.0,
            "postgres": 2.5,
            "ema": 1.0,
            HARNESS: 3.0,
        },
        runs=10,
    )
    local = _run(20.0, {"api": 2.0, "code-ras": 4.0, "daemon": 1.0, "webserver": 0.5, "ema": 0.5}, runs=8)
    rows = {r["metric"]: r for r in _production_rows("reduced", production, local)}

    assert set(rows) == {
        "throughput.production_recordings_per_hour",
        "throughput.production_runs_per_recording",
        "throughput.production_cpu_s_per_recording",
    }
    assert all(r["part"] == PRODUCTION for r in rows.values())
    assert rows["throughput.production_recordings_per_hour"]["value"] == 300.0
    assert rows["throughput.production_recordings_per_hour"]["reference"] == 900.0
    assert rows["throughput.production_runs_per_recording"]["value"] == 2.0
    cpu = rows["throughput.production_cpu_s_per_recording"]
    assert cpu["value"] == pytest.approx(20.5 / 5) and cpu["reference"] == pytest.approx(7.5 / 5)
    assert "postgres 0.50" in cpu["note"] and f"{HARNESS} 0.60" in cpu["note"] and "ema 0.20" in cpu["note"]
    assert "harness's own work" in cpu["note"]


def test_the_production_rows_stand_alone_when_the_local_profile_did_not_run() -> None:
    production = _run(60.0, {"api": 5.0}, runs=10)
    rows = _production_rows("full", production, None)
    assert all(r["reference"] is None and "reference_is" not in r for r in rows)


def test_an_incomplete_production_run_reports_no_throughput() -> None:
    production = _run(60.0, {"api": 5.0}, runs=10)
    production.completed = 4
    rows = {r["metric"]: r for r in _production_rows("full", production, None)}
    assert rows["throughput.production_recordings_per_hour"]["value"] == 0.0


def test_cpu_split_keeps_the_doubles_out_of_the_platform_figure() -> None:
    value, note = cpu_split({"api": 2.0, "ema": 4.0, HARNESS: 4.0}, 2)
    assert value == 1.0 and "all sampled 5.00" in note and "postgres" not in note


def test_the_harness_is_sampled_without_its_children(tmp_path: Path) -> None:
    """Its children are the stack's processes (sampled under their own names) and its tools."""
    sampler = CpuSampler({os.getpid(): HARNESS}, interval_s=0.05, alone=(os.getpid(),))
    sampler.start()
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<0.6: pass"]
    )
    began = time.process_time()
    while time.process_time() - began < 0.3:  # the main thread's own work
        pass
    child.wait()
    cpu = sampler.stop()

    assert set(cpu) == {HARNESS} and cpu[HARNESS] >= 0.2
    assert child.pid not in sampler.owner
    assert sampler.threads_s["its main thread (uploads, registering, polling)"] >= 0.2
    assert "this CPU sampler's /proc reads" in sampler.threads_s


def test_a_pidfile_naming_another_process_is_not_taken_for_the_postmaster(tmp_path: Path) -> None:
    pidfile = tmp_path / "15-main.pid"
    pidfile.write_text(f"{os.getpid()}\n/var/lib/postgresql/15/main\n")
    assert postmaster_pid(pidfile) != os.getpid()
    assert environment_roots()[os.getpid()] == HARNESS
