"""End to end: support staff re-run one job type for many recordings with a Dagster backfill launched
through GraphQL, and it goes through the lifecycle like POST /jobs: a new attempt per recording with
change-log rows naming the backfill's runs, runs tagged with their recording, and the domain events."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunsFilter

from ras_platform.dagster_client import DagsterClient
from ras_platform.demo import ApiClient, demo_metadata, wait_until_done
from ras_platform.stack import Stack

pytestmark = pytest.mark.e2e

RECORDINGS = ["bf-001", "bf-002"]


def _event_detection(api: ApiClient, recording_id: str) -> dict:
    jobs = api.http.get(f"/recordings/{recording_id}/analytics").json()["jobs"]
    return next(job for job in jobs if job["job_type"] == "event-detection")


def _published(stack: Stack, detail_type: str) -> list[dict]:
    lines = (stack.home / "data" / "events.jsonl").read_text().splitlines()
    return [json.loads(e["Detail"]) for e in map(json.loads, lines) if e["DetailType"] == detail_type]


def test_a_backfill_re_runs_a_job_type_for_two_recordings_through_the_lifecycle(tmp_path: Path) -> None:
    stack = Stack(home=tmp_path, settings_env={}, simulator_args=["--job-duration-s=0.5"])
    with stack:
        api = ApiClient(stack.api_url, stack.settings.zola_token)
        for recording_id in RECORDINGS:
            api.register(demo_metadata(recording_id, 60.0))
            api.start_jobs(recording_id)
        settled = wait_until_done(api, RECORDINGS, timeout_s=420)
        assert all(a["overall_state"] == "completed" for a in settled.values())

        dagster = DagsterClient(stack.dagster_url, stack.settings.dagster_location_name)
        backfill_id = dagster.launch_backfill(["events"], RECORDINGS, title="re-run event detection")

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            jobs = {r: _event_detection(api, r) for r in RECORDINGS}
            if all(j["attempt"] == 2 and j["state"] == "completed" for j in jobs.values()):
                break
            time.sleep(1)
        logs = {r: api.http.get(f"/recordings/{r}/analytics/logs").json()["entries"] for r in RECORDINGS}
        time.sleep(8)  # a tick of the domain events sensor
        events = _published(stack, "EventDetectionProcessedV1")
        with DagsterInstance.from_config(str(stack.dagster_home)) as instance:
            runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))

    assert all(j["attempt"] == 2 and j["state"] == "completed" for j in jobs.values()), jobs
    assert {run.tags["ras/recording"] for run in runs} == set(RECORDINGS)
    run_ids = {run.run_id for run in runs}
    for recording_id in RECORDINGS:
        restarted = [
            e
            for e in logs[recording_id]
            if e["job_type"] == "event-detection" and e["to_state"] == "pending" and e["attempt"] == 2
        ]
        assert restarted and (restarted[0]["detail"] or {}).get("run_id") in run_ids, logs[recording_id]
        completed = [
            e
            for e in logs[recording_id]
            if e["job_type"] == "event-detection" and e["to_state"] == "completed"
        ]
        assert [e["attempt"] for e in completed] == [1, 2]
        assert (completed[-1]["detail"] or {}).get("run_id"), "the import run that completed attempt 2"
        assert sorted(e["attempt"] for e in events if e["recording_id"] == recording_id) == [1, 2]
