"""Classes of job failure: the few kinds of reason an operator tells apart on a dashboard or in an alert.

A failure's reason is free text naming a file and row; its class says what kind of trouble it is and
so who acts: EMA (its job failed, it refused or could not be reached, it forgot an upload), the data
(EMA's file breaks the contract), or the recording's own metadata.
"""

from __future__ import annotations

from enum import StrEnum


class FailureClass(StrEnum):
    """Also the retry policy's classes (`ras_core.lifecycle`), recorded as each change-log row's
    `reason_class`: what a failure is decides whether, and when, the job is tried again."""

    EMA_FAILED = "ema_failed"  # EMA's callback said the job failed
    MISSING_UPLOAD = "missing_upload"  # EMA said succeeded, but a result file is not in the store
    CONTRACT = "contract"  # the import refused EMA's file: a blocking check failed
    EMA_REFUSED = "ema_refused"  # a final 4xx answer to the trigger
    EMA_UNREACHABLE = "ema_unreachable"  # timeouts, 408/429/5xx after the client's retries
    INVALID_METADATA = "invalid_metadata"  # the recording's metadata does not validate
    TRANSIENT = "transient"  # the machine, not EMA: disk full, read-only store, database lost mid-import
    IDENTICAL_BYTES = "identical_bytes"  # a retry uploaded the very file that failed its contract
    INPUT_FAILED = "input_failed"  # a job whose file this job's output reads failed for good
    CANCELLED = "cancelled"  # DELETE /jobs
    OTHER = "other"


# Reason prefixes the platform writes (trigger, callback handling, recording validation).
_PREFIXES = (
    ("EMA refused the trigger", FailureClass.EMA_REFUSED),
    ("EMA unreachable", FailureClass.EMA_UNREACHABLE),
    ("recording metadata invalid", FailureClass.INVALID_METADATA),
)


def classify_failure(source: str, reason: str | None, recorded: str | None = None) -> FailureClass:
    """The class of a failure: the one the lifecycle recorded with it, else (rows written before it
    recorded one) guessed from the change log's source and reason."""
    if recorded in FailureClass.__members__.values():
        return FailureClass(recorded)
    text = reason or ""
    for prefix, failure_class in _PREFIXES:
        if text.startswith(prefix):
            return failure_class
    if "was not uploaded" in text:
        return FailureClass.MISSING_UPLOAD
    if source == "import":
        return FailureClass.CONTRACT
    if source == "callback":
        return FailureClass.EMA_FAILED
    return FailureClass.OTHER
