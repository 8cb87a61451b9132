"""Processed assets: one per processed output in the catalogue, built by one factory.

Each asks the lifecycle which attempt of each input job to read, reads those raw (or processed)
inputs, runs the pure import (`ras_core.importers.run_import`), reports its blocking checks, and only
when every check passed moves the new file into place. It tells the lifecycle how the import went
(passed, the contract of which file failed, or a transient fault) and triggers what the plan says.
"""

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    multi_asset,
)

from ras_assets.jobs import IMPORT_KIND, trigger_and_observe
from ras_assets.partitions import recordings_partitions, registered_recording
from ras_assets.raw import raw_output_key
from ras_core import catalogue
from ras_core.catalogue import Catalogue, CheckKind, JobType, ProcessedOutput, check_kind
from ras_core.recording import RecordingMetadata
from ras_core.states import IN_FLIGHT, JobState
from ras_platform.lifecycle import Lifecycle, transient_fault
from ras_platform.object_store import ObjectStore, file_sha256
from resources import EmaResource, ObjectStoreResource, QualityResource, StateStoreResource

if TYPE_CHECKING:
    from ras_core.importers import ImportResult


def _input_keys(out: ProcessedOutput, recording_id: str, read: Mapping[str, int]) -> dict[str, str]:
    """Each input's object key: a raw file of the attempt the lifecycle said to read."""
    keys = {
        name: catalogue.raw_output(name).key(recording_id, read[catalogue.job_of_raw(name).name])
        for name in out.raw_inputs
    }
    return keys | {name: catalogue.processed_output(name).key(recording_id) for name in out.processed_inputs}


def _fetch_inputs(
    objects: ObjectStore, out: ProcessedOutput, keys: Mapping[str, str], workdir: Path
) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    for name, key in keys.items():
        if not objects.exists(key):
            raise Failure(f"{out.name}: input {key} does not exist", allow_retries=False)
        paths[name] = objects.local_path(key) or objects.download(key, workdir / key.replace("/", "_"))
    return paths


def _check_results(result: "ImportResult") -> list[AssetCheckResult]:
    # Severity from the catalogue: a contract check is an error, a quality check a warning.
    return [
        AssetCheckResult(
            check_name=check.name,
            passed=check.passed,
            description=check.description,
            metadata=check.metadata,
            severity=AssetCheckSeverity.ERROR if check.blocking else AssetCheckSeverity.WARN,
        )
        for check in result.checks
    ]


def check_specs(out: ProcessedOutput) -> list[AssetCheckSpec]:
    """The output's checks as Dagster sees them: contract checks block, quality checks warn; the
    description says which, since the UI lists both alike. Partitioned like the asset, so each
    recording keeps its own result instead of the last import's (dagster-notes.md)."""
    return [
        AssetCheckSpec(
            name,
            asset=out.name,
            blocking=check_kind(name).blocking,
            description=_labelled(check_kind(name)),
            metadata={"check_class": "contract" if check_kind(name).blocking else "quality"},
            partitions_def=recordings_partitions,
        )
        for name in out.checks
    ]


def _labelled(kind: CheckKind) -> str:
    label = "Contract (blocking): " if kind.blocking else "Quality (warning, never fails the job): "
    return label + kind.description


