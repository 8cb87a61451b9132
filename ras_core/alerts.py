"""Alerts a person reads (contracts.md, "Alerts"): what they say, when they fire, how often they retry.

Two alerts go to the webhook named by `RAS_ALERT_WEBHOOK_URL`, as Slack-compatible JSON
(`{"text": ...}` plus attachment fields, which Slack, Mattermost and Rocket.Chat all render):
- a recording failed for good: one per `RecordingAnalysisFailedV1` domain event, deduplicated per
  recording and attempt;
- the failure rate: the share of job attempts that failed over a window rose above a threshold (once
  when it rises, again only after it fell back below).
Pure: the sensor in `sensors/alerts.py` reads the outbox and the change log and sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

FAILURE_EVENT = "RecordingAnalysisFailedV1"
# A webhook that keeps failing is retried with a doubling delay, then given up (and logged).
FIRST_RETRY = timedelta(seconds=5)
MAX_RETRY_DELAY = timedelta(minutes=10)
MAX_DELIVERY_ATTEMPTS = 10


@dataclass(frozen=True)
class Alert:
    key: str  # the deduplication key: one delivery per key
    payload: dict[str, Any]


def _field(title: str, value: object, *, short: bool = True) -> dict[str, Any]:
    return {"title": title, "value": str(value), "short": short}


def recording_failed_alert(detail: Mapping[str, Any], *, api_base_url: str, dagster_url: str) -> Alert:
    """The alert for one `RecordingAnalysisFailedV1` event's detail (recording, job type, attempt,
    reason, links)."""
    recording_id, job_type, attempt = detail["recording_id"], detail["job_type"], detail["attempt"]
    reason = detail.get("reason") or "no reason given"
    analytics = f"{api_base_url.rstrip('/')}/recordings/{recording_id}/analytics"
    dagster = f"{dagster_url.rstrip('/')}/assets?partition={recording_id}"
    text = f"Recording {recording_id}: {job_type} failed for good (attempt {attempt}): {reason}"
    fields = [
        _field("Recording", recording_id),
        _field("Job type", job_type),
        _field("Attempt", attempt),
        _field("Failure class", detail.get("reason_class", "-")),
        _field("Reason", reason, short=False),
        _field("State and change log", analytics, short=False),
        _field("Dagster", dagster, short=False),
    ]
    payload = {
        "text": text,
        "recording_id": recording_id,
        "job_type": job_type,
        "attempt": attempt,
        "event_id": detail.get("event_id"),
        "attachments": [{"color": "danger", "fallback": text, "fields": fields}],
    }
    return Alert(f"recording-failed:{recording_id}:{attempt}", payload)


@dataclass(frozen=True)
class FailureRatePolicy:
    threshold: float = 0.2  # share of ended attempts that failed
    window: timedelta = timedelta(minutes=30)
    min_attempts: int = 10  # fewer ended attempts than this never alert


def failure_rate_alert(
    failed: int, ended: int, *, policy: FailureRatePolicy, firing: bool, at: datetime
) -> tuple[Alert | None, bool]:
    """(the alert to send or None, whether the rate is above the threshold now).

    Fires when the rate rises above the threshold and not again while it stays there, so a bad hour
    is one message, not one per sensor tick."""
    above = ended >= policy.min_attempts and failed / ended > policy.threshold
    if not above or firing:
        return None, above
    minutes = round(policy.window.total_seconds() / 60)
    share = failed / ended
    text = (
        f"{share:.0%} of job attempts failed in the last {minutes} minutes "
        f"({failed} of {ended}; threshold {policy.threshold:.0%})"
    )
    fields = [
        _field("Failed", failed),
        _field("Ended", ended),
        _field("Window", f"{minutes} min"),
        _field("Threshold", f"{policy.threshold:.0%}"),
    ]
    payload = {
        "text": text,
        "failure_rate": round(share, 4),
        "attachments": [{"color": "warning", "fallback": text, "fields": fields}],
    }
    return Alert(f"failure-rate:{at.isoformat()}", payload), True


@dataclass
class PendingDelivery:
    key: str
    payload: dict[str, Any]
    attempts: int = 0
    next_at: float = 0.0  # POSIX time of the next try

    def failed_once(self, now: float) -> bool:
        """Note a failed try; False when the alert is given up."""
        self.attempts += 1
        delay = min(FIRST_RETRY * 2 ** (self.attempts - 1), MAX_RETRY_DELAY)
        self.next_at = now + delay.total_seconds()
        return self.attempts < MAX_DELIVERY_ATTEMPTS


@dataclass
class AlertBook:
    """What the alert sensor remembers between ticks (its cursor, as JSON).

    `outbox_after`: outbox ids up to here were looked at. `sent`: recent keys, so a key is delivered
    once even if its event is seen again. `checkpoints`: (time, newest change-log id) pairs, so the
    failure rate counts only the window's rows by a primary-key range."""

    outbox_after: int = 0
    pending: list[PendingDelivery] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    rate_firing: bool = False
    checkpoints: list[tuple[float, int]] = field(default_factory=list)

    SENT_KEPT = 1000

    def enqueue(self, alert: Alert) -> bool:
        """Queue an alert for delivery unless its key was sent or is queued; True if queued."""
        if alert.key in self.sent or any(p.key == alert.key for p in self.pending):
            return False
        self.pending.append(PendingDelivery(alert.key, alert.payload))
        return True

    def due(self, now: float) -> list[PendingDelivery]:
        return [p for p in self.pending if p.next_at <= now]

    def delivered(self, delivery: PendingDelivery) -> None:
        self.pending.remove(delivery)
        self.sent = [*self.sent, delivery.key][-self.SENT_KEPT :]

    def give_up(self, delivery: PendingDelivery) -> None:
        self.pending.remove(delivery)

    def window_floor(self, now: float, window: timedelta, newest_change_id: int) -> int:
        """The change-log id before the window starts; records this tick's checkpoint."""
        start = now - window.total_seconds()
        self.checkpoints.append((now, newest_change_id))
        older = [c for c in self.checkpoints if c[0] <= start]
        self.checkpoints = older[-1:] + [c for c in self.checkpoints if c[0] > start]
        return older[-1][1] if older else self.checkpoints[0][1]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertBook:
        return cls(
            outbox_after=data["outbox_after"],
            pending=[PendingDelivery(**p) for p in data["pending"]],
            sent=list(data["sent"]),
            rate_firing=data["rate_firing"],
            checkpoints=[(float(t), int(i)) for t, i in data["checkpoints"]],
        )
