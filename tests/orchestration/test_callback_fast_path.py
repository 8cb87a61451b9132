"""The callback fast path against a real Dagster webserver (in this process, over a temporary
instance whose queued run coordinator only queues): a callback's import run is launched without a
sensor tick, the sensor recovers what the fast path could not do, and nothing is imported twice."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterRunStatus,
    RunsFilter,
    build_sensor_context,
    instance_for_test,
)
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster_webserver.app import create_app_from_workspace_process_context
from sqlalchemy import update

from ras_core import catalogue
from ras_core.recording import parse_recording_metadata
from ras_core.states import JobState, Source
from ras_platform.callback_fast_path import CallbackFastPath, import_run_key
from ras_platform.dagster_client import RUN_KEY_TAG, DagsterClient
from ras_platform.db.engine import write_transaction
from ras_platform.db.schema import job_states
from ras_platform.lifecycle import READY_IMPORT_GRACE
from ras_platform.object_store import LocalObjectStore
from ras_platform.stack import embedded_dagster_yaml, free_port
from ras_platform.state_store import StateStore
from resources import platform_resources
from sensors.ema_callbacks import ema_callback_sensor
from tests.lifecycle_support import answer_trigger, lifecycle_for
from tests.orchestration.support import (
    FIXTURES,
    SIGNING_KEY,
    UNREACHABLE,
    Platform,
    platform_settings,
)

QUEUE_ONLY = {"run_coordinator": {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}}
WAVE = ("player-tracking", "ball-tracking")
WAVE_OUTPUTS = ["ball_tracking", "match_momentum", "physical_metrics", "player_tracking"]
WAVE_RAWS = ("player-tracking", "match-momentum", "physical-metrics", "ball-tracking")


@dataclass
class Dagster:
    platform: Platform
    client: DagsterClient
    url: str

    def import_runs(self) -> list:
        return self.platform.instance.get_runs(RunsFilter(job_name="import_processed"))


@pytest.fixture
def dagster(tmp_path: Path) -> Iterator[Dagster]:
    with running_dagster(tmp_path, QUEUE_ONLY) as dagster:
        yield dagster


@pytest.fixture
def fast_lane_dagster(tmp_path: Path) -> Iterator[Dagster]:
    """The embedded instance's run coordinator, with a launcher that only records the launch."""
    overrides = {
        "run_coordinator": embedded_dagster_yaml()["run_coordinator"],
        "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"},
    }
    with running_dagster(tmp_path, overrides) as dagster:
        yield dagster


@contextmanager
def running_dagster(tmp_path: Path, instance_overrides: dict) -> Iterator[Dagster]:
    store = StateStore(f"sqlite:///{tmp_path / 'ras.sqlite'}")
    objects = LocalObjectStore(tmp_path / "objects", base_url=UNREACHABLE, signing_key=SIGNING_KEY)
    recording = parse_recording_metadata(json.loads((FIXTURES / "recording.json").read_text()))
    store.register_recording(recording)
    store.mark_validated(recording.recording_id)
    resources = platform_resources(platform_settings(tmp_path, ema_base_url=UNREACHABLE))
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="ras_assets.definitions"), location_name="ras"
    )
    with (
        instance_for_test(overrides=instance_overrides) as instance,
        WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace,
    ):
        instance.add_dynamic_partitions("recordings", [recording.recording_id])
        port = free_port()
        app = create_app_from_workspace_process_context(workspace)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        client = DagsterClient(url, "ras")
        try:
            yield Dagster(Platform(instance, store, objects, recording, resources), client, url)
        finally:
            client.close()
            server.should_exit = True
            thread.join(timeout=10)


def deliver_wave(
    platform: Platform, jobs: tuple[str, ...] | list[str] = WAVE, *, schedule: bool = True
) -> None:
    """EMA finished `jobs` of the wave: their files are uploaded and their callbacks in the inbox
    (`schedule`: the whole wave is triggered first)."""
    for job in WAVE if schedule else ():
        platform.store.transition(platform.recording_id, job, JobState.SCHEDULED, source=Source.DISPATCH)
        answer_trigger(platform.store, platform.recording_id, job, 1, f"ema-{job}")
    for raw in WAVE_RAWS:
        if catalogue.job_of_raw(raw).name in jobs:
            platform.put_raw(raw)
    for job in jobs:
        platform.store.add_callback(
            platform.recording_id,
            {"job_id": f"ema-{job}", "job_kind": job, "job_state": "succeeded", "job_exit_code": 0,
             "job_reason": None, "emitted_at": "2026-11-23T12:00:00Z"},
        )  # fmt: skip


def fast_path(platform: Platform, client: DagsterClient, max_active_runs: int = 6) -> CallbackFastPath:
    return CallbackFastPath(
        lifecycle_for(platform.store, platform.objects), client, max_active_runs=max_active_runs
    )


class LaunchFails(DagsterClient):
    """Dagster answers queries, then is gone when the run is launched (a restart in between)."""

    def launch_partition_run(self, *args: object, **kwargs: object) -> str:
        raise httpx.ConnectError("connection refused")


