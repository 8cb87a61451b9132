"""Dagster jobs: few runs per recording (dagster-notes.md: each run costs seconds to launch).

- `validate_recordings` (in `ras_assets.recording`): POST /jobs (and the upload sensor) launch it,
  or ride on one still queued; one run validates every recording asked for meanwhile.
- `trigger_ema_jobs`: one short run triggers every ready EMA job, of many recordings at once.
- `import_processed`: the processed assets of one recording that are ready together, in one run.
"""

from dagster import (
    AssetExecutionContext,
    AssetObservation,
    AssetSelection,
    Config,
    OpExecutionContext,
    define_asset_job,
    in_process_executor,
    job,
    op,
)

from ras_assets.partitions import recordings_partitions
from ras_assets.raw import raw_asset_key
from ras_core import catalogue
from ras_core.lifecycle import JobRef
from ras_platform.dagster_client import IMPORT_KIND
from ras_platform.lifecycle import Lifecycle
from ras_platform.trigger import trigger_job
from resources import EmaResource, ObjectStoreResource, StateStoreResource

EMA_TRIGGER_TAG = {"ras/kind": "ema-trigger"}

import_processed_job = define_asset_job(
    "import_processed",
    selection=AssetSelection.groups("processed"),
    partitions_def=recordings_partitions,
    executor_def=in_process_executor,
    tags={"ras/kind": IMPORT_KIND},
    description="Import EMA outputs of one recording into processed files; the callback sensor picks "
    "the assets that are ready together.",
)


class TriggerEmaConfig(Config):
    jobs: list[str]  # "recording_id:job_type:attempt"


def trigger_and_observe(
    context: OpExecutionContext | AssetExecutionContext,
    refs: list[JobRef],
    lifecycle: Lifecycle,
    ema: EmaResource,
) -> None:
    """Trigger each EMA job and note the outcome on its raw assets, so the UI shows when a
    partition's EMA job was asked for, with which job id and attempt."""
    if not refs:
        return
    # The platform's client, shared by every run and asset of this process: not closed here.
    client = ema.client
    for ref in refs:
        outcome = trigger_job(ref, lifecycle=lifecycle, ema=client, api_base_url=ema.api_base_url)
        verdict = outcome.error or outcome.skipped or f"EMA job {outcome.ema_job_id}"
        context.log.info(f"{ref.recording_id} {ref.job_type} attempt {ref.attempt}: {verdict}")
        for raw in catalogue.job_type(ref.job_type).raw_outputs:
            context.log_event(
                AssetObservation(
                    asset_key=raw_asset_key(raw.name),
                    partition=ref.recording_id,
                    metadata={
                        "ema_job_id": outcome.ema_job_id or "-",
                        "attempt": ref.attempt,
                        "trigger": "error" if outcome.error else (outcome.skipped or "triggered"),
                        **({"reason": outcome.error} if outcome.error else {}),
                    },
                )
            )


@op(description="Trigger EMA for each listed job; records the EMA job id, never waits for EMA.")
def trigger_ema(
    context: OpExecutionContext,
    config: TriggerEmaConfig,
    state_store: StateStoreResource,
    object_store: ObjectStoreResource,
    ema: EmaResource,
) -> None:
    refs = [JobRef.decode(encoded) for encoded in config.jobs]
    trigger_and_observe(context, refs, state_store.lifecycle, ema)


@job(executor_def=in_process_executor, tags=EMA_TRIGGER_TAG)
def trigger_ema_jobs() -> None:
    """Trigger ready EMA jobs (v2 or v3) for many recordings in one short run."""
    trigger_ema()
