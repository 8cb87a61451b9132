"""The one catalogue of job types.

Dispatch, the Dagster raw and processed assets (their descriptions and checks), the importers, the
EMA requests, the delivery endpoints and the domain events are all generated from `JOB_TYPES` and
`PROCESSED_OUTPUTS`. Adding a job type is one `JobType` entry and one `ProcessedOutput` entry per
output here (plus its importer, and its reader and transform if it brings a new format); `Catalogue`
refuses an entry that lacks something the platform generates from it, naming what is missing.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any


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

    def key(self, recording_id: str, attempt: int) -> str:
        """contracts.md: each attempt of a job uploads to a key of its own, written once."""
        return f"{self.prefix(recording_id)}attempt-{attempt}.{self.file_format}"

    def prefix(self, recording_id: str) -> str:
        return f"raw/{self.name}/{recording_id}/"


@dataclass(frozen=True)
class ProcessedOutput:
    """One derived, versioned output under processed/, rebuilt from raw at any time."""

    name: str  # asset name, e.g. "player_tracking"
    file_format: str  # "parquet" | "json"
    raw_inputs: tuple[str, ...] = ()  # RawOutput names read
    processed_inputs: tuple[str, ...] = ()  # ProcessedOutput names read
    endpoint: str | None = None  # delivery path under /recordings/{id}/, linked from its job's event
    # Checks (ras_core.checks) in the order they run: schema_valid first, then the other contract
    # checks, then the quality checks. `CHECKS` below says which is which.
    checks: tuple[str, ...] = ("schema_valid",)
    # What the output holds, for people: the asset's description in the Dagster UI.
    description: str = ""
    # "module:function" building it from its inputs (`ras_core.importers`); loaded only by import runs,
    # so that naming it here does not make every process import polars and pyarrow.
    importer: str = ""
    # Further delivery paths served from this output (and the outputs it needs), e.g. sub-resources.
    more_endpoints: tuple[str, ...] = ()
    # Cut from the recording's video by an asset of its own (`ras_assets.training`), not imported
    # from files: it has no importer and its checks are its own.
    from_video: bool = False
    # Where it lives; an output of many files names the one that describes them (a manifest).
    key_template: str = "processed/{name}/{recording_id}.{file_format}"
    # Delivery files its import writes beside it, derived from the same data to serve it faster
    # (`ras_core.rendered`); each is stored before the output itself and names the output's content,
    # so a reader uses one only beside the output it was written with.
    sidecars: tuple[str, ...] = ()

    def key(self, recording_id: str) -> str:
        return self.key_template.format(
            name=self.name, recording_id=recording_id, file_format=self.file_format
        )

    def sidecar_key(self, recording_id: str, sidecar: str) -> str:
        """`processed/player_tracking/frames/{id}.parquet` for the `frames` sidecar: in a folder of
        its own, so that whatever reads every file of the output's folder (the marts' dbt sources
        glob `processed/player_tracking/*.parquet`) never takes a sidecar for a recording."""
        if sidecar not in self.sidecars:
            raise KeyError(f"{self.name} has no sidecar {sidecar!r}")
        folder, _, file_name = self.key(recording_id).rpartition("/")
        return f"{folder}/{sidecar}/{file_name}"

    @property
    def endpoints(self) -> tuple[str, ...]:
        return ((self.endpoint,) if self.endpoint else ()) + self.more_endpoints

    def load_importer(self) -> Callable[..., Any]:
        module, _, function = self.importer.partition(":")
        return getattr(importlib.import_module(module), function)


def sidecar_path(out_path: Path, sidecar: str) -> Path:
    """Where an import writing `out_path` writes a sidecar: `dir/out.parquet` →
    `dir/frames/out.parquet`, laid out like `ProcessedOutput.sidecar_key`, so an import written in
    place (into an objects folder) puts it where the store keeps it."""
    return out_path.parent / sidecar / out_path.name


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


class CheckSeverity(StrEnum):
    """What a failed check does: the one classification the assets, the import and the API read."""

    # The file breaks its contract (contracts.md): the import fails, the job fails with the check's
    # reason, and the previous processed version stays in place.
    CONTRACT = "contract"
    # The data is legal but poor (a broadcast camera's gaps, a ball in the stands): reported as a
    # warning with its figures, in the Dagster UI and in GET analytics; never fails a job.
    QUALITY = "quality"


@dataclass(frozen=True)
class CheckKind:
    name: str
    severity: CheckSeverity
    description: str  # the check's description in the Dagster UI

    @property
    def blocking(self) -> bool:
        return self.severity is CheckSeverity.CONTRACT


CHECKS: tuple[CheckKind, ...] = (
    CheckKind("schema_valid", CheckSeverity.CONTRACT, "The raw file parses and matches its contract schema."),
    CheckKind("time_monotonic", CheckSeverity.CONTRACT, "Times never go backwards within a period."),
    CheckKind(
        "coordinates_in_band",
        CheckSeverity.CONTRACT,
        "Positions are metres on this pitch: (almost) all within a pitch length or width of its lines.",
    ),
    CheckKind(
        "frame_coverage",
        CheckSeverity.QUALITY,
        "Share of the frames inside the recording's periods (bounds inclusive) that have a row.",
    ),
    CheckKind("off_pitch_share", CheckSeverity.QUALITY, "Share of positions outside the pitch's lines."),
    CheckKind("players_per_side", CheckSeverity.QUALITY, "Median players seen per frame, home and away."),
    CheckKind("jersey_coverage", CheckSeverity.QUALITY, "Share of home and away rows with a jersey number."),
)
CHECK_NAMES = tuple(kind.name for kind in CHECKS)
_TRACKING_CONTRACT = ("schema_valid", "time_monotonic", "coordinates_in_band")
_CHECKS_BY_NAME = {kind.name: kind for kind in CHECKS}


def check_kind(name: str) -> CheckKind:
    return _CHECKS_BY_NAME[name]


PROCESSED_OUTPUTS: tuple[ProcessedOutput, ...] = (
    ProcessedOutput(
        "events",
        "json",
        raw_inputs=("event-detection",),
        endpoint="events",
        checks=("schema_valid", "time_monotonic", "coordinates_in_band"),
        description=(
            "Detected match events of every EMA schema version (2, 2.1, 2.2, 3) in one shape: "
            "times in seconds, positions normalised to the pitch."
        ),
        importer="ras_core.importers:import_events",
        more_endpoints=("match-details/attacking-moments",),
    ),
    ProcessedOutput(
        "ball_tracking",
        "parquet",
        raw_inputs=("ball-tracking",),
        checks=(*_TRACKING_CONTRACT, "frame_coverage", "off_pitch_share"),
        description="Ball positions per frame: normalised x/y, height z in metres.",
        importer="ras_core.importers:import_ball_tracking",
    ),
    ProcessedOutput(
        "player_tracking",
        "parquet",
        raw_inputs=("player-tracking", "ball-tracking"),
        endpoint="player-tracking",
        checks=(
            *_TRACKING_CONTRACT,
            "frame_coverage",
            "off_pitch_share",
            "players_per_side",
            "jersey_coverage",
        ),
        description=(
            "Players per frame with the ball merged on the integer frame index; parquet "
            "sorted by time with row groups sized for 10-second window reads, and beside it the "
            "frames sidecar: each frame pre-rendered as the default JSON window serves it."
        ),
        importer="ras_core.importers:import_player_tracking",
        more_endpoints=("player-tracking/jersey-numbers",),
        sidecars=("frames",),
    ),
    ProcessedOutput(
        "match_momentum",
        "json",
        raw_inputs=("match-momentum",),
        endpoint="match-momentum",
        checks=("schema_valid", "time_monotonic"),
        description="Momentum timeline in [-1, 1], positive = home on top.",
        importer="ras_core.importers:import_match_momentum",
    ),
    ProcessedOutput(
        "physical_metrics",
        "parquet",
        raw_inputs=("physical-metrics",),
        description="Per player and period: distance, high-intensity distance, sprints, top speed.",
        importer="ras_core.importers:import_physical_metrics",
    ),
    ProcessedOutput(
        "match_details",
        "json",
        raw_inputs=("match-details",),
        endpoint="match-details",
        description="Per-team totals and per-period statistics.",
        importer="ras_core.importers:import_match_details",
    ),
    ProcessedOutput(
        "shot_details",
        "json",
        raw_inputs=("shot-details",),
        endpoint="shot-details",
        checks=("schema_valid", "coordinates_in_band"),
        description="Shots with xG, outcome and body part; positions normalised to the pitch.",
        importer="ras_core.importers:import_shot_details",
        more_endpoints=("player-moments",),
    ),
    ProcessedOutput(
        "match_report",
        "json",
        raw_inputs=("match-report",),
        endpoint="match-report",
        description="Score, summary and key moments.",
        importer="ras_core.importers:import_match_report",
    ),
    # Also reads `events`, always in place by then (shot-details needs event-detection), so only shot
    # details decide when it is built: in the import run right after them.
    ProcessedOutput(
        "training_clips",
        "json",
        processed_inputs=("shot_details",),
        checks=(),
        description="Clips around shots and goals (or the configured event types) from every camera "
        "angle of the recording, each source video fetched once; a manifest lists every clip with its "
        "state and reason.",
        from_video=True,
        key_template="processed/training_clips/{recording_id}/manifest.json",
    ),
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
    # Clips around shots and goals cut from the recording's video; computed here, not by EMA.
    JobType(
        "training-clips",
        Executor.PLATFORM,
        (),
        ("training_clips",),
        depends_on=("shot-details",),
    ),
)

ALL_PROCESSED_EVENT = "RecordingAnalysisProcessedV1"

_RAW_KEY = re.compile(
    r"raw/(?P<name>[^/]+)/(?P<recording>[^/]+)/attempt-(?P<attempt>[1-9][0-9]*)\.(?P<ext>\w+)"
)


class IncompleteCatalogue(ValueError):
    """An entry lacks (or names wrongly) something the platform generates from it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("catalogue incomplete: " + "; ".join(problems))


