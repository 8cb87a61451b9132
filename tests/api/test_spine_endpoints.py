"""Register, callback inbox, POST/DELETE jobs and the analytics endpoints through the ASGI app.

Dagster's GraphQL API is played by an httpx MockTransport (it is Dagster's contract, not our code);
the real webserver is exercised end to end in tests/e2e."""

from __future__ import annotations

import json

import httpx
import pytest

from ras_core.states import JobState
from ras_platform.dagster_client import DagsterClient
from tests.api.conftest import EMA, PENDING_ID, RECORDING_ID, RUNNING_ID, ZOLA, Api


def _callback(**overrides: object) -> dict:
    body = {
        "job_id": "ema-1",
        "job_kind": "player-tracking",
        "job_state": "succeeded",
        "job_exit_code": None,
        "job_reason": None,
        "emitted_at": "2026-11-23T12:00:00Z",
    }
    return {**body, **overrides}


class FakeDagster:
    """Answers launchRun / addDynamicPartition / runsOrError / terminateRuns like the webserver."""

    def __init__(self, *, fail: bool = False):
        self.fail, self.launched, self.partitions, self.terminated = fail, [], [], []
        self.waiting: list[str] = []  # runs of a job still queued (what a pipelineName filter finds)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.fail:
            return httpx.Response(502)
        query = json.loads(request.content)
        variables, text = query["variables"], query["query"]
        if "addDynamicPartition" in text:
            self.partitions.append(variables["key"])
            return httpx.Response(
                200, json={"data": {"addDynamicPartition": {"__typename": "AddDynamicPartitionSuccess"}}}
            )
        if "launchRun" in text:
            self.launched.append(variables["params"])
            return httpx.Response(
                200,
                json={"data": {"launchRun": {"__typename": "LaunchRunSuccess", "run": {"runId": "run-1"}}}},
            )
        if "runsOrError" in text and "pipelineName" in variables["filter"]:
            results = [{"runId": run_id, "status": "QUEUED"} for run_id in self.waiting]
            return httpx.Response(
                200, json={"data": {"runsOrError": {"__typename": "Runs", "results": results}}}
            )
        if "runsOrError" in text:
            return httpx.Response(
                200,
                json={
                    "data": {
                        "runsOrError": {
                            "__typename": "Runs",
                            "results": [{"runId": "run-1", "status": "STARTED"}],
                        }
                    }
                },
            )
        self.terminated.append(variables["ids"])
        return httpx.Response(200, json={"data": {"terminateRuns": {"__typename": "TerminateRunsResult"}}})


@pytest.fixture
def dagster(api: Api) -> FakeDagster:
    fake = FakeDagster()
    api.platform.__dict__["dagster"] = DagsterClient(
        "http://dagster", "ras", transport=httpx.MockTransport(fake)
    )
    return fake


def test_a_callback_is_stored_once_and_answered_202(api: Api) -> None:
    first = api.client.post(f"/recordings/{RUNNING_ID}/jobs/callback", json=_callback(), headers=EMA)
    again = api.client.post(f"/recordings/{RUNNING_ID}/jobs/callback", json=_callback(), headers=EMA)

    assert first.status_code == again.status_code == 202
    assert first.json()["duplicate"] is False and again.json() == {**first.json(), "duplicate": True}
    [stored] = api.platform.state_store.pending_callbacks()
    assert stored.recording_id == RUNNING_ID and stored.job_state == "succeeded"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_callback(job_state="done"), "job_state"),
        (_callback(job_kind="goal-detection"), "job_kind"),
        ({k: v for k, v in _callback().items() if k != "job_id"}, "job_id"),
        (_callback(emitted_at="yesterday"), "emitted_at"),
    ],
)
def test_a_malformed_callback_is_a_problem_naming_the_field(api: Api, body: dict, field: str) -> None:
    answer = api.client.post(f"/recordings/{RUNNING_ID}/jobs/callback", json=body, headers=EMA)

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in answer.json()["detail"]
    assert api.platform.state_store.pending_callbacks() == []


def test_callbacks_need_the_ema_token_and_a_known_recording(api: Api) -> None:
    url = f"/recordings/{RUNNING_ID}/jobs/callback"
    assert api.client.post(url, json=_callback()).status_code == 401
    assert api.client.post(url, json=_callback(), headers=ZOLA).status_code == 403
    unknown = api.client.post("/recordings/rec-nobody/jobs/callback", json=_callback(), headers=EMA)
    assert unknown.status_code == 404 and "rec-nobody" in unknown.json()["detail"]
    assert api.client.post(
        "/recordings/rec%2F..%2Fx/jobs/callback", json=_callback(), headers=EMA
    ).status_code in {400, 404}


def test_post_jobs_launches_the_validation_run_through_graphql(api: Api, dagster: FakeDagster) -> None:
    answer = api.client.post(f"/recordings/{PENDING_ID}/jobs", json={}, headers=ZOLA)

    assert answer.status_code == 202 and answer.json()["run_id"] == "run-1"
    [params] = dagster.launched
    assert params["selector"]["jobName"] == "validate_recordings"
    assert dagster.partitions == [PENDING_ID]
    assert [r for r, _ in api.platform.state_store.validation_requests()] == [PENDING_ID]


