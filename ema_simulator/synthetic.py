"""A deterministic synthetic match: what EMA would deliver for a recording, in the contract's formats.

Used by the EMA simulator (uploads), by tests (fixtures of any size) and by benchmarks (the CLI).
Everything derives from one seed taken from a stable hash of the recording id, so the same recording
always yields the same bytes, across processes and machines.

Motion is a sum of sinusoids per person and axis plus occasional out-and-back sprints: smooth, with an
analytic velocity, so players never teleport and `speed_mps` agrees exactly with the positions. Events
are picked from the tracking (shots where the ball is near a goal, throw-ins where it is near a
touchline), so the files tell one consistent story.

Broadcast mode (`synthetic_match(..., broadcast=True)`) gives the same match as a broadcast camera and
a real EMA deliver it (contracts.md, "What real EMA output looks like"): the camera follows the ball,
so 30-50 % of frames have no player and the others only the people near the ball; jersey numbers and
sides are sometimes unknown; the ball goes out of play up to 30 m beyond the lines; substitutions,
cards given off the ball and period markers carry no position, and the final whistle no team. It
draws from a random stream of its own, so the standard mode's bytes do not change. The frame rate is
the recording's (register broadcast recordings at 10 fps to get that property too).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ras_core.catalogue import raw_output, raw_outputs
from ras_core.recording import Period, Pitch, RecordingMetadata

PTS_PER_SECOND = 90_000
EVENT_SCHEMAS = ("2", "2.1", "2.2", "3")
TRACKING_VARIANTS = ("v3", "v2")
SIDES = ("home", "away", "referee")
TRACKED_SIDES = (*SIDES, "unknown")  # what a tracking row may say; broadcast mode uses "unknown"
SHOT_OUTCOMES = ("goal", "saved", "off-target", "blocked", "post")
BODY_PARTS = ("foot", "head", "other")
HIGH_INTENSITY_MPS = 5.5  # 19.8 km/h, the usual high-intensity running threshold
SPRINT_MPS = 7.0  # 25.2 km/h
MOMENTUM_STEP_S = 10.0
# Half the kick-off ramp: play drifts away from the centre spot over this many seconds after each start.
_KICK_OFF_RAMP_S = 40.0
BALL_RADIUS_M = 0.11

_TRACKING_HEADERS = {
    ("player-tracking", "v3"): "pts,timestamp_in_seconds,period,track_id,team_side,jersey_number,x,y,"
    "speed_mps,confidence",
    ("player-tracking", "v2"): "frame_id,track_id,team_side,jersey_number,x,y,confidence",
    ("ball-tracking", "v3"): "pts,timestamp_in_seconds,period,x,y,z,confidence",
    ("ball-tracking", "v2"): "frame_id,x,y,z,confidence",
}
MATCH_DETAILS_COLUMNS = (
    "period", "team_side", "possession_pct", "passes", "pass_accuracy_pct",
    "shots", "shots_on_target", "corners", "fouls", "offsides",
)  # fmt: skip
PHYSICAL_METRICS_SCHEMA = pa.schema(
    [
        ("track_id", pa.int64()),
        ("team_side", pa.string()),
        ("jersey_number", pa.int64()),
        ("period", pa.int64()),
        ("distance_m", pa.float64()),
        ("high_intensity_distance_m", pa.float64()),
        ("sprint_count", pa.int64()),
        ("top_speed_mps", pa.float64()),
    ]
)


@dataclass(frozen=True)
class Person:
    track_id: int
    team_side: str  # home | away | referee
    jersey_number: int | None


@dataclass(frozen=True)
class Shot:
    id: str
    time_s: float
    period: int
    team_side: str
    jersey_number: int | None
    x: float
    y: float
    xg: float
    outcome: str
    body_part: str


@dataclass(frozen=True)
class MatchEvent:
    id: str
    type: str
    start_s: float
    end_s: float
    period: int
    team_side: str  # the referee "owns" period-start and period-end
    confidence: float
    x: float | None
    y: float | None


@dataclass(frozen=True, eq=False)
class BroadcastView:
    """What a broadcast camera lets EMA see of the match, per frame and person."""

    people_seen: np.ndarray  # (n_frames, n_people) bool
    jersey_hidden: np.ndarray  # (n_frames, n_people) bool: number not readable
    side_unknown: np.ndarray  # (n_frames, n_people) bool: team not told

    @property
    def camera_on(self) -> np.ndarray:
        return self.people_seen.any(axis=1)


@dataclass(frozen=True, eq=False)
class SyntheticMatch:
    """One recording's ground truth; the raw files are views of it."""

    recording: RecordingMetadata
    seed: int
    people: tuple[Person, ...]
    frames: np.ndarray  # (n_frames,) absolute frame index: round(timestamp * fps)
    frame_period: np.ndarray  # (n_frames,) period id
    positions: np.ndarray  # (n_frames, n_people, 2) metres, origin at the centre spot
    speeds: np.ndarray  # (n_frames, n_people) m/s
    ball: np.ndarray  # (n_frames, 3) x, y, z in metres
    ball_seen: np.ndarray  # (n_frames,) bool
    events: tuple[MatchEvent, ...]
    shots: tuple[Shot, ...]
    momentum: pd.DataFrame  # timestamp_in_seconds, momentum
    physical_metrics: pd.DataFrame
    match_details: pd.DataFrame
    broadcast: BroadcastView | None = None  # None: every person tracked in every frame

    @property
    def score(self) -> dict[str, int]:
        return {
            side: sum(s.outcome == "goal" and s.team_side == side for s in self.shots) for side in SIDES[:2]
        }

    @property
    def times_s(self) -> np.ndarray:
        return self.frames / self.recording.fps


# ---------------------------------------------------------------------------------------------------
# Seeding and metadata
# ---------------------------------------------------------------------------------------------------


def recording_seed(recording_id: str) -> int:
    # hashlib, not hash(): str hashes are salted per process, and the bytes must not change between runs.
    return int.from_bytes(hashlib.sha256(recording_id.encode()).digest()[:8], "big")


def default_event_schema(recording_id: str) -> str:
    """A schema version per recording, spread over all four so every reader path gets exercised."""
    return EVENT_SCHEMAS[recording_seed(recording_id) % len(EVENT_SCHEMAS)]


def two_half_recording(
    recording_id: str, fps: float, duration_s: float, pitch: Pitch | None = None
) -> RecordingMetadata:
    """Metadata when only fps and duration are known (EMA requests): two halves splitting the duration."""
    half = duration_s / 2
    return RecordingMetadata(
        recording_id=recording_id,
        fps=fps,
        duration_s=duration_s,
        pitch=pitch or Pitch(105.0, 68.0),
        video_uris=(f"synthetic://{recording_id}/panorama.mp4",),
        periods=(Period(1, 0.0, half), Period(2, half, duration_s)),
        home_team="Home FC",
        away_team="Away FC",
    )


# ---------------------------------------------------------------------------------------------------
# Tracking
# ---------------------------------------------------------------------------------------------------


