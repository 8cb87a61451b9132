"""Driving jobs through the lifecycle service in tests, as the trigger op and the sensors do."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ras_core.lifecycle import JobRef, RetryPolicy
from ras_platform.lifecycle import Lifecycle
from ras_platform.object_store import LocalObjectStore, ObjectStore
from ras_platform.state_store import StateStore

# No waiting in tests: a backed-off retry is due at once unless a test asks for a backoff.
NO_BACKOFF = RetryPolicy(max_attempts=3, backoff_s=0.0)


def lifecycle_for(
    store: StateStore, objects: ObjectStore | None = None, policy: RetryPolicy = NO_BACKOFF
) -> Lifecycle:
    if objects is None:
        root = Path(tempfile.gettempdir()) / "ras-test-objects"
        objects = LocalObjectStore(root, base_url="http://127.0.0.1:9", signing_key="test")
    return Lifecycle(store, objects, policy)


def answer_trigger(
    store: StateStore, recording_id: str, job_type: str, attempt: int, ema_job_id: str
) -> bool:
    """EMA's answer to the trigger of `attempt`: True when the job now carries `ema_job_id`."""
    lifecycle_for(store).trigger_answered(JobRef(recording_id, job_type, attempt), ema_job_id)
    status = store.job_status(recording_id, job_type)
    return status.attempt == attempt and status.ema_job_id == ema_job_id
