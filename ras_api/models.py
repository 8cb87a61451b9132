"""Request and response models: the OpenAPI document is the contract clients build on."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EmaJobState = Literal["scheduled", "starting", "running", "succeeded", "failed"]


class EmaCallback(BaseModel):
    """EMA's callback body (contracts.md); unknown extra fields are kept in the inbox."""

    model_config = ConfigDict(extra="allow")
    job_id: str = Field(min_length=1, max_length=200)
    job_kind: str = Field(min_length=1, max_length=64)
    job_state: EmaJobState
    job_exit_code: int | None = None
    job_reason: str | None = Field(default=None, max_length=4000)
    emitted_at: datetime


class CallbackAccepted(BaseModel):
    inbox_id: int
    duplicate: bool


class JobStatusModel(BaseModel):
    job_type: str
    state: str
    attempt: int
    ema_job_id: str | None
    updated_at: datetime
    reason: str | None


class QualityCheckModel(BaseModel):
    check: str
    severity: Literal["quality"]
    passed: bool = Field(description="false: a warning; the data is served all the same")
    description: str
    figures: dict[str, float | int | str] = Field(description="the measured figures and the threshold")


class OutputQualityModel(BaseModel):
    output: str = Field(description="processed output, e.g. player_tracking")
    job_type: str
    attempt: int = Field(description="the job attempt whose import measured these figures")
    measured_at: datetime
    warnings: list[str] = Field(description="the checks below their threshold")
    checks: list[QualityCheckModel]


class Analytics(BaseModel):
    recording_id: str
    overall_state: str
    jobs: list[JobStatusModel]
    quality: list[OutputQualityModel] = Field(
        default_factory=list,
        description="Data-quality figures of the processed outputs being served (frame coverage, "
        "positions off the pitch, players per side, jersey coverage), as their latest import "
        "measured them. Quality never fails a job: a check below its threshold (RAS_QUALITY_*) "
        "is a warning.",
    )


class ChangeLogEntryModel(BaseModel):
    version: int
    job_type: str
    from_state: str | None
    to_state: str
    attempt: int
    ema_job_id: str | None
    source: str
    outcome: str
    reason: str | None
    at: datetime


class ChangeLog(BaseModel):
    recording_id: str
    entries: list[ChangeLogEntryModel]


class JobsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_types: list[str] | None = Field(default=None, description="job types to run; all when omitted")
    force: bool = Field(default=False, description="re-run completed or failed jobs (a new attempt)")


class JobsAccepted(BaseModel):
    recording_id: str
    run_id: str
    jobs: list[JobStatusModel]


class JobsCancelled(BaseModel):
    recording_id: str
    cancelled: list[str]
    terminated_runs: list[str]


class PitchModel(BaseModel):
    length_m: float
    width_m: float


class PeriodModel(BaseModel):
    id: int
    start_s: float
    end_s: float


class RecordingModel(BaseModel):
    recording_id: str | None = None
    fps: float
    duration_s: float
    pitch: PitchModel
    video_uris: list[str]
    periods: list[PeriodModel]
    home_team: str | None = None
    away_team: str | None = None


class RecordingRegistered(BaseModel):
    recording_id: str
    created: bool
