"""Frames rendered at import (`ras_core.rendered`): the computed path's bytes, window by window."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ras_core import importers, rendered
from ras_core.catalogue import processed_output, sidecar_path
from ras_core.delivery import FRAME_BALL_COLUMNS, FRAME_COLUMNS, tracking_frames_json
from ras_core.importers import run_import
from ras_core.processed import read_parquet_metadata, read_tracking_window, write_parquet
from ras_core.recording import RecordingMetadata
from ras_core.rendered import DIGEST_KEY, SIDECAR, Frames, frames_digest, render_frames, write_frames

RAW = Path(__file__).parents[1] / "fixtures" / "raw"
FPS = 5.0
SCHEMA = pa.schema(
    [
        ("frame", pa.int64()),
        ("t", pa.float64()),
        ("period", pa.int16()),
        ("track_id", pa.int32()),
        ("team_side", pa.string()),
        ("jersey_number", pa.int16()),
        ("x", pa.float32()),
        ("y", pa.float32()),
        ("speed_mps", pa.float32()),
        ("ball_x", pa.float32()),
        ("ball_y", pa.float32()),
        ("ball_z", pa.float32()),
    ]
)


def _tracking(frames: int, seed: int = 0) -> pa.Table:
    """Frames of 1-4 people at FPS, sorted by time, with what real files hold: unseen balls, balls
    without height, people without a number or speed, off-pitch and non-finite positions."""
    rng = random.Random(seed)
    rows: dict[str, list[object]] = {name: [] for name in SCHEMA.names}
    for frame in range(frames):
        seen = rng.random() > 0.3
        ball = (
            (rng.uniform(-0.1, 1.1), rng.uniform(0, 1), rng.choice([None, rng.uniform(0, 3)]))
            if seen
            else None
        )
        for track in range(rng.randint(1, 4)):
            values = {
                "frame": frame,
                "t": round(frame / FPS, 6),
                "period": 1 if frame < frames // 2 else 2,
                "track_id": track,
                "team_side": rng.choice(["home", "away", "referee", 'un"known\\']),
                "jersey_number": rng.choice([None, track + 1]),
                "x": rng.choice([rng.uniform(-0.2, 1.2), -0.0, float("nan"), float("inf")]),
                "y": rng.uniform(0, 1),
                "speed_mps": rng.choice([None, rng.uniform(0, 11)]),
                "ball_x": None if ball is None else ball[0],
                "ball_y": None if ball is None else ball[1],
                "ball_z": None if ball is None else ball[2],
            }
            for name, value in values.items():
                rows[name].append(value)
    return pa.table(rows, schema=SCHEMA)


def test_rendered_frames_joined_are_the_computed_document() -> None:
    table = _tracking(200)
    frames = render_frames(table)
    assert frames is not None and frames.num_rows == 200
    joined = b"".join(frames.column("json").to_pylist())
    assert b"[" + joined[1:] + b"]" == tracking_frames_json(table)


def test_frames_not_running_forwards_are_not_rendered(tmp_path: Path) -> None:
    table = _tracking(20)
    backwards = table.take(list(reversed(range(table.num_rows))))
    assert render_frames(backwards) is None
    assert write_frames(backwards, tmp_path / "frames.parquet", FPS) is None
    assert not (tmp_path / "frames.parquet").exists()


@pytest.mark.parametrize("chunk_s", [rendered.RENDER_CHUNK_S, 7.3])
def test_every_window_is_the_computed_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_s: float
) -> None:
    # Rendered in one chunk, or cut into 7.3-s chunks (row groups end at each chunk's end).
    monkeypatch.setattr(rendered, "RENDER_CHUNK_S", chunk_s)
    table = _tracking(400, seed=1)  # 80 s
    processed = tmp_path / "tracking.parquet"
    write_parquet(table, processed, {})
    digest = write_frames(table, tmp_path / "frames.parquet", FPS)
    opened = Frames.open(tmp_path / "frames.parquet")
    assert digest is not None and opened.digest == digest
    assert opened.footer.num_row_groups == (8 if chunk_s > 80 else 11)  # 10-s groups, or 7.3-s chunks
    assert opened.footer.num_rows == 400
    rng = random.Random(2)
    windows = [(0.0, 10.0), (9.9, 10.1), (10.0, 20.0), (5.0, 75.0), (-1.0, 0.1), (79.8, 200.0), (80.0, 90.0)]
    windows += [(start, start + rng.uniform(0.1, 30)) for start in (rng.uniform(-1, 81) for _ in range(40))]
    for start, end in windows:
        rows = read_tracking_window(processed, start, end, columns=[*FRAME_COLUMNS, *FRAME_BALL_COLUMNS])
        assert b"[" + opened.window(start, end) + b"]" == tracking_frames_json(rows), (start, end)


def test_the_digest_follows_the_frames(tmp_path: Path) -> None:
    first = write_frames(_tracking(50), tmp_path / "a.parquet", FPS)
    again = write_frames(_tracking(50), tmp_path / "b.parquet", FPS)
    other = write_frames(_tracking(50, seed=3), tmp_path / "c.parquet", FPS)
    assert first is not None and first == again != other
    frames = render_frames(_tracking(50))
    assert frames is not None and frames_digest(frames) == first  # one chunk: the same digest
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()  # deterministic


def test_a_file_without_the_format_serves_nothing(tmp_path: Path) -> None:
    pq.write_table(pa.table({"t": [0.0], "json": [b",{}"]}), tmp_path / "other.parquet")
    assert Frames.open(tmp_path / "other.parquet").digest is None


def test_the_tracking_import_writes_the_sidecar_naming_the_same_digest(
    recording: RecordingMetadata, tmp_path: Path
) -> None:
    raw = {"player-tracking": RAW / "player-tracking-v3.csv", "ball-tracking": RAW / "ball-tracking-v3.csv"}
    out = tmp_path / "player_tracking.parquet"
    result = run_import("player_tracking", raw, recording, out)
    assert result.passed, result.failure_reason()
    sidecar = sidecar_path(out, SIDECAR)
    assert sidecar == tmp_path / "frames" / "player_tracking.parquet"
    assert processed_output("player_tracking").sidecar_key("rec-1", SIDECAR) == (
        "processed/player_tracking/frames/rec-1.parquet"
    )
    assert result.metadata["frames_sidecar_size_bytes"] == sidecar.stat().st_size > 0
    opened = Frames.open(sidecar)
    assert opened.digest is not None and opened.digest == read_parquet_metadata(out)[DIGEST_KEY]
    stored = json.loads(pq.read_metadata(sidecar).metadata[b"ras"])
    assert stored["frames"] == result.metadata["frames"] and stored["fps"] == recording.fps
    everything = read_tracking_window(out, 0.0, np.inf, columns=[*FRAME_COLUMNS, *FRAME_BALL_COLUMNS])
    assert b"[" + opened.window(0.0, np.inf) + b"]" == tracking_frames_json(everything)


def test_a_failed_import_writes_no_sidecar(recording: RecordingMetadata, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("not,a,tracking,file\n1,2,3,4\n")
    out = tmp_path / "player_tracking.parquet"
    result = run_import(
        "player_tracking",
        {"player-tracking": broken, "ball-tracking": RAW / "ball-tracking-v3.csv"},
        recording,
        out,
    )
    assert not result.passed
    assert not out.exists() and not sidecar_path(out, SIDECAR).exists()


@pytest.mark.parametrize("frames", [0, 1])
def test_tiny_tables(frames: int, tmp_path: Path) -> None:
    table = _tracking(frames)
    assert write_frames(table, tmp_path / "f.parquet", FPS) is not None
    opened = Frames.open(tmp_path / "f.parquet")
    assert opened.footer.num_rows == frames
    assert b"[" + opened.window(0.0, 10.0) + b"]" == tracking_frames_json(table)


def test_the_import_writes_the_bytes_of_writing_one_file_after_the_other(
    recording: RecordingMetadata, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The processed parquet is written while the frames render, naming a placeholder digest set
    afterwards: its bytes are those of writing it once the digest is known."""
    raw = {"player-tracking": RAW / "player-tracking-v3.csv", "ball-tracking": RAW / "ball-tracking-v3.csv"}
    out = tmp_path / "concurrent" / "player_tracking.parquet"
    out.parent.mkdir()
    settled: list[bool] = []
    settle = importers.settle_metadata_value

    def spy(*args: Any) -> bool:
        settled.append(settle(*args))
        return settled[-1]

    monkeypatch.setattr(importers, "settle_metadata_value", spy)
    assert run_import("player_tracking", raw, recording, out).passed
    assert settled == [True]
    # The fallback (the placeholder could not be replaced exactly) writes the file again.
    monkeypatch.setattr(importers, "settle_metadata_value", lambda *args: False)
    again = tmp_path / "rewritten" / "player_tracking.parquet"
    again.parent.mkdir()
    assert run_import("player_tracking", raw, recording, again).passed
    frames = read_parquet_metadata(out)[DIGEST_KEY]
    assert frames == Frames.open(sidecar_path(out, SIDECAR)).digest
    assert out.read_bytes() == again.read_bytes()
    assert sidecar_path(out, SIDECAR).read_bytes() == sidecar_path(again, SIDECAR).read_bytes()
