"""Training clips: which moments of a match to cut, the window of each clip, its prompt, and the split.

Pure decisions over processed events and shots (contracts.md, "Training clips"); the cutting itself
(ffmpeg, the object store) lives in `ras_assets.training`. Everything here is deterministic, so a
re-run of an unchanged recording plans the same clips with the same ids and fingerprints, and the
80/20 split depends on nothing but the clip id.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ras_core.formats._json import validate
from ras_core.recording import Period, RecordingMetadata
from ras_core.transforms.clock import period_id_at

DEFAULT_MOMENT_TYPES = ("shot", "goal")
TRAINING_SHARE_PERCENT = 80
# Bump when the cut changes (codec, quality, container), so every existing clip counts as stale.
CLIP_ENCODING = "h264-crf23-ultrafast-yuv420p-aac-faststart-v2"
MANIFEST_VERSION = 1

_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Minutes at which each period starts, in match time: halves, then the two halves of extra time.
_PERIOD_START_MINUTE = (0, 45, 90, 105)
_OUTCOME_WORDS = {
    "goal": "scored",
    "saved": "saved by the goalkeeper",
    "off-target": "off target",
    "blocked": "blocked",
    "post": "off the post",
}


@dataclass(frozen=True)
class ClipSettings:
    """What to cut: the launchpad's run config of `training_clips` carries these fields."""

    moment_types: tuple[str, ...] = DEFAULT_MOMENT_TYPES
    before_s: float = 8.0  # the build-up
    after_s: float = 4.0  # the reaction
    # A goal event this soon after a scoring shot of the same team is that shot's moment, not another.
    same_moment_s: float = 5.0
    min_duration_s: float = 1.0  # a window clamped shorter than this is not worth a clip


@dataclass(frozen=True)
class Moment:
    """Something worth a clip: a shot from shot details or an event of a chosen type."""

    moment_id: str  # safe in an object key and a clip id
    type: str
    time_s: float
    end_s: float
    period: int
    team_side: str | None
    outcome: str | None = None  # shots only


@dataclass(frozen=True)
class PlannedClip:
    clip_id: str
    angle_index: int
    source_uri: str
    moment: Moment
    start_s: float
    end_s: float
    prompt: str

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class RejectedClip:
    """A clip that cannot be cut at all (its window lies outside the video)."""

    clip_id: str
    angle_index: int
    source_uri: str
    moment: Moment
    reason: str


@dataclass(frozen=True)
class ClipPlan:
    clips: tuple[PlannedClip, ...]
    rejected: tuple[RejectedClip, ...] = field(default=())


def clip_id(recording_id: str, moment_id: str, angle_index: int) -> str:
    return f"{recording_id}-{moment_id}-{angle_index}"


def is_training(clip_id_: str) -> bool:
    """80/20 by a hash of the clip id: the same answer on every run, machine and dataset size."""
    return int(hashlib.sha256(clip_id_.encode()).hexdigest()[:16], 16) % 100 < TRAINING_SHARE_PERCENT


def safe_moment_id(raw_id: str) -> str:
    """EMA's ids as they are when they fit an object key; otherwise a stable digest of them."""
    if _SAFE_ID.fullmatch(raw_id):
        return raw_id
    return "m" + hashlib.sha256(raw_id.encode()).hexdigest()[:12]


def choose_moments(
    events: Sequence[dict[str, Any]],
    shots: Sequence[dict[str, Any]],
    settings: ClipSettings,
    periods: Sequence[Period],
) -> list[Moment]:
    """Moments of the chosen types, in match order.

    Shots come from shot details, which know the outcome; event detection's `shot` events are the
    same shots with less said about them, so they are not taken twice. A `goal` event that follows a
    scoring shot of the same team within `same_moment_s` is that shot's moment.
    """
    wanted = set(settings.moment_types)
    moments: list[Moment] = []
    scoring_shots: list[Moment] = []
    if "shot" in wanted:
        for shot in shots:
            moment = Moment(
                moment_id=safe_moment_id(str(shot["id"])),
                type="shot",
                time_s=float(shot["time_s"]),
                end_s=float(shot["time_s"]),
                period=int(shot["period"]),
                team_side=shot["team_side"],
                outcome=shot["outcome"],
            )
            moments.append(moment)
            if moment.outcome == "goal":
                scoring_shots.append(moment)
    for event in events:
        kind = event["type"]
        if kind not in wanted or kind == "shot":
            continue
        start_s = float(event["start_s"])
        if kind == "goal" and any(_same_goal(shot, event, settings) for shot in scoring_shots):
            continue
        moments.append(
            Moment(
                moment_id=safe_moment_id(str(event["id"])),
                type=kind,
                time_s=start_s,
                end_s=max(float(event["end_s"]), start_s),
                period=int(event.get("period") or period_id_at(start_s, periods)),
                team_side=event.get("team_side"),
            )
        )
    return sorted(moments, key=lambda m: (m.time_s, m.moment_id))


