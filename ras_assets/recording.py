"""The `recording` asset: a registered recording whose metadata validates; the root of the graph.

Two ways to validate, one function (`validate_one`):
- the partitioned `recording` asset, for one recording (the Dagster UI's "Materialize", a backfill);
- `validate_recordings`, the job POST /jobs launches: one run validates every recording whose jobs
  were started while it waited in the queue, and logs the `recording` materialization of each. Under
  load a run per recording would double the runs in the queue (dagster-notes.md: each costs ~1 CPU-s).
"""

from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    AssetObservation,
    Failure,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    asset,
    in_process_executor,
    job,
    op,
)

from ras_assets.jobs import trigger_and_observe
from ras_assets.partitions import recordings_partitions, registered_recording
from ras_core.lifecycle import JobRef
from ras_core.recording import InvalidRecordingMetadata, RecordingMetadata, parse_recording_metadata
from ras_platform.dagster_client import RECORDINGS_PARTITIONS, VALIDATE_KIND, VALIDATE_RECORDINGS_JOB
from ras_platform.lifecycle import Lifecycle, transient_fault
from resources import EmaResource, ObjectStoreResource, StateStoreResource

RECORDING_KEY = "recording"
# Recordings read per round of a `validate_recordings` run: each round's EMA jobs are triggered
# before the next round is read, so the first recordings of a long backlog do not wait for the last.
VALIDATIONS_PER_ROUND = 50


@dataclass
class Verdict:
    problem: str | None  # why the metadata is invalid; None when it validated
    ready: list[JobRef] = field(default_factory=list)  # EMA jobs scheduled now, to trigger
    meta: RecordingMetadata | None = None  # what validated


def validate_one(lifecycle: Lifecycle, recording_id: str, meta: RecordingMetadata) -> Verdict:
    """Validate the metadata per contracts.md and give the lifecycle the verdict: valid metadata
    schedules the jobs ready at once (the independent ones), invalid fails the pending jobs."""
    try:
        parse_recording_metadata(meta.to_dict())
    except InvalidRecordingMetadata as invalid:
        lifecycle.validated(recording_id, str(invalid))
        return Verdict(str(invalid))
    return Verdict(None, lifecycle.validated(recording_id, None).refs(recording_id), meta)


def recording_facts(meta: RecordingMetadata) -> dict[str, Any]:
    """What a `recording` materialization shows of the metadata."""
    return {
        "fps": meta.fps,
        "duration_s": meta.duration_s,
        "pitch": f"{meta.pitch.length_m} x {meta.pitch.width_m} m",
        "periods": len(meta.periods),
        "video_uris": MetadataValue.json(list(meta.video_uris)),
        "teams": f"{meta.home_team or '?'} vs {meta.away_team or '?'}",
    }


@asset(partitions_def=recordings_partitions, group_name="recordings", kinds={"python"})
def recording(
    context: AssetExecutionContext,
    state_store: StateStoreResource,
    object_store: ObjectStoreResource,
    ema: EmaResource,
) -> MaterializeResult:
    """A match recording from the registry, validated per contracts.md (fps, duration, pitch, video
    URIs, periods). EMA jobs are dispatched only for recordings whose latest materialization passed;
    the jobs that are ready at once (the independent ones) are triggered in the same run."""
    jobs = state_store.lifecycle
    meta = registered_recording(context, jobs.store)
    verdict = validate_one(jobs, context.partition_key, meta)
    if verdict.problem is not None:
        raise Failure(f"recording metadata invalid: {verdict.problem}", allow_retries=False)
    # The independent jobs are ready now: this run triggers them, rather than a separate run
    # (dagster-notes.md: every run costs seconds).
    trigger_and_observe(context, verdict.ready, jobs, ema)
    return MaterializeResult(metadata=recording_facts(meta))


def _log_verdict(context: OpExecutionContext, recording_id: str, verdict: Verdict) -> None:
    """The `recording` partition's page tells what this run found: a materialization when the
    metadata validated, an observation saying why when it did not."""
    if verdict.problem is None:
        facts = recording_facts(verdict.meta) if verdict.meta else {}
        context.log_event(
            AssetMaterialization(asset_key=RECORDING_KEY, partition=recording_id, metadata=facts)
        )
        return
    context.log.warning(f"{recording_id}: recording metadata invalid: {verdict.problem}")
    context.log_event(
        AssetObservation(
            asset_key=RECORDING_KEY,
            partition=recording_id,
            description=f"recording metadata invalid: {verdict.problem}",
            metadata={"valid": False, "problem": verdict.problem},
        )
    )


def _validate_requested(
    context: OpExecutionContext, lifecycle: Lifecycle, recording_id: str
) -> Verdict | None:
    """One recording of the batch; None when it is no longer registered."""
    try:
        meta = lifecycle.store.get_recording(recording_id)
        if meta is None:
            return None
        if not context.instance.has_dynamic_partition(RECORDINGS_PARTITIONS, recording_id):
            context.instance.add_dynamic_partitions(RECORDINGS_PARTITIONS, [recording_id])
        verdict = validate_one(lifecycle, recording_id, meta)
    except Exception as error:
        if transient_fault(error):
            raise  # the machine's fault (disk, database): the request stays for the next run
        # A recording the platform cannot read must not hold up every recording asked for after it.
        problem = f"validation failed: {type(error).__name__}: {error}"
        lifecycle.validated(recording_id, problem)
        verdict = Verdict(problem)
    _log_verdict(context, recording_id, verdict)
    return verdict


@op(description="Validate every recording whose jobs were started, and trigger its EMA jobs ready now.")
def validate_requested_recordings(
    context: OpExecutionContext, state_store: StateStoreResource, ema: EmaResource
) -> None:
    """Read the validation requests (oldest first) until none is left that this run has not seen.

    Requests are read when the run executes, not when it was launched: POST /jobs writes its request
    before it looks for a queued run to ride on, so a queued run always finds it. A request is
    cleared after its verdict: a run killed midway leaves the rest for the next one, and one that
    validates a recording twice (two runs at once) only repeats idempotent steps."""
    lifecycle = state_store.lifecycle
    store = lifecycle.store
    seen: set[str] = set()
    invalid = 0
    while requests := [r for r in store.validation_requests(limit=VALIDATIONS_PER_ROUND) if r[0] not in seen]:
        ready: list[JobRef] = []
        for recording_id, requested_at in requests:
            seen.add(recording_id)
            verdict = _validate_requested(context, lifecycle, recording_id)
            if verdict is not None:
                ready += verdict.ready
                invalid += verdict.problem is not None
            store.clear_validation_request(recording_id, requested_at)
        trigger_and_observe(context, ready, lifecycle, ema)
    context.log.info(f"validated {len(seen)} recording(s), {invalid} with invalid metadata")


@job(name=VALIDATE_RECORDINGS_JOB, executor_def=in_process_executor, tags={"ras/kind": VALIDATE_KIND})
def validate_recordings() -> None:
    """Validate the recordings whose jobs POST /jobs started, and trigger their EMA jobs ready now:
    one run for every recording asked for while it waited in the queue.

    The run queue runs one at a time (a `ras/kind: validate` limit of 1 in every instance's config):
    two at once would both read the requests the first has not answered yet and trigger the same
    jobs twice; one at a time, the next waits queued, and every POST meanwhile rides on it."""
    validate_requested_recordings()