def _frame_grid(recording: RecordingMetadata) -> tuple[np.ndarray, np.ndarray]:
    """Absolute frame indices inside the periods (nothing is tracked during breaks) and their period."""
    frames, periods = [], []
    for period in recording.periods:
        first = math.ceil(period.start_s * recording.fps - 1e-9)
        last = math.ceil(period.end_s * recording.fps - 1e-9)  # exclusive: the end instant is not a frame
        idx = np.arange(first, max(last, first + 1), dtype=np.int64)
        frames.append(idx)
        periods.append(np.full(idx.size, period.id, dtype=np.int64))
    return np.concatenate(frames), np.concatenate(periods)


def _wander(
    rng: np.random.Generator, t: np.ndarray, n_series: int, amps: Sequence[float], freqs: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random paths (value, velocity), shape (len(t), n_series): sums of jittered sinusoids.

    Speed per axis is bounded by sum(amp * 2π * freq * 1.3), which is how `_MAX_JOG_AXIS_SPEED` is kept.
    """
    value = np.zeros((t.size, n_series))
    velocity = np.zeros((t.size, n_series))
    for amp, freq in zip(amps, freqs, strict=True):
        omega = 2 * np.pi * freq * rng.uniform(0.7, 1.3, n_series)
        phase = rng.uniform(0, 2 * np.pi, n_series)
        angle = np.outer(t, omega) + phase
        value += amp * np.sin(angle)
        velocity += amp * omega * np.cos(angle)
    return value, velocity


_CENTRE_X = ((22.0, 0.004), (10.0, 0.012))  # where play is: slow, across most of the pitch
_CENTRE_Y = ((12.0, 0.005), (6.0, 0.015))
_PLAYER = ((6.0, 0.02), (3.0, 0.05), (1.2, 0.15))  # a player's own jogging around his slot
_SPRINT_PEAK_MPS = (3.5, 5.5)  # on top of the jogging, so top speeds land around 7-9 m/s
_OFF_PITCH_M = 3.0  # how far past a line a person may drift
MAX_SPEED_MPS = 9.0  # a hard cap; sums of jogging and sprinting exceed it in ~1 frame in 10^4
_SPRINT_EVERY_S = 90.0
_MAX_JOG_AXIS_SPEED = 1.3 * 2 * np.pi * sum(a * f for pair in (_CENTRE_X, _PLAYER) for a, f in pair)

# Slots in a 4-4-2, attacking towards +x, as fractions of (length, width); index 0 is the goalkeeper.
_FORMATION = np.array(
    [(-0.45, 0.0)]
    + [(-0.30, w) for w in (-0.32, -0.11, 0.11, 0.32)]
    + [(-0.12, w) for w in (-0.32, -0.11, 0.11, 0.32)]
    + [(0.02, w) for w in (-0.12, 0.12)]
)


def _kick_off_ramp(since_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """0 at each period start rising smoothly to 1, and its rate: every period kicks off at the centre."""
    u = np.clip(since_start / _KICK_OFF_RAMP_S, 0.0, 1.0)
    ramp = u * u * (3 - 2 * u)
    ramp_rate = np.where(u < 1.0, 6 * u * (1 - u) / _KICK_OFF_RAMP_S, 0.0)
    return ramp, ramp_rate


def _home_direction(frame_period: np.ndarray) -> np.ndarray:
    # Teams change ends at half-time: home attacks +x in odd periods.
    return np.where(frame_period % 2 == 1, 1.0, -1.0)


def _people(rng: np.random.Generator) -> tuple[Person, ...]:
    people: list[Person] = []
    for side in SIDES[:2]:
        outfield = rng.choice(np.arange(2, 31), size=10, replace=False)
        for jersey in (1, *sorted(int(j) for j in outfield)):
            people.append(Person(len(people) + 1, side, jersey))
    people += [Person(len(people) + k + 1, "referee", None) for k in range(3)]
    return tuple(people)


def _sprints(rng: np.random.Generator, t: np.ndarray, runners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Out-and-back runs, offset d·sin²(πu) over u in [0, 1]: peak speed πd/D, back in the slot after."""
    offset = np.zeros((t.size, runners.size, 2))
    velocity = np.zeros_like(offset)
    count = rng.poisson((t[-1] - t[0]) / _SPRINT_EVERY_S, runners.size)
    for k in np.flatnonzero(runners):
        for start in rng.uniform(t[0], t[-1], count[k]):
            length_s, peak = rng.uniform(6.0, 10.0), rng.uniform(*_SPRINT_PEAK_MPS)
            heading = rng.uniform(0, 2 * np.pi)
            window = slice(*np.searchsorted(t, (start, start + length_s)))
            u = (t[window] - start) / length_s
            reach = peak * length_s / np.pi
            unit = np.array([np.cos(heading), np.sin(heading)])
            offset[window, k] += np.outer(reach * np.sin(np.pi * u) ** 2, unit)
            velocity[window, k] += np.outer(peak * np.sin(2 * np.pi * u), unit)
    return offset, velocity


def _limit_speed(positions: np.ndarray, velocities: np.ndarray, frame_period: np.ndarray, fps: float) -> None:
    """Cap speed at MAX_SPEED_MPS in place; the path gives back what the cap cut, so x stays ∫v."""
    speed = np.hypot(velocities[..., 0], velocities[..., 1])
    scale = np.minimum(1.0, MAX_SPEED_MPS / np.maximum(speed, 1e-9))
    cut = velocities * (1 - scale)[..., None]
    velocities *= scale[..., None]
    for period in np.unique(frame_period):
        rows = frame_period == period
        positions[rows] -= np.cumsum(cut[rows], axis=0) / fps


def _soft_bound(value: np.ndarray, velocity: np.ndarray, half_extent: float) -> None:
    """Squash |value| smoothly into half_extent + _OFF_PITCH_M, in place; velocity by the chain rule.

    The map is the identity well inside the pitch and tanh-shaped near the lines; its slope is <= 1, so
    it can only slow a person down and keeps `speed_mps` exact.
    """
    inner = half_extent - 3 * _OFF_PITCH_M
    room = 4 * _OFF_PITCH_M
    excess = np.abs(value) - inner
    outside = excess > 0
    squashed = np.tanh(excess[outside] / room)
    velocity[outside] *= 1 - squashed**2
    value[outside] = np.sign(value[outside]) * (inner + room * squashed)


def _track_people(
    rng: np.random.Generator,
    line: _Timeline,
    ramp: tuple[np.ndarray, np.ndarray],
    centre: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (n, 25, 2) and velocities of 11 + 11 players and 3 referees."""
    cx, cvx, cy, cvy = centre
    t, pitch, n = line.times_s, line.recording.pitch, line.frames.size
    slot_x = np.concatenate([_FORMATION[:, 0], _FORMATION[:, 0], [0.0, 0.25, -0.25]]) * pitch.length_m
    slot_y = np.concatenate([_FORMATION[:, 1], _FORMATION[:, 1], [0.0, 0.5, -0.5]]) * pitch.width_m
    slot_y[-2:] += np.sign(slot_y[-2:]) * 1.0  # assistant referees run just outside the touchlines
    side_dir = np.concatenate([np.ones(11), -np.ones(11), np.ones(3)])
    # How much each person follows play and wanders: goalkeepers and assistants stay put more.
    follow = np.concatenate([[0.25], np.full(10, 0.8), [0.25], np.full(10, 0.8), [0.9, 0.5, 0.5]])
    wander_x = np.concatenate([[0.3], np.ones(10), [0.3], np.ones(10), [0.8, 0.5, 0.5]])
    wander_y = np.concatenate([[0.3], np.ones(10), [0.3], np.ones(10), [0.8, 0.03, 0.03]])
    follow_y = np.where(np.arange(25) >= 23, 0.0, follow)
    wx, wvx = _wander(rng, t, 25, *zip(*_PLAYER, strict=True))
    wy, wvy = _wander(rng, t, 25, *zip(*_PLAYER, strict=True))
    direction = np.outer(line.home_dir, side_dir)  # formation mirrored for the away side and after half-time
    positions = np.empty((n, 25, 2))
    velocities = np.empty((n, 25, 2))
    r, dr = ramp
    positions[:, :, 0] = direction * slot_x + np.outer(cx, follow) + wx * wander_x * r[:, None]
    positions[:, :, 1] = slot_y * np.where(np.arange(25) >= 23, 1.0, direction) + np.outer(cy, follow_y)
    positions[:, :, 1] += wy * wander_y * r[:, None]
    velocities[:, :, 0] = np.outer(cvx, follow) + (wvx * r[:, None] + wx * dr[:, None]) * wander_x
    velocities[:, :, 1] = np.outer(cvy, follow_y) + (wvy * r[:, None] + wy * dr[:, None]) * wander_y
    outfield = np.ones(25, dtype=bool)
    outfield[[0, 11, 22, 23, 24]] = False  # goalkeepers and referees do not sprint
    sprint_offset, sprint_velocity = _sprints(rng, t, outfield)
    positions += sprint_offset
    velocities += sprint_velocity
    _limit_speed(positions, velocities, line.frame_period, line.recording.fps)
    _soft_bound(positions[:, :, 0], velocities[:, :, 0], pitch.length_m / 2)
    # Assistant referees (the last two) run outside the touchline on purpose; leave their y alone.
    _soft_bound(positions[:, :23, 1], velocities[:, :23, 1], pitch.width_m / 2)
    return positions, velocities


def _track_ball(
    rng: np.random.Generator, t: np.ndarray, ramp: np.ndarray, centre: tuple[np.ndarray, ...], fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ball x, y, z (n, 3) near the centre of play, and which frames it was seen in."""
    cx, _, cy, _ = centre
    bx, _ = _wander(rng, t, 1, (12.0, 6.0, 2.0), (0.03, 0.1, 0.3))
    by, _ = _wander(rng, t, 1, (10.0, 5.0, 1.5), (0.03, 0.1, 0.3))
    loft = rng.uniform(0, 2 * np.pi)
    # Lofted passes: short arcs up to ~8 m whenever a slow sinusoid crests.
    z = BALL_RADIUS_M + 8.0 * np.clip(np.sin(2 * np.pi * 0.07 * t + loft) - 0.8, 0, None) / 0.2 * ramp
    ball = np.column_stack([cx + bx[:, 0] * ramp, cy + by[:, 0] * ramp, z])
    return ball, _ball_seen_mask(rng, t.size, fps)


def _ball_seen_mask(rng: np.random.Generator, n_frames: int, fps: float) -> np.ndarray:
    """About three occlusions a minute, 0.2 to 2.5 s each: the ball is seen in ~90% of frames."""
    n_gaps = max(1, int(n_frames / fps / 60 * 3))
    starts = rng.integers(0, n_frames, n_gaps)
    ends = np.minimum(starts + (rng.uniform(0.2, 2.5, n_gaps) * fps).astype(np.int64), n_frames)
    depth = np.zeros(n_frames + 1, dtype=np.int64)
    np.add.at(depth, starts, 1)
    np.add.at(depth, ends, -1)
    return np.cumsum(depth[:-1]) == 0


# ---------------------------------------------------------------------------------------------------
# Events and shots, picked from the tracking
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Draft:
    """An event before ids are assigned (ids follow time order)."""

    type: str
    start_s: float
    duration_s: float
    team_side: str
    x: float | None
    y: float | None


class _Timeline:
    """Frame lookups shared by the tracking and the event pickers."""

    def __init__(self, recording: RecordingMetadata):
        self.recording = recording
        self.frames, self.frame_period = _frame_grid(recording)
        self.times_s = self.frames / recording.fps
        self.home_dir = _home_direction(self.frame_period)
        self.since_start = np.zeros(self.frames.size)
        self.until_end = np.zeros(self.frames.size)
        self.first_index: dict[int, int] = {}
        for period in recording.periods:
            mask = self.frame_period == period.id
            self.since_start[mask] = self.times_s[mask] - period.start_s
            self.until_end[mask] = period.end_s - self.times_s[mask]
            self.first_index[period.id] = int(np.flatnonzero(mask)[0])

    def index_at(self, time_s: float) -> int:
        i = int(np.searchsorted(self.frames, round(time_s * self.recording.fps)))
        return min(i, self.frames.size - 1)

    def period_at(self, time_s: float) -> Period | None:
        return next((p for p in self.recording.periods if p.start_s <= time_s < p.end_s), None)

    def attack_dir(self, index: int, side: str) -> float:
        return float(self.home_dir[index] * (1 if side == "home" else -1))


def _spaced_picks(rng: np.random.Generator, candidates: np.ndarray, count: int, gap: int) -> list[int]:
    """Up to `count` candidate indices, at least `gap` apart, in random order of discovery."""
    picked: list[int] = []
    for index in rng.permutation(candidates)[: count * 20]:
        if all(abs(int(index) - p) >= gap for p in picked):
            picked.append(int(index))
            if len(picked) == count:
                break
    return sorted(picked)


def _poisson_per_match(rng: np.random.Generator, per_90_min: float, duration_s: float) -> int:
    return int(rng.poisson(per_90_min * duration_s / 5400))


def _shot_xg(distance_m: float, angle_rad: float, body_part: str) -> float:
    # A plain distance/angle model: ~0.25 from the penalty spot, ~0.05 from 25 m, headers worth less.
    xg = math.exp(-0.13 * distance_m) * (0.35 + 0.65 * math.cos(angle_rad))
    return round(min(0.95, max(0.01, xg * (0.6 if body_part == "head" else 1.0))), 3)


def _pick_shots(
    rng: np.random.Generator,
    line: _Timeline,
    ball: np.ndarray,
    match_people: tuple[Person, ...],
    positions: np.ndarray,
) -> list[Shot]:
    """Shots where the ball is within 25 m of the goal a team attacks, by that team's nearest player."""
    pitch, fps = line.recording.pitch, line.recording.fps
    shots: list[tuple[int, str]] = []
    for side, sign in (("home", 1.0), ("away", -1.0)):
        goal_x = line.home_dir * sign * pitch.length_m / 2
        near = np.hypot(ball[:, 0] - goal_x, ball[:, 1]) < 25
        candidates = np.flatnonzero(near & (ball[:, 2] < 2.5) & (line.since_start > 5) & (line.until_end > 5))
        count = max(1, _poisson_per_match(rng, 12, line.recording.duration_s))
        shots += [(i, side) for i in _spaced_picks(rng, candidates, count, int(20 * fps))]
    shots.sort()
    return [
        _make_shot(rng, line, ball, match_people, positions, i, side, n) for n, (i, side) in enumerate(shots)
    ]


def _make_shot(
    rng: np.random.Generator,
    line: _Timeline,
    ball: np.ndarray,
    match_people: tuple[Person, ...],
    positions: np.ndarray,
    index: int,
    side: str,
    number: int,
) -> Shot:
    x, y = float(ball[index, 0]), float(ball[index, 1])
    goal_x = line.attack_dir(index, side) * line.recording.pitch.length_m / 2
    distance = math.hypot(goal_x - x, y)
    angle = math.atan2(abs(y), max(abs(goal_x - x), 0.1))
    body_part = str(rng.choice(BODY_PARTS, p=[0.78, 0.18, 0.04]))
    xg = _shot_xg(distance, angle, body_part)
    # Goals in proportion to xG, so the model's xG totals track the score.
    missed = str(rng.choice(SHOT_OUTCOMES[1:], p=[0.4, 0.35, 0.2, 0.05]))
    outcome = "goal" if rng.random() < xg else missed
    team = [k for k, p in enumerate(match_people) if p.team_side == side]
    nearest = team[int(np.argmin(np.hypot(*(positions[index, team] - ball[index, :2]).T)))]
    time_s = round(float(line.frames[index]) / line.recording.fps, 3)
    return Shot(
        id=f"shot-{number + 1:03d}",
        time_s=time_s,
        period=int(line.frame_period[index]),
        team_side=side,
        jersey_number=match_people[nearest].jersey_number,
        x=round(x, 2),
        y=round(y, 2),
        xg=xg,
        outcome=outcome,
        body_part=body_part,
    )


def _other(side: str) -> str:
    return "away" if side == "home" else "home"


def _shot_drafts(rng: np.random.Generator, line: _Timeline, shot: Shot) -> list[_Draft]:
    """The shot and what follows from it: goal, save, corner, goal kick."""
    index = line.index_at(shot.time_s)
    attack = line.attack_dir(index, shot.team_side)
    half_l, half_w = line.recording.pitch.length_m / 2, line.recording.pitch.width_m / 2
    mouth_y = round(max(-3.0, min(3.0, shot.y)), 2)
    drafts = [_Draft("shot", shot.time_s, 0.6, shot.team_side, shot.x, shot.y)]
    defending = _other(shot.team_side)
    if shot.outcome == "goal":
        drafts.append(_Draft("goal", shot.time_s + 1.0, 2.0, shot.team_side, attack * half_l, mouth_y))
    elif shot.outcome == "saved":
        drafts.append(_Draft("save", shot.time_s + 0.5, 1.0, defending, attack * (half_l - 1), mouth_y))
    elif shot.outcome == "off-target":
        drafts.append(_Draft("goal-kick", shot.time_s + 15, 1.0, defending, attack * (half_l - 5.5), 0.0))
    if shot.outcome in ("saved", "blocked", "post") and rng.random() < 0.5:
        corner_y = half_w if shot.y >= 0 else -half_w
        drafts.append(_Draft("corner", shot.time_s + 20, 1.0, shot.team_side, attack * half_l, corner_y))
    return drafts


def _foul_drafts(rng: np.random.Generator, line: _Timeline, ball: np.ndarray) -> list[_Draft]:
    """Fouls where the ball is, each followed by a free kick and sometimes a card."""
    drafts: list[_Draft] = []
    count = _poisson_per_match(rng, 22, line.recording.duration_s)
    for index in sorted(rng.integers(0, line.frames.size, count)):
        time_s = float(line.frames[index]) / line.recording.fps
        side = str(rng.choice(SIDES[:2]))
        x, y = round(float(ball[index, 0]), 2), round(float(ball[index, 1]), 2)
        drafts.append(_Draft("foul", time_s, 1.0, side, x, y))
        drafts.append(_Draft("free-kick", time_s + 12, 1.0, _other(side), x, y))
        if rng.random() < 0.15:
            drafts.append(_Draft("card", time_s + 30, 1.0, side, x, y))
    return drafts


def _open_play_drafts(rng: np.random.Generator, line: _Timeline, ball: np.ndarray) -> list[_Draft]:
    """Throw-ins where the ball reaches a touchline, and offsides in the attacking half."""
    fps, half_w = line.recording.fps, line.recording.pitch.width_m / 2
    drafts: list[_Draft] = []
    touchline = np.flatnonzero(np.abs(ball[:, 1]) > half_w - 3.0)
    throw_ins = _poisson_per_match(rng, 40, line.recording.duration_s)
    for index in _spaced_picks(rng, touchline, throw_ins, int(30 * fps)):
        y = math.copysign(half_w, float(ball[index, 1]))
        time_s = float(line.frames[index]) / fps
        drafts.append(
            _Draft("throw-in", time_s, 1.0, str(rng.choice(SIDES[:2])), round(float(ball[index, 0]), 2), y)
        )
    for index in sorted(
        rng.integers(0, line.frames.size, _poisson_per_match(rng, 4, line.recording.duration_s))
    ):
        side = str(rng.choice(SIDES[:2]))
        # An offside is called where the attacker stands: in the half his team attacks.
        x = line.attack_dir(int(index), side) * abs(float(ball[index, 0]))
        drafts.append(
            _Draft(
                "offside",
                float(line.frames[index]) / fps,
                1.0,
                side,
                round(x, 2),
                round(float(ball[index, 1]), 2),
            )
        )
    return drafts


def _period_drafts(recording: RecordingMetadata) -> list[_Draft]:
    drafts: list[_Draft] = []
    for number, period in enumerate(recording.periods):
        kicking = "home" if number % 2 == 0 else "away"
        drafts.append(_Draft("period-start", period.start_s, 0.0, "referee", None, None))
        drafts.append(_Draft("kick-off", period.start_s, 1.0, kicking, 0.0, 0.0))
        drafts.append(_Draft("period-end", period.end_s, 0.0, "referee", None, None))
    return drafts


def _finalise_events(
    rng: np.random.Generator, line: _Timeline, drafts: list[_Draft]
) -> tuple[MatchEvent, ...]:
    """Drop drafts that spill past their period, order by time, number them."""
    placed: list[tuple[_Draft, Period]] = []
    for draft in drafts:
        # period-end sits on the end instant, which `period_at` (half-open) does not cover.
        period = (
            next(p for p in line.recording.periods if p.end_s == draft.start_s)
            if draft.type == "period-end"
            else line.period_at(draft.start_s)
        )
        if period is not None and draft.start_s + draft.duration_s <= period.end_s:
            placed.append((draft, period))
    order = {"period-start": 0, "kick-off": 1, "period-end": 9}
    placed.sort(key=lambda dp: (dp[0].start_s, order.get(dp[0].type, 5)))
    confidences = np.round(rng.uniform(0.6, 0.99, len(placed)), 2)
    return tuple(
        MatchEvent(
            id=f"ev-{n + 1:05d}",
            type=d.type,
            start_s=round(d.start_s, 3),
            end_s=round(d.start_s + d.duration_s, 3),
            period=p.id,
            team_side=d.team_side,
            confidence=float(c),
            x=None if d.x is None else round(d.x, 2),
            y=None if d.y is None else round(d.y, 2),
        )
        for n, ((d, p), c) in enumerate(zip(placed, confidences, strict=True))
    )


# ---------------------------------------------------------------------------------------------------
# Aggregates: momentum, physical metrics, match details, report
# ---------------------------------------------------------------------------------------------------


def _momentum(line: _Timeline, ball: np.ndarray) -> pd.DataFrame:
    """tanh of the last minute's mean ball advance towards the away goal: positive = home on top."""
    fps, length = line.recording.fps, line.recording.pitch.length_m
    advance = ball[:, 0] * line.home_dir
    cumulative = np.concatenate([[0.0], np.cumsum(advance)])
    window = max(1, int(60 * fps))
    times, values = [], []
    for period in line.recording.periods:
        grid = np.arange(period.start_s, period.end_s, MOMENTUM_STEP_S)
        idx = np.array([line.index_at(s) for s in grid], dtype=np.int64)
        lo = np.maximum(idx - window, line.first_index[period.id])
        mean = (cumulative[idx + 1] - cumulative[lo]) / (idx + 1 - lo)
        times.append(grid)
        values.append(np.tanh(mean / (length / 6)))
    return pd.DataFrame(
        {
            "timestamp_in_seconds": np.round(np.concatenate(times), 3),
            "momentum": np.round(np.concatenate(values), 3),
        }
    )


def _physical_metrics(
    match_people: tuple[Person, ...], speeds: np.ndarray, frame_period: np.ndarray, fps: float
) -> pd.DataFrame:
    """Per person and period, integrated from the same speeds the tracking file carries."""
    rows = []
    for period in np.unique(frame_period):
        period_speeds = speeds[frame_period == period]
        fast = period_speeds > SPRINT_MPS
        sprints = fast[0].astype(np.int64) + (fast[1:] & ~fast[:-1]).sum(axis=0)
        distance = period_speeds.sum(axis=0) / fps
        high = np.where(period_speeds > HIGH_INTENSITY_MPS, period_speeds, 0).sum(axis=0) / fps
        top = period_speeds.max(axis=0)
        for k, person in enumerate(match_people):
            rows.append(
                (
                    person.track_id,
                    person.team_side,
                    person.jersey_number,
                    int(period),
                    round(float(distance[k]), 1),
                    round(float(high[k]), 1),
                    int(sprints[k]),
                    round(float(top[k]), 2),
                )
            )
    frame = pd.DataFrame(rows, columns=PHYSICAL_METRICS_SCHEMA.names)
    frame["jersey_number"] = frame["jersey_number"].astype("Int64")
    return frame


def _match_details(
    rng: np.random.Generator,
    recording: RecordingMetadata,
    events: tuple[MatchEvent, ...],
    momentum: pd.DataFrame,
) -> pd.DataFrame:
    """Per period and team, then `all`; shots, corners, fouls and offsides are counts of the events."""
    rows: list[dict[str, Any]] = []
    for period in recording.periods:
        in_period = (momentum["timestamp_in_seconds"] >= period.start_s) & (
            momentum["timestamp_in_seconds"] < period.end_s
        )
        home_share = float(np.clip(50 + 20 * momentum.loc[in_period, "momentum"].mean(), 25, 75))
        minutes = (period.end_s - period.start_s) / 60
        for side, share in (("home", round(home_share, 1)), ("away", round(100 - round(home_share, 1), 1))):
            counted = [e for e in events if e.period == period.id]
            rows.append(
                _details_row(
                    str(period.id),
                    side,
                    share,
                    counted,
                    int(minutes * 11 * share / 100 * rng.uniform(0.9, 1.1)),
                    rng,
                )
            )
    rows += [_details_total(rows, side, recording) for side in SIDES[:2]]
    return pd.DataFrame(rows, columns=MATCH_DETAILS_COLUMNS)


def _details_row(
    period: str, side: str, possession: float, events: list[MatchEvent], passes: int, rng: np.random.Generator
) -> dict[str, Any]:
    shots = [e for e in events if e.type == "shot" and e.team_side == side]
    # On target = scored or saved; the save event belongs to the keeper's side, the goal to the shooter's.
    saved_against = sum(e.type == "save" for e in events if e.period == int(period) and e.team_side != side)
    return {
        "period": period,
        "team_side": side,
        "possession_pct": possession,
        "passes": passes,
        "pass_accuracy_pct": round(float(rng.uniform(72, 90)), 1),
        "shots": len(shots),
        "shots_on_target": sum(e.type == "goal" for e in events if e.team_side == side) + saved_against,
        "corners": sum(e.type == "corner" and e.team_side == side for e in events),
        "fouls": sum(e.type == "foul" and e.team_side == side for e in events),
        "offsides": sum(e.type == "offside" and e.team_side == side for e in events),
    }


def _details_total(rows: list[dict[str, Any]], side: str, recording: RecordingMetadata) -> dict[str, Any]:
    mine = [r for r in rows if r["team_side"] == side]
    weights = [p.end_s - p.start_s for p in recording.periods]
    passes = sum(r["passes"] for r in mine)
    completed = sum(r["passes"] * r["pass_accuracy_pct"] for r in mine)
    total = {
        key: sum(r[key] for r in mine) for key in ("shots", "shots_on_target", "corners", "fouls", "offsides")
    }
    return {
        "period": "all",
        "team_side": side,
        "possession_pct": round(
            sum(r["possession_pct"] * w for r, w in zip(mine, weights, strict=True)) / sum(weights), 1
        ),
        "passes": passes,
        "pass_accuracy_pct": round(completed / passes, 1) if passes else 0.0,
        **total,
    }


def match_report(match: SyntheticMatch) -> dict[str, Any]:
    """The match-report JSON: score from the goals, key moments for goals and cards."""
    rec, score = match.recording, match.score
    teams = {"home": rec.home_team or "Home", "away": rec.away_team or "Away"}
    moments = [
        {
            "time_s": s.time_s,
            "type": "goal",
            "team_side": s.team_side,
            "description": f"Goal for {teams[s.team_side]} by #{s.jersey_number}, xG {s.xg:.2f}",
        }
        for s in match.shots
        if s.outcome == "goal"
    ] + [
        {
            "time_s": e.start_s,
            "type": "card",
            "team_side": e.team_side,
            "description": f"Card for {teams[e.team_side]}",
        }
        for e in match.events
        if e.type == "card"
    ]
    return {
        "schema_version": "1",
        "recording_id": rec.recording_id,
        "score": score,
        "summary": f"{teams['home']} {score['home']}-{score['away']} {teams['away']}, "
        f"{len(match.shots)} shots in {len(rec.periods)} periods.",
        "key_moments": sorted(moments, key=lambda m: m["time_s"]),
    }


# ---------------------------------------------------------------------------------------------------
# Broadcast mode: what a following camera and a real EMA deliver of the same match
# ---------------------------------------------------------------------------------------------------

CAMERA_GAP_SHARE = (0.3, 0.5)  # share of frames without players: replays, close-ups, crowd shots
_CAMERA_GAP_S = (3.0, 25.0)
_VIEW_HALF_LENGTH_M = 30.0  # people within this distance (along the pitch) of the ball are in shot
_JERSEY_HIDDEN_SHARE = 0.25
_SIDE_UNKNOWN_SHARE = 0.03
BALL_OUT_OF_PLAY_M = 30.0  # how far beyond a line the ball goes (the stands, a mis-detection)
_BALL_OUT_EVERY_S = 120.0
_BALL_OUT_S = (2.0, 8.0)
_SUBSTITUTIONS_PER_SIDE = 3
_CARDS_OFF_THE_BALL_PER_90 = 1.0
_BROADCAST_STREAM = 7  # offset of the broadcast mode's random stream from the match seed


def _camera_on(rng: np.random.Generator, n_frames: int, fps: float) -> np.ndarray:
    """False for stretches of 3-25 s until 30-50 % of the frames (drawn per match) are off."""
    wanted = int(rng.uniform(*CAMERA_GAP_SHARE) * n_frames)
    on = np.ones(n_frames, dtype=bool)
    while (off := int((~on).sum())) < wanted:
        # The last gap is cut to what is missing: a short recording must not overshoot the share.
        length = min(int(rng.uniform(*_CAMERA_GAP_S) * fps), wanted - off)
        start = int(rng.integers(0, max(n_frames - length, 1)))
        on[start : start + length] = False
    return on


def _ball_out_of_play(rng: np.random.Generator, ball: np.ndarray, line: _Timeline) -> np.ndarray:
    """A copy of the ball with episodes of 2-8 s drifting up to 30 m beyond a touchline or goal line."""
    ball = ball.copy()
    fps, pitch = line.recording.fps, line.recording.pitch
    episodes = max(1, int(line.frames.size / fps / _BALL_OUT_EVERY_S))
    for start in sorted(rng.integers(0, line.frames.size, episodes)):
        length = int(rng.uniform(*_BALL_OUT_S) * fps)
        stop = min(int(start) + length, line.frames.size)
        beyond = rng.uniform(5.0, BALL_OUT_OF_PLAY_M) * np.linspace(0.0, 1.0, stop - int(start))
        axis, half = (1, pitch.width_m / 2) if rng.random() < 0.7 else (0, pitch.length_m / 2)
        side = 1.0 if ball[start, axis] >= 0 else -1.0
        ball[start:stop, axis] = side * (half + beyond)
        ball[start:stop, 2] = BALL_RADIUS_M
    return ball


def _broadcast_view(
    rng: np.random.Generator, positions: np.ndarray, ball: np.ndarray, camera_on: np.ndarray, pitch: Pitch
) -> BroadcastView:
    # The camera stays on the pitch when the ball leaves it: on the players near where it went out.
    aim = np.clip(ball[:, 0], -pitch.length_m / 2, pitch.length_m / 2)
    near_ball = np.abs(positions[:, :, 0] - aim[:, None]) <= _VIEW_HALF_LENGTH_M
    shape = positions.shape[:2]
    return BroadcastView(
        people_seen=near_ball & camera_on[:, None],
        jersey_hidden=rng.random(shape) < _JERSEY_HIDDEN_SHARE,
        side_unknown=rng.random(shape) < _SIDE_UNKNOWN_SHARE,
    )


def _broadcast_drafts(rng: np.random.Generator, line: _Timeline, drafts: list[_Draft]) -> list[_Draft]:
    """Events without a location (substitutions, cards off the ball) and a final whistle without a
    team, added to the match's own."""
    rec = line.recording
    second_half = rec.periods[-1]
    extra = [
        _Draft("substitution", float(t), 0.0, side, None, None)
        for side in SIDES[:2]
        for t in np.sort(rng.uniform(second_half.start_s, second_half.end_s - 2.0, _SUBSTITUTIONS_PER_SIDE))
    ]
    cards = max(1, _poisson_per_match(rng, _CARDS_OFF_THE_BALL_PER_90, rec.duration_s))
    extra += [
        _Draft("card", float(t), 0.0, str(rng.choice(SIDES[:2])), None, None)
        for t in rng.uniform(rec.periods[0].start_s + 1.0, rec.duration_s - 2.0, cards)
    ]
    final = max((d for d in drafts if d.type == "period-end"), key=lambda d: d.start_s)
    whistle = _Draft(final.type, final.start_s, final.duration_s, "unknown", None, None)
    return [whistle if d is final else d for d in drafts] + extra



# ---------------------------------------------------------------------------------------------------
# The match
# ---------------------------------------------------------------------------------------------------


def synthetic_match(recording: RecordingMetadata, *, broadcast: bool = False) -> SyntheticMatch:
    """The match for a recording: deterministic in its id (and its fps, duration, pitch, periods).

    `broadcast` gives it as a broadcast camera and a real EMA deliver it (see the module doc).
    """
    seed = recording_seed(recording.recording_id)
    rng = np.random.default_rng(seed)
    line = _Timeline(recording)
    t = line.times_s
    ramp, ramp_rate = _kick_off_ramp(line.since_start)
    cx, cvx = _wander(rng, t, 1, *zip(*_CENTRE_X, strict=True))
    cy, cvy = _wander(rng, t, 1, *zip(*_CENTRE_Y, strict=True))
    # The centre of play starts on the centre spot after each kick-off; the product rule keeps velocity exact.
    centre = (
        cx[:, 0] * ramp,
        cvx[:, 0] * ramp + cx[:, 0] * ramp_rate,
        cy[:, 0] * ramp,
        cvy[:, 0] * ramp + cy[:, 0] * ramp_rate,
    )
    match_people = _people(rng)
    positions, velocities = _track_people(rng, line, (ramp, ramp_rate), centre)
    speeds = np.hypot(velocities[:, :, 0], velocities[:, :, 1])
    ball, ball_seen = _track_ball(rng, t, ramp, centre, recording.fps)
    # What the tracking files show of the ball; events are picked from where play really is.
    tracked_ball, view = ball, None
    if broadcast:
        broadcast_rng = np.random.default_rng(seed + _BROADCAST_STREAM)
        camera_on = _camera_on(broadcast_rng, t.size, recording.fps)
        tracked_ball = _ball_out_of_play(broadcast_rng, ball, line)
        ball_seen = ball_seen & camera_on
        view = _broadcast_view(broadcast_rng, positions, tracked_ball, camera_on, recording.pitch)
    shots = _pick_shots(rng, line, ball, match_people, positions)
    drafts = _period_drafts(recording) + [d for s in shots for d in _shot_drafts(rng, line, s)]
    drafts += _foul_drafts(rng, line, ball) + _open_play_drafts(rng, line, ball)
    if broadcast:
        drafts = _broadcast_drafts(broadcast_rng, line, drafts)
    # Shots are picked clear of period ends, so none of them (or their goal) is dropped here.
    events = _finalise_events(rng, line, drafts)
    momentum = _momentum(line, ball)
    return SyntheticMatch(
        recording=recording,
        seed=seed,
        people=match_people,
        frames=line.frames,
        frame_period=line.frame_period,
        positions=positions,
        speeds=speeds,
        ball=tracked_ball,
        ball_seen=ball_seen,
        events=events,
        shots=tuple(shots),
        momentum=momentum,
        physical_metrics=_physical_metrics(match_people, speeds, line.frame_period, recording.fps),
        match_details=_match_details(rng, recording, events, momentum),
        broadcast=view,
    )


# ---------------------------------------------------------------------------------------------------
# Raw writers, in the contract's formats
# ---------------------------------------------------------------------------------------------------

_Sink = str | io.BufferedIOBase | io.BytesIO


def _pts(match: SyntheticMatch) -> np.ndarray:
    return np.round(match.frames * (PTS_PER_SECOND / match.recording.fps)).astype(np.int64)


def _write_csv(header: str, columns: dict[str, pa.Array | np.ndarray], sink: _Sink) -> None:
    # pyarrow quotes headers and strings; the contract's files have neither, so the header is ours and
    # quoting is off (no value contains a comma).
    table = pa.table(columns)
    if isinstance(sink, str):
        with open(sink, "wb") as handle:
            _write_csv(header, columns, handle)
        return
    sink.write((header + "\n").encode())
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False, quoting_style="none"))


