"""`failure_alerts_sensor` against a temporary Dagster instance, the real state store and a local
webhook receiver: one alert per recording and attempt, retried when the webhook fails, and a
failure-rate alert once the share of failed attempts runs high."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from dagster import build_sensor_context
from sqlalchemy import create_engine, insert

from ras_core.alerts import FAILURE_EVENT, AlertBook
from ras_core.states import JobState, Source
from ras_platform.db.schema import outbox
from resources import AlertsResource
from sensors.alerts import failure_alerts_sensor
from tests.orchestration.support import Platform
from tests.webhook_receiver import WebhookReceiver


def _failure_event(platform: Platform, job_type: str, attempt: int, *, age_s: float = 60) -> None:
    """A `RecordingAnalysisFailedV1` row as the lifecycle writes it (contracts.md, "Alerts")."""
    event_id = str(uuid.uuid4())
    detail = {
        "recording_id": platform.recording_id,
        "event_id": event_id,
        "occurred_at": "2026-11-29T09:00:00Z",
        "job_type": job_type,
        "attempt": attempt,
        "reason": f"{job_type}: row 3: missing column",
        "reason_class": "contract",
        "links": {"analytics": f"/recordings/{platform.recording_id}/analytics"},
    }
    engine = create_engine(platform.store.url)
    with engine.begin() as conn:
        conn.execute(
            insert(outbox).values(
                event_id=event_id,
                recording_id=platform.recording_id,
                detail_type=FAILURE_EVENT,
                detail=detail,
                created_at=datetime.now(UTC) - timedelta(seconds=age_s),
            )
        )
    engine.dispose()


def _tick(platform: Platform, alerts: AlertsResource, cursor: str | None) -> str | None:
    resources = {**platform.resources, "alerts": alerts}
    context = build_sensor_context(instance=platform.instance, resources=resources, cursor=cursor)
    failure_alerts_sensor(context)
    return context.cursor


def _retry_due_now(cursor: str | None) -> str:
    """The cursor with every retry due, instead of waiting out the backoff."""
    assert cursor is not None
    book = AlertBook.from_json(json.loads(cursor))
    for delivery in book.pending:
        delivery.next_at = 0
    return json.dumps(book.to_json())


def _alerts(url: str) -> AlertsResource:
    return AlertsResource(
        settings={"alert_webhook_url": url, "api_base_url": "http://ras.test", "dagster_url": "http://dagster.test"}
    )


def test_one_alert_per_recording_and_attempt_retried_until_the_webhook_takes_it(platform: Platform) -> None:
    with WebhookReceiver(fail_first=1) as receiver:
        alerts = _alerts(receiver.url)
        cursor = _tick(platform, alerts, None)  # starts at the newest outbox row
        _failure_event(platform, "ball-tracking", 3)
        _failure_event(platform, "ball-tracking", 3)  # seen twice: still one alert

        cursor = _tick(platform, alerts, cursor)  # refused with 500: retried after a backoff
        assert receiver.refused == 1 and receiver.received == []
        cursor = _tick(platform, alerts, _retry_due_now(cursor))
        cursor = _tick(platform, alerts, cursor)

    [alert] = receiver.received
    assert alert["text"].startswith(
        f"Recording {platform.recording_id}: ball-tracking failed for good (attempt 3)"
    )
    assert alert["attempt"] == 3 and alert["attachments"][0]["color"] == "danger"


def test_events_younger_than_the_settle_time_wait_for_the_next_tick(platform: Platform) -> None:
    with WebhookReceiver() as receiver:
        alerts = _alerts(receiver.url)
        cursor = _tick(platform, alerts, None)
        _failure_event(platform, "event-detection", 1, age_s=0)
        cursor = _tick(platform, alerts, cursor)
        assert receiver.received == []
        _failure_event(platform, "event-detection", 2, age_s=60)  # committed later, older: still waits
        _tick(platform, alerts, cursor)
    assert receiver.received == []


def test_failures_before_the_webhook_was_configured_are_not_replayed(platform: Platform) -> None:
    cursor = _tick(platform, AlertsResource(), None)
    _failure_event(platform, "match-report", 1)
    cursor = _tick(platform, AlertsResource(), cursor)
    with WebhookReceiver() as receiver:
        _tick(platform, _alerts(receiver.url), cursor)
    assert receiver.received == []


def test_a_high_failure_rate_alerts_once(platform: Platform) -> None:
    store = platform.store
    with WebhookReceiver() as receiver:
        alerts = AlertsResource(
            settings={
                "alert_webhook_url": receiver.url,
                "alert_failure_rate_threshold": "0.5",
                "alert_failure_rate_min_attempts": "4",
            }
        )
        cursor = _tick(platform, alerts, None)
        for job_type in ("event-detection", "player-tracking", "ball-tracking", "match-report"):
            store.transition(
                platform.recording_id, job_type, JobState.FAILED, source=Source.IMPORT, reason="x"
            )
        cursor = _tick(platform, alerts, cursor)
        cursor = _tick(platform, alerts, cursor)  # still above: no second message

    [alert] = receiver.received
    assert alert["text"].startswith("100% of job attempts failed in the last 30 minutes (4 of 4")
