from dagster import AssetExecutionContext, DynamicPartitionsDefinition, Failure

from ras_core.recording import RecordingMetadata
from ras_platform.dagster_client import RECORDINGS_PARTITIONS
from ras_platform.state_store import StateStore

RECORDING_TAG = "ras/recording"

# One partition per registered recording; added at registration (CLI or API), never listed on a
# hot path (dagster-notes.md: listing 100k partitions costs a quarter of a second).
recordings_partitions = DynamicPartitionsDefinition(name=RECORDINGS_PARTITIONS)


def registered_recording(context: AssetExecutionContext, store: StateStore) -> RecordingMetadata:
    """The metadata of the run's recording, for every asset that runs for one recording.

    A UI backfill or "Materialize" launches Dagster's own asset job, whose runs carry only
    `dagster/partition`: the run is tagged `ras/recording` here, as the platform's own launches are,
    so it is found by recording (runs list, dispatch's "is an import of it under way"). A partition
    added in the UI that the platform never registered is refused with what to do instead.
    """
    recording_id = context.partition_key
    if context.run.tags.get(RECORDING_TAG) != recording_id:
        context.instance.add_run_tags(context.run_id, {RECORDING_TAG: recording_id})
    meta = store.get_recording(recording_id)
    if meta is None:
        raise Failure(
            f"recording {recording_id} is not registered with the platform (a partition added in the "
            f"Dagster UI is not a registration): register it with PUT /recordings/{recording_id} or "
            "`ras register FILE`, which validate its metadata and add the partition, then launch again",
            allow_retries=False,
        )
    return meta
