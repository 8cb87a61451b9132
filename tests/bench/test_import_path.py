"""The import scenario's measurements: each worker's peak memory is its own."""

from __future__ import annotations

from pathlib import Path

from bench.import_path import generate, measure_once


def test_worker_peak_rss_is_not_the_harness_peak(tmp_path: Path) -> None:
    # Grow the harness well past what a 20-second import needs: Linux carries a parent's
    # high-water mark into its child at exec, which ru_maxrss then reports as the child's.
    ballast = bytearray(600 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page so it is resident
    files = generate("rec-rss", 20.0, tmp_path / "raw-files")

    for kind in ("import", "floor"):
        sample = measure_once(kind, files, "rec-rss", 20.0, tmp_path / "out.parquet")
        assert sample["rows"] > 0
        assert 20 < sample["rss_mb"] < 400, f"{kind}: {sample['rss_mb']:.0f} MB is not the worker's own peak"
    del ballast
