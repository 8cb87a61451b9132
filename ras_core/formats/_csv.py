"""Reading contract CSVs: header-detected variant, typed pyarrow read, row-exact errors.

The fast path is one pyarrow.csv read with declared column types (fastest per dagster-notes.md) plus
vectorised checks. pyarrow's own errors carry no row number, so only when something is wrong the file
is walked once more with the stdlib csv module to name the first bad row and column.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ras_core.errors import MAX_LISTED_PROBLEMS, Problem, RawFormatError

TEAM_SIDES = ("home", "away", "referee", "unknown")

_ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}
_EXPECTED_KIND = {"int": "an integer", "float": "a number", "str": "a value"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "int" | "float" | "str"
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    bounds: tuple[float, float] | None = None
    pattern: str | None = None  # full-match regex for text cells
    description: str | None = None  # what a person is told is expected, when the default is vague

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.kind]

    def expected(self) -> str:
        if self.description is not None:
            return self.description
        if self.allowed is not None:
            return "one of " + ", ".join(self.allowed)
        if self.bounds is not None:
            return f"{_EXPECTED_KIND[self.kind]} in [{self.bounds[0]:g}, {self.bounds[1]:g}]"
        return _EXPECTED_KIND[self.kind]


@dataclass(frozen=True)
class CsvVariant:
    """One header layout of one raw file, e.g. player-tracking v3."""

    family: str
    version: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def header(self) -> str:
        return ",".join(self.names)


def read_header(path: Path, file: str) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError) as exc:
        raise RawFormatError(file, None, "a readable UTF-8 CSV file", type(exc).__name__) from None
    if not header:
        raise RawFormatError(file, "row 1", "a header row", "an empty file")
    return [name.strip() for name in header]


def pick_variant(header: Sequence[str], variants: Sequence[CsvVariant], file: str) -> CsvVariant:
    """The variant whose columns the header holds; extra columns are tolerated and ignored."""
    present = set(header)
    for variant in variants:
        if set(variant.names) <= present:
            return variant
    closest = max(variants, key=lambda v: len(set(v.names) & present))
    missing = [name for name in closest.names if name not in present]
    alternatives = " or ".join(f"'{v.header}' ({v.family} v{v.version})" for v in variants)
    raise RawFormatError(
        file,
        "row 1 (header)",
        f"header {alternatives}; missing for v{closest.version}: {', '.join(missing)}",
        repr(",".join(header)),
    )


def read_csv(path: Path, file: str, variants: Sequence[CsvVariant]) -> tuple[CsvVariant, pa.Table]:
    """Read a contract CSV; the variant is told by its header, never by the job type."""
    variant = pick_variant(read_header(path, file), variants, file)
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={c.name: c.arrow_type for c in variant.columns},
                include_columns=list(variant.names),
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise _diagnose(path, file, variant, fallback=str(exc)) from None
    if not _table_is_valid(table, variant):
        raise _diagnose(path, file, variant, fallback="a value pyarrow accepted but the contract does not")
    return variant, table


def _table_is_valid(table: pa.Table, variant: CsvVariant) -> bool:
    return all(_column_is_valid(table.column(c.name), c) for c in variant.columns)


def _column_is_valid(values: pa.ChunkedArray, column: Column) -> bool:
    if not column.nullable and values.null_count:
        return False
    if column.kind == "float" and len(values) and pc.any(pc.is_nan(values)).as_py():
        return False
    if column.allowed is not None and not pc.all(pc.is_in(values, pa.array(column.allowed))).as_py():
        # is_in is null for null input; all() skips nulls, so nullable columns pass here.
        return False
    if (
        column.pattern is not None
        and not pc.all(pc.match_substring_regex(values, f"^(?:{column.pattern})$")).as_py()
    ):
        return False
    if column.bounds is not None and len(values):
        low, high = column.bounds
        extremes = pc.min_max(values).as_py()
        if extremes["min"] is not None and not low <= extremes["min"] <= extremes["max"] <= high:
            return False
    return True


def _diagnose(path: Path, file: str, variant: CsvVariant, fallback: str) -> RawFormatError:
    """Walk the file with the stdlib to name the offending rows and columns (the first
    `MAX_LISTED_PROBLEMS` of them, and how many there are)."""
    listed: list[Problem] = []
    count = 0
    try:
        for problem in _row_problems(path, variant):
            count += 1
            if len(listed) < MAX_LISTED_PROBLEMS:
                listed.append(problem)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return RawFormatError(file, None, "a readable UTF-8 CSV file", str(exc))
    if listed:
        return RawFormatError.of_problems(file, listed, count)
    return RawFormatError(file, None, f"a CSV following '{variant.header}'", fallback)


def _row_problems(path: Path, variant: CsvVariant) -> Iterator[Problem]:
    """Every bad cell, and every row with the wrong number of cells, in file order."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader)]
        positions = {c.name: header.index(c.name) for c in variant.columns}
        for row in reader:
            if not row:
                continue  # blank lines are skipped by pyarrow too
            where = f"row {reader.line_num}"
            if len(row) != len(header):
                yield Problem(where, f"{len(header)} columns as in the header", str(len(row)))
                continue
            for column in variant.columns:
                problem = cell_problem(row[positions[column.name]], column)
                if problem is not None:
                    yield Problem(f"{where}, column {column.name}", column.expected(), problem)


def cell_problem(cell: str, column: Column) -> str | None:
    """What is wrong with one cell (the 'got' part of the message), or None when it is fine."""
    if cell == "" and column.kind != "str":
        return None if column.nullable else "an empty cell"
    if column.allowed is not None:
        return None if cell in column.allowed else repr(cell)
    if column.kind == "str":
        return None if column.pattern is None or re.fullmatch(column.pattern, cell) else repr(cell)
    try:
        number = int(cell) if column.kind == "int" else float(cell)
    except ValueError:
        return repr(cell)
    if isinstance(number, float) and math.isnan(number):
        return repr(cell)
    if column.bounds is not None and not column.bounds[0] <= number <= column.bounds[1]:
        return repr(cell)
    return None
