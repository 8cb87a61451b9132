"""EMA v2 and v3 trigger bodies (contracts.md); pydantic names the failing field in a 422."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator, model_validator

from ras_core.catalogue import JOB_TYPES, Executor, job_type
from ras_core.ids import RECORDING_ID_PATTERN

V2_KINDS = tuple(job.name for job in JOB_TYPES if job.executor is Executor.EMA_V2)
V3_KINDS = tuple(job.name for job in JOB_TYPES if job.executor is Executor.EMA_V3)


def result_raw_name(kind: str, result_name: str) -> str | None:
    """The raw output a result name stands for: itself, or a job's only output under any name.

    The contract's v2 example uploads event-detection under "events", so single-output jobs accept any.
    """
    raw_names = [raw.name for raw in job_type(kind).raw_outputs]
    if result_name in raw_names:
        return result_name
    return raw_names[0] if len(raw_names) == 1 else None


def _check_kind(kind: str, allowed: tuple[str, ...], field: str) -> str:
    if kind not in allowed:
        raise ValueError(f"{field} must be one of {', '.join(allowed)}")
    return kind


class V2Input(BaseModel):
    video_uris: list[str] = Field(min_length=1)
    fps: float = Field(gt=0, le=240)
    duration_s: float = Field(gt=0)
    upstream: dict[str, str] | None = None


class V2Output(BaseModel):
    upload_urls: dict[str, str] = Field(min_length=1)


class V2JobRequest(BaseModel):
    job_kind: str
    recording_id: str = Field(pattern=RECORDING_ID_PATTERN)
    input: V2Input
    output: V2Output
    callback_url: str = Field(min_length=1)

    @field_validator("job_kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        return _check_kind(kind, V2_KINDS, "job_kind")

    @model_validator(mode="after")
    def _consistent(self) -> V2JobRequest:
        if job_type(self.job_kind).depends_on and not self.input.upstream:
            raise ValueError(f"input.upstream is required for the dependent job {self.job_kind}")
        for name in self.output.upload_urls:
            if result_raw_name(self.job_kind, name) is None:
                raise ValueError(f"output.upload_urls: {name!r} is not an output of {self.job_kind}")
        return self

    def uploads(self) -> dict[str, str]:
        return {result_raw_name(self.job_kind, n) or n: url for n, url in self.output.upload_urls.items()}


class V3Pitch(BaseModel):
    length_m: float = Field(gt=0)
    width_m: float = Field(gt=0)


class V3Recording(BaseModel):
    id: str = Field(pattern=RECORDING_ID_PATTERN)
    video_uris: list[str] = Field(min_length=1)
    fps: float = Field(gt=0, le=240)
    duration_s: float = Field(gt=0)
    pitch: V3Pitch


class V3Result(BaseModel):
    name: str
    format: str = Field(pattern="^(csv|json|parquet)$")
    upload_url: str = Field(min_length=1)


class V3Callback(BaseModel):
    url: str = Field(min_length=1)


class V3JobRequest(BaseModel):
    kind: str
    recording: V3Recording
    results: list[V3Result] = Field(min_length=1)
    callback: V3Callback

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        return _check_kind(kind, V3_KINDS, "kind")

    @model_validator(mode="after")
    def _consistent(self) -> V3JobRequest:
        for i, result in enumerate(self.results):
            if result_raw_name(self.kind, result.name) is None:
                raise ValueError(f"results[{i}].name: {result.name!r} is not an output of {self.kind}")
        return self

    def uploads(self) -> dict[str, str]:
        return {result_raw_name(self.kind, r.name) or r.name: r.upload_url for r in self.results}
