"""`domain_events_sensor`: drains the outbox to the publisher (JSON lines or EventBridge)."""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from ras_platform.outbox_drain import drain_outbox
from resources import EventPublisherResource, StateStoreResource
from sensors import TICK_INTERVAL_S

EVENTS_PER_TICK = 100


@sensor(
    name="domain_events_sensor",
    minimum_interval_seconds=TICK_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Publishes domain events written to the outbox with the state change that caused them; "
    "a failed publish is retried next tick; an event failing again and again is quarantined.",
)
def domain_events_sensor(
    context: SensorEvaluationContext,
    state_store: StateStoreResource,
    event_publisher: EventPublisherResource,
) -> SkipReason:
    # One event that cannot be published never holds back the others (ras_platform.outbox_drain).
    drain = drain_outbox(state_store.store, event_publisher.publisher, limit=EVENTS_PER_TICK)
    if not drain.published and not drain.failed:
        return SkipReason("outbox empty")
    for event_id in drain.quarantined:
        context.log.error(f"event {event_id} quarantined: {drain.failed[event_id]} (ras redrive re-sends it)")
    if drain.failed:
        context.log.warning(f"publishing {len(drain.failed)} events failed, retrying next tick")
    return SkipReason(
        f"published {len(drain.published)} events, {len(drain.failed)} failed"
        + "".join(f", {e.detail_type}" for e in drain.published)
    )
