"""Domain events the outbox carries (contracts.md, "Domain events").

Built in the transaction that completes a job, so the event exists if and only if the state change
does. The event id is derived from what was materialized (recording, job type, attempt, detail type):
the outbox's UNIQUE event_id then turns a repeated completion into a no-op, and a publisher retry
re-sends the same id, which MES can deduplicate on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ras_core import catalogue
from ras_core.lifecycle import FAILURE_EVENT, FailureAlert

# Fixed forever: changing it would give already-published materializations new event ids.
_EVENT_NAMESPACE = uuid.UUID("7f0e4b8e-2f7c-5d1a-9a51-52415345564e")

# Every delivery endpoint of contracts.md that serves analytics of a recording: its state, then the
# endpoints the catalogue declares.
DELIVERY_ENDPOINTS: tuple[str, ...] = ("analytics", *catalogue.delivery_endpoints())


@dataclass(frozen=True)
class DomainEvent:
    event_id: str
    detail_type: str
    detail: dict[str, Any]


def event_id(recording_id: str, job_type: str, attempt: int, detail_type: str) -> str:
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{recording_id}|{job_type}|{attempt}|{detail_type}"))


def delivery_path(recording_id: str, endpoint: str) -> str:
    # Relative: the publisher knows the public base URL, the store does not.
    return f"/recordings/{recording_id}/{endpoint}"


def job_links(recording_id: str, job_type: str) -> dict[str, str]:
    """The analytics state plus the delivery endpoints serving this job's processed outputs."""
    job = catalogue.job_type(job_type)
    endpoints = ["analytics"] + [
        out.endpoint
        for name in job.processed_outputs
        if (out := catalogue.processed_output(name)).endpoint is not None
    ]
    return {endpoint: delivery_path(recording_id, endpoint) for endpoint in endpoints}


def all_links(recording_id: str) -> dict[str, str]:
    return {endpoint: delivery_path(recording_id, endpoint) for endpoint in DELIVERY_ENDPOINTS}


def completion_events(
    recording_id: str, job_type: str, attempt: int, occurred_at: datetime, *, all_completed: bool
) -> list[DomainEvent]:
    """Events owed when `job_type` has just completed; `all_completed`: it was the recording's last job."""
    events: list[DomainEvent] = []
    detail_type = catalogue.job_type(job_type).domain_event
    if detail_type is not None:
        links = job_links(recording_id, job_type)
        events.append(_event(recording_id, job_type, attempt, occurred_at, detail_type, links))
    if all_completed:
        events.append(
            _event(
                recording_id,
                job_type,
                attempt,
                occurred_at,
                catalogue.ALL_PROCESSED_EVENT,
                all_links(recording_id),
            )
        )
    return events


def _event(
    recording_id: str,
    job_type: str,
    attempt: int,
    occurred_at: datetime,
    detail_type: str,
    links: dict[str, str],
) -> DomainEvent:
    identifier = event_id(recording_id, job_type, attempt, detail_type)
    detail = {
        "recording_id": recording_id,
        "event_id": identifier,
        "occurred_at": occurred_at.isoformat().replace("+00:00", "Z"),
        "job_type": job_type,
        "attempt": attempt,
        "links": links,
    }
    return DomainEvent(identifier, detail_type, detail)


def failure_event(recording_id: str, alert: FailureAlert, occurred_at: datetime) -> DomainEvent:
    """`RecordingAnalysisFailedV1` (contracts.md, "Alerts"): the job that failed for good, its attempt,
    why (and the failure class the retry policy saw), and every link of the recording. Its id is
    derived from (recording, job type, attempt), so a repeated plan publishes it once."""
    event = _event(
        recording_id,
        alert.job_type,
        alert.attempt,
        occurred_at,
        FAILURE_EVENT,
        all_links(recording_id),
    )
    detail = {**event.detail, "reason": alert.reason, "reason_class": alert.reason_class.value}
    return DomainEvent(event.event_id, event.detail_type, detail)
