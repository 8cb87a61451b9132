"""Processed parquet: exact column types, `ras` metadata, and window reads touching 1-2 row groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ras_core.processed import (
    ROW_GROUP_ROWS,
    arrow_table,
    provenance,
    read_parquet_metadata,
    read_tracking_window,
    row_groups_in_window,
    settle_metadata_value,
    write_parquet,
)
from ras_core.recording import RecordingMetadata
from ras_core.transforms.tracking import PLAYER_COLUMNS

FPS = 25.0
PEOPLE = 25  # 22 players, 3 referees


def _full_match_slice(minutes: float) -> pl.DataFrame:
    """Rows as a full match has them (25 per frame at 25 fps), sorted by t then track_id."""
    frames = np.repeat(np.arange(int(minutes * 60 * FPS)), PEOPLE)
    rows = frames.size
    return pl.DataFrame(
        {
            "frame": frames,
            "period": np.ones(rows, dtype=np.int16),
            "t": frames / FPS,
            "track_id": np.tile(np.arange(PEOPLE, dtype=np.int32), rows // PEOPLE),
            "team_side": np.tile(["home"] * 11 + ["away"] * 11 + ["referee"] * 3, rows // PEOPLE),
            "jersey_number": None,
            "x": 0.5,
            "y": 0.5,
            "speed_mps": None,
            "confidence": 0.9,
            "ball_x": None,
            "ball_y": None,
            "ball_z": None,
            "ball_confidence": None,
        }
    ).select([pl.col(name).cast(dtype) for name, dtype in PLAYER_COLUMNS.items()])


def test_window_read_touches_one_or_two_row_groups(tmp_path: Path, recording: RecordingMetadata) -> None:
    path = tmp_path / "player_tracking.parquet"
    write_parquet(arrow_table(_full_match_slice(minutes=5)), path, {"recording_id": "rec-x"})
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == -(-int(5 * 60 * FPS * PEOPLE) // ROW_GROUP_ROWS)
    for start in (0.0, 61.3, 179.9):
        assert 1 <= len(row_groups_in_window(parquet, start, start + 10)) <= 2
    window = read_tracking_window(path, 61.3, 71.3)
    assert window.num_rows == 250 * PEOPLE
    assert min(window.column("t").to_pylist()) >= 61.3 and max(window.column("t").to_pylist()) < 71.3


def test_window_filters_and_column_projection(tmp_path: Path) -> None:
    path = tmp_path / "player_tracking.parquet"
    write_parquet(arrow_table(_full_match_slice(minutes=0.5)), path, {})
    window = read_tracking_window(path, 10.0, 12.0, columns=["frame", "x"], team_side="referee", period=1)
    assert window.column_names == ["frame", "x"]
    assert window.num_rows == 50 * 3
    assert read_tracking_window(path, 100.0, 110.0).num_rows == 0


def test_window_of_a_file_not_sorted_by_time_is_filtered(tmp_path: Path) -> None:
    # Sorted files are sliced by binary search; one that is not must give the same rows.
    rows = _full_match_slice(minutes=0.5)
    path = tmp_path / "shuffled.parquet"
    write_parquet(arrow_table(rows.sample(fraction=1.0, shuffle=True, seed=7)), path, {})
    window = read_tracking_window(path, 10.0, 12.0, team_side="home")
    expected = rows.filter((pl.col("t") >= 10.0) & (pl.col("t") < 12.0) & (pl.col("team_side") == "home"))
    assert window.num_rows == expected.height == 50 * 11
    assert sorted(window.column("t").to_pylist()) == expected.get_column("t").to_list()


def test_window_keeps_the_written_types(tmp_path: Path) -> None:
    # `team_side` is decoded as a dictionary for speed; readers still get the written `string`.
    path = tmp_path / "player_tracking.parquet"
    write_parquet(arrow_table(_full_match_slice(minutes=0.5)), path, {})
    assert read_tracking_window(path, 1.0, 2.0).schema.equals(pq.read_schema(path))
    assert read_tracking_window(path, 99.0, 100.0).schema.equals(pq.read_schema(path))


def test_processed_types_and_metadata_survive_a_round_trip(
    tmp_path: Path, recording: RecordingMetadata
) -> None:
    path = tmp_path / "p.parquet"
    table = arrow_table(_full_match_slice(minutes=0.01))
    write_parquet(
        table, path, {**provenance(recording, "3", "raw/player-tracking/rec-fixture.csv"), "fps": 2.0}
    )
    schema = pq.read_schema(path)
    assert schema.field("team_side").type == pa.string()
    assert schema.field("jersey_number").type == pa.int16() and schema.field("x").type == pa.float32()
    meta = read_parquet_metadata(path)
    assert meta["rows"] == table.num_rows
    assert meta["source"] == {"schema_version": "3", "file": "raw/player-tracking/rec-fixture.csv"}
    assert meta["coordinate_system"]["origin"] == "top-left" and meta["pitch"]["length_m"] == 105.0


def test_processed_files_name_their_source_without_the_attempt(recording: RecordingMetadata) -> None:
    """A retry that delivered the same data writes the same processed bytes, so ETags hold."""
    first = provenance(recording, "3", "raw/player-tracking/rec-fixture/attempt-1.csv")
    retry = provenance(recording, "3", "raw/player-tracking/rec-fixture/attempt-2.csv")
    assert first == retry and first["source"]["file"] == "raw/player-tracking/rec-fixture/"


def test_a_pending_metadata_value_settles_to_the_bytes_written_with_it(
    tmp_path: Path, recording: RecordingMetadata
) -> None:
    """What the tracking import does: write while a value is not known, then set it in place."""
    table = arrow_table(_full_match_slice(minutes=0.2))
    metadata = {**provenance(recording, "3", "raw/player-tracking/rec-fixture.csv"), "fps": FPS}
    value = "ab" * 32
    pending = tmp_path / "pending.parquet"
    write_parquet(table, pending, {**metadata, "digest": "5" * 64})
    assert settle_metadata_value(pending, "5" * 64, value)
    written = tmp_path / "written.parquet"
    write_parquet(table, written, {**metadata, "digest": value})
    assert pending.read_bytes() == written.read_bytes()
    assert read_parquet_metadata(pending)["digest"] == value
    assert pq.read_schema(pending).metadata == pq.read_schema(written).metadata


def test_a_metadata_value_that_cannot_be_settled_exactly_leaves_the_file(tmp_path: Path) -> None:
    table = arrow_table(_full_match_slice(minutes=0.01))
    path = tmp_path / "p.parquet"
    write_parquet(table, path, {"a": "7" * 64, "b": "7" * 64})  # the placeholder twice
    before = path.read_bytes()
    assert not settle_metadata_value(path, "7" * 64, "ab" * 32)
    assert not settle_metadata_value(path, "x" * 64, "ab" * 32)  # not there
    assert not settle_metadata_value(path, "7" * 64, "ab")  # another length
    assert path.read_bytes() == before
