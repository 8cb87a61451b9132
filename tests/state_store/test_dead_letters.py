"""Poison-message isolation (issue 14, defect 2): a row that cannot be applied or published is counted,
quarantined with its reason after a bounded number of failures, never blocks the others, and is
re-driven on request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import insert

from ras_core.states import JobState, Source
from ras_platform.db.schema import callback_inbox
from ras_platform.db.sql import now
from ras_platform.dead_letters import INBOX, INBOX_MAX_FAILURES, OUTBOX
from ras_platform.object_store import LocalObjectStore
from ras_platform.outbox_drain import drain_outbox
from ras_platform.publishers import PublishError
from ras_platform.state_store import StateStore
from tests.lifecycle_support import lifecycle_for

from .conftest import recording, run_to


def _callback(job_id: str, state: str, second: int, **extra: Any) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "job_kind": "event-detection",
        "job_state": state,
        "emitted_at": f"2026-11-23T12:00:{second:02d}Z",
        **extra,
    }


def _raw_inbox_row(store: StateStore, rec: str, payload: dict[str, Any], key: str) -> int:
    """A row as an older API (or any writer bypassing the callback model) stored it."""
    with store._engine.begin() as conn:
        return conn.execute(
            insert(callback_inbox)
            .values(
                recording_id=rec,
                job_id=payload["job_id"],
                job_kind=payload["job_kind"],
                job_state=payload["job_state"],
                payload=payload,
                dedupe_key=key,
                received_at=now(),
            )
            .returning(callback_inbox.c.id)
        ).scalar_one()


def _drain(store: StateStore, tmp_path: Any, ticks: int) -> list[Any]:
    objects = LocalObjectStore(tmp_path / "objects", signing_key="k" * 32, base_url="http://testserver")
    return [lifecycle_for(store, objects).process_inbox() for _ in range(ticks)]


def test_a_callback_that_cannot_be_applied_is_quarantined_and_blocks_nothing(
    store: StateStore, rec: str, tmp_path: Any
) -> None:
    run_to(store, rec, "event-detection", JobState.SCHEDULED, "ema-1")
    # A job kind the catalogue does not know: applying it raises, on every backend.
    poison = _raw_inbox_row(store, rec, _callback("ema-1", "running", 0, job_kind="goal-detection"), "p")
    store.add_callback(rec, _callback("ema-1", "running", 1))

    plans = _drain(store, tmp_path, INBOX_MAX_FAILURES)
    assert plans[0].applied == 1 and plans[0].failed == 1  # the good row went through on the first tick
    assert store.job_status(rec, "event-detection").state is JobState.RUNNING
    assert [p.quarantined for p in plans] == [0] * (INBOX_MAX_FAILURES - 1) + [1]
    assert store.pending_callbacks() == []  # the drain skips it from now on

    [letter] = store.dead_letters.of_recording(rec)
    assert (letter.source, letter.row_id, letter.state) == (INBOX, poison, "quarantined")
    assert letter.failures == INBOX_MAX_FAILURES and "goal-detection" in letter.reason
    assert store.dead_letters.counts() == {INBOX: 1, OUTBOX: 0}

    # Later callbacks still flow.
    store.add_callback(rec, _callback("ema-1", "succeeded", 2))
    assert _drain(store, tmp_path, 1)[0].failed == 0


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_nul_in_a_stored_reason_no_longer_stops_the_inbox_on_postgresql(
    store: StateStore, rec: str, tmp_path: Any
) -> None:
    # The row an older API acknowledged with 202: PostgreSQL refuses its reason on every apply.
    run_to(store, rec, "event-detection", JobState.RUNNING, "ema-1")
    store.register_recording(recording("rec-002"))
    run_to(store, "rec-002", "event-detection", JobState.SCHEDULED, "ema-2")
    _raw_inbox_row(store, rec, _callback("ema-1", "failed", 0, job_reason="bad\u0000frame"), "nul")
    store.add_callback("rec-002", _callback("ema-2", "running", 1))

    plans = _drain(store, tmp_path, INBOX_MAX_FAILURES)
    assert store.job_status("rec-002", "event-detection").state is JobState.RUNNING
    assert plans[-1].quarantined == 1
    [letter] = store.dead_letters.of_recording(rec)
    assert letter.state == "quarantined" and "NUL" in letter.reason


def test_redrive_puts_a_quarantined_callback_back(store: StateStore, rec: str, tmp_path: Any) -> None:
    run_to(store, rec, "event-detection", JobState.SCHEDULED, "ema-1")
    poison = _raw_inbox_row(store, rec, _callback("ema-1", "running", 0, job_kind="goal-detection"), "p")
    _drain(store, tmp_path, INBOX_MAX_FAILURES)
    assert store.pending_callbacks() == []

    [redriven] = store.dead_letters.redrive(source=INBOX)
    assert redriven.row_id == poison
    assert [c.id for c in store.pending_callbacks()] == [poison]
    assert store.dead_letters.counts()[INBOX] == 0
    [letter] = store.dead_letters.of_recording(rec)
    assert letter.state == "redriven" and letter.failures == 0
    # Still broken: quarantined again after the same bound, never retried forever.
    _drain(store, tmp_path, INBOX_MAX_FAILURES)
    assert store.dead_letters.counts()[INBOX] == 1


class _Refusing:
    """Publishes every event but those named; a batch holding one of them fails whole, like a
    PutEvents call refused for one oversized entry."""

    def __init__(self, poison: set[str]) -> None:
        self.poison, self.published = poison, []

    def publish(self, events: Sequence[Any]) -> None:
        bad = [e.event_id for e in events if e.event_id in self.poison]
        if bad:
            raise PublishError([e.event_id for e in events], "ValidationException: entry too large")
        self.published.extend(e.event_id for e in events)


def test_an_event_that_cannot_be_published_is_quarantined_and_the_others_go_out(
    store: StateStore, rec: str
) -> None:
    for job in ("event-detection", "shot-details", "match-report"):
        run_to(store, rec, job, JobState.COMPLETED, f"ema-{job}")
    first, *others = store.pending_events()
    publisher = _Refusing({first.event_id})

    drains = [drain_outbox(store, publisher, limit=100, max_failures=2) for _ in range(2)]
    assert publisher.published == [e.event_id for e in others]  # the first tick, one by one
    assert drains[1].quarantined == [first.event_id]
    assert store.pending_events() == []
    [letter] = store.dead_letters.of_recording(rec)
    assert (letter.source, letter.state) == (OUTBOX, "quarantined") and "too large" in letter.reason

    publisher.poison.clear()
    store.dead_letters.redrive(source=OUTBOX)
    drain_outbox(store, publisher, limit=100)
    assert publisher.published[-1] == first.event_id and store.pending_events() == []


def test_a_partly_failed_batch_marks_what_was_published(store: StateStore, rec: str) -> None:
    for job in ("event-detection", "shot-details"):
        run_to(store, rec, job, JobState.COMPLETED, f"ema-{job}")
    good, bad = store.pending_events()

    class PartlyFailing:
        def publish(self, events: Sequence[Any]) -> None:
            raise PublishError([bad.event_id], "InternalFailure")

    drain = drain_outbox(store, PartlyFailing(), limit=100)
    assert [e.event_id for e in drain.published] == [good.event_id]
    assert [e.event_id for e in store.pending_events()] == [bad.event_id]  # not re-sent: no double


def test_a_database_outage_is_not_blamed_on_the_row(store: StateStore, rec: str, tmp_path: Any) -> None:
    from sqlalchemy.exc import OperationalError

    run_to(store, rec, "event-detection", JobState.SCHEDULED, "ema-1")
    store.add_callback(rec, _callback("ema-1", "running", 0))

    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("UPDATE", {}, Exception("server closed the connection"))

    original, store.apply_plan = store.apply_plan, down  # type: ignore[method-assign]
    with pytest.raises(OperationalError):
        _drain(store, tmp_path, 1)
    store.apply_plan = original  # type: ignore[method-assign]
    assert store.dead_letters.of_recording(rec) == []
    assert store.transition(rec, "event-detection", JobState.RUNNING, source=Source.CALLBACK)


def test_ras_redrive_lists_and_redrives(
    store: StateStore, rec: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from ras_platform.cli import main

    run_to(store, rec, "event-detection", JobState.SCHEDULED, "ema-1")
    poison = _raw_inbox_row(store, rec, _callback("ema-1", "running", 0, job_kind="goal-detection"), "p")
    _drain(store, tmp_path, INBOX_MAX_FAILURES)
    monkeypatch.setenv("RAS_DATABASE_URL", store.url)

    assert main(["redrive", "--list"]) == 0
    listed = capsys.readouterr().out
    assert f"callback_inbox {poison} {rec}" in listed and listed.endswith("quarantined=1\n")
    assert main(["redrive", "--source", "inbox", "--recording", rec]) == 0
    assert capsys.readouterr().out.endswith("redriven=1\n")
    assert [c.id for c in store.pending_callbacks()] == [poison]
