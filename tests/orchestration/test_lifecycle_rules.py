"""Issue 11's rules end to end through the assets and the callback sensor, with real local stores:
each test fails on the code before the lifecycle (charges went to the output's job and its current
attempt, raw keys were shared by every attempt, a retry re-imported identical bytes)."""

from __future__ import annotations

import errno
from itertools import count
from pathlib import Path

import pytest
from dagster import build_sensor_context, materialize

from ras_assets.processed import processed_assets
from ras_core.states import JobState, Source
from ras_platform.object_store import LocalObjectStore
from sensors.ema_callbacks import ema_callback_sensor
from tests.lifecycle_support import answer_trigger
from tests.orchestration.support import IMPORT_RUN_TAGS, Platform

PT, BT, ED = "player-tracking", "ball-tracking", "event-detection"
_emitted = count()


def _materialize(platform: Platform, names: list[str]):  # type: ignore[no-untyped-def]
    return materialize(
        processed_assets,
        tags=IMPORT_RUN_TAGS,
        selection=names,
        partition_key=platform.recording_id,
        instance=platform.instance,
        resources=platform.resources,
        raise_on_error=False,
    )


def _trigger(platform: Platform, job_type: str) -> str:
    """Dispatch and EMA's answer for the job's current attempt: its EMA job id."""
    rec = platform.recording_id
    platform.store.transition(rec, job_type, JobState.SCHEDULED, source=Source.DISPATCH)
    attempt = platform.store.job_status(rec, job_type).attempt
    assert answer_trigger(platform.store, rec, job_type, attempt, f"ema-{job_type}-{attempt}")
    return f"ema-{job_type}-{attempt}"


def _callback(platform: Platform, job_type: str, state: str, job_id: str) -> None:
    platform.store.add_callback(
        platform.recording_id,
        {
            "job_id": job_id,
            "job_kind": job_type,
            "job_state": state,
            "job_exit_code": None,
            "job_reason": None,
            "emitted_at": f"2026-11-29T09:00:{next(_emitted):02d}Z",
        },
    )


def _tick(platform: Platform):  # type: ignore[no-untyped-def]
    return ema_callback_sensor(build_sensor_context(instance=platform.instance, resources=platform.resources))


def _failures(platform: Platform) -> list[tuple[str, int, str | None]]:
    return [
        (e.job_type, e.attempt, e.reason_class)
        for e in platform.store.change_log(platform.recording_id)
        if e.to_state is JobState.FAILED and e.outcome == "applied"
    ]


def test_a_broken_ball_file_is_charged_to_ball_tracking_and_the_attempt_read(platform: Platform) -> None:
    for raw in ("player-tracking", "match-momentum", "physical-metrics"):
        platform.put_raw(raw)
    platform.put_raw(BT, "ball-tracking-non-numeric.csv")
    for job in (PT, BT):
        platform.walk_to_succeeded(job)

    _materialize(platform, ["ball_tracking", "player_tracking", "match_momentum", "physical_metrics"])

    assert _failures(platform) == [(BT, 1, "contract")]  # player_tracking failed on the ball file too
    ball = platform.store.job_status(platform.recording_id, BT)
    assert (ball.state, ball.attempt) == (JobState.PENDING, 2)
    assert platform.state(PT) is JobState.SUCCEEDED, "waits for ball tracking's next attempt"
    reason = next(
        e.reason for e in platform.store.change_log(platform.recording_id) if e.to_state == "failed"
    )
    assert platform.raw_key(BT, 1) in (reason or "") and "row" in (reason or "")

    # Ball tracking's retry delivers a good file: player_tracking is built from both current attempts.
    platform.walk_to_succeeded(BT)
    platform.put_raw(BT)
    assert _materialize(platform, ["ball_tracking", "player_tracking"]).success
    assert platform.state(PT) is JobState.COMPLETED and platform.state(BT) is JobState.COMPLETED
    assert platform.store.output_imports(platform.recording_id)["player_tracking"] == {PT: 1, BT: 2}


def test_player_trackings_attempt_at_ema_is_not_failed_by_ball_trackings_import(platform: Platform) -> None:
    """The issue's case: player tracking's new attempt is scheduled at EMA; ball tracking's import
    run must neither build player_tracking from the superseded file nor charge player tracking."""
    for raw in ("player-tracking", "match-momentum", "physical-metrics"):
        platform.put_raw(raw, "player-tracking-non-numeric.csv" if raw == PT else None)
    platform.walk_to_succeeded(PT)
    platform.store.transition(platform.recording_id, PT, JobState.FAILED, source=Source.IMPORT, reason="x")
    platform.store.transition(platform.recording_id, PT, JobState.PENDING, source=Source.IMPORT)
    _trigger(platform, PT)  # attempt 2, at EMA
    platform.put_raw(BT)
    platform.walk_to_succeeded(BT)

    result = _materialize(platform, ["ball_tracking", "player_tracking"])

    assert not result.success  # player_tracking may not run: player tracking has not delivered
    status = platform.store.job_status(platform.recording_id, PT)
    assert (status.state, status.attempt) == (JobState.SCHEDULED, 2)
    assert platform.state(BT) is JobState.COMPLETED
    assert [f for f in _failures(platform) if f[1] == 2] == []


