"""Imports of several recordings in one run (`import_recordings`): what the callback sensor launches
when more recordings wait for an import than there are free run slots."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterRun,
    DagsterRunStatus,
    EventRecordsFilter,
    build_sensor_context,
)
from sqlalchemy import update

from ras_assets.imports import (
    RECORDINGS_PER_RUN,
    RECORDINGS_TAG,
    RecordingImports,
    import_recordings,
    import_recordings_run_config,
)
from ras_assets.runs import recordings_of
from ras_core import catalogue
from ras_core.states import JobState, Source
from ras_platform.db.engine import write_transaction
from ras_platform.db.schema import job_states
from ras_platform.lifecycle import READY_IMPORT_GRACE
from resources import platform_resources
from sensors.dispatch import dispatch_sensor
from sensors.ema_callbacks import _pack, ema_callback_sensor
from tests.orchestration.support import FIXTURES, IMPORT_RUN_TAGS, Platform


def _recordings(platform: Platform, count: int) -> list[Platform]:
    """`count` registered, validated recordings (the fixture's and copies of it under other ids)."""
    found = [platform]
    for number in range(1, count):
        other = dataclasses.replace(platform.recording, recording_id=f"{platform.recording_id}-{number}")
        platform.store.register_recording(other)
        platform.store.mark_validated(other.recording_id)
        platform.instance.add_dynamic_partitions("recordings", [other.recording_id])
        found.append(dataclasses.replace(platform, recording=other))
    return found


def _events_delivered(recording: Platform, fixture: str = "event-detection-v3.json") -> None:
    """EMA delivered the recording's event detection (its first wave triggered with it): the
    fixture's file, naming this recording."""
    document = json.loads((FIXTURES / "raw" / fixture).read_text())
    for job in ("player-tracking", "ball-tracking"):  # triggered with it, as validation does
        recording.store.transition(recording.recording_id, job, JobState.SCHEDULED, source=Source.DISPATCH)
    recording.walk_to_succeeded("event-detection")
    document["recording_id"] = recording.recording_id
    recording.objects.put_bytes(recording.raw_key("event-detection"), json.dumps(document).encode())


def _run(platform: Platform, listed: list[RecordingImports]):
    return import_recordings.execute_in_process(
        run_config=import_recordings_run_config(listed),
        instance=platform.instance,
        resources=platform.resources,
        tags=IMPORT_RUN_TAGS,
        raise_on_error=False,
    )


def _materialized_partitions(platform: Platform, asset: str) -> list[str]:
    records = platform.instance.get_event_records(
        EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION, asset_key=AssetKey(asset))
    )
    return sorted(r.event_log_entry.dagster_event.partition for r in records)


def _check_verdicts(platform: Platform, run_id: str) -> dict[tuple[str, str], bool]:
    """(partition, check) → passed, as the run reported them."""
    verdicts = {}
    for entry in platform.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        verdicts[(evaluation.partition, evaluation.check_name)] = evaluation.passed
    return verdicts


def test_one_run_imports_several_recordings_as_their_own_runs_would(platform: Platform) -> None:
    recordings = _recordings(platform, 3)
    for recording in recordings:
        _events_delivered(recording)

    result = _run(platform, [RecordingImports(r.recording_id, ("events",)) for r in recordings])

    assert result.success
    ids = sorted(r.recording_id for r in recordings)
    assert _materialized_partitions(platform, "events") == ids
    for recording in recordings:
        assert platform.objects.exists(catalogue.processed_output("events").key(recording.recording_id))
        assert recording.state("event-detection") is JobState.COMPLETED
    # Each partition's checks, as the asset's page shows them for a run of its own.
    verdicts = _check_verdicts(platform, result.run_id)
    checks = catalogue.processed_output("events").checks
    assert set(verdicts) == {(rec, check) for rec in ids for check in checks}
    assert all(verdicts[(rec, "schema_valid")] for rec in ids)
    # The lifecycle's change log names the run that imported each recording.
    for rec in ids:
        changes = platform.store.change_log(rec)
        assert any((c.detail or {}).get("run_id") == result.run_id for c in changes), rec


def test_a_recording_whose_file_fails_does_not_hold_up_the_others(platform: Platform) -> None:
    first, broken, last = _recordings(platform, 3)
    _events_delivered(first)
    _events_delivered(broken, "event-detection-missing-field.json")
    _events_delivered(last)

    result = _run(platform, [RecordingImports(r.recording_id, ("events",)) for r in (first, broken, last)])

    assert not result.success, "the run fails, so the run list shows the failed import"
    failure = result.failure_data_for_node("import_listed_recordings")
    assert failure is not None and f"{broken.recording_id} events" in failure.error.message
    assert _materialized_partitions(platform, "events") == sorted([first.recording_id, last.recording_id])
    assert first.state("event-detection") is JobState.COMPLETED
    assert last.state("event-detection") is JobState.COMPLETED
    # The broken file is charged to its job, as in a run of its own: attempt 1 failed with the
    # check's reason, by this run, and attempt 2 waits to be triggered.
    status = platform.store.job_status(broken.recording_id, "event-detection")
    assert status.state is JobState.PENDING and status.attempt == 2
    [failed] = [c for c in platform.store.change_log(broken.recording_id) if c.to_state is JobState.FAILED]
    assert "raw/event-detection/" in (failed.reason or "") and failed.detail["run_id"] == result.run_id
    assert not platform.objects.exists(catalogue.processed_output("events").key(broken.recording_id))
    assert _check_verdicts(platform, result.run_id)[(broken.recording_id, "schema_valid")] is False


