"""Classes of job failure: the few kinds of reason an operator tells apart on a dashboard or in an alert.

A failure's reason is free text naming a file and row; its class says what kind of trouble it is and
so who acts: EMA (its job failed, it refused or could not be reached, it forgot an upload), the data
(EMA's file breaks the contract), or the recording's own metadata.
"""

from __future__ import annotations

from enum import StrEnum


class FailureClass(StrEnum):
    EMA_FAILED = "ema_failed"  # EMA's callback said the job failed
    MISSING_UPLOAD = "missing_upload"  # EMA said succeeded, but a result file is not in the store
    CONTRACT = "contract"  # the import refused EMA's file: a blocking check failed
    EMA_REFUSED = "ema_refused"  # a final 4xx answer to the trigger
    EMA_UNREACHABLE = "ema_unreachable"  # timeouts, 408/429/5xx after the client's retries
    INVALID_METADATA = "invalid_metadata"  # the recording's metadata does not validate
    OTHER = "other"


# Reason prefixes the platform writes (trigger, callback handling, recording validation).
_PREFIXES = (
    ("EMA refused the trigger", FailureClass.EMA_REFUSED),
    ("EMA unreachable", FailureClass.EMA_UNREACHABLE),
    ("recording metadata invalid", FailureClass.INVALID_METADATA),
)


def classify_failure(source: str, reason: str | None) -> FailureClass:
    """The class of a failure, from the change log's source and reason."""
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
