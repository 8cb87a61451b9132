"""`recording_state_sensor`: keeps each recording's overall state visible in the Dagster UI.

It reads the change log past its cursor (a primary-key range; rows settled for a few seconds, so a
late commit is not skipped) and, for each recording that changed, records an observation of the
`recording` asset with its overall state, the job table and the pictures; at most RECORDINGS_PER_TICK
recordings, and none started after TICK_BUDGET_S, so a backlog drains over several short ticks.
"""

import time
from datetime import UTC, datetime

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor

from ras_assets.recording_state import state_observation
from ras_platform.change_tally import SETTLE
from ras_platform.dagster_client import RECORDINGS_PARTITIONS
from ras_platform.state_store import changes_after
from resources import AlertsResource, StateStoreResource
from sensors import TICK_INTERVAL_S

RECORDINGS_PER_TICK = 100  # one asset event each (~10 ms on a quiet machine)
# On a saturated machine a recording's observation costs ten times that (bench `load` at 1,000
# recordings: tick p95 9.7 s): past this budget the rest waits for the next tick.
TICK_BUDGET_S = 3.0


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
    first_rows: dict[str, int] = {}  # each changed recording, in order, with the id of its first row
    for row in changes_after(store, after, limit=5000):
        if row.at > horizon:
            break
        if row.recording_id not in first_rows:
            if len(first_rows) == RECORDINGS_PER_TICK:
                break
            first_rows[row.recording_id] = row.id
        after = row.id
    events = []
    started = time.monotonic()
    for observed, (recording_id, first_row) in enumerate(first_rows.items()):
        if observed and time.monotonic() - started > TICK_BUDGET_S:
            # The rest is read again next tick, from this recording's first row; recordings observed
            # here that changed again after it are observed again (a repeat, never a miss).
            after = first_row - 1
            break
        # Events for a partition Dagster does not know would fail the tick (a recording registered
        # straight into the state store, say); it is reported once its partition exists and it changes.
        if not context.instance.has_dynamic_partition(RECORDINGS_PARTITIONS, recording_id):
            continue
        events.append(state_observation(recording_id, store.job_states(recording_id), alerts.api_base_url))
    context.update_cursor(str(after))
    if not events:
        return SkipReason(f"no recording changed (change log read up to {after})")
    return SensorResult(asset_events=events)
