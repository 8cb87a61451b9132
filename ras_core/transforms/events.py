"""Event detection of every schema version into one processed event shape.

`{"id", "type", "start_s", "end_s", "period", "team_side", "confidence", "position": {"x","y"} | null}`
with times in seconds and normalised positions. Frame-based versions (2, 2.1, 2.2) count frames at
the file's own fps; their period comes from the recording's periods and their ids are made
deterministic from the recording id and the event's index in the file.

Events without a location (period start/end, substitutions, cards given off the ball) carry no
position in any version, absent or null in the file: theirs is null. Events without a team (a final
whistle) have the side `unknown`.
"""

from __future__ import annotations

from typing import Any

from ras_core.coords import normalise_point
from ras_core.formats.events import FRAME_BASED_VERSIONS, RawEvents
from ras_core.recording import RecordingMetadata
from ras_core.transforms.clock import period_id_at

UNKNOWN_SIDE = "unknown"


def processed_events(raw: RawEvents, recording: RecordingMetadata) -> list[dict[str, Any]]:
    """Events in file order; see `sorted_events` for the delivered order."""
    if raw.schema_version in FRAME_BASED_VERSIONS:
        fps = float(raw.document["fps"])
        return [_from_frames(e, i, fps, recording) for i, e in enumerate(raw.events)]
    return [_from_v3(e, recording) for e in raw.events]


def sorted_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(events, key=lambda e: (e["start_s"], e["period"]))


def _from_frames(
    event: dict[str, Any], index: int, fps: float, recording: RecordingMetadata
) -> dict[str, Any]:
    start_s = event["frame"] / fps
    # v2 has no end_frame: an instant event.
    end_s = event["end_frame"] / fps if "end_frame" in event else start_s
    return {
        "id": f"{recording.recording_id}-e{index}",
        "type": event["type"],
        "start_s": start_s,
        "end_s": end_s,
        "period": period_id_at(start_s, recording.periods, ends_period=event["type"] == "period-end"),
        "team_side": event["team"] or UNKNOWN_SIDE,
        "confidence": event.get("confidence"),
        "position": normalise_point(event.get("position"), recording.pitch),
    }


def _from_v3(event: dict[str, Any], recording: RecordingMetadata) -> dict[str, Any]:
    fields = ("id", "type", "start_s", "end_s", "period", "team_side", "confidence")
    return {
        **{name: event[name] for name in fields},
        "team_side": event["team_side"] or UNKNOWN_SIDE,
        "position": normalise_point(event.get("position"), recording.pitch),
    }
