"""A migrated StateStore on each backend, and helpers to drive jobs through their states."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ras_core.recording import Period, Pitch, RecordingMetadata
from ras_core.states import JobState, Source
from ras_platform.state_store import StateStore
from tests.lifecycle_support import answer_trigger


def recording(recording_id: str = "rec-001", fps: float = 25.0) -> RecordingMetadata:
    return RecordingMetadata(
        recording_id=recording_id,
        fps=fps,
        duration_s=5760.0,
        pitch=Pitch(105.0, 68.0),
        video_uris=(f"s3://videos/{recording_id}/panorama.mp4",),
        periods=(Period(1, 0.0, 2820.0), Period(2, 2940.0, 5760.0)),
        home_team="Home FC",
        away_team="Away FC",
    )


def run_to(store: StateStore, recording_id: str, job_type: str, target: JobState, ema_job_id: str) -> None:
    """Drive a pending job along the happy path up to `target`, as dispatch, EMA and the importer would."""
    store.transition(recording_id, job_type, JobState.SCHEDULED, source=Source.DISPATCH)
    attempt = store.job_status(recording_id, job_type).attempt
    assert answer_trigger(store, recording_id, job_type, attempt, ema_job_id)
    if target is JobState.SCHEDULED:
        return
    for state in (JobState.STARTING, JobState.RUNNING, JobState.SUCCEEDED, JobState.COMPLETED):
        source = Source.IMPORT if state is JobState.COMPLETED else Source.CALLBACK
        store.transition(recording_id, job_type, state, source=source)
        if state is target:
            return


@pytest.fixture
def store(database_url: str) -> Iterator[StateStore]:
    state_store = StateStore(database_url)
    yield state_store
    state_store.close()


@pytest.fixture
def rec(store: StateStore) -> str:
    """A registered recording's id."""
    store.register_recording(recording())
    return "rec-001"
