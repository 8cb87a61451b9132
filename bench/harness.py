"""Run named scenarios, collect their rows, merge them into `bench/results.json` and `results.md`.

Rows are keyed by (scenario, size): running `--only import --full` replaces the full-size import rows
and keeps every other row, so reduced and full figures live side by side. A scenario whose parts can
be run alone marks the rows of a part with `part` (the throughput scenario's production profile): a
run then replaces the rows of the parts it produced and keeps the others'.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import platform
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import SIZES, row

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "results.md"
VERSIONED = ("dagster", "pandas", "pyarrow", "polars", "duckdb")

# name → module with `run(size, repeats)`; run in this order by default.
SCENARIOS: dict[str, str] = {
    "import": "bench.import_path",
    "delivery": "bench.delivery",
    "scale": "bench.scale",
    "latency": "bench.latency",
    "throughput": "bench.throughput",
    "uploads": "bench.uploads",
    "clips": "bench.clips",
    "load": "bench.load",  # the 1,000-recording load at full size; its SMOKE variant at reduced size
}


def machine_info() -> dict[str, Any]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    return {
        "cores": os.cpu_count(),
        "machine": f"{platform.system()} {platform.machine()}",
        "versions": versions,
    }


def _delivery(size: str, _repeats: int | None) -> list[dict[str, Any]]:
    """bench/delivery.py is another helper's; it knows "small" and "full" and repeats internally."""
    if importlib.util.find_spec("bench.delivery") is None:
        return [
            row(
                "delivery.window_p95_ms",
                None,
                "ms",
                size=size,
                target=30.0,
                note="bench/delivery.py missing: the hook `bench.harness._delivery` calls its run(size)",
            )
        ]
    delivery = importlib.import_module("bench.delivery")
    rows = delivery.run("small" if size == "reduced" else size)
    return [{**r, "size": size} for r in rows]


def scenario_runner(name: str) -> Callable[[str, int | None], list[dict[str, Any]]]:
    if name == "delivery":
        return _delivery
    return importlib.import_module(SCENARIOS[name]).run


