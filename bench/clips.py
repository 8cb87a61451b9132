"""Scenario `clips`: training clips of one recording from S3, each source fetched once vs once per clip.

One recording with two camera angles (generated testsrc2 videos, uploaded to a moto S3 server on
loopback) and 20 moments, so 40 clips of 12 s. Interleaved per repeat, on the same store:

- ours: `ras_platform.clip_cutting.cut_recording_clips`, what the `training_clips` asset runs: each
  angle downloaded once, its clips cut from the local copy in parallel (one per core), uploaded;
- naive (the reference): what the media team's pipeline did, per clip: download the whole source,
  cut the clip, upload it, delete the copy; with the same parallelism and the same ffmpeg command,
  so the ratio isolates the fetching.

The sources are padded to a broadcast bitrate (8 Mbit/s): what makes fetching per clip expensive is
the size of a source, and a test pattern alone compresses to a fraction of a real match's.
Figures are clips per minute (wall time of the whole cut, medians over repeats) and their ratio.
Downloads are counted through the object store, so the note says how many each way made.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import median, row
from ras_core import training_clips as tc
from ras_core.recording import Period, Pitch, RecordingMetadata
from ras_platform.clip_cutting import CutOptions, available_cores, clip_key, cut_recording_clips, video_key
from ras_platform.ffmpeg import cut_clip, make_test_video
from ras_platform.s3_object_store import S3ObjectStore

# (video seconds, width, height) per size; 25 fps, a keyframe a second, padded to a broadcast bitrate
# (a test pattern would otherwise compress to a fraction of a real match's size).
VIDEO = {"reduced": (180.0, 640, 360), "full": (1800.0, 1280, 720)}
MATCH_S = 5760.0  # a 96-minute match
BITRATE_KBPS = 8000
MOMENTS = 20
ANGLES = 2
DEFAULT_REPEATS = 2
TARGET_RATIO = 10.0  # the media team's claim for fetching once per source


class CountingS3(S3ObjectStore):
    """The S3 store, counting whole-object downloads per key."""

    downloads: Counter[str]

    def download(self, key: str, dest: Path) -> Path:
        self.downloads[key] += 1
        return super().download(key, dest)


def _store(aws: Any) -> CountingS3:
    bucket = f"bench-clips-{uuid.uuid4().hex[:8]}"
    aws.create_bucket(bucket)
    store = CountingS3(bucket, region="eu-west-1", client=aws.client("s3"))
    store.downloads = Counter()
    return store


def _recording(store: CountingS3, size: str, workdir: Path) -> RecordingMetadata:
    duration_s, width, height = VIDEO[size]
    uris = []
    for angle in range(ANGLES):
        local = workdir / f"angle-{angle}.mp4"
        make_test_video(
            local,
            duration_s=duration_s,
            width=width,
            height=height,
            fps=25,
            bitrate_kbps=BITRATE_KBPS,
            timeout_s=3600,
        )
        key = f"videos/rec-bench/angle-{angle}.mp4"
        store.put_file(key, local)
        local.unlink()
        uris.append(store.uri(key))
    return RecordingMetadata(
        recording_id="rec-bench",
        fps=25.0,
        duration_s=duration_s,
        pitch=Pitch(105.0, 68.0),
        video_uris=tuple(uris),
        periods=(Period(1, 0.0, duration_s),),
    )


def _plan(recording: RecordingMetadata) -> list[tc.PlannedClip]:
    # Moments spread over the match, as shots are.
    step = recording.duration_s / (MOMENTS + 1)
    moments = [
        tc.Moment(
            f"shot-{i:03d}", "shot", round(step * (i + 1), 1), round(step * (i + 1), 1), 1, "home", "saved"
        )
        for i in range(MOMENTS)
    ]
    return list(tc.plan_clips(recording, moments, tc.ClipSettings()).clips)


def _ours(store: CountingS3, clips: list[tc.PlannedClip], workdir: Path) -> int:
    entries, _ = cut_recording_clips(store, "rec-bench", clips, {}, workdir, CutOptions())
    return sum(e["state"] == "cut" for e in entries)


def _naive(store: CountingS3, clips: list[tc.PlannedClip], workdir: Path) -> int:
    def one(clip: tc.PlannedClip) -> bool:
        folder = workdir / clip.clip_id
        try:
            source = store.download(video_key(store, clip.source_uri), folder / "source.mp4")
            local = folder / f"{clip.clip_id}.mp4"
            cut_clip(source, local, start_s=clip.start_s, duration_s=clip.duration_s)
            store.put_file(clip_key("rec-bench-naive", clip.clip_id), local)
            return True
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    with ThreadPoolExecutor(max_workers=available_cores()) as pool:
        return sum(pool.map(one, clips))


def run(size: str, repeats: int | None) -> list[dict[str, Any]]:
    from ras_tools.chaos import AwsDouble

    repeats = repeats or DEFAULT_REPEATS
    aws = AwsDouble().start()
    try:
        store = _store(aws)
        with tempfile.TemporaryDirectory(prefix="ras-bench-clips-") as tmp:
            workdir = Path(tmp)
            recording = _recording(store, size, workdir)
            clips = _plan(recording)
            source_mb = (
                sum(store.stat(video_key(store, uri)).size for uri in recording.video_uris) / 1e6 / ANGLES
            )
            ours, naive, downloads = [], [], {}
            for _ in range(repeats):
                for name, method, rates in (("ours", _ours, ours), ("naive", _naive, naive)):
                    store.downloads.clear()
                    started = time.monotonic()
                    cut = method(store, clips, workdir / name)
                    elapsed = time.monotonic() - started
                    assert cut == len(clips), f"{name}: {cut} of {len(clips)} clips cut"
                    rates.append(len(clips) / elapsed * 60)
                    downloads[name] = sum(store.downloads.values())
    finally:
        aws.stop()
    value, reference = median(ours), median(naive)
    duration_s, width, height = VIDEO[size]
    note = (
        f"{len(clips)} clips of 12 s from {ANGLES} angles of a {duration_s / 60:.0f}-min {width}x{height} "
        f"video at {BITRATE_KBPS // 1000} Mbit/s ({source_mb:.0f} MB each; a 96-min match is "
        f"{MATCH_S / duration_s:.0f}x larger, so the naive way's downloads are understated) on a moto S3 "
        "server on loopback, "
        f"{available_cores()} parallel cuts; "
        f"downloads per run: ours {downloads['ours']}, naive {downloads['naive']}; "
        "shared 2-core machine, noisy"
    )
    return [
        row(
            "clips.per_minute",
            value,
            "clips/min",
            size=size,
            reference=reference,
            reference_is="the naive way: download the whole source once per clip",
            higher_is_better=True,
            note=note,
            digits=1,
        ),
        row(
            "clips.ratio_to_naive",
            value / reference if reference else None,
            "x",
            size=size,
            target=TARGET_RATIO,
            higher_is_better=True,
            note="clips per minute, ours / naive, same run",
        ),
    ]