def _player_tracking(match: SyntheticMatch, variant: str, sink: _Sink) -> None:
    n_frames, n_people = match.speeds.shape
    sides = pa.array(TRACKED_SIDES)
    side_codes = np.tile(np.array([SIDES.index(p.team_side) for p in match.people], dtype=np.int8), n_frames)
    jerseys = np.array([p.jersey_number or 0 for p in match.people], dtype=np.int16)
    no_jersey = np.tile(np.array([p.jersey_number is None for p in match.people]), n_frames)
    rng = np.random.default_rng(match.seed + 1)
    columns: dict[str, Any] = {}
    if variant == "v3":
        pts = _pts(match)
        columns["pts"] = np.repeat(pts, n_people)
        columns["timestamp_in_seconds"] = np.repeat(np.round(pts / PTS_PER_SECOND, 6), n_people)
        columns["period"] = np.repeat(match.frame_period, n_people)
    else:
        columns["frame_id"] = np.repeat(match.frames, n_people)
    columns["track_id"] = np.tile(np.array([p.track_id for p in match.people], dtype=np.int64), n_frames)
    view = match.broadcast
    if view is not None:
        side_codes = np.where(view.side_unknown.ravel(), TRACKED_SIDES.index("unknown"), side_codes)
        no_jersey = no_jersey | view.jersey_hidden.ravel()
    columns["team_side"] = pa.DictionaryArray.from_arrays(side_codes, sides)
    columns["jersey_number"] = pa.array(np.tile(jerseys, n_frames), mask=no_jersey)
    columns["x"] = np.round(match.positions[:, :, 0].ravel(), 2)
    columns["y"] = np.round(match.positions[:, :, 1].ravel(), 2)
    if variant == "v3":
        columns["speed_mps"] = np.round(match.speeds.ravel(), 2)
    columns["confidence"] = np.round(rng.uniform(0.75, 0.99, n_frames * n_people), 2)
    if view is not None:
        # Only the people the camera showed: rows of everyone else are not in the file.
        columns = _rows_where(columns, view.people_seen.ravel())
    _write_csv(_TRACKING_HEADERS[("player-tracking", variant)], columns, sink)


