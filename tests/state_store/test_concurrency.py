"""Concurrent writers (threads standing in for the API, sensors and runs) never break the change log."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

from ras_core import catalogue
from ras_core.states import JobState, Source
from ras_platform.state_store import StateStore

# A cycle every job can loop through: each step is legal from the one before it.
CYCLE = (JobState.SCHEDULED, JobState.RUNNING, JobState.FAILED, JobState.PENDING)
THREADS, STEPS = 6, 12


def test_versions_stay_contiguous_under_concurrent_transitions(store: StateStore, rec: str) -> None:
    # Two store instances: separate engines and pools, as separate processes would have.
    other = StateStore(store.url, migrate=False)
    names = catalogue.job_type_names()

    def worker(thread: int) -> None:
        writer = store if thread % 2 else other
        # Two threads share each job type, so transitions of one job race too.
        job_type = names[thread // 2]
        for target in itertools.islice(itertools.cycle(CYCLE), STEPS):
            writer.transition(rec, job_type, target, source=Source.DISPATCH)

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(worker, range(THREADS)))
    finally:
        other.close()
    log = store.change_log(rec)
    assert [e.version for e in log] == list(range(1, THREADS * STEPS + 1))
    # Every applied row continues from the state the previous applied row of its job left.
    last: dict[str, JobState] = {}
    for entry in (e for e in log if e.outcome.value == "applied"):
        assert entry.from_state is last.get(entry.job_type, JobState.PENDING)
        last[entry.job_type] = entry.to_state
    assert store.rebuild_projection(rec) == store.job_states(rec)