@dataclass(frozen=True)
class Catalogue:
    """Job types and their outputs, checked whole on construction (`IncompleteCatalogue` otherwise)."""

    job_types: tuple[JobType, ...]
    processed_outputs: tuple[ProcessedOutput, ...]

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise IncompleteCatalogue(problems)

    @cached_property
    def _jobs(self) -> dict[str, JobType]:
        return {job.name: job for job in self.job_types}

    @cached_property
    def _processed(self) -> dict[str, ProcessedOutput]:
        return {out.name: out for out in self.processed_outputs}

    @cached_property
    def _raw(self) -> dict[str, RawOutput]:
        return {raw.name: raw for job in self.job_types for raw in job.raw_outputs}

    def job_type(self, name: str) -> JobType:
        try:
            return self._jobs[name]
        except KeyError:
            known = ", ".join(self.job_type_names())
            raise KeyError(f"unknown job type {name!r}; known: {known}") from None

    def job_type_names(self) -> tuple[str, ...]:
        return tuple(self._jobs)

    def processed_output(self, name: str) -> ProcessedOutput:
        return self._processed[name]

    def raw_output(self, name: str) -> RawOutput:
        return self._raw[name]

    def raw_outputs(self) -> tuple[RawOutput, ...]:
        return tuple(self._raw.values())

    def job_of_raw(self, raw_name: str) -> JobType:
        return next(job for job in self.job_types if any(r.name == raw_name for r in job.raw_outputs))

    def job_of_processed(self, processed_name: str) -> JobType:
        return next(job for job in self.job_types if processed_name in job.processed_outputs)

    def parse_raw_key(self, key: str) -> tuple[RawOutput, str, int] | None:
        """(raw output, recording id, attempt) of a raw key (`RawOutput.key`), or None when `key`
        is not one: an import charges a failed file to the job and attempt that uploaded it."""
        match = _RAW_KEY.fullmatch(key)
        raw = self._raw.get(match["name"]) if match else None
        if match is None or raw is None or match["ext"] != raw.file_format:
            return None
        return raw, match["recording"], int(match["attempt"])

    def ema_upstream_inputs(self, job: JobType) -> dict[str, ProcessedOutput]:
        """Processed outputs a dependent job reads, keyed by the name EMA knows them under.

        `upstream` in the v2 request holds read URLs of these (contracts.md).
        """
        return {
            name.replace("_", "-"): self.processed_output(name)
            for upstream in job.depends_on
            for name in self.job_type(upstream).processed_outputs
        }

    def delivery_endpoints(self) -> tuple[str, ...]:
        """Every delivery path under /recordings/{id}/ that serves processed analytics."""
        return tuple(endpoint for out in self.processed_outputs for endpoint in out.endpoints)


