"""`import_recordings`: the ready outputs of several recordings imported in one run.

`import_processed` imports one recording per run, which is what a quiet platform wants: a callback's
import starts at once, and the run's page in the UI is that recording's. When imports wait for a run
slot, a run per recording costs more than it need: every run takes about a CPU-second to launch and
start (dagster-notes.md) before it imports anything (bench `throughput`, a burst of 30 recordings:
2.80 runs and 5.0 CPU-s per recording before, 1.67 and 3.4 with shared runs). Then
`ema_callback_sensor` packs the waiting recordings into runs of this job, and each recording's
processed assets are materialized in it, their checks reported, exactly as in `import_processed`
(both import through `ras_assets.processed.import_output`).

One recording never holds up another: a failed import (a blocking check, a transient fault, even an
unexpected error) is recorded through the lifecycle for that recording alone, the rest of the list is
imported, and the run fails at the end naming what failed, so the run list shows it.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetMaterialization,
    Config,
    Failure,
    MetadataValue,
    OpExecutionContext,
    in_process_executor,
    job,
    op,
)

from ras_assets.processed import Imported, import_output
from ras_assets.training import TrainingClipsConfig, build_training_clips
from ras_core import catalogue
from ras_core.catalogue import ProcessedOutput
from ras_core.recording import RecordingMetadata
from ras_platform.dagster_client import IMPORT_KIND, IMPORT_RECORDINGS_JOB
from ras_platform.lifecycle import Lifecycle
from resources import EmaResource, FfmpegResource, ObjectStoreResource, QualityResource, StateStoreResource

# The tag naming a multi-recording run's recordings, comma-separated (a one-recording run carries
# `ras/recording`): the sensors read it to leave those recordings' imports alone meanwhile.
RECORDINGS_TAG = "ras/recordings"
# At most this many recordings per run: enough to cut the runs under load ~8-fold. A run is shared
# only when imports already wait for a slot, so its last recording waits for the first ones instead
# of waiting in the queue (a full-length match with its training clips takes minutes).
RECORDINGS_PER_RUN = 8


@dataclass(frozen=True)
class RecordingImports:
    """The outputs of one recording a run imports."""

    recording_id: str
    outputs: tuple[str, ...]

    def encode(self) -> str:
        return f"{self.recording_id}:{','.join(self.outputs)}"

    @classmethod
    def decode(cls, encoded: str) -> "RecordingImports":
        recording_id, _, outputs = encoded.rpartition(":")
        return cls(recording_id, tuple(o for o in outputs.split(",") if o))


def in_dependency_order(outputs: Iterable[str]) -> list[str]:
    """Outputs in the catalogue's order, which lists a processed input before what reads it (a name
    the catalogue does not know goes last, and fails there)."""
    order = {out.name: index for index, out in enumerate(catalogue.PROCESSED_OUTPUTS)}
    return sorted(set(outputs), key=lambda name: order.get(name, len(order)))


class ImportRecordingsConfig(Config):
    imports: list[str]  # RecordingImports.encode(): "recording_id:output,output"


def _log_imported(context: OpExecutionContext, recording_id: str, output: str, imported: Imported) -> None:
    """What the asset's page shows of this import: the materialization when it passed, and its checks
    either way, on the recording's partition as a run of its own shows them."""
    if imported.failure is None:
        context.log_event(
            AssetMaterialization(asset_key=output, partition=recording_id, metadata=imported.metadata)
        )
    for check in imported.checks:
        context.log_event(
            AssetCheckEvaluation(
                asset_key=AssetKey(output),
                check_name=check.check_name or "",
                passed=check.passed,
                metadata=check.metadata,
                description=check.description,
                severity=check.severity,
                blocking=catalogue.check_kind(check.check_name).blocking
                if check.check_name in catalogue.CHECK_NAMES
                else None,
                partition=recording_id,
            )
        )


@dataclass(frozen=True)
class _Builders:
    """The resources a run's imports need, and how each output is built."""

    lifecycle: Lifecycle
    object_store: ObjectStoreResource
    ema: EmaResource
    quality: QualityResource
    ffmpeg: FfmpegResource

    def build(self, context: OpExecutionContext, out: ProcessedOutput, meta: RecordingMetadata) -> Imported:
        objects = self.object_store.store
        if out.from_video:  # training clips, with the media team's defaults (as an import run's)
            config = TrainingClipsConfig()
            return build_training_clips(context, self.lifecycle, objects, self.ema, self.ffmpeg, meta, config)
        return import_output(context, self.lifecycle, objects, self.ema, self.quality, out, meta)


def _import_recording(
    context: OpExecutionContext, builders: _Builders, listed: RecordingImports
) -> list[str]:
    """Import one recording's outputs, dependencies first; what failed, one line each."""
    meta = builders.lifecycle.store.get_recording(listed.recording_id)
    if meta is None:
        return [f"{listed.recording_id}: not registered with the platform"]
    failed: list[str] = []
    for name in in_dependency_order(listed.outputs):
        try:
            out = catalogue.processed_output(name)
            if blocked := [dep for dep in out.processed_inputs if dep in failed]:
                failed.append(name)
                context.log.warning(
                    f"{listed.recording_id} {name}: not imported, its input {blocked[0]} failed"
                )
                continue
            imported = builders.build(context, out, meta)
        except Exception as error:  # this recording's alone: the callback sensor asks again
            context.log.exception(f"{listed.recording_id} {name}: import raised {type(error).__name__}")
            imported = Imported(failure=f"{name}: {type(error).__name__}: {error}")
        _log_imported(context, listed.recording_id, name, imported)
        if imported.failure is not None:
            failed.append(name)
            context.log.warning(f"{listed.recording_id}: {imported.failure}")
    return [f"{listed.recording_id} {name}" for name in failed]


@op(description="Import the listed outputs of each listed recording, one recording after another.")
def import_listed_recordings(
    context: OpExecutionContext,
    config: ImportRecordingsConfig,
    state_store: StateStoreResource,
    object_store: ObjectStoreResource,
    ema: EmaResource,
    quality: QualityResource,
    ffmpeg: FfmpegResource,
) -> None:
    listed = [RecordingImports.decode(encoded) for encoded in config.imports]
    builders = _Builders(state_store.lifecycle, object_store, ema, quality, ffmpeg)
    failures: list[str] = []
    for number, recording in enumerate(listed, start=1):
        context.log.info(
            f"recording {number} of {len(listed)}: {recording.recording_id} ({', '.join(recording.outputs)})"
        )
        failures += _import_recording(context, builders, recording)
    if failures:
        raise Failure(
            description=f"{len(failures)} import(s) failed; every other listed import is in: "
            + "; ".join(failures),
            metadata={"failed": MetadataValue.json(failures)},
            allow_retries=False,
        )


@job(name=IMPORT_RECORDINGS_JOB, executor_def=in_process_executor, tags={"ras/kind": IMPORT_KIND})
def import_recordings() -> None:
    """Import the ready outputs of several recordings in one run: what `ema_callback_sensor`
    launches when imports wait for a run slot (one run per recording would keep them waiting)."""
    import_listed_recordings()


def import_recordings_run_config(listed: Sequence[RecordingImports]) -> dict:
    return {"ops": {import_listed_recordings.name: {"config": {"imports": [r.encode() for r in listed]}}}}


def import_recordings_run_key(member_keys: Iterable[str]) -> str:
    """One key per set of member imports, each keyed as its own run would be (the attempts read)."""
    return "imports:" + hashlib.sha1("|".join(sorted(member_keys)).encode()).hexdigest()[:16]
