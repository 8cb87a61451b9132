"""The one error a raw-file reader raises: it says which file, where in it, and what was expected.

Readers catch pyarrow, json and jsonschema failures and re-raise them as `RawFormatError`, so the
reason a person reads in the Dagster UI is actionable ("raw/player-tracking/rec-001.csv row 17,
column x: expected a number, got 'abc'"), never a library stack trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

_MAX_GOT_CHARS = 80
# How many offending items one error lists; a file wrong in every row says so in its count.
MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    """One offending item: where it is, what the contract wants there, what was found."""

    location: str | None
    expected: str
    got: str | None = None

    def __str__(self) -> str:
        found = f", got {self.got}" if self.got is not None else ""
        where = f"{self.location}: " if self.location else ""
        return f"{where}expected {self.expected}{found}"


class RawFormatError(ValueError):
    """A raw (or upstream processed) file that does not follow its contract.

    `file` is the display name (the object key), `location` is where in the file, e.g.
    "row 17, column x" (CSV rows count lines as an editor does: the header is row 1) or a JSON path
    such as "$.events[3].frame"; `expected` says what the contract wants there, `got` what was found.
    Where a reader finds several offending items, `problems` lists them (the first is the one the
    attributes name, at most `MAX_LISTED_PROBLEMS`) and `count` says how many there were in all.
    """

    def __init__(
        self,
        file: str,
        location: str | None,
        expected: str,
        got: str | None = None,
        *,
        more: Sequence[Problem] = (),
        count: int | None = None,
    ):
        self.file = file
        self.location = location
        self.expected = expected
        self.got = _shorten(got) if got is not None else None
        first = Problem(location, expected, self.got)
        self.problems = (first, *(Problem(p.location, p.expected, _shorten_or_none(p.got)) for p in more))[
            :MAX_LISTED_PROBLEMS
        ]
        self.count = max(count or 0, len(self.problems))
        super().__init__(str(self))

    @classmethod
    def of_problems(cls, file: str, problems: Sequence[Problem], count: int | None = None) -> RawFormatError:
        first, *more = problems
        return cls(file, first.location, first.expected, first.got, more=more, count=count)

    def __str__(self) -> str:
        if len(self.problems) == 1 and self.count == 1:
            where = f"{self.file} {self.location}" if self.location else self.file
            found = f", got {self.got}" if self.got is not None else ""
            return f"{where}: expected {self.expected}{found}"
        listed = "; ".join(str(problem) for problem in self.problems)
        shown = f"the first {len(self.problems)}: " if self.count > len(self.problems) else ""
        return f"{self.file}: {self.count} problems, {shown}{listed}"

    def __reduce__(self) -> tuple[object, ...]:
        # Custom __init__ arguments: without this, pickling (e.g. across a run worker) would fail.
        return (_rebuild, (self.file, self.problems, self.count))


def _rebuild(file: str, problems: tuple[Problem, ...], count: int) -> RawFormatError:
    return RawFormatError.of_problems(file, problems, count)


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_GOT_CHARS else text[: _MAX_GOT_CHARS - 3] + "..."


def _shorten_or_none(text: str | None) -> str | None:
    return None if text is None else _shorten(text)
