"""Processed files: parquet for tracking and physical metrics, JSON documents for the rest.

Every processed file says which coordinate system and pitch it used and which source file and schema
version it came from: parquet in the key-value metadata entry `ras`, JSON documents at top level.
Writers write to a given local path; moving it into place atomically is the object store's job.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ras_core.catalogue import parse_raw_key
from ras_core.coords import coordinate_system, pitch_dict
from ras_core.recording import RecordingMetadata

# ~40 s of a match with 25 people at 25 fps: a 10 s window (6,250 rows) touches 1-2 row groups. A
# row group is decompressed whole, so its size bounds a window's read: 100k-row groups cost a cold
# 10 s window 7 ms of decoding for 6 ms of data it did not need; 25k-row groups cost 2.5 ms, and
# smaller ones save nothing more (measured on a 10-minute match).
ROW_GROUP_ROWS = 25_000
METADATA_KEY = b"ras"


def provenance(recording: RecordingMetadata, schema_version: str, file: str) -> dict[str, Any]:
    """What every processed output records: its recording, coordinate system, pitch and source."""
    return {
        "recording_id": recording.recording_id,
        "coordinate_system": coordinate_system(recording.pitch),
        "pitch": pitch_dict(recording.pitch),
        "source": {"schema_version": schema_version, "file": source_name(file)},
    }


def source_name(file: str) -> str:
    """A raw source as processed files name it: the raw output's folder, not one attempt's key, so a
    retry that delivered the same data writes the same bytes (and ETag) as the first attempt. Which
    attempt an import read is in the state store (`output_imports`) and the materialization."""
    parsed = parse_raw_key(file)
    return file if parsed is None else parsed[0].prefix(parsed[1])


def arrow_table(frame: pl.DataFrame) -> pa.Table:
    # Polars hands strings over as large/view strings; the processed contract says plain `string`.
    table = frame.to_arrow()
    fields = [
        pa.field(f.name, pa.string())
        if pa.types.is_large_string(f.type) or pa.types.is_string_view(f.type)
        else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


DICTIONARY_COLUMNS = ("team_side", "period", "track_id", "jersey_number")
STATISTICS_COLUMNS = ("t", "frame", "period")


def write_parquet(table: pa.Table, path: Path, metadata: dict[str, Any]) -> None:
    """Write with the `ras` metadata entry (plus the row count) and `ROW_GROUP_ROWS`-row row groups."""
    entry = {**metadata, "rows": table.num_rows}
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(entry).encode()})
    names = set(table.column_names)
    pq.write_table(
        table,
        path,
        row_group_size=ROW_GROUP_ROWS,
        compression="zstd",
        # Dictionary-encoding float columns and keeping statistics on every column cost half the
        # write time of a full match (measured: 1.28 s → 0.7 s) and buy nothing: readers prune row
        # groups on `t` only, and only low-cardinality columns compress as dictionaries.
        use_dictionary=[c for c in DICTIONARY_COLUMNS if c in names],
        write_statistics=[c for c in STATISTICS_COLUMNS if c in names],
    )


def settle_metadata_value(path: Path, pending: str, value: str) -> bool:
    """Replace the placeholder `pending` by `value` (ASCII, the same length) in the `ras` entry of a
    parquet file `write_parquet` wrote with it, in place; False, leaving the file as it was, when
    that cannot be done exactly (then write the file again).

    So a file can be written before a value its metadata names is known (the import writes the
    processed parquet while it renders the frames whose digest it names): the footer stores the
    entry twice, as the JSON text of `ras` and inside `ARROW:schema` (base64 of the Arrow schema,
    metadata included), both as raw bytes of a fixed length, and nothing else (no offsets, no
    checksum) depends on them. The bytes are then those `write_parquet` writes given `value`.
    """
    old, new = pending.encode("ascii"), value.encode("ascii")
    if len(old) != len(new) or old == new:
        return False
    schema = (pq.read_metadata(path).metadata or {}).get(b"ARROW:schema")
    with path.open("r+b") as file:
        file.seek(-8, os.SEEK_END)
        length = int.from_bytes(file.read(4), "little")
        start = file.seek(-8 - length, os.SEEK_END)
        footer = file.read(length)
        if schema is not None:
            arrow = base64.b64decode(schema)
            if base64.b64encode(arrow) != schema or arrow.count(old) != 1 or footer.count(schema) != 1:
                return False
            footer = footer.replace(schema, base64.b64encode(arrow.replace(old, new)))
        if footer.count(old) != 1:
            return False
        file.seek(start)
        file.write(footer.replace(old, new))
    return True


def read_parquet_metadata(path: Path, footer: pq.FileMetaData | None = None) -> dict[str, Any]:
    """The `ras` entry of a processed parquet file, without reading any data (nor the footer, when
    the parsed `footer` is given)."""
    metadata = (footer.metadata if footer is not None else pq.read_schema(path).metadata) or {}
    return json.loads(metadata[METADATA_KEY]) if METADATA_KEY in metadata else {}


def row_groups_in_window(parquet: pq.ParquetFile, start_s: float, end_s: float) -> list[int]:
    """Row groups whose `t` statistics overlap [start_s, end_s); all of them when stats are missing."""
    t_index = parquet.schema_arrow.get_field_index("t")
    selected = []
    for index in range(parquet.metadata.num_row_groups):
        stats = parquet.metadata.row_group(index).column(t_index).statistics
        if stats is None or not stats.has_min_max or (stats.min < end_s and stats.max >= start_s):
            selected.append(index)
    return selected


def read_tracking_window(
    path: Path,
    start_s: float,
    end_s: float,
    *,
    columns: Sequence[str] | None = None,
    period: int | None = None,
    team_side: str | None = None,
    jersey_number: int | None = None,
    metadata: pq.FileMetaData | None = None,
) -> pa.Table:
    """Rows with start_s <= t < end_s (plus optional filters), reading only the row groups needed.

    `metadata`, the file's parsed footer, saves parsing it again (a reader serving many windows of
    one file keeps it).
    """
    metadata = metadata if metadata is not None else pq.read_metadata(path)
    # String columns written as dictionaries are decoded as dictionaries (a 25k-row group holds a
    # handful of distinct values) and turned into plain strings only for the rows kept: a third of
    # a cold window's decoding was `team_side` strings it then dropped.
    dictionaries = [name for name in DICTIONARY_COLUMNS if name in metadata.schema.names]
    parquet = pq.ParquetFile(path, metadata=metadata, read_dictionary=dictionaries)
    groups = row_groups_in_window(parquet, start_s, end_s)
    wanted = list(columns) if columns is not None else parquet.schema_arrow.names
    # Filter columns are read even when not asked for, then dropped.
    needed = list(dict.fromkeys([*wanted, *_filter_columns(period, team_side, jersey_number)]))
    table = parquet.read_row_groups(groups, columns=needed) if groups else parquet.schema_arrow.empty_table()
    table = _time_window(table, start_s, end_s)
    mask = None
    # Compute kernels, not a dataset expression: the expression goes through Acero, 6x slower here.
    for name, value in (("period", period), ("team_side", team_side), ("jersey_number", jersey_number)):
        if value is not None:
            equal = pc.equal(table[name], value)
            mask = equal if mask is None else pc.and_(mask, equal)
    if mask is not None:
        table = table.filter(mask)
    return _undictionary(table.select(wanted))


def _time_window(table: pa.Table, start_s: float, end_s: float) -> pa.Table:
    """The rows with start_s <= t < end_s. Processed tracking is sorted by `t` (the importer writes
    it so), which makes the window a zero-copy slice; a file that is not sorted is filtered."""
    t = table["t"]
    if t.null_count == 0:
        times = t.to_numpy()
        if times.size < 2 or bool((times[1:] >= times[:-1]).all()):
            first, end = np.searchsorted(times, [start_s, end_s], side="left")
            return table.slice(int(first), int(end - first))
    return table.filter(pc.and_(pc.greater_equal(t, start_s), pc.less(t, end_s)))


def _undictionary(table: pa.Table) -> pa.Table:
    """Dictionary columns back to their value type: readers see the types the file was written with."""
    for index, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            plain = table.column(index).cast(field.type.value_type)
            table = table.set_column(index, field.with_type(field.type.value_type), plain)
    return table


def _filter_columns(period: int | None, team_side: str | None, jersey_number: int | None) -> list[str]:
    named = (("period", period), ("team_side", team_side), ("jersey_number", jersey_number))
    return ["t", *(name for name, value in named if value is not None)]


def write_document(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def read_document(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