def run_scenarios(
    names: Iterable[str], size: str, repeats: int | None, *, log: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    """Run each scenario; a failing scenario yields one row saying so instead of stopping the others."""
    assert size in SIZES, size
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows: list[dict[str, Any]] = []
    for name in names:
        log(f"[bench] {name} ({size}) ...")
        probe = cpu_probe_ms()
        started, load_before = time.monotonic(), os.getloadavg()[0]
        try:
            produced = scenario_runner(name)(size, repeats)
        except Exception as error:  # a benchmark run should still write what the others measured
            traceback.print_exc()
            produced = [row(f"{name}.error", None, "-", size=size, note=f"{type(error).__name__}: {error}")]
        log(f"[bench] {name} done in {time.monotonic() - started:.0f} s")
        machine = f"{machine_load(load_before, os.getloadavg()[0])}; CPU probe {probe:.0f} ms"
        for result in produced:
            note = "; ".join(filter(None, [result.get("note"), machine]))
            rows.append({**result, "note": note, "date": result.get("date", date), "scenario": name})
            log(f"    {format_row(result)}")
    return rows


def cpu_probe_ms(loops: int = 2_000_000) -> float:
    """CPU time of a fixed pure-Python loop: how fast this machine's cores were when the scenario
    ran (the same figure twice as high on another day means every CPU-s figure is about doubled)."""
    began = time.process_time()
    total = 0
    for i in range(loops):
        total += i
    return (time.process_time() - began) * 1000


def machine_load(before: float, after: float) -> str:
    """How busy the machine was around a scenario (1-minute load average; the scenario's own load
    included), so a figure measured beside other work is read as such."""
    return f"load average {before:.1f} before, {after:.1f} after, on {os.cpu_count()} cores"


def format_row(result: dict[str, Any]) -> str:
    met = {True: "met", False: "NOT met", None: ""}[result.get("met")]
    return (
        f"{result['metric']:<44} {_fmt(result.get('value'))} {result.get('unit', '')}"
        f"  ref {_fmt(result.get('reference'))}  ratio {_fmt(result.get('ratio'))}"
        f"  target {_fmt(result.get('target'))} {met}"
    )


def _scenario_of(result: dict[str, Any]) -> str:
    return result.get("scenario") or result["metric"].split(".", 1)[0]


def _key(result: dict[str, Any]) -> tuple[str, str | None, str | None]:
    return _scenario_of(result), result.get("size"), result.get("part")


def merge(existing: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace the rows of every (scenario, size, part) that `new` covers; keep all other rows."""
    covered = {_key(r) for r in new}
    kept = [r for r in existing if _key(r) not in covered]
    order = {name: i for i, name in enumerate(SCENARIOS)}
    merged = kept + new
    # Stable: scenario order, then size, then the order each scenario produced its rows in.
    return sorted(
        merged,
        key=lambda r: (
            order.get(_scenario_of(r), len(order)),
            SIZES.index(r["size"]) if r["size"] in SIZES else 9,
        ),
    )


def load(path: Path = RESULTS_JSON) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    return data if isinstance(data, list) else []


def write(
    rows: list[dict[str, Any]], json_path: Path = RESULTS_JSON, md_path: Path = RESULTS_MD
) -> list[dict[str, Any]]:
    """Merge `rows` into the JSON file and re-render the markdown; returns the merged rows."""
    merged = merge(load(json_path), rows)
    json_path.write_text(json.dumps(merged, indent=1) + "\n")
    md_path.write_text(render_markdown(merged, machine_info()))
    return merged


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def render_markdown(rows: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench` (see bench/README.md). Values are medians over the repeats of one run;",
        "`reference` is measured in the same run, so `ratio` = value / reference is the figure to compare",
        "between machines.",
        "",
        f"- machine: {machine['cores']} cores, {machine['machine']}",
        f"- versions: {versions}",
        f"- written: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
    ]
    for size in SIZES:
        sized = [r for r in rows if r.get("size") == size]
        if not sized:
            continue
        lines += [
            f"## {size} size",
            "",
            "| metric | value | unit | reference | ratio | target | met | date |",
            "|---|---:|---|---:|---:|---:|---|---|",
        ]
        for r in sized:
            met = {True: "yes", False: "**no**", None: ""}[r.get("met")]
            lines.append(
                f"| {r['metric']} | {_fmt(r.get('value'))} | {r.get('unit', '')} | {_fmt(r.get('reference'))}"
                f" | {_fmt(r.get('ratio'))} | {_fmt(r.get('target'))} | {met} | {r.get('date', '')[:10]} |"
            )
        lines.append("")
        notes = [r for r in sized if r.get("note") or r.get("reference_is")]
        if notes:
            lines += ["Notes:", ""]
            for r in notes:
                parts = [
                    f"reference = {r['reference_is']}" if r.get("reference_is") else "",
                    r.get("note", ""),
                ]
                lines.append(f"- `{r['metric']}`: " + "; ".join(p for p in parts if p))
            lines.append("")
    return "\n".join(lines)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # Further SIGTERMs are ignored while the scenario unwinds: `timeout` and `pkill -f` each send
    # one, and a second one cut a stack's stop short, leaving its code server and run workers behind.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full size (minutes to tens of minutes)")
    parser.add_argument(
        "--only", nargs="+", choices=tuple(SCENARIOS), metavar="NAME", help=", ".join(SCENARIOS)
    )
    parser.add_argument("--repeats", type=int, default=None, help="override each scenario's repeat count")
    parser.add_argument("--no-write", action="store_true", help="print rows only; leave the result files")
    args = parser.parse_args(argv)
    # SIGTERM (a timeout, `kill`) unwinds like Ctrl-C: a scenario's stack then stops its processes
    # and drops its databases instead of leaving them running, orphaned.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    size = "full" if args.full else "reduced"
    for name in args.only or list(SCENARIOS):
        rows = run_scenarios([name], size, args.repeats)
        if not args.no_write:  # after each scenario: an interrupted run keeps what it measured
            write(rows)
            print(f"[bench] wrote {RESULTS_JSON.name} and {RESULTS_MD.name}", file=sys.stderr)
    return 0