def _rows_where(columns: dict[str, Any], keep: np.ndarray) -> dict[str, Any]:
    return {
        name: values.filter(pa.array(keep)) if isinstance(values, pa.Array) else values[keep]
        for name, values in columns.items()
    }


def _ball_tracking(match: SyntheticMatch, variant: str, sink: _Sink) -> None:
    seen = match.ball_seen
    rng = np.random.default_rng(match.seed + 2)
    columns: dict[str, Any] = {}
    if variant == "v3":
        pts = _pts(match)[seen]
        columns["pts"] = pts
        columns["timestamp_in_seconds"] = np.round(pts / PTS_PER_SECOND, 6)
        columns["period"] = match.frame_period[seen]
    else:
        columns["frame_id"] = match.frames[seen]
    for axis, name in enumerate("xyz"):
        columns[name] = np.round(match.ball[seen, axis], 2)
    columns["confidence"] = np.round(rng.uniform(0.5, 0.99, int(seen.sum())), 2)
    _write_csv(_TRACKING_HEADERS[("ball-tracking", variant)], columns, sink)


def event_detection_document(match: SyntheticMatch, schema: str) -> dict[str, Any]:
    """The event-detection JSON in one of the four schema versions."""
    rec = match.recording
    broadcast = match.broadcast is not None
    if schema == "3":
        events = []
        for e in match.events:
            event: dict[str, Any] = {
                "id": e.id,
                "type": e.type,
                "start_s": e.start_s,
                "end_s": e.end_s,
                "period": e.period,
                "team_side": e.team_side,
                "confidence": e.confidence,
                "position": None if e.x is None else {"x": e.x, "y": e.y},
            }
            if broadcast and e.type == "substitution":
                del event["position"]  # real files leave it out as often as they write null
            events.append(event)
        return {"schema_version": "3", "recording_id": rec.recording_id, "events": events}
    v2_events = []
    for e in match.events:
        event = {"type": e.type, "frame": round(e.start_s * rec.fps), "team": e.team_side}
        if schema in ("2.1", "2.2"):
            event |= {"end_frame": round(e.end_s * rec.fps), "confidence": e.confidence}
        if schema == "2.2" and broadcast:
            if e.x is not None:  # an event without a location has no position
                event["position"] = {"x": e.x, "y": e.y}
        elif schema == "2.2":
            # The standard mode places period boundaries on the centre spot (bytes kept stable).
            event["position"] = {"x": e.x or 0.0, "y": e.y or 0.0}
        v2_events.append(event)
    return {"schema_version": schema, "recording_id": rec.recording_id, "fps": rec.fps, "events": v2_events}


