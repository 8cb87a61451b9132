"""Scenario `import`: the player-tracking import of a whole match, next to a bare pyarrow floor.

A synthetic match (v3 tracking + ball CSVs, 22 players + 3 referees + ball at 25 fps) is generated
once; then, interleaved per repeat, two subprocesses run on the same files:

- the import: `ras_core.importers.run_import("player_tracking", ...)` (read both CSVs, clock, as-of
  join the ball, checks, write processed parquet);
- the floor: `pyarrow.csv.read_csv` of the player file + `pyarrow.parquet.write_table` with the
  processed writer's settings (zstd, `ROW_GROUP_ROWS`-row row groups).

Time is measured inside each subprocess around the work (interpreter start and imports excluded;
the wall time including them is in the note); peak RSS is the subprocess's own high-water mark
(`VmHWM` in /proc/self/status), read by the worker. Not `ru_maxrss`: Linux carries the parent's
high-water mark into a child at exec, so after a scenario that grew the harness process every
worker would report the harness's peak.
`python -m bench.import_path --worker import|floor ...` is the subprocess; `--profile FILE` writes
cProfile stats of the worker's work.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import median, row
from ras_core.catalogue import raw_output

DURATION_S = {"reduced": 600.0, "full": 5760.0}
FPS = 25.0
DEFAULT_REPEATS = 3
TARGET_RATIO = 2.0
TARGET_RSS_MB = 2048.0


def generate(recording_id: str, duration_s: float, out: Path) -> dict[str, Path]:
    """The raw files, written by the synthetic CLI as the brief's command line does."""
    subprocess.run(
        [
            sys.executable, "-m", "ema_simulator.synthetic", "--recording-id", recording_id,
            "--duration-s", str(duration_s), "--fps", str(FPS), "--tracking-variant", "v3", "--out", str(out),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    tracking = ("player-tracking", "ball-tracking")
    return {name: out / raw_output(name).key(recording_id, 1) for name in tracking}


def _worker(args: argparse.Namespace) -> None:
    if args.worker == "import":
        from ema_simulator.synthetic import two_half_recording
        from ras_core.importers import run_import

        recording = two_half_recording(args.recording_id, FPS, args.duration_s)
        inputs = {"player-tracking": Path(args.player), "ball-tracking": Path(args.ball)}

        def work() -> Any:
            result = run_import("player_tracking", inputs, recording, Path(args.out))
            assert result.passed, result.failure_reason()
            return result.metadata["rows"]
    else:
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        from ras_core.processed import ROW_GROUP_ROWS

        def work() -> Any:
            table = pa_csv.read_csv(args.player)
            pq.write_table(table, args.out, row_group_size=ROW_GROUP_ROWS, compression="zstd")
            return table.num_rows

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    rows = work()
    elapsed = time.perf_counter() - started
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    print(json.dumps({"elapsed_s": elapsed, "rows": rows, "rss_mb": _peak_rss_mb()}))


def _peak_rss_mb() -> float:
    """This process's own peak resident set, in MB (see the module docstring for why not ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure_once(kind: str, files: dict[str, Path], recording_id: str, duration_s: float, out: Path) -> dict:
    """One worker subprocess: its own timing, its wall time with start-up, its peak RSS."""
    argv = [
        sys.executable, "-m", "bench.import_path", "--worker", kind, "--recording-id", recording_id,
        "--duration-s", str(duration_s), "--player", str(files["player-tracking"]),
        "--ball", str(files["ball-tracking"]), "--out", str(out),
    ]  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stdout:
        # From the checkout, so `-m bench.import_path` resolves whatever the caller's working directory.
        process = subprocess.Popen(argv, stdout=stdout, cwd=Path(__file__).resolve().parents[1])
        process.wait()
        wall = time.perf_counter() - started
        stdout.seek(0)
        output = stdout.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{kind} worker exited with {process.returncode}")
    answer = json.loads(output.strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    return {
        "elapsed_s": answer["elapsed_s"],
        "wall_s": wall,
        "rss_mb": answer["rss_mb"],
        "rows": answer["rows"],
    }


def run(size: str, repeats: int | None = None) -> list[dict[str, Any]]:
    repeats = repeats or DEFAULT_REPEATS
    duration_s = DURATION_S[size]
    recording_id = f"rec-bench-{size}"
    with tempfile.TemporaryDirectory(prefix="ras-bench-import-") as tmp:
        root = Path(tmp)
        files = generate(recording_id, duration_s, root / "raw-files")
        megabytes = files["player-tracking"].stat().st_size / 1e6
        out = root / "out.parquet"
        measure_once("floor", files, recording_id, duration_s, out)  # warm the page cache
        samples: dict[str, list[dict]] = {"import": [], "floor": []}
        for _ in range(repeats):
            for kind in ("import", "floor"):
                samples[kind].append(measure_once(kind, files, recording_id, duration_s, out))
    imp = {k: median([s[k] for s in samples["import"]]) for k in ("elapsed_s", "wall_s", "rss_mb")}
    floor = {k: median([s[k] for s in samples["floor"]]) for k in ("elapsed_s", "wall_s", "rss_mb")}
    ratio = imp["elapsed_s"] / floor["elapsed_s"]
    rows_in = samples["import"][0]["rows"]
    match = f"{duration_s / 60:.0f}-minute match, {rows_in:,} player rows"
    note = (
        f"{match}; median of {repeats}; wall incl. interpreter start: import {imp['wall_s']:.2f} s, "
        f"floor {floor['wall_s']:.2f} s"
    )
    floor_is = "pyarrow.csv read + parquet write (zstd, 25k-row row groups) of the same player CSV, same run"
    return [
        row("import.full_match_s", imp["elapsed_s"], "s", size=size, reference=floor["elapsed_s"],
            reference_is=floor_is, target=TARGET_RATIO * floor["elapsed_s"], note=note),
        row("import.ratio_to_pyarrow", ratio, "x", size=size, reference=1.0, target=TARGET_RATIO,
            reference_is="the floor's time (ratio of the medians)"),
        row("import.peak_rss_mb", imp["rss_mb"], "MB", size=size, reference=floor["rss_mb"],
            reference_is="the floor's peak RSS", target=TARGET_RSS_MB,
            note=f"player CSV {megabytes:.0f} MB"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.import_path")
    parser.add_argument("--worker", choices=("import", "floor"))
    parser.add_argument("--recording-id", default="rec-bench")
    parser.add_argument("--duration-s", type=float, default=600.0)
    parser.add_argument("--player")
    parser.add_argument("--ball")
    parser.add_argument("--out")
    parser.add_argument("--profile", help="write cProfile stats of the work to this file")
    parser.add_argument("--size", choices=("reduced", "full"), default="reduced")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
    else:
        for result in run(args.size, args.repeats):
            print(json.dumps(result))


if __name__ == "__main__":
    main()
