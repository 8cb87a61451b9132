"""Sends alerts to the webhook of `RAS_ALERT_WEBHOOK_URL` (Slack-compatible JSON, ras_core.alerts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ras_core.alerts import (
    FAILURE_EVENT,
    AlertBook,
    FailureRatePolicy,
    failure_rate_alert,
    recording_failed_alert,
)
from ras_platform.state_store import (
    StateStore,
    attempts_ended_after,
    last_change_id,
    last_outbox_id,
    outbox_after,
)


class AlertNotDelivered(Exception):
    """The webhook did not take the alert (unreachable, timeout, or a non-2xx answer)."""


class WebhookAlerter:
    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def send(self, payload: dict[str, Any]) -> None:
        # Imported here: only the alert sensor's process sends, and httpx costs start-up time.
        import httpx

        try:
            answer = httpx.post(self.url, json=payload, timeout=self.timeout_s)
        except httpx.HTTPError as error:
            raise AlertNotDelivered(f"{type(error).__name__}: {error}") from error
        if not answer.is_success:
            raise AlertNotDelivered(f"{answer.status_code} {answer.text[:200]}")


@dataclass
class AlertTick:
    """What one tick of the alert sensor did, for its log line."""

    queued: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)
    failure_rate: tuple[int, int] = (0, 0)  # (failed, ended) in the window

    def summary(self) -> str:
        failed, ended = self.failure_rate
        return (
            f"alerts queued={len(self.queued)} sent={len(self.sent)} retrying={len(self.retrying)} "
            f"given up={len(self.given_up)}; failure rate window: {failed} failed of {ended} ended"
        )


# Outbox rows younger than this are left for the next tick: ids are handed out before commit, so a
# late commit could otherwise slip behind the cursor (the change-log counters do the same).
SETTLE = timedelta(seconds=5)
EVENTS_PER_TICK = 500


def alert_tick(
    book: AlertBook,
    store: StateStore,
    alerter: WebhookAlerter | None,
    *,
    policy: FailureRatePolicy,
    api_base_url: str,
    dagster_url: str,
    now: datetime,
) -> AlertTick:
    """Queue the alerts owed since the last tick and deliver those due. Without a webhook the
    cursor still advances, so configuring one later does not replay old failures."""
    tick = AlertTick()
    for detail in _new_failure_events(book, store, now):
        alert = recording_failed_alert(detail, api_base_url=api_base_url, dagster_url=dagster_url)
        if alerter is not None and book.enqueue(alert):
            tick.queued.append(alert.key)
    floor = book.window_floor(now.timestamp(), policy.window, last_change_id(store))
    ended = attempts_ended_after(store, floor)
    failed, total = ended.get("failed", 0), ended.get("failed", 0) + ended.get("completed", 0)
    tick.failure_rate = (failed, total)
    rate_alert, book.rate_firing = failure_rate_alert(
        failed, total, policy=policy, firing=book.rate_firing, at=now
    )
    if rate_alert is not None and alerter is not None and book.enqueue(rate_alert):
        tick.queued.append(rate_alert.key)
    if alerter is not None:
        _deliver(book, alerter, now.timestamp(), tick)
    return tick


def _new_failure_events(book: AlertBook, store: StateStore, now: datetime) -> list[dict[str, Any]]:
    horizon = now - SETTLE
    details = []
    for row in outbox_after(store, book.outbox_after, limit=EVENTS_PER_TICK):
        if row.created_at > horizon:
            break
        book.outbox_after = row.id
        if row.detail_type == FAILURE_EVENT:
            details.append(row.detail)
    return details


def _deliver(book: AlertBook, alerter: WebhookAlerter, now: float, tick: AlertTick) -> None:
    for delivery in book.due(now):
        try:
            alerter.send(delivery.payload)
        except AlertNotDelivered as error:
            if delivery.failed_once(now):
                tick.retrying.append(f"{delivery.key}: {error}")
            else:
                book.give_up(delivery)
                tick.given_up.append(f"{delivery.key}: {error}")
            continue
        book.delivered(delivery)
        tick.sent.append(delivery.key)


def start_book(store: StateStore) -> AlertBook:
    """A new sensor starts at the newest outbox row: failures from before it existed are not news."""
    return AlertBook(outbox_after=last_outbox_id(store))