def shot_details_document(match: SyntheticMatch) -> dict[str, Any]:
    shots = [
        {
            "id": s.id,
            "time_s": s.time_s,
            "period": s.period,
            "team_side": s.team_side,
            "jersey_number": s.jersey_number,
            "position": {"x": s.x, "y": s.y},
            "xg": s.xg,
            "outcome": s.outcome,
            "body_part": s.body_part,
        }
        for s in match.shots
    ]
    return {"schema_version": "1", "recording_id": match.recording.recording_id, "shots": shots}


def _write_bytes(data: bytes, sink: _Sink) -> None:
    if isinstance(sink, str):
        Path(sink).write_bytes(data)
    else:
        sink.write(data)


def _json_writer(
    document: Callable[[SyntheticMatch], dict[str, Any]],
) -> Callable[[SyntheticMatch, str, _Sink], None]:
    def write(match: SyntheticMatch, _variant: str, sink: _Sink) -> None:
        _write_bytes(json.dumps(document(match), indent=1).encode(), sink)

    return write


def _event_detection(match: SyntheticMatch, variant: str, sink: _Sink) -> None:
    _write_bytes(json.dumps(event_detection_document(match, variant), indent=1).encode(), sink)


def _match_momentum(match: SyntheticMatch, _variant: str, sink: _Sink) -> None:
    _write_csv(
        "timestamp_in_seconds,momentum", {c: match.momentum[c].to_numpy() for c in match.momentum}, sink
    )