def _import(
    objects: ObjectStore,
    out: ProcessedOutput,
    meta: RecordingMetadata,
    read: Mapping[str, int],
    quality: QualityResource,
) -> tuple["ImportResult", str | None, str | None]:
    """Run the pure import into a temporary file and, only when every check passed, move it into
    place; (result, the failing file's key, its content hash)."""
    recording_id = meta.recording_id
    keys = _input_keys(out, recording_id, read)
    with tempfile.TemporaryDirectory(prefix=f"ras-{out.name}-") as tmp:
        workdir = Path(tmp)
        inputs = _fetch_inputs(objects, out, keys, workdir)
        target = workdir / f"out.{out.file_format}"
        # Imported here, not at module level: every run process loads this module, and only
        # import runs need polars, pyarrow and jsonschema (about 0.4 s of start-up).
        from ras_core.importers import run_import

        result = run_import(out.name, inputs, meta, target, quality.thresholds, keys=keys)
        if not result.passed:
            failed = result.failed_file()
            by_key = {key: inputs[name] for name, key in keys.items()}
            return result, failed, file_sha256(by_key[failed]) if failed in by_key else None
        # Sidecars first: a reader finding the new output finds its sidecar already in place (and
        # one whose output was not replaced names other content, so it is ignored).
        for sidecar in out.sidecars:
            if (path := catalogue.sidecar_path(target, sidecar)).is_file():
                objects.put_file(out.sidecar_key(recording_id, sidecar), path)
        objects.put_file(out.key(recording_id), target)
    return result, None, None


@dataclass
class Imported:
    """How one output's import went: its checks (when it ran), the metadata of its materialization
    when it passed, why not when it did not."""

    checks: list[AssetCheckResult] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None


def import_output(
    context: AssetExecutionContext | OpExecutionContext,
    jobs: Lifecycle,
    objects: ObjectStore,
    ema: EmaResource,
    quality: QualityResource,
    out: ProcessedOutput,
    meta: RecordingMetadata,
) -> Imported:
    """Import one output of one recording through the lifecycle: which attempts to read, the import,
    its verdict (passed, a contract failure charged to the failing file, a transient fault retried
    after a backoff), and the EMA jobs it made ready, triggered from this run rather than a separate
    one a sensor tick later. The processed asset (one recording per run) and `import_recordings`
    (several per run) both import through here. An unexpected error propagates: the import stays
    started, and `ema_callback_sensor` asks for it again once its grace has passed."""
    recording_id, run_id, job = meta.recording_id, context.run_id, catalogue.job_of_processed(out.name)
    read = jobs.import_started(recording_id, out.name, run_id=run_id).read
    if read is None:
        # An input job has not delivered its current attempt: nothing to read, nobody to charge.
        return Imported(failure=f"{out.name} is not importable now: an input job has not delivered")
    try:
        result, failed_file, sha256 = _import(objects, out, meta, read, quality)
    except Exception as error:
        if not transient_fault(error):
            raise
        reason = f"{type(error).__name__}: {error}"
        jobs.import_failed(recording_id, out.name, read, reason, transient=True, run_id=run_id)
        return Imported(failure=f"{out.name}: {reason}")
    if not result.passed:
        reason = result.failure_reason() or "a blocking check failed"
        jobs.import_failed(
            recording_id,
            out.name,
            read,
            reason,
            transient=False,
            file=failed_file,
            sha256=sha256,
            run_id=run_id,
        )
        return Imported(_check_results(result), failure=f"{out.name}: {reason}")
    key = out.key(recording_id)
    info = objects.stat(key)
    if result.quality:
        # What GET analytics shows: the figures of the data now served.
        reports = [c.as_report() for c in result.quality]
        jobs.store.record_quality(recording_id, out.name, job.name, read[job.name], reports)
    plan = jobs.import_passed(recording_id, out.name, read, run_id=run_id)
    trigger_and_observe(context, plan.refs(recording_id), jobs, ema)
    return Imported(
        _check_results(result),
        metadata={
            **{k: _metadata_value(v) for k, v in result.metadata.items()},
            "uri": objects.uri(key),
            "size_bytes": info.size if info else 0,
            "job_attempt": read[job.name],
            "read_attempts": MetadataValue.json(dict(read)),
            "ema_job_id": jobs.store.job_status(recording_id, job.name).ema_job_id or "-",
        },
    )