def moments_of(
    events_document: dict[str, Any],
    shots_document: dict[str, Any],
    settings: ClipSettings,
    periods: Sequence[Period],
    *,
    shots_file: str,
) -> list[Moment]:
    """`choose_moments` over the processed documents; shot details checked against the fields read
    (a `RawFormatError` names the file and JSON path when they are not there)."""
    validate(shots_document, "processed-shot-details", shots_file)
    return choose_moments(events_document["events"], shots_document["shots"], settings, periods)


def _same_goal(shot: Moment, event: dict[str, Any], settings: ClipSettings) -> bool:
    # Event and shot times of the same match may disagree by a few seconds either way (contracts.md).
    return (
        event.get("team_side") == shot.team_side
        and abs(float(event["start_s"]) - shot.time_s) <= settings.same_moment_s
    )


def clip_window(moment: Moment, settings: ClipSettings, video_duration_s: float) -> tuple[float, float] | str:
    """(start_s, end_s) clamped to the video, or the reason there is no clip to cut."""
    if moment.time_s > video_duration_s or moment.end_s < 0:
        return f"moment at {moment.time_s:g} s lies outside the video (0..{video_duration_s:g} s)"
    start_s = max(0.0, moment.time_s - settings.before_s)
    end_s = min(video_duration_s, moment.end_s + settings.after_s)
    if end_s - start_s < settings.min_duration_s:
        return f"window {start_s:g}..{end_s:g} s is shorter than {settings.min_duration_s:g} s"
    return round(start_s, 3), round(end_s, 3)


def plan_clips(recording: RecordingMetadata, moments: Iterable[Moment], settings: ClipSettings) -> ClipPlan:
    """One clip per moment and camera angle (every URI in `video_uris`), each window in the video."""
    clips: list[PlannedClip] = []
    rejected: list[RejectedClip] = []
    for moment in moments:
        window = clip_window(moment, settings, recording.duration_s)
        for angle_index, uri in enumerate(recording.video_uris):
            cid = clip_id(recording.recording_id, moment.moment_id, angle_index)
            if isinstance(window, str):
                rejected.append(RejectedClip(cid, angle_index, uri, moment, window))
                continue
            text = prompt(moment, recording)
            clips.append(PlannedClip(cid, angle_index, uri, moment, window[0], window[1], text))
    return ClipPlan(tuple(clips), tuple(rejected))


def fit_to_video(clip: PlannedClip, video_s: float, min_duration_s: float) -> PlannedClip | str:
    """The clip with its window clamped to its own angle's video (`video_s` long, as probed), or why
    there is nothing to cut: an angle may start late or stop early, so the recording's duration,
    which `plan_clips` clamps to, does not bound every angle."""
    if clip.end_s <= video_s:
        return clip
    angle = f"angle {clip.angle_index}'s video ends at {video_s:g} s"
    if clip.start_s >= video_s:
        return f"window {clip.start_s:g}..{clip.end_s:g} s lies past the end: {angle}"
    end_s = round(video_s, 3)
    if end_s - clip.start_s < min_duration_s:
        return f"window {clip.start_s:g}..{clip.end_s:g} s: {angle}, leaving less than {min_duration_s:g} s"
    return replace(clip, end_s=end_s)


def match_minute(time_s: float, period_id: int, periods: Sequence[Period]) -> int:
    """The minute a football commentator would say: 1 in the first minute, 46 early in the second half."""
    ordered = sorted(periods, key=lambda p: p.start_s)
    index = next((i for i, p in enumerate(ordered) if p.id == period_id), None)
    if index is None:
        return math.floor(max(time_s, 0.0) / 60) + 1
    base = _PERIOD_START_MINUTE[index] if index < len(_PERIOD_START_MINUTE) else 120
    return base + math.floor(max(time_s - ordered[index].start_s, 0.0) / 60) + 1


