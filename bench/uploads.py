"""Benchmark (not a test): video uploads in presigned parts, and HLS playback on a cache miss.

The API runs as the stack runs it (`python -m ras_api`, embedded profile: the local object store,
its presigned URLs served by the API's `/objects` route). In the same run:
- upload throughput of one file through the upload API (initiate, every part through its presigned
  URL, complete: what `ras upload` does) against a single presigned PUT of the same file;
- GET of the master playlist, the rendition playlist and every segment of a generated video's HLS
  renditions, each URL asked once per round: a CDN's cache miss reaches the API every time (the API
  keeps no cache of its own), p95 against the target of contracts.md (< 50 ms), next to the
  `/objects` presigned GET of the same segments (the bare file serving) as reference.

`python -m bench --only uploads` runs it through the harness.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import median, percentile, row
from bench.delivery import _free_port, api

SIZES = {"reduced": {"upload_mb": 64, "video_s": 60}, "full": {"upload_mb": 512, "video_s": 600}}
PART_SIZE = 8 * 1024 * 1024
SIGNING_KEY = "bench-signing-key"
TOKEN = "bench-zola-token"
RECORDING_ID = "bench-video"
ROUNDS = 5
TARGET_MISS_P95_MS = 50.0


def _upload_in_parts(api_url: str, path: Path) -> float:
    from ras_platform.upload_client import UploadClient, resume_file

    resume_file(path).unlink(missing_ok=True)
    started = time.perf_counter()
    with UploadClient(api_url, TOKEN) as client:
        result = client.upload(
            path, recording_id=RECORDING_ID, metadata={"pitch": {"length_m": 105, "width_m": 68}}
        )
    elapsed = time.perf_counter() - started
    assert result.state == "completed", result
    return elapsed


def _single_put(store: Any, path: Path, key: str) -> float:
    started = time.perf_counter()
    with open(path, "rb") as body:
        response = httpx.put(store.presign_put(key, 600), content=body, timeout=600)
    response.raise_for_status()
    return time.perf_counter() - started


def _renditions(store: Any, workdir: Path, duration_s: int) -> list[str]:
    """The HLS files of a generated 640x360 video, stored as `video_renditions` stores them; their
    API paths, master playlist first."""
    from ras_platform.ffmpeg import make_test_video
    from ras_platform.video import make_hls, probe_video, renditions_key, video_folder

    source = workdir / "source.mp4"
    make_test_video(source, duration_s=duration_s, width=640, height=360, match_clock=False)
    probe = probe_video(source)
    out = workdir / "hls"
    renditions = make_hls(source, out, probe)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    for path in files:
        store.put_file(f"{video_folder(RECORDING_ID)}{path.relative_to(out).as_posix()}", path)
    listing = {"renditions": [r.to_dict() for r in renditions], "source": probe.to_dict()}
    store.put_bytes(renditions_key(RECORDING_ID), json.dumps(listing).encode())
    return ["master.m3u8", *(p.relative_to(out).as_posix() for p in files)]


def _get_ms(client: httpx.Client, urls: list[str]) -> list[float]:
    timings = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return timings


def run(size: str, repeats: int | None = None) -> list[dict[str, Any]]:
    from ras_platform.object_store import LocalObjectStore
    from ras_platform.video import video_folder

    spec, repeats = SIZES[size], repeats or 3
    with tempfile.TemporaryDirectory(prefix="ras-bench-uploads-") as tmp:
        root = Path(tmp)
        upload = root / "upload.mp4"  # random bytes: the API judges only the name
        with open(upload, "wb") as out:
            for _ in range(spec["upload_mb"]):
                out.write(os.urandom(1024 * 1024))
        env = {
            "RAS_DATA_DIR": str(root / "data"),
            "RAS_SIGNING_KEY": SIGNING_KEY,
            "RAS_ZOLA_TOKEN": TOKEN,
            "RAS_UPLOAD_PART_SIZE": str(PART_SIZE),
        }
        port = _free_port()  # the API signs URLs for its own address: it must know it
        with api({**env, "RAS_API_BASE_URL": f"http://127.0.0.1:{port}"}, port) as server:
            api_url = server.base
            store = LocalObjectStore(root / "data" / "objects", base_url=api_url, signing_key=SIGNING_KEY)
            parts_s, single_s = [], []
            for attempt in range(repeats):
                parts_s.append(_upload_in_parts(api_url, upload))
                single_s.append(_single_put(store, upload, f"processed/bench/single-{attempt}.mp4"))
            paths = _renditions(store, root, spec["video_s"])
            api_urls = [f"{api_url}/recordings/{RECORDING_ID}/video/{p}" for p in paths]
            bare_urls = [store.presign_get(f"{video_folder(RECORDING_ID)}{p}", 600) for p in paths[1:]]
            with httpx.Client(timeout=30) as client:
                _get_ms(client, api_urls[:3])  # connection and first-request warm-up, not measured
                miss_ms = [ms for _ in range(ROUNDS) for ms in _get_ms(client, api_urls)]
                bare_ms = [ms for _ in range(ROUNDS) for ms in _get_ms(client, bare_urls)]
    megabytes = spec["upload_mb"]
    parts_mb_s, single_mb_s = megabytes / median(parts_s), megabytes / median(single_s)
    parts = -(-megabytes * 1024 * 1024 // PART_SIZE)
    shared = "machine shared with other engineers' test runs: noisy"
    return [
        row(
            "uploads.parts_mb_per_s",
            parts_mb_s,
            "MB/s",
            size=size,
            reference=single_mb_s,
            reference_is=f"one presigned PUT of the same {megabytes} MB file (MB/s)",
            higher_is_better=True,
            note=f"initiate + {parts} sequential {PART_SIZE >> 20} MiB parts + complete through the API, "
            f"local object store; median of {repeats}; {shared}",
        ),
        row(
            "uploads.parts_ratio_to_single_put",
            parts_mb_s / single_mb_s,
            "x",
            size=size,
            note="throughput in parts / throughput of one PUT (1.0 = parts cost nothing extra)",
        ),
        row(
            "video.segment_miss_p95_ms",
            percentile(miss_ms, 95),
            "ms",
            size=size,
            reference=percentile(bare_ms, 95),
            reference_is="p95 of the presigned /objects GET of the same playlists and segments",
            target=TARGET_MISS_P95_MS,
            note=f"{len(paths)} URLs (master, playlist, segments of a {spec['video_s']} s 360p video) "
            f"x {ROUNDS} rounds, each a cache miss (the API caches nothing); "
            f"p50 {percentile(miss_ms, 50):.1f} ms; {shared}",
        ),
    ]