def build_processed_asset(cat: Catalogue, out: ProcessedOutput) -> AssetsDefinition:
    """The asset of one catalogue entry: its description, inputs and blocking checks come from the entry."""
    job = cat.job_of_processed(out.name)
    deps = [AssetDep(raw_output_key(cat.raw_output(name))) for name in out.raw_inputs]
    deps += [AssetDep(name) for name in out.processed_inputs]

    # A multi-asset of one, for `skippable`: an operator's run that re-runs the job instead
    # (`rerun_instead_of_import`) materializes nothing and reports no check, and succeeds.
    @multi_asset(
        name=out.name,
        specs=[
            AssetSpec(
                out.name,
                deps=deps,
                partitions_def=recordings_partitions,
                group_name="processed",
                kinds={out.file_format},
                description=out.description,
                metadata={"job_type": job.name, "endpoint": out.endpoint or "-"},
                tags={"ras/job_type": job.name},
                skippable=True,
            )
        ],
        check_specs=check_specs(out),
        partitions_def=recordings_partitions,
        can_subset=True,
    )
    def _processed(
        context: AssetExecutionContext,
        state_store: StateStoreResource,
        object_store: ObjectStoreResource,
        ema: EmaResource,
        quality: QualityResource,
    ):
        jobs, recording_id = state_store.lifecycle, context.partition_key
        meta = registered_recording(context, jobs.store)
        if rerun_instead_of_import(context, jobs, ema, recording_id, job):
            return  # no materialization now: the re-run's own import run makes it
        imported = import_output(context, jobs, object_store.store, ema, quality, out, meta)
        if imported.failure is not None:
            yield from imported.checks  # a blocking check that failed: the UI shows which
            raise Failure(description=imported.failure, allow_retries=False)
        yield MaterializeResult(metadata=imported.metadata, check_results=imported.checks)

    return _processed


# Dagster's tag on the runs of a backfill (dagster._core.storage.tags.BACKFILL_ID_TAG).
BACKFILL_TAG = "dagster/backfill"


def launched_by_operator(context: AssetExecutionContext) -> bool:
    """A run someone launched in Dagster (a backfill, "Materialize" in the UI, GraphQL), not one of
    the platform's import runs (`import_processed`, launched by the callback and dispatch sensors)."""
    tags = context.run.tags
    return BACKFILL_TAG in tags or tags.get("ras/kind") != IMPORT_KIND


def rerun_instead_of_import(
    context: AssetExecutionContext, jobs: Lifecycle, ema: EmaResource, recording_id: str, job: JobType
) -> bool:
    """An operator's run of an asset whose job is not awaiting its import goes through the lifecycle
    like `POST /jobs` with `force`: the job (completed or failed) starts a new attempt, with change-log
    rows naming this run; its EMA job is triggered from this run, its import follows as usual, and its
    domain events with it. True when this run therefore imports nothing. A job that is awaiting its
    import (EMA delivered) is simply imported by the operator's run."""
    if not launched_by_operator(context):
        return False
    status = jobs.store.job_status(recording_id, job.name)
    if status.state is JobState.SUCCEEDED or (not job.is_ema and status.state in IN_FLIGHT):
        return False
    plan = jobs.start(recording_id, [job.name], force=True, run_id=context.run_id)
    if not plan.changes:
        context.log.info(f"{job.name} is {status.state.value} (attempt {status.attempt}): already under way")
        return True
    dispatched = jobs.dispatch(recording_ids=[recording_id], run_id=context.run_id)
    trigger_and_observe(context, dispatched.ema_jobs, jobs, ema)
    attempt = jobs.store.job_status(recording_id, job.name).attempt
    context.log.info(
        f"{job.name} re-run through the lifecycle: attempt {attempt} started by run {context.run_id}; "
        "its import run materializes this asset when the job delivers"
    )
    return True


def _metadata_value(value: object) -> object:
    if isinstance(value, dict | list):
        return MetadataValue.json(value)
    return value


def build_processed_assets(cat: Catalogue) -> list[AssetsDefinition]:
    # Outputs cut from video have an asset of their own (ras_assets.training).
    return [build_processed_asset(cat, out) for out in cat.processed_outputs if not out.from_video]


processed_assets = build_processed_assets(catalogue.CATALOGUE)
