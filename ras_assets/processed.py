"""Processed assets: one per processed output in the catalogue, built by one factory.

Each reads its raw (or processed) inputs, runs the pure import (`ras_core.importers.run_import`),
reports its blocking checks, and only when every check passed moves the new file into place. A
failing check leaves the previous processed file untouched and fails the job with the check's reason.
"""

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from ras_assets.jobs import trigger_and_observe
from ras_assets.partitions import recordings_partitions, registered_recording
from ras_assets.raw import raw_output_key
from ras_core import catalogue
from ras_core.catalogue import Catalogue, CheckKind, ProcessedOutput, check_kind
from ras_core.states import JobState, Source
from ras_platform.object_store import ObjectStore
from ras_platform.orchestration import complete_if_imported, fail_job, plan_dispatch, ready_jobs
from ras_platform.state_store import StateStore
from resources import EmaResource, ObjectStoreResource, QualityResource, StateStoreResource

if TYPE_CHECKING:
    from ras_core.importers import ImportResult

def _input_keys(out: ProcessedOutput, recording_id: str) -> dict[str, str]:
    keys = {name: catalogue.raw_output(name).key(recording_id) for name in out.raw_inputs}
    return keys | {name: catalogue.processed_output(name).key(recording_id) for name in out.processed_inputs}


def _fetch_inputs(
    objects: ObjectStore, out: ProcessedOutput, recording_id: str, workdir: Path
) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    for name, key in _input_keys(out, recording_id).items():
        if not objects.exists(key):
            raise Failure(f"{out.name}: input {key} does not exist", allow_retries=False)
        paths[name] = objects.local_path(key) or objects.download(key, workdir / key.replace("/", "_"))
    return paths


def _latest_import_times(
    context: AssetExecutionContext, names: tuple[str, ...], recording_id: str
) -> dict[str, datetime | None]:
    times: dict[str, datetime | None] = {}
    for name in names:
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(name), asset_partitions=[recording_id]), limit=1
        ).records
        times[name] = datetime.fromtimestamp(records[0].timestamp, UTC) if records else None
    return times


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


def _start_platform_job(store: StateStore, job: catalogue.JobType, recording_id: str) -> bool:
    """Move a platform-computed job (training clips) to running when this build is its run.

    Its inputs are imported in the same run just before it, so it is dispatched here through the
    one dependency rule (`ready_jobs`) rather than waiting for the next dispatch tick. False when the
    build is a plain rebuild of a derived file (the job is not due), which changes no state.
    """
    status = store.job_status(recording_id, job.name)
    if status.state is JobState.PENDING and job.name in {
        s.job_type for s in ready_jobs(store.job_states(recording_id))
    }:
        status = store.transition(recording_id, job.name, JobState.SCHEDULED, source=Source.DISPATCH).status
    if status.state not in {JobState.SCHEDULED, JobState.STARTING, JobState.RUNNING}:
        return False
    store.transition(recording_id, job.name, JobState.RUNNING, source=Source.IMPORT)
    return True


def _mark_progress(
    context: AssetExecutionContext,
    store: StateStore,
    out: ProcessedOutput,
    recording_id: str,
    *,
    tracked: bool,
) -> bool:
    """Complete the owning job once all its processed outputs are in place; True if it completed."""
    job = catalogue.job_of_processed(out.name)
    if not job.is_ema:
        if tracked:
            store.transition(recording_id, job.name, JobState.SUCCEEDED, source=Source.IMPORT)
            store.transition(recording_id, job.name, JobState.COMPLETED, source=Source.IMPORT)
        return False
    others = tuple(name for name in job.processed_outputs if name != out.name)
    imported = _latest_import_times(context, others, recording_id) | {out.name: datetime.now(UTC)}
    return complete_if_imported(store, recording_id, job.name, imported)


def _trigger_what_became_ready(
    context: AssetExecutionContext,
    recording_id: str,
    state_store: StateStoreResource,
    object_store: ObjectStoreResource,
    ema: EmaResource,
) -> None:
    """A job completed here may make others ready (the dependent jobs once the three independent
    ones are done): trigger them from this run instead of a separate one a sensor tick later.
    `plan_dispatch` decides; the dispatch sensor remains the catch-all."""
    plan = plan_dispatch(state_store.store, recording_ids=[recording_id])
    if plan.ema_jobs:
        trigger_and_observe(context, plan.ema_jobs, state_store, object_store, ema)


def build_processed_asset(cat: Catalogue, out: ProcessedOutput) -> AssetsDefinition:
    """The asset of one catalogue entry: its description, inputs and blocking checks come from the entry."""
    job = cat.job_of_processed(out.name)
    deps = [AssetDep(raw_output_key(cat.raw_output(name))) for name in out.raw_inputs]
    deps += [AssetDep(name) for name in out.processed_inputs]
    @asset(
        name=out.name,
        partitions_def=recordings_partitions,
        deps=deps,
        check_specs=check_specs(out),
        group_name="processed",
        kinds={out.file_format},
        description=out.description,
        metadata={"job_type": job.name, "endpoint": out.endpoint or "-"},
        tags={"ras/job_type": job.name},
    )
    def _processed(
        context: AssetExecutionContext,
        state_store: StateStoreResource,
        object_store: ObjectStoreResource,
        ema: EmaResource,
        quality: QualityResource,
    ):
        store, objects, recording_id = state_store.store, object_store.store, context.partition_key
        meta = registered_recording(context, store)
        tracked = job.is_ema or _start_platform_job(store, job, recording_id)
        with tempfile.TemporaryDirectory(prefix=f"ras-{out.name}-") as tmp:
            workdir = Path(tmp)
            inputs = _fetch_inputs(objects, out, recording_id, workdir)
            target = workdir / f"out.{out.file_format}"
            # Imported here, not at module level: every run process loads this module, and only
            # import runs need polars, pyarrow and jsonschema (about 0.4 s of start-up).
            from ras_core.importers import run_import

            result = run_import(out.name, inputs, meta, target, quality.thresholds)
            if not result.passed:
                reason = f"{out.name}: {result.failure_reason()}"
                yield from _check_results(result)
                if tracked:
                    fail_job(
                        store,
                        recording_id,
                        job.name,
                        reason,
                        source=Source.IMPORT,
                        max_attempts=ema.max_attempts,
                    )
                raise Failure(description=reason, allow_retries=False)
            key = out.key(recording_id)
            objects.put_file(key, target)
        info = objects.stat(key)
        status = store.job_status(recording_id, job.name)
        if result.quality:
            # What GET analytics shows: the figures of the data now served.
            store.record_quality(
                recording_id, out.name, job.name, status.attempt, [c.as_report() for c in result.quality]
            )
        if _mark_progress(context, store, out, recording_id, tracked=tracked):
            _trigger_what_became_ready(context, recording_id, state_store, object_store, ema)
        yield MaterializeResult(
            metadata={
                **{k: _metadata_value(v) for k, v in result.metadata.items()},
                "uri": objects.uri(key),
                "size_bytes": info.size if info else 0,
                "job_attempt": status.attempt,
                "ema_job_id": status.ema_job_id or "-",
            },
            check_results=_check_results(result),
        )

    return _processed


def _metadata_value(value: object) -> object:
    if isinstance(value, dict | list):
        return MetadataValue.json(value)
    return value


def build_processed_assets(cat: Catalogue) -> list[AssetsDefinition]:
    return [build_processed_asset(cat, out) for out in cat.processed_outputs]


processed_assets = build_processed_assets(catalogue.CATALOGUE)