def tick(platform: Platform, **settings: str):
    resources = platform.resources
    if settings:
        resources = platform_resources({**platform.resources["state_store"].settings, **settings})
    return ema_callback_sensor(build_sensor_context(instance=platform.instance, resources=resources))


def pass_the_grace(platform: Platform, by: timedelta = READY_IMPORT_GRACE * 2) -> None:
    """Time passes: the recording's jobs have waited in their state for `by`."""
    with write_transaction(platform.store._engine) as connection:
        connection.execute(
            update(job_states)
            .where(job_states.c.recording_id == platform.recording_id)
            .values(updated_at=datetime.now(UTC) - by)
        )


def test_a_callback_launches_its_import_run_without_a_sensor_tick(dagster: Dagster) -> None:
    platform = dagster.platform
    deliver_wave(platform)

    outcome = fast_path(platform, dagster.client).apply(platform.recording_id)

    assert outcome.left_to_sensor == [] and outcome.applied == 2
    [run] = dagster.import_runs()
    assert run.status is DagsterRunStatus.QUEUED
    assert run.tags["dagster/partition"] == platform.recording_id
    assert run.tags[RUN_KEY_TAG] == import_run_key(platform.store, platform.recording_id, WAVE_OUTPUTS)
    assert sorted(key.path[-1] for key in run.asset_selection or ()) == WAVE_OUTPUTS
    for job in WAVE:
        assert platform.state(job) is JobState.SUCCEEDED
    # The raw outputs are reported to Dagster with what the sensor would have attached.
    for raw in ("player_tracking", "ball_tracking"):
        event = platform.instance.get_latest_materialization_event(AssetKey(["ema", raw]))
        assert event is not None and event.asset_materialization is not None
        assert event.asset_materialization.partition == platform.recording_id
        metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
        assert metadata["size_bytes"] > 0 and metadata["attempt"] == 1

    # No double import: the sensor finds nothing left, and a repeated launch finds the run.
    again = tick(platform)
    assert again.run_requests == [] and again.asset_events == []
    assert fast_path(platform, dagster.client).apply(platform.recording_id).launched == []
    assert len(dagster.import_runs()) == 1


def test_the_import_run_starts_when_launched_not_at_the_next_dequeue(fast_lane_dagster: Dagster) -> None:
    """With the embedded instance's coordinator, the fast path's import run skips the run queue's
    wait: the webserver launches it when the fast path asks (no daemon runs here)."""
    platform = fast_lane_dagster.platform
    deliver_wave(platform)

    outcome = fast_path(platform, fast_lane_dagster.client).apply(platform.recording_id)

    [run] = fast_lane_dagster.import_runs()
    assert outcome.launched == [run.run_id]
    assert run.status == DagsterRunStatus.STARTING
    events = [e.dagster_event_type for e in platform.instance.all_logs(run.run_id) if e.dagster_event_type]
    assert DagsterEventType.PIPELINE_ENQUEUED not in events
    # A validation run launched through the same API still waits its turn in the queue.
    validation = fast_lane_dagster.client.launch_run("validate_recordings")
    assert platform.instance.get_run_by_id(validation).status == DagsterRunStatus.QUEUED


def test_a_launch_under_a_run_key_is_idempotent(dagster: Dagster) -> None:
    rec = dagster.platform.recording_id
    launch = [
        dagster.client.launch_partition_run("import_processed", rec, assets=[["events"]], run_key="import:k")
        for _ in range(2)
    ]
    assert launch[0] == launch[1] and len(dagster.import_runs()) == 1


def test_the_sensor_applies_what_the_api_never_did(dagster: Dagster) -> None:
    """The API was killed after committing the callback and answering 202: nothing was applied."""
    platform = dagster.platform
    deliver_wave(platform)

    result = tick(platform)

    [request] = result.run_requests
    assert sorted(key.path[-1] for key in request.asset_selection) == WAVE_OUTPUTS
    assert request.run_key == import_run_key(platform.store, platform.recording_id, WAVE_OUTPUTS)
    assert len(result.asset_events) == len(WAVE_RAWS)


def test_with_dagster_down_the_fast_path_leaves_everything_to_the_sensor(dagster: Dagster) -> None:
    platform = dagster.platform
    deliver_wave(platform)
    down = DagsterClient(UNREACHABLE, "ras", timeout_s=2)

    outcome = fast_path(platform, down).apply(platform.recording_id)

    assert outcome.applied == 0 and outcome.launched == [] and "did not answer" in (outcome.deferred or "")
    assert platform.store.pending_callbacks(limit=10, recording_id=platform.recording_id)
    [request] = tick(platform).run_requests
    assert sorted(key.path[-1] for key in request.asset_selection) == WAVE_OUTPUTS


