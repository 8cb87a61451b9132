"""Physical metrics parquet: one row per (track, period) with distances, sprints and top speed."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ras_core.errors import RawFormatError
from ras_core.formats._csv import TEAM_SIDES

# The types the processed file stores; the raw file may use any type that casts safely to them.
PHYSICAL_METRICS_SCHEMA = pa.schema(
    [
        pa.field("track_id", pa.int32(), nullable=False),
        pa.field("team_side", pa.string(), nullable=False),
        pa.field("jersey_number", pa.int16()),
        pa.field("period", pa.int16(), nullable=False),
        pa.field("distance_m", pa.float32(), nullable=False),
        pa.field("high_intensity_distance_m", pa.float32(), nullable=False),
        pa.field("sprint_count", pa.int32(), nullable=False),
        pa.field("top_speed_mps", pa.float32(), nullable=False),
    ]
)


def read_physical_metrics(path: Path, file: str) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        # pyarrow's message names the local temporary path, which means nothing to the reader.
        raise RawFormatError(
            file, None, "a parquet file", f"content pyarrow cannot read ({type(exc).__name__})"
        ) from None
    missing = [name for name in PHYSICAL_METRICS_SCHEMA.names if name not in table.column_names]
    if missing:
        raise RawFormatError(
            file, "schema", "columns " + ", ".join(PHYSICAL_METRICS_SCHEMA.names), "no " + ", ".join(missing)
        )
    columns = [_typed_column(table, field, file) for field in PHYSICAL_METRICS_SCHEMA]
    typed = pa.Table.from_arrays(columns, schema=PHYSICAL_METRICS_SCHEMA.remove_metadata())
    _check_team_sides(typed, file)
    return typed


def _typed_column(table: pa.Table, field: pa.Field, file: str) -> pa.ChunkedArray:
    values = table.column(field.name)
    try:
        typed = values.cast(field.type)  # safe cast: refuses truncation and overflow
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise RawFormatError(
            file, f"column {field.name}", f"values of type {field.type}", str(values.type)
        ) from None
    if not field.nullable and typed.null_count:
        row = pc.index(pc.is_null(typed), True).as_py() + 1
        raise RawFormatError(file, f"row {row}, column {field.name}", "a value", "null")
    return typed


def _check_team_sides(table: pa.Table, file: str) -> None:
    valid = pc.is_in(table.column("team_side"), pa.array(TEAM_SIDES))
    if not pc.all(valid).as_py():
        row = pc.index(valid, False).as_py()
        got = table.column("team_side")[row].as_py()
        raise RawFormatError(
            file, f"row {row + 1}, column team_side", "one of " + ", ".join(TEAM_SIDES), repr(got)
        )
