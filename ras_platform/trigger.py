"""Trigger one EMA job: build the v2/v3 request from the catalogue, call EMA, record its job id.

Idempotent: the Idempotency-Key is `{recording_id}:{job_type}:{attempt}`, so a repeated trigger (a
retried run, a dispatch after a crash) gets the job EMA already made.
"""

from __future__ import annotations

from dataclasses import dataclass

from ras_core import catalogue
from ras_core.ema_requests import build_request, idempotency_key
from ras_core.lifecycle import JobRef, raw_keys
from ras_core.states import JobState
from ras_platform.ema_client import EmaClient, EmaError
from ras_platform.lifecycle import Lifecycle

UPLOAD_URL_EXPIRY_S = 3 * 24 * 3600  # contracts.md: presigned PUTs live 3 days
UPSTREAM_URL_EXPIRY_S = 24 * 3600


@dataclass(frozen=True)
class TriggerOutcome:
    ref: JobRef
    ema_job_id: str | None
    error: str | None = None
    skipped: str | None = None


def callback_url(api_base_url: str, recording_id: str) -> str:
    return f"{api_base_url.rstrip('/')}/recordings/{recording_id}/jobs/callback"


def trigger_job(
    ref: JobRef,
    *,
    lifecycle: Lifecycle,
    ema: EmaClient,
    api_base_url: str,
) -> TriggerOutcome:
    """Trigger one attempt; EMA's answer (its job id, or why it refused) goes to the lifecycle."""
    store, objects = lifecycle.store, lifecycle.objects
    status = store.job_status(ref.recording_id, ref.job_type)
    if status.attempt != ref.attempt or status.state is not JobState.SCHEDULED:
        # Superseded by a retry or a cancel, or already past scheduling: nothing to do.
        return TriggerOutcome(
            ref, status.ema_job_id, skipped=f"job is {status.state.value}, attempt {status.attempt}"
        )
    if status.ema_job_id is not None:
        return TriggerOutcome(ref, status.ema_job_id, skipped="already triggered")
    recording = store.get_recording(ref.recording_id)
    assert recording is not None, f"recording {ref.recording_id} vanished"
    job = catalogue.job_type(ref.job_type)
    # Each attempt uploads to keys of its own (contracts.md), so a retry never meets the file of
    # the attempt that failed, and the import knows which attempt it reads.
    upload_urls = {
        name: objects.presign_put(key, UPLOAD_URL_EXPIRY_S)
        for name, key in raw_keys(ref.recording_id, ref.job_type, ref.attempt).items()
    }
    upstream_urls = {
        name: objects.presign_get(out.key(ref.recording_id), UPSTREAM_URL_EXPIRY_S)
        for name, out in catalogue.ema_upstream_inputs(job).items()
    }
    callback = callback_url(api_base_url, ref.recording_id)
    body = build_request(job, recording, upload_urls, upstream_urls, callback)
    try:
        answer = ema.trigger(
            job, body, idempotency_key=idempotency_key(ref.recording_id, ref.job_type, ref.attempt)
        )
    except EmaError as error:
        reason = (
            f"EMA refused the trigger: {error.message}"
            if error.final
            else f"EMA {error.status_code or 'unreachable'} after retries: {error.message}"
        )
        lifecycle.trigger_failed(ref, reason, final=error.final)
        return TriggerOutcome(ref, None, error=reason)
    lifecycle.trigger_answered(ref, answer.job_id)
    return TriggerOutcome(ref, answer.job_id)
