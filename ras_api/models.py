"""Request and response models: the OpenAPI document is the contract clients build on."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ras_core.callbacks import EmaCallback
from ras_core.text import SAFE_TEXT_PATTERN, Label

__all__ = ["EmaCallback"]  # the callback model is the core's: one model from the API to the inbox

# The longest recording the API registers (24 h): bounds every time parameter in the OpenAPI document.
MAX_DURATION_S = 24 * 3600.0
MAX_PERIODS = 16
MAX_VIDEO_URIS = 32


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
    reason_class: str | None = Field(
        default=None, description="failure class the retry policy acted on (docs/internals.md, Retries)"
    )
    detail: dict[str, Any] | None = Field(
        default=None, description="what the change was about: file and sha256, attempts read, not_before"
    )


class DeadLetterModel(BaseModel):
    """An inbox or outbox row of this recording that could not be applied or published."""

    source: Literal["callback_inbox", "outbox"]
    row_id: int = Field(description="the inbox id (the callback's 202 answer) or the outbox row")
    state: Literal["retrying", "quarantined", "redriven"] = Field(
        description="quarantined rows wait for `ras redrive`; retrying ones failed fewer times than the bound"
    )
    failures: int
    reason: str = Field(description="the last failure")
    first_failed_at: datetime
    last_failed_at: datetime
    quarantined_at: datetime | None
    redriven_at: datetime | None


class ChangeLog(BaseModel):
    recording_id: str
    entries: list[ChangeLogEntryModel]
    dead_letters: list[DeadLetterModel] = Field(
        default_factory=list, description="callbacks and events of this recording that failed to apply"
    )


class JobsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_types: list[Annotated[str, Field(max_length=64, pattern=SAFE_TEXT_PATTERN)]] | None = Field(
        default=None, max_length=32, description="job types to run; all when omitted"
    )
    force: bool = Field(default=False, description="re-run completed or failed jobs (a new attempt)")


class JobsAccepted(BaseModel):
    recording_id: str
    run_id: str = Field(
        description="the `validate_recordings` run that validates this recording and triggers its EMA "
        "jobs; recordings started while it waits in Dagster's queue share it"
    )
    jobs: list[JobStatusModel]


class JobsCancelled(BaseModel):
    recording_id: str
    cancelled: list[str]
    terminated_runs: list[str]


# Request models state their bounds, so the OpenAPI document tells clients and no number or string
# outside them reaches the registry (`ras_core.recording` still checks the contract's rules).
class PitchModel(BaseModel):
    length_m: float = Field(gt=0, le=1000, allow_inf_nan=False)
    width_m: float = Field(gt=0, le=1000, allow_inf_nan=False)


class PeriodModel(BaseModel):
    id: int = Field(ge=1, le=99)
    start_s: float = Field(ge=0, le=MAX_DURATION_S, allow_inf_nan=False)
    end_s: float = Field(ge=0, le=MAX_DURATION_S, allow_inf_nan=False)


class RecordingModel(BaseModel):
    recording_id: str | None = Field(default=None, max_length=64)
    fps: float = Field(gt=0, le=240, allow_inf_nan=False)
    duration_s: float = Field(gt=0, le=MAX_DURATION_S, allow_inf_nan=False)
    pitch: PitchModel
    video_uris: list[Annotated[Label, Field(min_length=1, max_length=2048)]] = Field(
        min_length=1, max_length=MAX_VIDEO_URIS
    )
    periods: list[PeriodModel] = Field(max_length=MAX_PERIODS)
    home_team: Annotated[Label, Field(max_length=200)] | None = None
    away_team: Annotated[Label, Field(max_length=200)] | None = None


class RecordingRegistered(BaseModel):
    recording_id: str
    created: bool
