"""EMA trigger bodies (contracts.md, "EMA API"), built from the job catalogue and recording metadata.

Pure: the caller presigns the URLs and sends the body. Builders refuse a URL set that does not
match the catalogue exactly, because EMA would otherwise accept the job and fail it hours later on
an upload it has no URL for.
"""

from __future__ import annotations

from typing import Any

from ras_core.catalogue import Executor, JobType, ema_upstream_inputs
from ras_core.recording import RecordingMetadata


def idempotency_key(recording_id: str, job_type: str, attempt: int) -> str:
    """EMA answers a repeated key with the job it already made: one key per attempt of a job."""
    return f"{recording_id}:{job_type}:{attempt}"


def build_v2_request(
    job: JobType,
    recording: RecordingMetadata,
    upload_urls: dict[str, str],
    upstream_urls: dict[str, str],
    callback_url: str,
) -> dict[str, Any]:
    """`POST {ema}/v2/jobs` body. `upload_urls` is keyed by raw output name, `upstream_urls` by the
    names `catalogue.ema_upstream_inputs` gives (present for dependent jobs only)."""
    _require_executor(job, Executor.EMA_V2)
    _require_upload_urls(job, upload_urls)
    inputs: dict[str, Any] = {
        "video_uris": list(recording.video_uris),
        "fps": recording.fps,
        "duration_s": recording.duration_s,
    }
    if job.depends_on:
        inputs["upstream"] = _upstream(job, upstream_urls)
    elif upstream_urls:
        raise ValueError(f"{job.name} is independent; it takes no upstream URLs")
    return {
        "job_kind": job.name,
        "recording_id": recording.recording_id,
        "input": inputs,
        "output": {"upload_urls": {raw.request_name: upload_urls[raw.name] for raw in job.raw_outputs}},
        "callback_url": callback_url,
    }


def build_v3_request(
    job: JobType,
    recording: RecordingMetadata,
    upload_urls: dict[str, str],
    upstream_urls: dict[str, str],
    callback_url: str,
) -> dict[str, Any]:
    """`POST {ema}/v3/jobs` body: one `results` entry per raw output, in catalogue order."""
    _require_executor(job, Executor.EMA_V3)
    _require_upload_urls(job, upload_urls)
    if upstream_urls or job.depends_on:
        raise ValueError(f"{job.name}: the v3 API takes no upstream inputs")
    pitch = recording.pitch
    return {
        "kind": job.name,
        "recording": {
            "id": recording.recording_id,
            "video_uris": list(recording.video_uris),
            "fps": recording.fps,
            "duration_s": recording.duration_s,
            "pitch": {"length_m": pitch.length_m, "width_m": pitch.width_m},
        },
        "results": [
            {"name": raw.request_name, "format": raw.file_format, "upload_url": upload_urls[raw.name]}
            for raw in job.raw_outputs
        ],
        "callback": {"url": callback_url},
    }


def build_request(
    job: JobType,
    recording: RecordingMetadata,
    upload_urls: dict[str, str],
    upstream_urls: dict[str, str],
    callback_url: str,
) -> dict[str, Any]:
    """The body for whichever API version serves `job`."""
    build = build_v2_request if job.executor is Executor.EMA_V2 else build_v3_request
    return build(job, recording, upload_urls, upstream_urls, callback_url)


def _require_executor(job: JobType, executor: Executor) -> None:
    if job.executor is not executor:
        raise ValueError(f"{job.name} is served by {job.executor.value}, not {executor.value}")


def _require_upload_urls(job: JobType, upload_urls: dict[str, str]) -> None:
    expected = {raw.name for raw in job.raw_outputs}
    if set(upload_urls) != expected:
        raise ValueError(f"{job.name}: upload URLs for {sorted(upload_urls)}, expected {sorted(expected)}")


def _upstream(job: JobType, upstream_urls: dict[str, str]) -> dict[str, str]:
    expected = set(ema_upstream_inputs(job))
    if set(upstream_urls) != expected:
        raise ValueError(
            f"{job.name}: upstream URLs for {sorted(upstream_urls)}, expected {sorted(expected)}"
        )
    return {name: upstream_urls[name] for name in sorted(expected)}
