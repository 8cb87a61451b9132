"""The inbox drain's time budget: the callback sensor stops applying when it is spent, so that a
backlog never makes a tick long, and the rows it did not reach are applied by the next call."""

from __future__ import annotations

from pathlib import Path

from ras_core.states import JobState
from ras_platform.object_store import LocalObjectStore
from ras_platform.state_store import StateStore
from tests.lifecycle_support import lifecycle_for

from .conftest import run_to


def test_a_spent_budget_leaves_the_rest_of_the_inbox_for_the_next_call(
    store: StateStore, rec: str, tmp_path: Path
) -> None:
    run_to(store, rec, "event-detection", JobState.SCHEDULED, "ema-1")
    for second, state in enumerate(("starting", "running")):
        store.add_callback(
            rec,
            {"job_id": "ema-1", "job_kind": "event-detection", "job_state": state,
             "emitted_at": f"2026-11-23T12:00:0{second}Z"},
        )  # fmt: skip
    objects = LocalObjectStore(tmp_path / "objects", signing_key="k" * 32, base_url="http://testserver")
    lifecycle = lifecycle_for(store, objects)

    spent = lifecycle.process_inbox(budget_s=0.0)

    assert (spent.applied, spent.left) == (0, 2)
    assert len(store.pending_callbacks()) == 2
    assert store.job_status(rec, "event-detection").state is JobState.SCHEDULED

    rest = lifecycle.process_inbox(budget_s=60.0)

    assert (rest.applied, rest.left) == (2, 0)
    assert store.pending_callbacks() == []
    assert store.job_status(rec, "event-detection").state is JobState.RUNNING
