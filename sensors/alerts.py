"""`failure_alerts_sensor`: sends an alert to the webhook for every recording that failed for good
(`RecordingAnalysisFailedV1` in the outbox) and when the share of failed job attempts runs high."""

import json
from datetime import UTC, datetime

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from ras_core.alerts import AlertBook
from ras_platform.alerts import alert_tick, start_book
from resources import AlertsResource, StateStoreResource
from sensors import TICK_INTERVAL_S


@sensor(
    name="failure_alerts_sensor",
    minimum_interval_seconds=TICK_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts the webhook of RAS_ALERT_WEBHOOK_URL (Slack-compatible) once per recording and "
    "attempt that failed for good, and when the share of failed job attempts exceeds the threshold; "
    "a failed delivery is retried with backoff.",
)
def failure_alerts_sensor(
    context: SensorEvaluationContext, state_store: StateStoreResource, alerts: AlertsResource
) -> SkipReason:
    store = state_store.store
    book = AlertBook.from_json(json.loads(context.cursor)) if context.cursor else start_book(store)
    tick = alert_tick(
        book,
        store,
        alerts.alerter,
        policy=alerts.policy,
        api_base_url=alerts.api_base_url,
        dagster_url=alerts.dagster_url,
        now=datetime.now(UTC),
    )
    context.update_cursor(json.dumps(book.to_json()))
    for line in tick.sent:
        context.log.info(f"alert sent: {line}")
    for line in tick.retrying:
        context.log.warning(f"alert not delivered, will retry: {line}")
    for line in tick.given_up:
        context.log.error(f"alert given up after repeated failures: {line}")
    if alerts.alerter is None:
        return SkipReason(f"RAS_ALERT_WEBHOOK_URL is not set; {tick.summary()}")
    return SkipReason(tick.summary())
