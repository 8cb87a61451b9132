"""`recording_state_sensor`: keeps each recording's overall state visible in the Dagster UI.

It reads the change log past its cursor (a primary-key range; rows settled for a few seconds, so a
late commit is not skipped) and, for each recording that changed, records an observation of the
`recording` asset with its overall state, the job table and the pictures.
"""

from datetime import UTC, datetime

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor

from ras_assets.recording_state import state_observation
from ras_platform.change_tally import SETTLE
from ras_platform.dagster_client import RECORDINGS_PARTITIONS
from ras_platform.state_store import changes_after
from resources import AlertsResource, StateStoreResource
from sensors import TICK_INTERVAL_S

RECORDINGS_PER_TICK = 100  # one asset event each (~10 ms): well under a tick's time budget


@sensor(
    name="recording_state_sensor",
    minimum_interval_seconds=TICK_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Records each changed recording's overall state, job table and pictures as an "
    "observation of the recording asset.",
)
def recording_state_sensor(
    context: SensorEvaluationContext, state_store: StateStoreResource, alerts: AlertsResource
) -> SensorResult | SkipReason:
    store = state_store.store
    after = int(context.cursor or 0)
    horizon = datetime.now(UTC) - SETTLE
    changed: list[str] = []
    for row in changes_after(store, after, limit=5000):
        if row.at > horizon:
            break
        if row.recording_id not in changed:
            if len(changed) == RECORDINGS_PER_TICK:
                break
            changed.append(row.recording_id)
        after = row.id
    context.update_cursor(str(after))
    events = []
    for recording_id in changed:
        # Events for a partition Dagster does not know would fail the tick (a recording registered
        # straight into the state store, say); it is reported once its partition exists and it changes.
        if not context.instance.has_dynamic_partition(RECORDINGS_PARTITIONS, recording_id):
            continue
        events.append(state_observation(recording_id, store.job_states(recording_id), alerts.api_base_url))
    if not events:
        return SkipReason(f"no recording changed (change log read up to {after})")
    return SensorResult(asset_events=events)
