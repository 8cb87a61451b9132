"""Event detection JSON in its four schema versions, told apart by `schema_version`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ras_core.errors import RawFormatError
from ras_core.formats._json import load_json, schema_version, validate

EVENT_SCHEMA_VERSIONS = ("2", "2.1", "2.2", "3")
# Frame-based versions count frames at the file's own fps; version 3 is in seconds.
FRAME_BASED_VERSIONS = ("2", "2.1", "2.2")


@dataclass(frozen=True)
class RawEvents:
    schema_version: str
    document: dict[str, Any]

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.document["events"]


def read_event_detection(path: Path, file: str) -> RawEvents:
    document = load_json(path, file)
    version = schema_version(document, file, EVENT_SCHEMA_VERSIONS)
    validate(document, f"event-detection-{version}", file)
    _check_event_ends(document["events"], version, file)
    return RawEvents(version, document)


def _check_event_ends(events: list[dict[str, Any]], version: str, file: str) -> None:
    # JSON Schema cannot compare two fields; an event ending before it starts is still malformed.
    start, end = ("frame", "end_frame") if version in FRAME_BASED_VERSIONS else ("start_s", "end_s")
    for index, event in enumerate(events):
        if end in event and event[end] < event[start]:
            expected = f"{end} >= {start} ({event[start]})"
            raise RawFormatError(file, f"$.events[{index}].{end}", expected, str(event[end]))
