"""`domain_events_sensor`: drains the outbox to the publisher (JSON lines or EventBridge)."""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from ras_platform.publishers import PublishError
from resources import EventPublisherResource, StateStoreResource
from sensors import TICK_INTERVAL_S

EVENTS_PER_TICK = 100


@sensor(
    name="domain_events_sensor",
    minimum_interval_seconds=TICK_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Publishes domain events written to the outbox with the state change that caused them; "
    "a failed publish is retried next tick.",
)
def domain_events_sensor(
    context: SensorEvaluationContext,
    state_store: StateStoreResource,
    event_publisher: EventPublisherResource,
) -> SkipReason:
    store = state_store.store
    events = store.pending_events(limit=EVENTS_PER_TICK)
    if not events:
        return SkipReason("outbox empty")
    ids = [event.event_id for event in events]
    try:
        event_publisher.publisher.publish(events)
    except PublishError as error:
        store.mark_publish_failed(ids)
        context.log.warning(f"publishing {len(ids)} events failed, retrying next tick: {error}")
        return SkipReason(f"publish failed: {error}")
    store.mark_published(ids)
    return SkipReason(f"published {len(ids)} events: " + ", ".join(e.detail_type for e in events))
