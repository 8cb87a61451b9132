"""Recording metadata (contracts.md) and its validation: a job may start only when this passes."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

from ras_core.ids import is_valid_recording_id


class InvalidRecordingMetadata(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Pitch:
    length_m: float
    width_m: float


@dataclass(frozen=True)
class Period:
    id: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class RecordingMetadata:
    recording_id: str
    fps: float
    duration_s: float
    pitch: Pitch
    video_uris: tuple[str, ...]
    periods: tuple[Period, ...]
    home_team: str | None = None
    away_team: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["video_uris"] = list(self.video_uris)
        data["periods"] = [asdict(p) for p in self.periods]
        return data


def _number(data: dict[str, Any], field: str, problems: list[str]) -> float | None:
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{field}: expected a number, got {value!r}")
        return None
    return float(value)


def parse_recording_metadata(data: Any) -> RecordingMetadata:
    """Validate metadata per contracts.md; every problem is named, not just the first."""
    if not isinstance(data, dict):
        raise InvalidRecordingMetadata(["metadata: expected a JSON object"])
    problems: list[str] = []
    recording_id = data.get("recording_id")
    if not isinstance(recording_id, str) or not is_valid_recording_id(recording_id):
        problems.append("recording_id: expected an id matching ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    fps = _number(data, "fps", problems)
    if fps is not None and not 0 < fps <= 240:
        problems.append(f"fps: expected a value in (0, 240], got {fps}")
    duration = _number(data, "duration_s", problems)
    if duration is not None and duration <= 0:
        problems.append(f"duration_s: expected > 0, got {duration}")
    pitch_data = data.get("pitch")
    pitch = None
    if not isinstance(pitch_data, dict):
        problems.append("pitch: expected an object with length_m and width_m")
    else:
        length = _number(pitch_data, "length_m", problems)
        width = _number(pitch_data, "width_m", problems)
        if length is not None and width is not None:
            if length <= 0 or width <= 0:
                problems.append(f"pitch: length_m and width_m must be > 0, got {length} x {width}")
            pitch = Pitch(length, width)
    uris = data.get("video_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u for u in uris):
        problems.append("video_uris: expected at least one video URI")
    periods = _parse_periods(data.get("periods"), duration, problems)
    if problems:
        raise InvalidRecordingMetadata(problems)
    assert fps is not None and duration is not None and pitch is not None
    return RecordingMetadata(
        recording_id=recording_id,  # type: ignore[arg-type]
        fps=fps,
        duration_s=duration,
        pitch=pitch,
        video_uris=tuple(uris),  # type: ignore[arg-type]
        periods=periods,
        home_team=data.get("home_team"),
        away_team=data.get("away_team"),
    )


def _parse_periods(raw: Any, duration: float | None, problems: list[str]) -> tuple[Period, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append("periods: expected a non-empty list of {id, start_s, end_s}")
        return ()
    periods: list[Period] = []
    for i, item in enumerate(raw):
        where = f"periods[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            problems.append(f"{where}: expected an object with an integer id")
            continue
        sub: list[str] = []
        start, end = _number(item, "start_s", sub), _number(item, "end_s", sub)
        problems.extend(f"{where}.{p}" for p in sub)
        if start is None or end is None:
            continue
        if not 0 <= start < end:
            problems.append(f"{where}: expected 0 <= start_s < end_s, got {start}..{end}")
        if duration is not None and end > duration:
            problems.append(f"{where}: ends at {end} s, after the recording's duration {duration} s")
        periods.append(Period(item["id"], start, end))
    ordered = sorted(periods, key=lambda p: p.start_s)
    for before, after in itertools.pairwise(ordered):
        if after.start_s < before.end_s:
            problems.append(f"periods: period {before.id} and period {after.id} overlap")
    return tuple(ordered)
