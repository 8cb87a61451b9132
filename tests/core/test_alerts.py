"""What alerts say, when they fire and how their deliveries are retried (ras_core.alerts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ras_core.alerts import (
    MAX_DELIVERY_ATTEMPTS,
    AlertBook,
    FailureRatePolicy,
    failure_rate_alert,
    recording_failed_alert,
)

DETAIL = {
    "recording_id": "rec-001",
    "event_id": "e-1",
    "job_type": "ball-tracking",
    "attempt": 3,
    "reason": "ball_tracking: ball-tracking.csv row 12: time goes backwards",
    "reason_class": "contract",
    "links": {"analytics": "/recordings/rec-001/analytics"},
}
AT = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def test_a_recording_alert_is_slack_text_plus_fields_with_links() -> None:
    alert = recording_failed_alert(
        DETAIL, api_base_url="https://ras.example/", dagster_url="http://dagster:3000"
    )

    assert alert.key == "recording-failed:rec-001:3"
    payload = alert.payload
    assert payload["text"].startswith(
        "Recording rec-001: ball-tracking failed for good (attempt 3): ball_tracking"
    )
    fields = {f["title"]: f["value"] for f in payload["attachments"][0]["fields"]}
    assert fields["Failure class"] == "contract"
    assert fields["State and change log"] == "https://ras.example/recordings/rec-001/analytics"
    assert fields["Dagster"] == "http://dagster:3000/assets?partition=rec-001"


def test_the_failure_rate_alert_fires_once_when_it_rises_and_again_only_after_it_fell() -> None:
    policy = FailureRatePolicy(threshold=0.2, min_attempts=10)

    quiet, firing = failure_rate_alert(1, 10, policy=policy, firing=False, at=AT)
    assert quiet is None and not firing
    alert, firing = failure_rate_alert(5, 10, policy=policy, firing=False, at=AT)
    assert alert is not None and firing and alert.payload["text"].startswith("50% of job attempts failed")
    assert failure_rate_alert(6, 10, policy=policy, firing=True, at=AT) == (None, True)
    assert failure_rate_alert(1, 10, policy=policy, firing=True, at=AT) == (None, False)
    again, _ = failure_rate_alert(5, 10, policy=policy, firing=False, at=AT + timedelta(hours=1))
    assert again is not None and again.key != alert.key


def test_too_few_attempts_never_alert_however_many_failed() -> None:
    assert failure_rate_alert(3, 3, policy=FailureRatePolicy(min_attempts=10), firing=False, at=AT) == (
        None,
        False,
    )


def test_a_key_is_delivered_once_even_when_its_event_is_seen_again() -> None:
    book = AlertBook()
    alert = recording_failed_alert(DETAIL, api_base_url="", dagster_url="")

    assert book.enqueue(alert)
    assert not book.enqueue(alert)  # queued already
    [delivery] = book.due(now=0)
    book.delivered(delivery)
    assert not book.enqueue(alert)  # sent already
    assert book.due(now=0) == []


def test_failed_deliveries_back_off_then_are_given_up() -> None:
    book = AlertBook()
    book.enqueue(recording_failed_alert(DETAIL, api_base_url="", dagster_url=""))
    [delivery] = book.due(now=100)

    assert delivery.failed_once(now=100)
    assert book.due(now=104) == [] and book.due(now=105) == [delivery]  # 5 s, then 10 s, 20 s, ...
    assert delivery.failed_once(now=105) and book.due(now=114) == []
    while delivery.attempts < MAX_DELIVERY_ATTEMPTS - 1:
        assert delivery.failed_once(now=0)
    assert not delivery.failed_once(now=0)


def test_the_window_floor_is_the_newest_checkpoint_before_the_window() -> None:
    book, window = AlertBook(), timedelta(minutes=30)

    assert book.window_floor(0.0, window, newest_change_id=10) == 10  # nothing older: start empty
    assert book.window_floor(600.0, window, newest_change_id=50) == 10
    assert book.window_floor(1900.0, window, newest_change_id=90) == 10  # t=0 is the last before 100
    assert book.window_floor(2500.0, window, newest_change_id=95) == 50
    assert len(book.checkpoints) <= 3


def test_the_book_survives_its_json_round_trip() -> None:
    book = AlertBook(outbox_after=7, rate_firing=True)
    book.enqueue(recording_failed_alert(DETAIL, api_base_url="", dagster_url=""))
    book.pending[0].failed_once(now=5)
    book.window_floor(1.0, timedelta(minutes=30), 3)

    assert AlertBook.from_json(book.to_json()) == book
