"""Response (and request) models of the delivery and file endpoints: the OpenAPI document is the contract.

Processed documents are delivered in their processed shape; these models declare that shape. The
`recording_id` of a response is always the one in the path (a duplicated recording keeps the
source's processed bytes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ras_core.ids import RECORDING_ID_PATTERN

TeamSide = Literal["home", "away"]
TrackingSide = Literal["home", "away", "referee", "unknown"]


class Point(BaseModel):
    x: float
    y: float


class Pitch(BaseModel):
    length_m: float
    width_m: float


class CoordinateSystem(BaseModel):
    name: str
    origin: str
    x: str
    y: str
    units: str
    ball_z_units: str
    pitch: Pitch


class SourceFile(BaseModel):
    schema_version: str
    file: str


class Processed(BaseModel):
    """What every processed output carries: its recording, coordinate system, pitch and source."""

    recording_id: str
    coordinate_system: CoordinateSystem
    pitch: Pitch
    source: SourceFile


# --- player tracking ------------------------------------------------------------------------------


class Ball(BaseModel):
    x: float
    y: float
    z: float | None = Field(description="height in metres")


class TrackedPlayer(BaseModel):
    track_id: int
    team_side: str
    jersey_number: int | None
    x: float
    y: float
    speed_mps: float | None


class TrackingFrame(BaseModel):
    frame: int
    t: float
    period: int
    ball: Ball | None = Field(description="null when the ball was not seen in this frame")
    players: list[TrackedPlayer]


class PlayerTracking(BaseModel):
    recording_id: str
    coordinate_system: CoordinateSystem
    pitch: Pitch
    fps: float
    start_s: float
    end_s: float
    frames: list[TrackingFrame]


class TrackingFrameColumns(BaseModel):
    """One entry per frame, column by column."""

    frame: list[int]
    t: list[float]
    period: list[int]
    ball_x: list[float | None] = Field(description="null when the ball was not seen in this frame")
    ball_y: list[float | None]
    ball_z: list[float | None] = Field(description="height in metres")


class TrackedPlayerColumns(BaseModel):
    """One entry per player in a frame, column by column; `frame` says which frame."""

    frame: list[int]
    track_id: list[int]
    team_side: list[str]
    jersey_number: list[int | None]
    x: list[float]
    y: list[float]
    speed_mps: list[float | None]


class PlayerTrackingColumns(BaseModel):
    """`application/vnd.ras.columnar+json`: the frames of `PlayerTracking` as two flat tables."""

    recording_id: str
    coordinate_system: CoordinateSystem
    pitch: Pitch
    fps: float
    start_s: float
    end_s: float
    frames: TrackingFrameColumns
    players: TrackedPlayerColumns


class JerseyShare(BaseModel):
    jersey_number: int
    share: float = Field(description="share of the period's frames this number appears in, 0..1")


class JerseyNumbersOfSide(BaseModel):
    team_side: str
    period: int
    frames: int = Field(description="frames of the period with any tracked person")
    jersey_numbers: list[JerseyShare]


class JerseyNumbers(BaseModel):
    recording_id: str
    sides: list[JerseyNumbersOfSide]


# --- player moments -------------------------------------------------------------------------------


class ShotMoment(BaseModel):
    id: str
    time_s: float
    period: int
    xg: float
    outcome: str
    body_part: str
    position: Point


class SpeedMoment(BaseModel):
    t: float
    period: int
    speed_mps: float


class PlayerMomentsOfPlayer(BaseModel):
    team_side: TeamSide
    jersey_number: int
    shots: list[ShotMoment]
    goals: list[ShotMoment]
    top_speed_moments: list[SpeedMoment]


class PlayerMoments(BaseModel):
    recording_id: str
    top_speed_separation_s: float
    players: list[PlayerMomentsOfPlayer]


# --- match documents ------------------------------------------------------------------------------


class MomentumPoint(BaseModel):
    t: float
    momentum: float = Field(description="-1..1, positive = home on top")


class MatchMomentum(Processed):
    timeline: list[MomentumPoint]


class TeamStats(BaseModel):
    possession_pct: float
    passes: float
    pass_accuracy_pct: float
    shots: float
    shots_on_target: float
    corners: float
    fouls: float
    offsides: float


class TeamTotals(BaseModel):
    home: TeamStats
    away: TeamStats


class PeriodStats(BaseModel):
    period: int
    home: TeamStats
    away: TeamStats


class MatchDetails(Processed):
    teams: TeamTotals
    periods: list[PeriodStats]


class AttackingMoment(BaseModel):
    team_side: TeamSide
    period: int
    start_s: float
    end_s: float
    event_count: int
    types: list[str]
    event_ids: list[str]
    has_shot: bool
    has_goal: bool


class AttackingMoments(BaseModel):
    recording_id: str
    team: TeamSide | None
    chain_gap_s: float
    moments: list[AttackingMoment]


class Event(BaseModel):
    id: str
    type: str
    start_s: float
    end_s: float
    period: int
    team_side: str | None
    confidence: float | None
    position: Point | None


class Events(Processed):
    events: list[Event]


class Shot(BaseModel):
    id: str
    time_s: float
    period: int
    team_side: str
    jersey_number: int | None
    position: Point
    xg: float
    outcome: str
    body_part: str


class ShotDetails(Processed):
    shots: list[Shot]


class Score(BaseModel):
    home: int
    away: int


class KeyMoment(BaseModel):
    time_s: float
    type: str
    team_side: str | None
    description: str


class MatchReport(Processed):
    score: Score
    summary: str
    key_moments: list[KeyMoment]


# --- files ----------------------------------------------------------------------------------------


class UploadUrl(BaseModel):
    name: str = Field(description="raw output name, as in EMA's request")
    format: str
    key: str = Field(description="raw/{job_type}/{recording_id}/attempt-{n}.{ext}: one key per attempt")
    url: str = Field(description="presigned PUT URL")
    attempt: int = Field(description="the job's current attempt, whose key this is")


class UploadUrls(BaseModel):
    recording_id: str
    job_type: str
    expires_at: datetime
    uploads: list[UploadUrl]


class RawFile(BaseModel):
    job_type: str
    name: str
    key: str
    size_bytes: int
    etag: str
    url: str = Field(description="presigned GET URL")
    attempt: int = Field(description="the job attempt that uploaded this file (raw files are per attempt)")


class RawFiles(BaseModel):
    recording_id: str
    expires_at: datetime
    files: list[RawFile]


class DuplicateRequest(BaseModel):
    target_recording_id: str = Field(pattern=RECORDING_ID_PATTERN, max_length=64)
    force: bool = Field(default=False, description="overwrite a target that already has data")


class Duplicated(BaseModel):
    source_recording_id: str
    target_recording_id: str
    copied: list[str] = Field(description="object keys written under the target")
    deleted: list[str] = Field(description="target objects removed because the source has none (force)")
