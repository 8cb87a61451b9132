"""Pre-rendered tracking frames: the default JSON shape of every frame, encoded once at import.

The processed tracking parquet holds one row per player and frame. Serving a window in the default
JSON shape from it means decoding the row groups the window overlaps, grouping rows into frames and
encoding them: ~5 of a cold 10-s window's ~13 CPU-ms (bench/README.md). The import therefore also
writes a delivery file beside it (the `frames` sidecar, `processed/player_tracking/{id}.frames.parquet`):
one row per frame, sorted by `t`, whose `json` column holds the frame's object exactly as
`ras_core.delivery.tracking_frames_json` encodes it, preceded by a comma. A window's frames are then
the contiguous bytes of the rows it spans, read from row groups of `ROW_GROUP_S` seconds: no grouping,
no encoding, one join.

Only unfiltered windows are served from it (no `period`, `side` or `jersey`); the computed path
serves the rest. The sidecar and the processed parquet carry the same `frames_sha256` (a digest of
the rendered frames) in their `ras` metadata, so a reader uses a sidecar only beside the processed
file it was rendered from: one left over from another import, or copied without its file, is ignored.

Cost (a 96-minute match at 25 fps, 3.6 M rows, 144,000 frames): ~346 MB of JSON stored as ~64 MB of
LZ4 parquet beside the ~37 MB processed file, and ~2 CPU-s more per import (grouping, encoding,
the digest and the write).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

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
# (measured on a 96-minute match: 125 frames 1.2 ms, 250 1.3 ms, 500 1.7 ms per window).
ROW_GROUP_S = 10.0
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
    frames = tracking_frames(table)
    if not frames.get_column("t").is_sorted():
        return None
    encoded = frames.select(
        "frame",
        "t",
        "period",
        (pl.lit(",") + pl.struct(pl.all()).struct.json_encode()).cast(pl.Binary).alias("json"),
    )
    return encoded.to_arrow().cast(FRAMES_SCHEMA)


def frames_digest(frames: pa.Table) -> str:
    """A digest of the rendered frames (their times and bytes): what ties a sidecar to its file."""
    digest = hashlib.sha256()
    for column in ("t", "json"):
        for chunk in frames.column(column).chunks:
            for buffer in chunk.buffers():
                if buffer is not None:
                    digest.update(buffer)
    return digest.hexdigest()


def write_frames(frames: pa.Table, path: Path, fps: float, digest: str) -> None:
    entry = {"format": FORMAT, DIGEST_KEY: digest, "frames": frames.num_rows, "fps": fps}
    pq.write_table(
        frames.replace_schema_metadata({METADATA_KEY: json.dumps(entry).encode()}),
        path,
        row_group_size=max(1, round(ROW_GROUP_S * fps)),
        compression=COMPRESSION,
        use_dictionary=["period"],
        write_statistics=["t"],
    )


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