def test_an_unknown_or_unimportable_entry_fails_alone(platform: Platform) -> None:
    ready, not_delivered = _recordings(platform, 2)
    _events_delivered(ready)

    result = _run(
        platform,
        [
            RecordingImports("never-registered", ("events",)),
            RecordingImports(not_delivered.recording_id, ("events",)),
            RecordingImports(ready.recording_id, ("events", "no_such_output")),
        ],
    )

    message = result.failure_data_for_node("import_listed_recordings").error.message
    assert "never-registered: not registered" in message
    assert f"{not_delivered.recording_id} events" in message
    assert f"{ready.recording_id} no_such_output" in message
    assert ready.state("event-detection") is JobState.COMPLETED, "its known output was imported"


def _waiting(platform: Platform, count: int) -> list[Platform]:
    """`count` recordings whose event detection was delivered, its import waiting past the grace."""
    recordings = _recordings(platform, count)
    for recording in recordings:
        _events_delivered(recording)
    with write_transaction(platform.store._engine) as connection:
        connection.execute(update(job_states).values(updated_at=datetime.now(UTC) - READY_IMPORT_GRACE * 2))
    return recordings


def _tick(platform: Platform, max_active_import_runs: int):
    settings = {
        **platform.resources["state_store"].settings,
        "max_active_import_runs": str(max_active_import_runs),
    }
    context = build_sensor_context(instance=platform.instance, resources=platform_resources(settings))
    return ema_callback_sensor(context)


def _recordings_of(request) -> list[str]:
    return request.tags.get(RECORDINGS_TAG, request.tags.get("ras/recording", "")).split(",")


def test_recordings_waiting_for_few_slots_share_runs(platform: Platform) -> None:
    recordings = _waiting(platform, 5)

    requests = _tick(platform, max_active_import_runs=2).run_requests

    assert [r.job_name for r in requests] == ["import_recordings", "import_recordings"]
    assert sorted(len(_recordings_of(r)) for r in requests) == [2, 3]
    listed = [rec for r in requests for rec in _recordings_of(r)]
    assert sorted(listed) == sorted(r.recording_id for r in recordings), "each once"
    config = requests[0].run_config["ops"]["import_listed_recordings"]["config"]["imports"]
    assert [RecordingImports.decode(c).outputs for c in config] == [("events",)] * len(config)
    assert len({r.run_key for r in requests}) == 2


def test_recordings_that_fit_the_free_slots_get_a_run_each(platform: Platform) -> None:
    recordings = _waiting(platform, 2)

    requests = _tick(platform, max_active_import_runs=6).run_requests

    assert [r.job_name for r in requests] == ["import_processed", "import_processed"]
    assert sorted(r.partition_key for r in requests) == sorted(r.recording_id for r in recordings)


def test_recordings_in_a_shared_run_under_way_are_not_imported_again(platform: Platform) -> None:
    recordings = _waiting(platform, 4)
    [shared] = _tick(platform, max_active_import_runs=1).run_requests
    in_run = _recordings_of(shared)
    platform.instance.add_run(
        DagsterRun(
            job_name="import_recordings",
            run_id="c" * 36,
            status=DagsterRunStatus.STARTED,
            tags={**shared.tags, "ras/kind": "import"},
        )
    )

    assert recordings_of(platform.instance.get_runs()) == set(in_run)
    assert _tick(platform, max_active_import_runs=1).run_requests == [], "its one slot is taken"
    requests = _tick(platform, max_active_import_runs=3).run_requests
    assert not {rec for r in requests for rec in _recordings_of(r)} & set(in_run)
    assert len(in_run) == len(recordings), "one slot: all four in one run"
    # The dispatch sensor, too, sees them as importing (it would otherwise build their platform jobs
    # beside the run).
    context = build_sensor_context(instance=platform.instance, resources=platform.resources)
    assert [r for r in dispatch_sensor(context).run_requests if r.job_name.startswith("import")] == []


def test_waiting_recordings_are_shared_out_evenly_in_waiting_order() -> None:
    pending = [(f"r{n}", {"events"}, "") for n in range(2 * RECORDINGS_PER_RUN + 3)]

    assert [len(run) for run in _pack(pending, room=2)] == [RECORDINGS_PER_RUN, RECORDINGS_PER_RUN]
    assert [len(run) for run in _pack(pending, room=6)] == [4, 4, 4, 4, 3]
    assert [p for run in _pack(pending, room=6) for p in run] == pending, "each once, oldest first"
    assert _pack(pending[:3], room=3) == [[p] for p in pending[:3]]


def test_a_listed_import_survives_its_encoding() -> None:
    listed = RecordingImports("rec-2026-11-30", ("events", "player_tracking"))
    assert RecordingImports.decode(listed.encode()) == listed