def test_a_retry_with_the_same_bytes_fails_for_good_without_an_import(platform: Platform) -> None:
    rec = platform.recording_id
    first = _trigger(platform, ED)
    platform.put_raw(ED, "event-detection-missing-field.json")
    _callback(platform, ED, "succeeded", first)
    _tick(platform)
    assert not _materialize(platform, ["events"]).success
    assert platform.store.job_status(rec, ED).attempt == 2  # the contract violation earned a retry

    second = _trigger(platform, ED)
    platform.put_raw(ED, "event-detection-missing-field.json")  # EMA produced the very same file
    _callback(platform, ED, "succeeded", second)
    result = _tick(platform)

    assert result.run_requests == [], "identical bytes are not imported again"
    status = platform.store.job_status(rec, ED)
    assert (status.state, status.attempt) == (JobState.FAILED, 2)
    assert "same bytes" in (status.reason or "") and platform.raw_key(ED, 1) in (status.reason or "")
    assert _failures(platform) == [(ED, 1, "contract"), (ED, 2, "identical_bytes")]
    [alert] = [e for e in platform.store.pending_events() if e.detail_type == "RecordingAnalysisFailedV1"]
    assert (alert.detail["job_type"], alert.detail["attempt"], alert.detail["reason_class"]) == (
        ED,
        2,
        "identical_bytes",
    )


def test_a_retry_with_different_bytes_is_imported(platform: Platform) -> None:
    first = _trigger(platform, ED)
    platform.put_raw(ED, "event-detection-missing-field.json")
    _callback(platform, ED, "succeeded", first)
    _tick(platform)
    _materialize(platform, ["events"])
    second = _trigger(platform, ED)
    platform.put_raw(ED)
    _callback(platform, ED, "succeeded", second)

    [run] = _tick(platform).run_requests

    assert [k.path[-1] for k in run.asset_selection] == ["events"]
    assert _materialize(platform, ["events"]).success
    assert platform.state(ED) is JobState.COMPLETED


def test_a_late_upload_and_callback_of_a_superseded_attempt_do_not_touch_the_current_one(
    platform: Platform,
) -> None:
    rec = platform.recording_id
    old = _trigger(platform, ED)
    platform.store.transition(rec, ED, JobState.FAILED, source=Source.CALLBACK, reason="EMA lost it")
    platform.store.transition(rec, ED, JobState.PENDING, source=Source.CALLBACK)
    current = _trigger(platform, ED)
    platform.put_raw(ED)  # attempt 2's good file
    assert platform.put_raw(ED, "event-detection-missing-field.json", attempt=1)  # attempt 1, late
    _callback(platform, ED, "succeeded", old)
    _callback(platform, ED, "succeeded", current)

    [run] = _tick(platform).run_requests

    assert [k.path[-1] for k in run.asset_selection] == ["events"]
    assert [e.outcome for e in platform.store.change_log(rec)][-2:] == ["stale", "applied"]
    assert _materialize(platform, ["events"]).success  # reads attempt 2's key, not the late file
    status = platform.store.job_status(rec, ED)
    assert (status.state, status.attempt) == (JobState.COMPLETED, 2)


def test_a_full_disk_during_an_import_backs_off_then_recovers(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 8: the job used to stay succeeded with no reason while the sweep re-requested
    the import every 60 s without bound."""
    rec = platform.recording_id
    platform.put_raw(ED)
    platform.walk_to_succeeded(ED)
    real_put = LocalObjectStore.put_file

    def full_disk(self: LocalObjectStore, key: str, path: Path, *, if_absent: bool = False) -> bool:
        if key.startswith("processed/"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_put(self, key, path, if_absent=if_absent)

    monkeypatch.setattr(LocalObjectStore, "put_file", full_disk)
    assert not _materialize(platform, ["events"]).success
    status = platform.store.job_status(rec, ED)
    assert status.state is JobState.SUCCEEDED and status.not_before is not None
    assert "No space left on device" in (status.reason or "")
    assert platform.store.change_log(rec)[-1].reason_class == "transient"

    monkeypatch.undo()  # the disk was cleaned up: the backed-off retry succeeds
    assert _materialize(platform, ["events"]).success
    assert platform.state(ED) is JobState.COMPLETED


def test_a_full_disk_that_stays_full_fails_the_job_after_bounded_retries(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = platform.recording_id
    platform.put_raw(ED)
    platform.walk_to_succeeded(ED)

    def full_disk(self: LocalObjectStore, key: str, path: Path, *, if_absent: bool = False) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LocalObjectStore, "put_file", full_disk)
    for _ in range(3):  # RetryPolicy.import_retries
        _materialize(platform, ["events"])
    status = platform.store.job_status(rec, ED)
    assert (status.state, status.attempt) == (JobState.PENDING, 2), "EMA's job runs again, backed off"
    assert status.not_before is not None
    failed = [e for e in platform.store.change_log(rec) if e.to_state == "failed"]
    assert [(e.attempt, e.reason_class) for e in failed] == [(1, "transient")]
    assert "No space left on device" in (failed[0].reason or "")