def prompt(moment: Moment, recording: RecordingMetadata) -> str:
    """What happens in the clip, for the video-tuning trainer: type, team, outcome, minute."""
    minute = match_minute(moment.time_s, moment.period, recording.periods)
    what = moment.type.replace("-", " ")
    text = f"A {what} by {_team(moment.team_side, recording)}"
    if moment.outcome:
        text += f", {_OUTCOME_WORDS.get(moment.outcome, moment.outcome)}"
    return f"{text}, in the {_ordinal(minute)} minute of a football match."


def _team(side: str | None, recording: RecordingMetadata) -> str:
    name = {"home": recording.home_team, "away": recording.away_team}.get(side or "")
    if side in ("home", "away"):
        return f"{name} (the {side} team)" if name else f"the {side} team"
    return "an unknown team"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def clip_fingerprint(clip: PlannedClip, source_version: str) -> str:
    """What a cut clip was made from: the source's version (ETag), the window and the encoding.

    An entry whose fingerprint matches and whose file exists is not cut again.
    """
    inputs = {
        "source": clip.source_uri,
        "source_version": source_version,
        "start_s": clip.start_s,
        "end_s": clip.end_s,
        "encoding": CLIP_ENCODING,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:32]


def moment_record(moment: Moment) -> dict[str, Any]:
    return asdict(moment)


# --- the manifest and the dataset ---------------------------------------------------------------


def manifest_entry(
    clip: PlannedClip | RejectedClip,
    *,
    state: str,
    reason: str | None = None,
    key: str | None = None,
    fingerprint: str | None = None,
    duration_s: float | None = None,
    size_bytes: int | None = None,
) -> dict[str, Any]:
    """One clip in the manifest: id, source, window, moment, state (`cut` or `failed`), reason."""
    planned = isinstance(clip, PlannedClip)
    return {
        "clip_id": clip.clip_id,
        "angle_index": clip.angle_index,
        "source_uri": clip.source_uri,
        "start_s": clip.start_s if planned else None,
        "end_s": clip.end_s if planned else None,
        "moment": moment_record(clip.moment),
        "prompt": clip.prompt if planned else None,
        "state": state,
        "reason": reason,
        "key": key,
        "fingerprint": fingerprint,
        "duration_s": duration_s,
        "size_bytes": size_bytes,
    }


def manifest(recording_id: str, settings: ClipSettings, entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(entries, key=lambda e: e["clip_id"])
    return {
        "manifest_version": MANIFEST_VERSION,
        "recording_id": recording_id,
        "settings": {**asdict(settings), "moment_types": list(settings.moment_types)},
        "encoding": CLIP_ENCODING,
        "clips": ordered,
    }


def reusable_entries(previous: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Settled clips of an earlier manifest by id: cut ones, and failed ones that carry a fingerprint
    (their source itself rules them out: a window past the end of its angle's video, which the same
    source version gives again). The caller redoes any whose fingerprint differs; other failures
    (ffmpeg errors, timeouts, a missing source) carry none and are tried again."""
    if not previous or previous.get("manifest_version") != MANIFEST_VERSION:
        return {}
    return {
        e["clip_id"]: e
        for e in previous.get("clips", [])
        if e.get("state") == "cut" or (e.get("state") == "failed" and e.get("fingerprint"))
    }


def dataset_line(video_uri: str, text_prompt: str) -> str:
    """One line of the video-tuning format the media team's trainer reads (contracts.md)."""
    return json.dumps({"videoGcsUri": video_uri, "textPrompt": text_prompt}, ensure_ascii=False)


def split_dataset(clips: Iterable[tuple[str, str, str]]) -> tuple[list[str], list[str]]:
    """(clip_id, uri, prompt) → (training lines, validation lines), each ordered by clip id."""
    training: list[str] = []
    validation: list[str] = []
    for cid, uri, text in sorted(clips):
        (training if is_training(cid) else validation).append(dataset_line(uri, text))
    return training, validation
