"""EMA trigger bodies, exactly as contracts.md shows them, built from the catalogue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ras_core.catalogue import JOB_TYPES, Executor, JobType, ema_upstream_inputs, job_type
from ras_core.ema_requests import build_request, build_v2_request, build_v3_request, idempotency_key
from ras_core.recording import parse_recording_metadata

RECORDING = parse_recording_metadata(
    {
        "recording_id": "rec-001",
        "fps": 25.0,
        "duration_s": 5760.0,
        "pitch": {"length_m": 105.0, "width_m": 68.0},
        "video_uris": ["s3://videos/rec-001/panorama.mp4"],
        "periods": [
            {"id": 1, "start_s": 0.0, "end_s": 2820.0},
            {"id": 2, "start_s": 2940.0, "end_s": 5760.0},
        ],
    }
)
Builder = Callable[..., dict[str, Any]]
CALLBACK = "https://ras.example/recordings/rec-001/jobs/callback"


def put_urls(name: str) -> dict[str, str]:
    return {raw.name: f"https://put/{raw.name}" for raw in job_type(name).raw_outputs}


def get_urls(name: str) -> dict[str, str]:
    return {upstream: f"https://get/{upstream}" for upstream in ema_upstream_inputs(job_type(name))}


def test_idempotency_key() -> None:
    assert idempotency_key("rec-001", "player-tracking", 2) == "rec-001:player-tracking:2"


def test_v2_independent_job() -> None:
    body = build_v2_request(job_type("event-detection"), RECORDING, put_urls("event-detection"), {}, CALLBACK)
    assert body == {
        "job_kind": "event-detection",
        "recording_id": "rec-001",
        "input": {"video_uris": ["s3://videos/rec-001/panorama.mp4"], "fps": 25.0, "duration_s": 5760.0},
        "output": {"upload_urls": {"events": "https://put/event-detection"}},
        "callback_url": CALLBACK,
    }


def test_v2_dependent_job_carries_upstream_read_urls() -> None:
    body = build_v2_request(
        job_type("shot-details"), RECORDING, put_urls("shot-details"), get_urls("shot-details"), CALLBACK
    )
    upstream = body["input"]["upstream"]
    assert set(upstream) == {
        "events",
        "player-tracking",
        "match-momentum",
        "physical-metrics",
        "ball-tracking",
    }
    assert upstream["events"] == "https://get/events"
    assert body["output"] == {"upload_urls": {"shot-details": "https://put/shot-details"}}


def test_v3_job_lists_every_raw_output_as_a_result() -> None:
    body = build_v3_request(job_type("player-tracking"), RECORDING, put_urls("player-tracking"), {}, CALLBACK)
    assert body == {
        "kind": "player-tracking",
        "recording": {
            "id": "rec-001",
            "video_uris": ["s3://videos/rec-001/panorama.mp4"],
            "fps": 25.0,
            "duration_s": 5760.0,
            "pitch": {"length_m": 105.0, "width_m": 68.0},
        },
        "results": [
            {"name": "player-tracking", "format": "csv", "upload_url": "https://put/player-tracking"},
            {"name": "match-momentum", "format": "csv", "upload_url": "https://put/match-momentum"},
            {"name": "physical-metrics", "format": "parquet", "upload_url": "https://put/physical-metrics"},
        ],
        "callback": {"url": CALLBACK},
    }


@pytest.mark.parametrize("job", [job for job in JOB_TYPES if job.is_ema], ids=lambda job: job.name)
def test_build_request_picks_the_version(job: JobType) -> None:
    body = build_request(job, RECORDING, put_urls(job.name), get_urls(job.name), CALLBACK)
    assert ("job_kind" in body) is (job.executor is Executor.EMA_V2)


@pytest.mark.parametrize(
    ("name", "build", "uploads", "upstream"),
    [
        ("player-tracking", build_v2_request, "player-tracking", {}),  # v3 job through the v2 builder
        ("event-detection", build_v3_request, "event-detection", {}),  # and the other way round
        ("training-clips", build_v2_request, "training-clips", {}),  # not an EMA job at all
        ("player-tracking", build_v3_request, "ball-tracking", {}),  # upload URLs for the wrong outputs
        ("shot-details", build_v2_request, "shot-details", {"events": "x"}),  # upstream incomplete
        ("event-detection", build_v2_request, "event-detection", {"events": "x"}),  # independent job
    ],
)
def test_mismatched_inputs_are_refused(
    name: str, build: Builder, uploads: str, upstream: dict[str, str]
) -> None:
    with pytest.raises(ValueError):
        build(job_type(name), RECORDING, put_urls(uploads), upstream, CALLBACK)
