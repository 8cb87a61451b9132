"""The one catalogue of job types.

Dispatch, the Dagster raw and processed assets, the importers, the EMA requests, the delivery
endpoints and the domain events are all generated from `JOB_TYPES` and `PROCESSED_OUTPUTS`. Adding a
job type is one `JobType` entry here (plus its reader and transform if it brings a new format).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Executor(StrEnum):
    """Who produces a job's raw output."""

    EMA_V2 = "ema-v2"
    EMA_V3 = "ema-v3"
    # Computed by the platform itself from processed data; no EMA call.
    PLATFORM = "platform"


@dataclass(frozen=True)
class RawOutput:
    """One file EMA uploads for a job; write-once under raw/."""

    name: str  # contract name, e.g. "match-momentum"
    file_format: str  # "csv" | "json" | "parquet"
    # The name EMA uses for it in a request (contracts.md: event detection uploads "events").
    ema_name: str | None = None

    @property
    def request_name(self) -> str:
        return self.ema_name or self.name

    @property
    def asset_name(self) -> str:
        return self.name.replace("-", "_")

    def key(self, recording_id: str) -> str:
        return f"raw/{self.name}/{recording_id}.{self.file_format}"


@dataclass(frozen=True)
class ProcessedOutput:
    """One derived, versioned output under processed/, rebuilt from raw at any time."""

    name: str  # asset name, e.g. "player_tracking"
    file_format: str  # "parquet" | "json"
    raw_inputs: tuple[str, ...] = ()  # RawOutput names read
    processed_inputs: tuple[str, ...] = ()  # ProcessedOutput names read
    endpoint: str | None = None  # delivery path under /recordings/{id}/
    # Blocking checks (ras_core.checks), in the order they run; schema_valid first.
    checks: tuple[str, ...] = ("schema_valid",)

    def key(self, recording_id: str) -> str:
        return f"processed/{self.name}/{recording_id}.{self.file_format}"


@dataclass(frozen=True)
class JobType:
    name: str  # contract name, e.g. "player-tracking"
    executor: Executor
    raw_outputs: tuple[RawOutput, ...]
    processed_outputs: tuple[str, ...]  # completing all of these completes the job
    depends_on: tuple[str, ...] = ()  # job types that must be completed first
    domain_event: str | None = None  # DetailType published once the job is completed

    @property
    def is_ema(self) -> bool:
        return self.executor is not Executor.PLATFORM

    @property
    def ema_api_version(self) -> str:
        return {Executor.EMA_V2: "v2", Executor.EMA_V3: "v3"}[self.executor]


CHECK_NAMES = ("schema_valid", "time_monotonic", "frame_coverage", "coordinates_in_band")

PROCESSED_OUTPUTS: tuple[ProcessedOutput, ...] = (
    ProcessedOutput(
        "events",
        "json",
        raw_inputs=("event-detection",),
        endpoint="events",
        checks=("schema_valid", "time_monotonic", "coordinates_in_band"),
    ),
    ProcessedOutput("ball_tracking", "parquet", raw_inputs=("ball-tracking",), checks=CHECK_NAMES),
    ProcessedOutput(
        "player_tracking",
        "parquet",
        raw_inputs=("player-tracking", "ball-tracking"),
        endpoint="player-tracking",
        checks=CHECK_NAMES,
    ),
    ProcessedOutput(
        "match_momentum",
        "json",
        raw_inputs=("match-momentum",),
        endpoint="match-momentum",
        checks=("schema_valid", "time_monotonic"),
    ),
    ProcessedOutput("physical_metrics", "parquet", raw_inputs=("physical-metrics",)),
    ProcessedOutput("match_details", "json", raw_inputs=("match-details",), endpoint="match-details"),
    ProcessedOutput(
        "shot_details",
        "json",
        raw_inputs=("shot-details",),
        endpoint="shot-details",
        checks=("schema_valid", "coordinates_in_band"),
    ),
    ProcessedOutput("match_report", "json", raw_inputs=("match-report",), endpoint="match-report"),
    ProcessedOutput("training_clips", "json", processed_inputs=("shot_details",)),
)

_INDEPENDENT = ("event-detection", "player-tracking", "ball-tracking")