def _problems(cat: Catalogue) -> list[str]:
    """What each entry lacks, as "<entry> lacks <what>" sentences; empty when the catalogue is whole."""
    problems = [
        f"job type {job.name!r} lacks {lack}" for job in cat.job_types for lack in _job_lacks(cat, job)
    ]
    return problems + [
        f"processed output {out.name!r} lacks {lack}"
        for out in cat.processed_outputs
        for lack in _output_lacks(cat, out)
    ]


def _job_lacks(cat: Catalogue, job: JobType) -> list[str]:
    jobs = {other.name for other in cat.job_types}
    outputs = {out.name for out in cat.processed_outputs}
    lacks = [f"a known job type to depend on instead of {dep!r}" for dep in job.depends_on if dep not in jobs]
    lacks += [f"a known processed output instead of {n!r}" for n in job.processed_outputs if n not in outputs]
    if not job.processed_outputs:
        lacks.append("a processed output")
    if job.is_ema and not job.raw_outputs:
        lacks.append("a raw output for EMA to upload")
    return lacks


def _output_lacks(cat: Catalogue, out: ProcessedOutput) -> list[str]:
    raws = {raw.name for job in cat.job_types for raw in job.raw_outputs}
    outputs = {other.name for other in cat.processed_outputs}
    endpoints = [endpoint for other in cat.processed_outputs for endpoint in other.endpoints]
    lacks = [] if out.description.strip() else ["a description"]
    module, _, function = out.importer.partition(":")
    if not (module and function) and not out.from_video:
        lacks.append('an importer ("module:function")')
    if (not out.checks or out.checks[0] != "schema_valid") and not out.from_video:
        lacks.append("checks starting with schema_valid")
    lacks += [f"a known check instead of {name!r}" for name in out.checks if name not in CHECK_NAMES]
    severities = [_CHECKS_BY_NAME[name].severity for name in out.checks if name in _CHECKS_BY_NAME]
    if severities != sorted(severities, key=list(CheckSeverity).index):
        lacks.append("contract checks before quality checks")
    lacks += [f"a known raw input instead of {name!r}" for name in out.raw_inputs if name not in raws]
    lacks += [f"a known processed input instead of {n!r}" for n in out.processed_inputs if n not in outputs]
    # Imports of one recording run in the catalogue's order (ras_assets/imports.py).
    listed_before = [other.name for other in cat.processed_outputs][: cat.processed_outputs.index(out)]
    lacks += [
        f"its processed input {n!r} listed before it"
        for n in out.processed_inputs
        if n in outputs and n not in listed_before
    ]
    if not (out.raw_inputs or out.processed_inputs):
        lacks.append("an input")
    owners = sum(out.name in job.processed_outputs for job in cat.job_types)
    if owners != 1:
        lacks.append(f"exactly one job type completing it (has {owners})")
    lacks += [f"an endpoint of its own instead of {e!r}" for e in out.endpoints if endpoints.count(e) > 1]
    return lacks


CATALOGUE = Catalogue(JOB_TYPES, PROCESSED_OUTPUTS)

# The platform's catalogue, as module functions: what every caller outside a test uses.
job_type = CATALOGUE.job_type
job_type_names = CATALOGUE.job_type_names
processed_output = CATALOGUE.processed_output
raw_output = CATALOGUE.raw_output
raw_outputs = CATALOGUE.raw_outputs
job_of_raw = CATALOGUE.job_of_raw
job_of_processed = CATALOGUE.job_of_processed
parse_raw_key = CATALOGUE.parse_raw_key
ema_upstream_inputs = CATALOGUE.ema_upstream_inputs
delivery_endpoints = CATALOGUE.delivery_endpoints
