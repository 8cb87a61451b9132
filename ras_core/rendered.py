"""Pre-rendered tracking frames: the default JSON shape of every frame, encoded once at import.

The processed tracking parquet holds one row per player and frame. Serving a window in the default
JSON shape from it means decoding the row groups the window overlaps, grouping rows into frames and
encoding them: ~5 of a cold 10-s window's ~13 CPU-ms (bench/README.md). The import therefore also
writes a delivery file beside it (the `frames` sidecar, `processed/player_tracking/frames/{id}.parquet`):
one row per frame, sorted by `t`, whose `json` column holds the frame's object exactly as
`ras_core.delivery.tracking_frames_json` encodes it, preceded by a comma. A window's frames are then
the contiguous bytes of the rows it spans, read from row groups of `ROW_GROUP_S` seconds: no grouping,
no encoding, one join.

Only unfiltered windows are served from it (no `period`, `side` or `jersey`); the computed path
serves the rest. The sidecar and the processed parquet carry the same `frames_sha256` (a digest of
the rendered frames) in their `ras` metadata, so a reader uses a sidecar only beside the processed
file it was rendered from: one left over from another import, or copied without its file, is ignored.

Cost (a 96-minute match at 25 fps, 3.6 M rows, 144,000 frames): ~346 MB of JSON stored as ~64 MB of
LZ4 parquet beside the ~37 MB processed file; the import renders it `RENDER_CHUNK_S` at a time, two
chunks at once, for ~1.7-2.1 CPU-s, while it writes the processed parquet beside it (~0.65 s of one
core; the parquet names the digest through a placeholder set afterwards): both files take ~1.4 s
of wall time on two cores, against ~1.65 one after the other (peak memory unchanged within noise,
since a chunk's JSON is ~25 MB).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ras_core.delivery import tracking_frames

SIDECAR = "frames"
METADATA_KEY = b"ras"
DIGEST_KEY = "frames_sha256"
FORMAT = "frames-json/1"
# A 10-s window at 25 fps spans two or three 250-frame groups: ~1.2 MB of JSON decompressed for
# 0.6 MB served. Larger groups decode more for nothing; smaller ones cost more groups per window
# (measured on a 96-minute match, zstd: 125 frames 1.2 ms, 250 1.3 ms, 500 1.7 ms per window).
ROW_GROUP_S = 10.0
# Frames are rendered and written this much of the match at a time: ~25 MB of JSON at 25 fps.
RENDER_CHUNK_S = 400.0
# LZ4 decodes a window's row groups in about half zstd's time (0.8 against 1.55 CPU-ms on a
# 96-minute match, uncompressed 0.7) for a larger file (64 MB against 35; uncompressed 350).
COMPRESSION = "lz4"
FRAMES_SCHEMA = pa.schema(
    [("frame", pa.int64()), ("t", pa.float64()), ("period", pa.int16()), ("json", pa.binary())]
)


def render_frames(table: pa.Table) -> pa.Table | None:
    """One row per frame of a tracking table (`FRAME_COLUMNS` + `FRAME_BALL_COLUMNS`): `frame, t,
    period` and `json`, the frame's object as the default JSON shape serves it, after a comma.

    None when the frames do not run forwards in time (the importer sorts by `t`, so only a table
    written otherwise): a window is read as one run of rows, which needs them sorted.
    """
    frames = _render(table)
    return None if frames is None else frames.to_arrow().cast(FRAMES_SCHEMA)


def _render(table: pa.Table) -> pl.DataFrame | None:
    frames = tracking_frames(table)
    if not frames.get_column("t").is_sorted():
        return None
    return frames.select(
        "frame",
        "t",
        "period",
        (pl.lit(",") + pl.struct(pl.all()).struct.json_encode()).cast(pl.Binary).alias("json"),
    )


def renderable(table: pa.Table) -> bool:
    """Whether `write_frames` writes a sidecar for this table: its rows run forwards in time."""
    times = table.column("t")
    return not times.null_count and bool(pl.from_arrow(times).is_sorted())  # type: ignore[union-attr]


def pending_digest() -> str:
    """A stand-in for a digest not known yet, of a digest's length, found nowhere else (see
    `ras_core.processed.settle_metadata_value`)."""
    return secrets.token_hex(hashlib.sha256().digest_size)


def write_frames(table: pa.Table, path: Path, fps: float) -> str | None:
    """Render a processed tracking table's frames into a sidecar at `path`, `RENDER_CHUNK_S` of the
    match at a time (a whole match's JSON is ~350 MB: never held at once); returns the digest it
    names, or None, writing nothing, when the table's rows do not run forwards in time."""
    if not renderable(table):
        return None
    t = table.column("t").to_numpy()
    bounds = [0]
    if len(t):
        edges = np.arange(t[0] + RENDER_CHUNK_S, t[-1] + RENDER_CHUNK_S, RENDER_CHUNK_S)
        bounds += [int(i) for i in np.searchsorted(t, edges, side="left")]
    bounds.append(len(t))
    # Cut on a time, so a frame (one `t`) is never split between chunks.
    chunks = [table.slice(a, b - a) for a, b in itertools.pairwise(bounds) if a < b]
    digest = hashlib.sha256()
    rows = 0
    with (
        pq.ParquetWriter(
            path, FRAMES_SCHEMA, compression=COMPRESSION, use_dictionary=["period"], write_statistics=["t"]
        ) as writer,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        # Two chunks rendered at once (polars' JSON encoding runs on one core, without the GIL),
        # written in order, and never more than two held.
        def write(rendered: Future[pl.DataFrame | None]) -> None:
            nonlocal rows
            frames = rendered.result()
            assert frames is not None  # the rows run forwards, so do their frames
            _digest_update(digest, frames)
            rows += frames.height
            batch = frames.to_arrow().cast(FRAMES_SCHEMA)
            writer.write_table(batch, row_group_size=max(1, round(ROW_GROUP_S * fps)))

        rendering: deque[Future[pl.DataFrame | None]] = deque()
        for chunk in chunks:
            rendering.append(pool.submit(_render, chunk))
            if len(rendering) == 2:
                write(rendering.popleft())
        while rendering:
            write(rendering.popleft())
        entry = {"format": FORMAT, DIGEST_KEY: digest.hexdigest(), "frames": rows, "fps": fps}
        writer.add_key_value_metadata({METADATA_KEY.decode(): json.dumps(entry)})
    return digest.hexdigest()


def frames_digest(frames: pa.Table) -> str:
    """The digest `write_frames` names for these frames when they are written in one chunk."""
    digest = hashlib.sha256()
    rendered = pl.from_arrow(frames)
    assert isinstance(rendered, pl.DataFrame)
    _digest_update(digest, rendered)
    return digest.hexdigest()


def _digest_update(digest: Any, frames: pl.DataFrame) -> None:
    # Each frame's time and a 64-bit hash of its bytes, in order: what ties a sidecar to the
    # processed file beside it (both written by one import, so the hash need not be stable across
    # polars versions; sha256 over the bytes themselves cost ~0.35 CPU-s per 96-minute match).
    digest.update(frames.get_column("t").to_numpy().tobytes())
    digest.update(frames.get_column("json").hash(seed=0).to_numpy().tobytes())


@dataclass(frozen=True)
class Frames:
    """An open sidecar: its path, parsed footer and each row group's first and last `t`."""

    path: Path
    footer: pq.FileMetaData
    digest: str | None
    first_t: np.ndarray
    last_t: np.ndarray

    @classmethod
    def open(cls, path: Path) -> Frames:
        footer = pq.read_metadata(path)
        stored = (footer.metadata or {}).get(METADATA_KEY)
        entry = json.loads(stored) if stored else {}
        t_index = footer.schema.to_arrow_schema().get_field_index("t")
        stats = [footer.row_group(i).column(t_index).statistics for i in range(footer.num_row_groups)]
        if entry.get("format") != FORMAT or any(s is None or not s.has_min_max for s in stats):
            return cls(path, footer, None, np.empty(0), np.empty(0))
        return cls(
            path,
            footer,
            entry.get(DIGEST_KEY),
            np.array([s.min for s in stats], dtype=np.float64),
            np.array([s.max for s in stats], dtype=np.float64),
        )

    def window(self, start_s: float, end_s: float) -> bytes:
        """The frames with start_s <= t < end_s, comma-separated, as the default JSON shape's
        `frames` array holds them (without the brackets); b"" when there are none."""
        # Row groups hold consecutive frames: those overlapping the window are one run of them.
        first = int(np.searchsorted(self.last_t, start_s, side="left"))
        end = int(np.searchsorted(self.first_t, end_s, side="left"))
        if first >= end:
            return b""
        parquet = pq.ParquetFile(self.path, metadata=self.footer)
        # No thread pool for two or three row groups: it costs more than it saves (and the
        # server's threads already run other requests).
        table = parquet.read_row_groups(range(first, end), columns=["t", "json"], use_threads=False)
        times = table.column("t").to_numpy()
        lo, hi = (int(i) for i in np.searchsorted(times, [start_s, end_s], side="left"))
        parts = []
        for chunk in table.column("json").slice(lo, hi - lo).chunks:
            if len(chunk):
                # The values of a slice are one contiguous run of the chunk's data buffer.
                offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
                begin, stop = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
                parts.append(memoryview(chunk.buffers()[2])[begin + (not parts) : stop])
        return b"".join(parts)  # (the first frame's leading comma left out above)