JOB_TYPES: tuple[JobType, ...] = (
    JobType(
        "event-detection",
        Executor.EMA_V2,
        (RawOutput("event-detection", "json", ema_name="events"),),
        ("events",),
        domain_event="EventDetectionProcessedV1",
    ),
    JobType(
        "player-tracking",
        Executor.EMA_V3,
        (
            RawOutput("player-tracking", "csv"),
            RawOutput("match-momentum", "csv"),
            RawOutput("physical-metrics", "parquet"),
        ),
        ("player_tracking", "match_momentum", "physical_metrics"),
    ),
    JobType("ball-tracking", Executor.EMA_V3, (RawOutput("ball-tracking", "csv"),), ("ball_tracking",)),
    JobType(
        "match-details",
        Executor.EMA_V2,
        (RawOutput("match-details", "csv"),),
        ("match_details",),
        depends_on=_INDEPENDENT,
    ),
    JobType(
        "shot-details",
        Executor.EMA_V2,
        (RawOutput("shot-details", "json"),),
        ("shot_details",),
        depends_on=_INDEPENDENT,
        domain_event="ShotDetailsProcessedV1",
    ),
    JobType(
        "match-report",
        Executor.EMA_V2,
        (RawOutput("match-report", "json"),),
        ("match_report",),
        depends_on=_INDEPENDENT,
        domain_event="MatchReportProcessedV1",
    ),
    # Clip windows around every shot, cut by the media service; computed here, not by EMA.
    JobType(
        "training-clips",
        Executor.PLATFORM,
        (),
        ("training_clips",),
        depends_on=("shot-details",),
    ),
)

ALL_PROCESSED_EVENT = "RecordingAnalysisProcessedV1"

_JOBS_BY_NAME = {job.name: job for job in JOB_TYPES}
_PROCESSED_BY_NAME = {out.name: out for out in PROCESSED_OUTPUTS}
_RAW_BY_NAME = {raw.name: raw for job in JOB_TYPES for raw in job.raw_outputs}


def job_type(name: str) -> JobType:
    try:
        return _JOBS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown job type {name!r}; known: {', '.join(job_type_names())}") from None


def job_type_names() -> tuple[str, ...]:
    return tuple(_JOBS_BY_NAME)


def processed_output(name: str) -> ProcessedOutput:
    return _PROCESSED_BY_NAME[name]


def raw_output(name: str) -> RawOutput:
    return _RAW_BY_NAME[name]


def raw_outputs() -> tuple[RawOutput, ...]:
    return tuple(_RAW_BY_NAME.values())


def job_of_raw(raw_name: str) -> JobType:
    return next(job for job in JOB_TYPES if any(r.name == raw_name for r in job.raw_outputs))


def job_of_processed(processed_name: str) -> JobType:
    return next(job for job in JOB_TYPES if processed_name in job.processed_outputs)


def processed_by_endpoint(endpoint: str) -> ProcessedOutput:
    return next(out for out in PROCESSED_OUTPUTS if out.endpoint == endpoint)


def ema_upstream_inputs(job: JobType) -> dict[str, ProcessedOutput]:
    """Processed outputs a dependent job reads, keyed by the name EMA knows them under.

    `upstream` in the v2 request holds read URLs of these (contracts.md).
    """
    return {
        name.replace("_", "-"): processed_output(name)
        for upstream in job.depends_on
        for name in job_type(upstream).processed_outputs
    }


def processed_inputs_ready(out: ProcessedOutput, materialized_raw: Iterable[str]) -> bool:
    return set(out.raw_inputs) <= set(materialized_raw)


def _check_catalogue() -> None:
    for job in JOB_TYPES:
        for dep in job.depends_on:
            assert dep in _JOBS_BY_NAME, f"{job.name} depends on unknown {dep}"
        for name in job.processed_outputs:
            assert name in _PROCESSED_BY_NAME, f"{job.name} completes unknown output {name}"
    for out in PROCESSED_OUTPUTS:
        for raw in out.raw_inputs:
            assert raw in _RAW_BY_NAME, f"{out.name} reads unknown raw {raw}"
        assert sum(out.name in job.processed_outputs for job in JOB_TYPES) == 1, out.name


_check_catalogue()
