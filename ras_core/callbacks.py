"""The EMA callback (contracts.md), as one model: the API validates a request against it once, and the
same typed value travels to the inbox, which derives its dedupe key from it.

Bounded and cleaned where it enters: `job_id` refuses control characters (it becomes a key and a log
line), EMA's free-text reason is cleaned and cut to a length, and unknown extra fields are kept
only within a depth and a size. Also what the inbox derives from a stored callback (its reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ras_core import catalogue
from ras_core.text import SAFE_TEXT_PATTERN, JsonTooComplex, check_json_bounds, clean_text_of

EmaJobState = Literal["scheduled", "starting", "running", "succeeded", "failed"]
EmaJobKind = Literal[tuple(job.name for job in catalogue.JOB_TYPES if job.is_ema)]  # type: ignore[valid-type]
MAX_JOB_ID = 255
MAX_REASON_CHARS = 4000
MAX_EXTRA_DEPTH = 8
MAX_EXTRA_BYTES = 16 * 1024
_KNOWN = frozenset({"job_id", "job_kind", "job_state", "job_exit_code", "job_reason", "emitted_at"})


class EmaCallback(BaseModel):
    """EMA's callback body; unknown extra fields are kept in the inbox (within bounds)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    job_id: str = Field(min_length=1, max_length=MAX_JOB_ID, pattern=SAFE_TEXT_PATTERN)
    job_kind: EmaJobKind
    job_state: EmaJobState
    job_exit_code: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    job_reason: clean_text_of(MAX_REASON_CHARS) | None = Field(  # type: ignore[valid-type]
        default=None,
        description=f"control characters are replaced by U+FFFD; longer than {MAX_REASON_CHARS} "
        "characters, the reason is cut and marked",
    )
    emitted_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _bound_extras(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        extras = {key: value for key, value in data.items() if key not in _KNOWN}
        if not extras:
            return data
        try:
            kept = check_json_bounds(extras, max_depth=MAX_EXTRA_DEPTH, max_bytes=MAX_EXTRA_BYTES)
        except JsonTooComplex as error:
            raise ValueError(f"extra fields: {error}") from None
        return {**{k: v for k, v in data.items() if k in _KNOWN}, **kept}

    def payload(self) -> dict[str, Any]:
        """The JSON the inbox stores (extras included)."""
        return self.model_dump(mode="json")

    def dedupe_key(self, recording_id: str) -> str:
        # EMA re-sends the same emission verbatim; a new emission (even of the same state) is a new row.
        emitted_at = self.payload()["emitted_at"]
        return f"{recording_id}|{self.job_id}|{self.job_state}|{emitted_at}"


class InvalidCallback(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def as_callback(callback: EmaCallback | Mapping[str, Any]) -> EmaCallback:
    """The typed callback; a mapping (a test, a benchmark) is validated by the same model the API uses."""
    if isinstance(callback, EmaCallback):
        return callback
    try:
        return EmaCallback.model_validate(callback)
    except ValidationError as invalid:
        raise InvalidCallback(
            [f"{'.'.join(map(str, e['loc'])) or 'callback'}: {e['msg']}" for e in invalid.errors()]
        ) from None


def callback_reason(payload: dict[str, Any]) -> str | None:
    """Why EMA failed a job: its reason and exit code; other states carry no reason."""
    if payload.get("job_state") != "failed":
        return None
    reason, exit_code = payload.get("job_reason"), payload.get("job_exit_code")
    parts = [str(reason)] if reason else []
    if exit_code is not None:
        parts.append(f"exit code {exit_code}")
    return "; ".join(parts) or "EMA reported the job failed without a reason"
