"""`training_dataset_sensor`: rebuilds the training dataset after clip partitions change."""

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from ras_assets.runs import has_active_run
from ras_assets.training import CLIPS, training_dataset_job

# A rebuild reads every recording's clip manifest: under a burst of recordings (bench `load`), one
# every 30 s kept a run slot and a share of the CPU busy for the whole burst, re-reading 1,000
# manifests each time. The trainer gains nothing from a dataset fresher than a few minutes.
REBUILD_INTERVAL_S = 300


@sensor(
    job=training_dataset_job,
    minimum_interval_seconds=REBUILD_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Rebuilds training_dataset after clip partitions change, at most every 5 minutes: one "
    "indexed query per tick, and one rebuild for however many recordings changed since the last one.",
)
def training_dataset_sensor(context: SensorEvaluationContext):
    cursor = int(context.cursor) if context.cursor else 0
    latest = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(CLIPS.name), after_storage_id=cursor), limit=1, ascending=False
    ).records
    if not latest:
        return SkipReason("no training clips changed since the last rebuild")
    if has_active_run(context.instance, training_dataset_job.name):
        # The rebuild under way may have read a manifest before it changed: ask again when it is done.
        return SkipReason("a rebuild is under way")
    storage_id = latest[0].storage_id
    context.update_cursor(str(storage_id))
    return RunRequest(run_key=f"training-dataset-{storage_id}")