def test_post_jobs_rides_on_a_validation_run_still_waiting_in_the_queue(
    api: Api, dagster: FakeDagster
) -> None:
    dagster.waiting = ["run-queued"]

    answer = api.client.post(f"/recordings/{PENDING_ID}/jobs", json={}, headers=ZOLA)

    # That run reads the requests when it starts, so it validates this recording too.
    assert answer.status_code == 202 and answer.json()["run_id"] == "run-queued"
    assert dagster.launched == []
    assert [r for r, _ in api.platform.state_store.validation_requests()] == [PENDING_ID]


def test_post_jobs_with_force_starts_a_new_attempt_of_a_completed_job(api: Api, dagster: FakeDagster) -> None:
    answer = api.client.post(
        f"/recordings/{RECORDING_ID}/jobs", json={"job_types": ["match-report"], "force": True}, headers=ZOLA
    )

    jobs = {job["job_type"]: job for job in answer.json()["jobs"]}
    assert jobs["match-report"]["state"] == "pending" and jobs["match-report"]["attempt"] == 2
    assert jobs["events" if "events" in jobs else "event-detection"]["state"] == "completed"


def test_post_jobs_refuses_unknown_job_types_and_answers_503_when_dagster_is_down(api: Api) -> None:
    unknown = api.client.post(
        f"/recordings/{PENDING_ID}/jobs", json={"job_types": ["goal-detection"]}, headers=ZOLA
    )
    assert unknown.status_code == 422 and "goal-detection" in unknown.json()["detail"]

    api.platform.__dict__["dagster"] = DagsterClient(
        "http://dagster", "ras", transport=httpx.MockTransport(FakeDagster(fail=True))
    )
    down = api.client.post(f"/recordings/{PENDING_ID}/jobs", json={}, headers=ZOLA)
    assert down.status_code == 503 and "Dagster" in down.json()["detail"]


def test_delete_jobs_cancels_in_flight_jobs_and_terminates_runs(api: Api, dagster: FakeDagster) -> None:
    cancelled = []

    def ema(request: httpx.Request) -> httpx.Response:
        cancelled.append(request.url.path)
        return httpx.Response(204)

    from ras_platform.ema_client import EmaClient

    api.platform.__dict__["ema"] = EmaClient("http://ema", "k", transport=httpx.MockTransport(ema))
    answer = api.client.delete(f"/recordings/{RUNNING_ID}/jobs", headers=ZOLA)

    assert answer.status_code == 200
    assert "player-tracking" in answer.json()["cancelled"] and answer.json()["terminated_runs"] == ["run-1"]
    assert cancelled == ["/v3/jobs/ema-1"]
    status = api.platform.state_store.job_status(RUNNING_ID, "player-tracking")
    assert status.state is JobState.FAILED and status.reason == "cancelled by Zola"


def test_register_validates_metadata_and_is_idempotent(api: Api, dagster: FakeDagster) -> None:
    metadata = {
        "fps": 25.0,
        "duration_s": 600.0,
        "pitch": {"length_m": 105.0, "width_m": 68.0},
        "video_uris": ["s3://v/a.mp4"],
        "periods": [{"id": 1, "start_s": 0.0, "end_s": 600.0}],
    }
    created = api.client.put("/recordings/rec-new", json=metadata, headers=ZOLA)
    again = api.client.put("/recordings/rec-new", json=metadata, headers=ZOLA)
    bad = api.client.put("/recordings/rec-bad", json={**metadata, "fps": 0}, headers=ZOLA)

    assert (created.status_code, again.status_code) == (201, 200)
    assert bad.status_code == 422 and "fps" in bad.json()["detail"]
    assert api.client.get("/recordings/rec-bad/analytics").status_code == 404


def test_analytics_logs_and_rebuild(api: Api) -> None:
    analytics = api.get(f"{RECORDING_ID}/analytics")
    logs = api.get(f"{RECORDING_ID}/analytics/logs")
    rebuilt = api.client.post(f"/recordings/{RECORDING_ID}/analytics", headers=ZOLA)

    assert analytics.headers["cache-control"] == logs.headers["cache-control"] == "no-store"
    assert analytics.json()["overall_state"] == "completed"
    versions = [entry["version"] for entry in logs.json()["entries"]]
    assert versions == sorted(versions) and versions[0] == 1
    assert rebuilt.json() == analytics.json()
    assert api.client.post(f"/recordings/{RECORDING_ID}/analytics").status_code == 401


def test_analytics_shows_the_quality_figures_of_what_is_served(api: Api) -> None:
    report = {
        "check": "frame_coverage",
        "severity": "quality",
        "passed": False,
        "description": "raw/player-tracking/rec-api.csv covers 12.0% of the 6001 frames",
        "figures": {"share": 0.12, "present": 720, "expected": 6001, "threshold": 0.5},
    }
    api.platform.state_store.record_quality(RECORDING_ID, "player_tracking", "player-tracking", 1, [report])

    quality = api.get(f"{RECORDING_ID}/analytics").json()["quality"]

    assert quality == [
        {
            "output": "player_tracking",
            "job_type": "player-tracking",
            "attempt": 1,
            "measured_at": quality[0]["measured_at"],
            "warnings": ["frame_coverage"],
            "checks": [report],
        }
    ]
    assert api.get(f"{PENDING_ID}/analytics").json()["quality"] == []
