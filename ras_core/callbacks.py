"""EMA callbacks (contracts.md) as the inbox stores them: checked fields, a dedupe key, a reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ras_core import catalogue
from ras_core.states import EMA_STATES

_MAX_JOB_ID = 255
_MAX_EMITTED_AT = 64


class InvalidCallback(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class CallbackFields:
    job_id: str
    job_kind: str
    job_state: str
    dedupe_key: str


def parse_callback(recording_id: str, payload: dict[str, Any]) -> CallbackFields:
    """The fields the inbox indexes; every problem is named so the API can answer 422 with them."""
    problems: list[str] = []
    job_id = payload.get("job_id")
    if not isinstance(job_id, str) or not 0 < len(job_id) <= _MAX_JOB_ID:
        problems.append(f"job_id: expected a string of 1-{_MAX_JOB_ID} characters")
    job_kind = payload.get("job_kind")
    if job_kind not in catalogue.job_type_names():
        problems.append(f"job_kind: expected one of {', '.join(catalogue.job_type_names())}")
    job_state = payload.get("job_state")
    if job_state not in EMA_STATES:
        problems.append(f"job_state: expected one of {', '.join(sorted(EMA_STATES))}")
    emitted_at = payload.get("emitted_at")
    if not isinstance(emitted_at, str) or not 0 < len(emitted_at) <= _MAX_EMITTED_AT:
        problems.append("emitted_at: expected an ISO 8601 timestamp")
    if problems:
        raise InvalidCallback(problems)
    # EMA re-sends the same emission verbatim; a new emission (even of the same state) is a new row.
    dedupe_key = f"{recording_id}|{job_id}|{job_state}|{emitted_at}"
    return CallbackFields(job_id, job_kind, job_state, dedupe_key)  # type: ignore[arg-type]


def callback_reason(payload: dict[str, Any]) -> str | None:
    """Why EMA failed a job: its reason and exit code; other states carry no reason."""
    if payload.get("job_state") != "failed":
        return None
    reason, exit_code = payload.get("job_reason"), payload.get("job_exit_code")
    parts = [str(reason)] if reason else []
    if exit_code is not None:
        parts.append(f"exit code {exit_code}")
    return "; ".join(parts) or "EMA reported the job failed without a reason"
