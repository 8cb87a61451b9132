"""The one error a raw-file reader raises: it says which file, where in it, and what was expected.

Readers catch pyarrow, json and jsonschema failures and re-raise them as `RawFormatError`, so the
reason a person reads in the Dagster UI is actionable ("raw/player-tracking/rec-001.csv row 17,
column x: expected a number, got 'abc'"), never a library stack trace.
"""

from __future__ import annotations

_MAX_GOT_CHARS = 80


class RawFormatError(ValueError):
    """A raw (or upstream processed) file that does not follow its contract.

    `file` is the display name (the object key), `location` is where in the file, e.g.
    "row 17, column x" (CSV rows count lines as an editor does: the header is row 1) or a JSON path
    such as "$.events[3].frame"; `expected` says what the contract wants there, `got` what was found.
    """

    def __init__(self, file: str, location: str | None, expected: str, got: str | None = None):
        self.file = file
        self.location = location
        self.expected = expected
        self.got = _shorten(got) if got is not None else None
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file} {self.location}" if self.location else self.file
        found = f", got {self.got}" if self.got is not None else ""
        return f"{where}: expected {self.expected}{found}"

    def __reduce__(self) -> tuple[type[RawFormatError], tuple[str, str | None, str, str | None]]:
        # Custom __init__ arguments: without this, pickling (e.g. across a run worker) would fail.
        return (RawFormatError, (self.file, self.location, self.expected, self.got))


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_GOT_CHARS else text[: _MAX_GOT_CHARS - 3] + "..."