def _match_details_csv(match: SyntheticMatch, _variant: str, sink: _Sink) -> None:
    columns = {c: match.match_details[c].to_numpy() for c in MATCH_DETAILS_COLUMNS}
    columns["period"] = pa.array(match.match_details["period"].astype(str).tolist(), pa.string())
    columns["team_side"] = pa.array(match.match_details["team_side"].astype(str).tolist(), pa.string())
    _write_csv(",".join(MATCH_DETAILS_COLUMNS), columns, sink)


def _physical_metrics_parquet(match: SyntheticMatch, _variant: str, sink: _Sink) -> None:
    table = pa.Table.from_pandas(match.physical_metrics, schema=PHYSICAL_METRICS_SCHEMA, preserve_index=False)
    pq.write_table(table, sink)


# raw output name -> (writer, allowed variants, default variant or None = per recording)
_WRITERS: dict[str, tuple[Callable[[SyntheticMatch, str, _Sink], None], tuple[str, ...], str | None]] = {
    "event-detection": (_event_detection, EVENT_SCHEMAS, None),
    "player-tracking": (_player_tracking, TRACKING_VARIANTS, "v3"),
    "ball-tracking": (_ball_tracking, TRACKING_VARIANTS, "v3"),
    "match-momentum": (_match_momentum, ("csv",), "csv"),
    "physical-metrics": (_physical_metrics_parquet, ("parquet",), "parquet"),
    "match-details": (_match_details_csv, ("csv",), "csv"),
    "shot-details": (_json_writer(shot_details_document), ("1",), "1"),
    "match-report": (_json_writer(match_report), ("1",), "1"),
}


