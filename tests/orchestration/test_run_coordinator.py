"""The run coordinator's fast lane on a real Dagster instance: a run tagged for it starts when
submitted while the queue's limits allow, and is queued like any other run when they do not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, instance_for_test
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.run_coordinator import SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun, make_new_run_id

from ras_platform.dagster_client import FAST_LANE, FAST_LANE_TAG
from ras_platform.run_coordinator import FastLaneRunCoordinator
from ras_platform.stack import embedded_dagster_yaml

IMPORT = {"ras/kind": "import"}
# Where the webserver would find the run's job: a queued run must name it.
ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(
        GrpcServerCodeLocationOrigin("localhost", 4000, location_name="ras"), "__repository__"
    ),
    "import_processed",
)


def coordinated_instance(**queue_config: Any) -> Any:
    return instance_for_test(
        overrides={
            "run_coordinator": {
                "module": "ras_platform.run_coordinator",
                "class": "FastLaneRunCoordinator",
                "config": queue_config,
            },
            "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"},
        }
    )


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with coordinated_instance(
        max_concurrent_runs=4, tag_concurrency_limits=[{"key": "ras/kind", "value": "import", "limit": 2}]
    ) as instance:
        yield instance


def add_run(
    instance: DagsterInstance, tags: dict[str, str], status=DagsterRunStatus.NOT_STARTED
) -> DagsterRun:
    run = DagsterRun(
        job_name="import_processed",
        run_id=make_new_run_id(),
        tags=tags,
        status=status,
        remote_job_origin=ORIGIN,
    )
    return instance.add_run(run)


def submit(instance: DagsterInstance, tags: dict[str, str]) -> DagsterRun:
    run = add_run(instance, tags)
    return instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))  # type: ignore[arg-type]


def fast(tags: dict[str, str] = IMPORT) -> dict[str, str]:
    return {**tags, FAST_LANE_TAG: FAST_LANE}


def event_types(instance: DagsterInstance, run: DagsterRun) -> list[DagsterEventType]:
    return [entry.dagster_event_type for entry in instance.all_logs(run.run_id) if entry.dagster_event_type]


def test_a_fast_lane_run_starts_when_submitted(instance: DagsterInstance) -> None:
    run = submit(instance, fast())

    assert run.status == DagsterRunStatus.STARTING
    assert instance.run_launcher.did_run_launch(run.run_id)  # type: ignore[attr-defined]
    assert DagsterEventType.PIPELINE_ENQUEUED not in event_types(instance, run)


def test_a_run_without_the_tag_waits_for_the_daemon(instance: DagsterInstance) -> None:
    run = submit(instance, IMPORT)

    assert run.status == DagsterRunStatus.QUEUED
    assert not instance.run_launcher.did_run_launch(run.run_id)  # type: ignore[attr-defined]


def test_a_fast_lane_run_never_overtakes_runs_waiting_for_a_slot(instance: DagsterInstance) -> None:
    """Two runs under way and two queued fill the 4 slots: the queued ones start first."""
    add_run(instance, {}, DagsterRunStatus.STARTED)
    add_run(instance, {}, DagsterRunStatus.STARTING)
    add_run(instance, {}, DagsterRunStatus.QUEUED)
    add_run(instance, {}, DagsterRunStatus.QUEUED)

    assert submit(instance, fast({})).status == DagsterRunStatus.QUEUED


def test_the_fast_lane_keeps_the_tag_limits(instance: DagsterInstance) -> None:
    first, second = submit(instance, fast()), submit(instance, fast())
    third = submit(instance, fast())  # the import limit is 2
    # The queued import holds the 3rd slot, the 4th is free.
    other_kind = submit(instance, fast({"ras/kind": "validate"}))

    started, queued = DagsterRunStatus.STARTING, DagsterRunStatus.QUEUED
    assert [run.status for run in (first, second, third, other_kind)] == [started, started, queued, started]


def test_a_limit_per_unique_value_counts_only_runs_of_the_same_value() -> None:
    per_recording = [{"key": "ras/recording", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    with coordinated_instance(max_concurrent_runs=10, tag_concurrency_limits=per_recording) as instance:
        add_run(instance, {"ras/recording": "a"}, DagsterRunStatus.STARTED)

        assert submit(instance, fast({"ras/recording": "a"})).status == DagsterRunStatus.QUEUED
        assert submit(instance, fast({"ras/recording": "b"})).status == DagsterRunStatus.STARTING


def test_a_limit_over_every_value_of_a_tag_leaves_the_run_to_the_queue() -> None:
    """A limit without a value counts runs by key alone, which one query by tag cannot: the queue decides."""
    with coordinated_instance(tag_concurrency_limits=[{"key": "ras/recording", "limit": 5}]) as instance:
        assert submit(instance, fast({"ras/recording": "a"})).status == DagsterRunStatus.QUEUED
        assert submit(instance, fast({"ras/kind": "import"})).status == DagsterRunStatus.STARTING


def test_a_failed_launch_fails_the_run_as_the_daemon_would() -> None:
    with instance_for_test(
        overrides={
            "run_coordinator": {"module": "ras_platform.run_coordinator", "class": "FastLaneRunCoordinator"},
            "run_launcher": {"module": "dagster._core.test_utils", "class": "ExplodingRunLauncher"},
        }
    ) as exploding:
        run = add_run(exploding, fast())
        with pytest.raises(NotImplementedError):
            exploding.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))  # type: ignore[arg-type]

        stored = exploding.get_run_by_id(run.run_id)
        assert stored is not None and stored.status == DagsterRunStatus.FAILURE


def test_the_embedded_instance_and_a_custom_lane_tag_load() -> None:
    embedded = embedded_dagster_yaml()["run_coordinator"]
    lane = {"key": "team", "value": "urgent"}
    config = {**embedded["config"], "fast_lane": lane}
    with instance_for_test(overrides={"run_coordinator": {**embedded, "config": config}}) as instance:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, FastLaneRunCoordinator)
        assert coordinator.get_run_queue_config().max_concurrent_runs == config["max_concurrent_runs"]
        assert coordinator.in_fast_lane(add_run(instance, {"team": "urgent"}))
        assert not coordinator.in_fast_lane(add_run(instance, fast()))
