"""Counters folded from the change log, for Prometheus.

The sensors and the runs that change job states live in Dagster's processes, which Prometheus does
not scrape; every change they make is a change-log row, though. The API folds those rows into
counters at scrape time, reading only rows above the last id it counted (a primary-key range read).

Rows are counted once they are `SETTLE` old: ids are handed out before commit, so a transaction that
commits late can leave a lower id behind a higher one for a moment. Counting only a prefix of settled
rows never skips it, at the price of counters trailing the log by that much. Counters start at zero
when the process starts (Prometheus treats a restart as a counter reset).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ras_core import catalogue
from ras_core.failures import classify_failure
from ras_platform.db.readings import ChangeRow
from ras_platform.state_store import StateStore, changes_after, last_change_id

SETTLE = timedelta(seconds=5)
# Upper bounds (s) of the latency histograms: imports take seconds, whole jobs minutes.
IMPORT_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
JOB_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)


@dataclass
class Histogram:
    """A cumulative histogram: counts per upper bound (the last one is +Inf), sum and count."""

    bounds: tuple[float, ...]
    buckets: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.buckets = self.buckets or [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        for i, bound in enumerate((*self.bounds, float("inf"))):
            if value <= bound:
                self.buckets[i] += 1
        self.total += value
        self.count += 1


@dataclass
class ChangeTally:
    """What the change log says happened since the tally started."""

    # (job_type, to_state): applied transitions
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    # (job_type, failure class): failed attempts
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    # outcome of each applied or ignored callback (applied, duplicate, illegal, stale)
    callbacks: Counter[str] = field(default_factory=Counter)
    # job_type → EMA said succeeded → job completed (the import, including its wait for a run)
    import_latency: dict[str, Histogram] = field(default_factory=dict)
    # job_type → attempt scheduled → completed
    job_duration: dict[str, Histogram] = field(default_factory=dict)
    # (recording, job_type, attempt) → when it was scheduled / succeeded, while the attempt is open
    _scheduled_at: dict[tuple[str, str, int], datetime] = field(default_factory=dict)
    _succeeded_at: dict[tuple[str, str, int], datetime] = field(default_factory=dict)

    def fold(self, row: ChangeRow) -> None:
        if row.source == "callback":
            self.callbacks[row.outcome] += 1
        if row.outcome != "applied":
            return
        self.transitions[(row.job_type, row.to_state)] += 1
        attempt = (row.recording_id, row.job_type, row.attempt)
        if row.to_state == "scheduled":
            self._scheduled_at[attempt] = row.at
        elif row.to_state == "succeeded":
            self._succeeded_at[attempt] = row.at
        elif row.to_state == "failed":
            failure_class = classify_failure(row.source, row.reason, row.reason_class)
            self.failures[(row.job_type, failure_class.value)] += 1
            self._close(attempt)
        elif row.to_state == "completed":
            self._observe_completion(attempt, row.at)

    def _observe_completion(self, attempt: tuple[str, str, int], at: datetime) -> None:
        scheduled, succeeded = self._close(attempt)
        job_type = attempt[1]
        if scheduled is not None:
            _histogram(self.job_duration, job_type, JOB_BUCKETS).observe((at - scheduled).total_seconds())
        if succeeded is not None and catalogue.job_type(job_type).is_ema:
            histogram = _histogram(self.import_latency, job_type, IMPORT_BUCKETS)
            histogram.observe((at - succeeded).total_seconds())

    def _close(self, attempt: tuple[str, str, int]) -> tuple[datetime | None, datetime | None]:
        return self._scheduled_at.pop(attempt, None), self._succeeded_at.pop(attempt, None)


def _histogram(histograms: dict[str, Histogram], job_type: str, bounds: tuple[float, ...]) -> Histogram:
    return histograms.setdefault(job_type, Histogram(bounds))


class ChangeLogCounter:
    """Keeps a `ChangeTally` in step with the change log, from the newest row at start onwards."""

    def __init__(self, store: StateStore, *, settle: timedelta = SETTLE) -> None:
        self._store = store
        self._settle = settle
        self.tally = ChangeTally()
        self._after_id = last_change_id(store)

    def refresh(self, now: datetime | None = None) -> ChangeTally:
        """Fold every settled row not yet counted; returns the tally."""
        horizon = (now or datetime.now(UTC)) - self._settle
        while rows := changes_after(self._store, self._after_id):
            for row in rows:
                if row.at > horizon:
                    return self.tally
                self.tally.fold(row)
                self._after_id = row.id
        return self.tally