def test_with_import_slots_taken_imports_wait_and_share_one_run_once_one_frees(dagster: Dagster) -> None:
    """An import run launched past the limit would only wait in Dagster's run queue: the fast path
    applies the callbacks and reports the raw outputs, and the import waits in the state store until
    an import run finishes; the sensor then launches one run for all the outputs that became ready."""
    platform = dagster.platform
    [job, later_job] = WAVE
    deliver_wave(platform, [job])
    other = dagster.client.launch_partition_run(
        "import_processed", platform.recording_id, assets=[["events"]], run_key="another run"
    )
    path = fast_path(platform, dagster.client, max_active_runs=1)

    first = path.apply(platform.recording_id)
    deliver_wave(platform, [later_job], schedule=False)
    second = path.apply(platform.recording_id)

    assert first.applied == 1 and second.applied == 1, "the fast path applies whatever the queue"
    assert first.launched == second.launched == [] and first.waiting and second.waiting
    assert first.reported + second.reported == len(WAVE_RAWS)
    assert len(dagster.import_runs()) == 1, "the fast path launched nothing"
    for name in WAVE:
        assert platform.state(name) is JobState.SUCCEEDED
    pass_the_grace(platform)
    assert tick(platform, max_active_import_runs="1").run_requests == [], "no room yet"

    platform.instance.delete_run(other)  # the queue frees
    result = tick(platform, max_active_import_runs="1")

    [request] = result.run_requests
    assert sorted(key.path[-1] for key in request.asset_selection) == WAVE_OUTPUTS
    assert result.asset_events == [], "the fast path reported the raw outputs"


def test_the_fast_path_launches_only_while_its_run_would_start_at_once(dagster: Dagster) -> None:
    """Any run takes a place in Dagster's run queue: behind a queued validation run an import run
    would wait, so the fast path leaves it to wait in the state store."""
    platform = dagster.platform
    deliver_wave(platform)
    dagster.client.launch_run("validate_recordings")

    outcome = fast_path(platform, dagster.client, max_active_runs=1).apply(platform.recording_id)

    assert outcome.applied == 2 and outcome.launched == [] and outcome.waiting
    assert dagster.import_runs() == []


def test_the_fast_path_leaves_the_last_free_slot_to_the_imports_that_waited(dagster: Dagster) -> None:
    """Under load slots free one at a time: the last free one is the callback sensor's, which fills
    it with the longest-waiting imports (several recordings a run), not this callback's alone."""
    platform = dagster.platform
    deliver_wave(platform)
    dagster.client.launch_partition_run(
        "import_processed", "another-recording", assets=[["events"]], run_key="another run"
    )

    held = fast_path(platform, dagster.client, max_active_runs=2).apply(platform.recording_id)

    assert held.applied == 2 and held.launched == [] and held.waiting
    assert len(dagster.import_runs()) == 1
    pass_the_grace(platform)
    [request] = tick(platform, max_active_import_runs="2").run_requests  # the sensor takes the slot
    assert sorted(key.path[-1] for key in request.asset_selection) == WAVE_OUTPUTS


def test_with_two_free_slots_the_fast_path_takes_one(dagster: Dagster) -> None:
    platform = dagster.platform
    deliver_wave(platform)
    dagster.client.launch_partition_run(
        "import_processed", "another-recording", assets=[["events"]], run_key="another run"
    )

    outcome = fast_path(platform, dagster.client, max_active_runs=3).apply(platform.recording_id)

    assert len(outcome.launched) == 1 and outcome.waiting == []


def test_the_sensor_launches_no_more_imports_than_there_are_free_slots(dagster: Dagster) -> None:
    """Only import runs take an import slot: a queued validation run does not."""
    platform = dagster.platform
    deliver_wave(platform)
    dagster.client.launch_partition_run(
        "import_processed", "another-recording", assets=[["events"]], run_key="another run"
    )
    dagster.client.launch_run("validate_recordings")

    assert tick(platform, max_active_import_runs="1").run_requests == []
    assert all(platform.state(name) is JobState.SUCCEEDED for name in WAVE), "applied all the same"
    pass_the_grace(platform)
    [request] = tick(platform, max_active_import_runs="2").run_requests
    assert sorted(key.path[-1] for key in request.asset_selection) == WAVE_OUTPUTS


def test_an_import_the_fast_path_could_not_launch_is_launched_by_the_sensor(dagster: Dagster) -> None:
    """Dagster went away (or the API died) between applying the callbacks and launching the run."""
    platform = dagster.platform
    deliver_wave(platform)
    flaky = LaunchFails(dagster.url, "ras", timeout_s=2)

    outcome = fast_path(platform, flaky).apply(platform.recording_id)

    assert outcome.applied == 2 and outcome.launched == [] and outcome.left_to_sensor
    assert dagster.import_runs() == []
    assert tick(platform).run_requests == [], "the fast path may still be launching it"
    pass_the_grace(platform)
    [request] = tick(platform).run_requests
    assert sorted(key.path[-1] for key in request.asset_selection) == WAVE_OUTPUTS


def test_callbacks_of_a_recording_arriving_together_share_one_import_run(dagster: Dagster) -> None:
    """Each callback's request schedules the fast path after the delay; the first applies both."""
    platform = dagster.platform
    deliver_wave(platform)
    path = fast_path(platform, dagster.client)

    first, second = (path.apply_after(0.0, platform.recording_id) for _ in WAVE)

    assert first.applied == 2 and len(first.launched) == 1
    assert second.applied == 0 and second.launched == []
    assert len(dagster.import_runs()) == 1