def _resolve(match: SyntheticMatch, raw_name: str, variant: str | None) -> tuple[Callable[..., None], str]:
    if raw_name not in _WRITERS:
        raise KeyError(f"unknown raw output {raw_name!r}; known: {', '.join(_WRITERS)}")
    writer, allowed, default = _WRITERS[raw_name]
    chosen = variant or default or default_event_schema(match.recording.recording_id)
    if chosen not in allowed:
        raise ValueError(f"{raw_name}: variant {chosen!r} not one of {', '.join(allowed)}")
    return writer, chosen


def write_raw_output(match: SyntheticMatch, raw_name: str, dest: Path, *, variant: str | None = None) -> None:
    """Write one raw output file as EMA would upload it (variant: tracking "v3"/"v2", event schema)."""
    writer, chosen = _resolve(match, raw_name, variant)
    dest.parent.mkdir(parents=True, exist_ok=True)
    writer(match, chosen, str(dest))


def raw_output_bytes(match: SyntheticMatch, raw_name: str, *, variant: str | None = None) -> bytes:
    """The same file in memory, for uploads."""
    writer, chosen = _resolve(match, raw_name, variant)
    buffer = io.BytesIO()
    writer(match, chosen, buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------
# Malformed files, for the simulator's malformed-output knob
# ---------------------------------------------------------------------------------------------------


def malformed_output_bytes(
    raw_name: str, recording_id: str = "rec-malformed", *, glitch: int | None = None
) -> bytes:
    """A plausibly broken file: right header, then a non-numeric coordinate and a truncated row (CSV),
    a required field missing (JSON), or a parquet file without its metric columns.

    The same bytes every time (a systematic fault of EMA's), unless `glitch` numbers a one-off fault:
    then the file is as broken but not byte-identical, as a random glitch would not be."""
    fmt = raw_output(raw_name).file_format
    mark = "" if glitch is None else f"-{glitch}"
    if fmt == "csv":
        header = _TRACKING_HEADERS.get((raw_name, "v3")) or (
            "timestamp_in_seconds,momentum"
            if raw_name == "match-momentum"
            else ",".join(MATCH_DETAILS_COLUMNS)
        )
        width = header.count(",") + 1
        good = ",".join(["1"] * width)
        bad = ",".join(["1"] * (width - 2) + [f"not-a-number{mark}", "1"])
        return f"{header}\n{good}\n{bad}\n{good[: len(good) // 2]}".encode()
    if fmt == "json":
        # Schema version 2 without its "events": the reader must say what is missing, not crash.
        required = {"event-detection": "events", "shot-details": "shots", "match-report": "score"}[raw_name]
        document = {
            "schema_version": "2" if raw_name == "event-detection" else "1",
            "recording_id": recording_id,
        }
        pad = "" if glitch is None else " " * (glitch + 1)  # trailing blanks: as broken, other bytes
        return (json.dumps({k: v for k, v in document.items() if k != required}) + pad).encode()
    buffer = io.BytesIO()
    sides = ["home", f"sideways{mark}"]
    pq.write_table(pa.table({"track_id": [1, 2], "team_side": sides}), buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------
# CLI, for benchmarks and fixtures
# ---------------------------------------------------------------------------------------------------


def write_all_raw_outputs(
    match: SyntheticMatch, out_dir: Path, variants: dict[str, str] | None = None, *, attempt: int = 1
) -> list[Path]:
    """Every raw output under out_dir in the contract's layout
    raw/{raw_name}/{recording_id}/attempt-{n}.{ext}, as attempt `attempt` of each job uploads it."""
    written = []
    for raw in raw_outputs():
        dest = out_dir / raw.key(match.recording.recording_id, attempt)
        write_raw_output(match, raw.name, dest, variant=(variants or {}).get(raw.name))
        written.append(dest)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ema_simulator.synthetic", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--recording-id", required=True)
    parser.add_argument("--duration-s", type=float, default=5760.0)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--pitch-length-m", type=float, default=105.0)
    parser.add_argument("--pitch-width-m", type=float, default=68.0)
    parser.add_argument("--tracking-variant", choices=TRACKING_VARIANTS, default="v3")
    parser.add_argument(
        "--event-schema", choices=EVENT_SCHEMAS, default=None, help="default: per recording id"
    )
    parser.add_argument(
        "--broadcast", action="store_true", help="camera gaps, ball out of play, events without position"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    pitch = Pitch(args.pitch_length_m, args.pitch_width_m)
    recording = two_half_recording(args.recording_id, args.fps, args.duration_s, pitch)
    match = synthetic_match(recording, broadcast=args.broadcast)
    variants = {"player-tracking": args.tracking_variant, "ball-tracking": args.tracking_variant}
    if args.event_schema:
        variants["event-detection"] = args.event_schema
    for path in write_all_raw_outputs(match, args.out, variants):
        print(f"{path}\t{path.stat().st_size}")


if __name__ == "__main__":
    main()
