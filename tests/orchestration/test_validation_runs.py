"""POST /jobs rides on a `validate_recordings` run still waiting in Dagster's queue, asked through a
real webserver's GraphQL API (a queue-only coordinator: runs stay queued until marked otherwise)."""

from __future__ import annotations

from dagster import DagsterEvent, DagsterEventType

from ras_platform.dagster_client import VALIDATE_RECORDINGS_JOB
from tests.orchestration.test_callback_fast_path import Dagster, dagster  # noqa: F401 - fixture


def _mark_started(running: Dagster, run_id: str) -> None:
    """What the run worker reports first when it begins executing."""
    running.platform.instance.report_dagster_event(
        DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name=VALIDATE_RECORDINGS_JOB),
        run_id,
    )


def test_a_queued_validation_run_is_found_until_it_begins(dagster: Dagster) -> None:  # noqa: F811
    client = dagster.client
    assert client.waiting_run_id(VALIDATE_RECORDINGS_JOB) is None

    run_id = client.launch_run(VALIDATE_RECORDINGS_JOB)

    assert client.waiting_run_id(VALIDATE_RECORDINGS_JOB) == run_id
    assert client.waiting_run_id("import_processed") is None  # other jobs' runs are not it
    _mark_started(dagster, run_id)
    # Under way, it may have read the requests already: a later POST needs a run of its own.
    assert client.waiting_run_id(VALIDATE_RECORDINGS_JOB) is None
