"""Draining the outbox to the publisher, one poison event never holding back the others.

A batch is published whole. When the whole batch fails (the publisher raised for all of it, or
could not even take it), its first events are tried one by one, so the good ones still go out and
the failure is pinned on the event that causes it. Every event that failed is counted in
`dead_letters`, and quarantined after `OUTBOX_MAX_FAILURES` failures: the drain then skips it
until `ras redrive`. Events published by a batch that failed in part are marked published, so they
are not sent twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ras_core.records import OutboxEvent
from ras_platform.dead_letters import OUTBOX, OUTBOX_MAX_FAILURES, TRANSIENT_ERRORS, describe
from ras_platform.publishers import Publisher, PublishError
from ras_platform.state_store import StateStore

# Bounds the single publishes of one tick (each may wait on a slow bus) under the sensor's timeout.
ONE_BY_ONE = 10


@dataclass
class OutboxDrain:
    published: list[OutboxEvent] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # event id → reason
    quarantined: list[str] = field(default_factory=list)  # event ids


def drain_outbox(
    store: StateStore, publisher: Publisher, *, limit: int, max_failures: int = OUTBOX_MAX_FAILURES
) -> OutboxDrain:
    events = store.pending_events(limit=limit)
    drain = OutboxDrain()
    if not events:
        return drain
    failed: dict[str, str]
    try:
        publisher.publish(events)
        failed = {}
    except PublishError as error:
        failed = dict.fromkeys(error.failed_event_ids, error.reason)
    except TRANSIENT_ERRORS:
        raise
    except Exception as error:  # the publisher could not take the batch at all
        failed = dict.fromkeys((e.event_id for e in events), describe(error))
    tried: Sequence[OutboxEvent] = events
    if len(failed) == len(events) > 1:
        # Events after the first ONE_BY_ONE are neither published nor blamed: the next tick.
        tried = events[:ONE_BY_ONE]
        failed = _one_by_one(publisher, tried)
    drain.failed = failed
    drain.published = [e for e in tried if e.event_id not in failed]
    if drain.published:
        store.mark_published([e.event_id for e in drain.published])
    blamed = [e for e in tried if e.event_id in failed]
    if blamed:
        store.mark_publish_failed([e.event_id for e in blamed])
    for event in blamed:
        outcome = store.dead_letters.record_failure(
            OUTBOX, event.id, event.recording_id, failed[event.event_id], max_failures=max_failures
        )
        if outcome.quarantined:
            drain.quarantined.append(event.event_id)
    return drain


def _one_by_one(publisher: Publisher, events: Sequence[OutboxEvent]) -> dict[str, str]:
    failed = {}
    for event in events:
        try:
            publisher.publish([event])
        except PublishError as error:
            failed[event.event_id] = error.reason
        except TRANSIENT_ERRORS:
            raise
        except Exception as error:  # this event cannot be published at all
            failed[event.event_id] = describe(error)
    return failed
