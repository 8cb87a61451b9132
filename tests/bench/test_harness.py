"""The bench harness's result writing and merging, on fake rows (no timing, no benchmark run)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from bench import row
from bench.harness import _exit_on_sigterm, merge, render_markdown, write


def _rows(scenario: str, size: str, value: float, date: str = "2026-01-01T00:00:00Z") -> list[dict]:
    return [
        {**row(f"{scenario}.a", value, "s", size=size, reference=2.0, target=3.0), "date": date},
        {**row(f"{scenario}.b", value, "x", size=size, target=1.0, higher_is_better=True), "date": date},
    ]


def test_row_computes_ratio_and_target() -> None:
    r = row("x.y", 3.0, "s", size="reduced", reference=2.0, target=2.5)
    assert (r["ratio"], r["met"]) == (1.5, False)
    assert row("x.y", 3.0, "s", size="reduced", target=2.5, higher_is_better=True)["met"] is True
    assert row("x.y", None, "s", size="reduced", target=2.5)["met"] is None


def test_merge_replaces_only_the_scenario_and_size_that_ran() -> None:
    existing = _rows("import", "reduced", 1.0) + _rows("import", "full", 5.0) + _rows("scale", "reduced", 1.0)
    new = [{**r, "metric": "import.a"} for r in _rows("import", "reduced", 9.0)[:1]]
    merged = merge(existing, new)
    by_key = {(r["metric"], r["size"]): r["value"] for r in merged}
    assert by_key[("import.a", "reduced")] == 9.0
    assert ("import.b", "reduced") not in by_key, "a scenario's rerun replaces all its rows of that size"
    assert by_key[("import.a", "full")] == 5.0 and by_key[("scale.a", "reduced")] == 1.0


def test_a_run_of_one_part_replaces_only_that_part_of_its_scenario() -> None:
    """The throughput scenario's production profile can be measured alone (and the local one too)."""
    local = _rows("throughput", "full", 1.0)
    production = [{**r, "metric": "throughput.production_a", "part": "production"} for r in local[:1]]
    existing = local + production

    again = merge(existing, [{**production[0], "value": 7.0}])
    by_metric = {r["metric"]: r["value"] for r in again}
    assert by_metric == {"throughput.a": 1.0, "throughput.b": 1.0, "throughput.production_a": 7.0}

    local_only = merge(existing, [{**local[0], "value": 3.0}])
    by_metric = {r["metric"]: r["value"] for r in local_only}
    assert by_metric == {"throughput.a": 3.0, "throughput.production_a": 1.0}


def test_write_merges_into_json_and_renders_markdown(tmp_path: Path) -> None:
    json_path, md_path = tmp_path / "results.json", tmp_path / "results.md"
    write(_rows("import", "reduced", 1.0) + _rows("scale", "full", 2.0), json_path, md_path)
    write(_rows("scale", "full", 4.0), json_path, md_path)
    rows = json.loads(json_path.read_text())
    assert {(r["metric"], r["size"], r["value"]) for r in rows} == {
        ("import.a", "reduced", 1.0),
        ("import.b", "reduced", 1.0),
        ("scale.a", "full", 4.0),
        ("scale.b", "full", 4.0),
    }
    required = {"metric", "value", "unit", "reference", "ratio", "target", "met", "size", "date"}
    assert all(required <= set(r) for r in rows)
    text = md_path.read_text()
    assert "cores" in text and "dagster" in text and "| scale.a | 4 |" in text


def test_markdown_marks_missed_targets() -> None:
    machine = {"cores": 2, "machine": "Linux x86_64", "versions": {"python": "3.11"}}
    text = render_markdown(_rows("import", "reduced", 5.0), machine)
    assert "**no**" in text and "## reduced size" in text


def test_each_row_says_how_busy_and_how_fast_the_machine_was(monkeypatch) -> None:
    import bench.harness as harness

    monkeypatch.setattr(harness, "scenario_runner", lambda name: lambda size, repeats: _rows(name, size, 1.0))
    rows = harness.run_scenarios(["import"], "reduced", None, log=lambda _: None)

    assert len(rows) == 2
    for result in rows:
        assert "load average" in result["note"]
        probe = float(result["note"].split("CPU probe ")[1].split(" ms")[0])
        assert probe > 0


def test_a_second_sigterm_cannot_cut_the_unwinding_short() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as stopped:
            _exit_on_sigterm(signal.SIGTERM, None)
        assert stopped.value.code == 128 + signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
