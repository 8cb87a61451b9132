"""End to end: a recording that fails for good announces itself, exactly once, three ways: the
`RecordingAnalysisFailedV1` domain event, one webhook call (a local receiver playing Slack), and
the failure in the API's /metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ras_platform.demo import ApiClient, demo_metadata, wait_until_done
from ras_platform.stack import Stack
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

FAILING = "e2e-fails"
COMPLETING = "e2e-ok"


def _failure_events(stack: Stack) -> list[dict]:
    events_file = stack.home / "data" / "events.jsonl"
    lines = events_file.read_text().splitlines() if events_file.exists() else []
    return [
        json.loads(line) for line in lines if json.loads(line)["DetailType"] == "RecordingAnalysisFailedV1"
    ]


def _failures_in_metrics(stack: Stack) -> float:
    text = httpx.get(f"{stack.api_url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ras_jobs" and sample.labels == {"job_type": "ball-tracking", "state": "failed"}
    )


def _wait(condition, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.5)


def test_a_recording_that_fails_for_good_announces_itself_once(tmp_path: Path) -> None:
    with WebhookReceiver(fail_first=1) as receiver:  # the first delivery is refused: retried
        stack = Stack(
            home=tmp_path,
            settings_env={"RAS_ALERT_WEBHOOK_URL": receiver.url, "RAS_EMA_MAX_ATTEMPTS": "2"},
            simulator_args=[
                "--job-duration-s=0.5",
                f"--malformed-recordings={FAILING}",
                "--malformed-kinds=ball-tracking",
            ],
        )
        with stack:
            api = ApiClient(stack.api_url, stack.settings.zola_token)
            for recording_id in (FAILING, COMPLETING):
                api.register(demo_metadata(recording_id, 60.0))
                api.start_jobs(recording_id)
            final = wait_until_done(api, [FAILING, COMPLETING], timeout_s=420)
            _wait(lambda: len(_failure_events(stack)) >= 1 and len(receiver.received) >= 1)
            time.sleep(10)  # long enough for a second event or alert to show, if there were one
            events, alerts = _failure_events(stack), list(receiver.received)
            failed_in_metrics = _failures_in_metrics(stack)
            received_metric = httpx.get(f"{stack.api_url}/metrics").text

    assert final[COMPLETING]["overall_state"] == "completed"
    assert final[FAILING]["overall_state"] == "failed"
    [event] = events
    detail = json.loads(event["Detail"])
    assert detail["recording_id"] == FAILING and detail["job_type"] == "ball-tracking"
    assert detail["attempt"] == 2 and detail["reason"]
    # Three failed attempts of eleven also cross the failure-rate threshold: that alert is about the
    # platform, not the recording, and comes at most once per window.
    [alert] = [a for a in alerts if "recording_id" in a]
    assert len([a for a in alerts if "failure_rate" in a]) <= 1
    assert receiver.refused == 1  # refused once, delivered on the retry, never twice
    assert alert["text"].startswith(f"Recording {FAILING}: ball-tracking failed for good (attempt 2)")
    assert alert["attempt"] == 2 and alert["event_id"] == detail["event_id"]
    assert failed_in_metrics == 1
    assert 'ras_job_failures_total{job_type="ball-tracking"' in received_metric
