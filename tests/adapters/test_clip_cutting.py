"""Cutting clips from videos in an object store: one read per source, clips kept across runs."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import imageio_ffmpeg
import pytest

from ras_core import training_clips as tc
from ras_core.recording import Period, Pitch, RecordingMetadata
from ras_core.training_clips import ClipSettings, Moment
from ras_platform.clip_cutting import (
    MAX_LOCAL_COPIES,
    CutOptions,
    UnreadableVideo,
    available_cores,
    clip_key,
    cut_recording_clips,
    remove_stale_clips,
    video_key,
)
from ras_platform.ffmpeg import FfmpegError, cut_clip, ffmpeg_exe, make_test_video
from ras_platform.object_store import LocalObjectStore
from ras_platform.s3_object_store import S3ObjectStore

FPS = 10


class ReadCounter(LocalObjectStore):
    """The local store, counting reads of each key (a download or a read in place)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, base_url="http://127.0.0.1:9", signing_key="k")
        self.reads: Counter[str] = Counter()

    def download(self, key: str, dest: Path) -> Path:
        self.reads[key] += 1
        return super().download(key, dest)

    def local_path(self, key: str) -> Path | None:
        self.reads[key] += 1
        return super().local_path(key)


@pytest.fixture
def objects(tmp_path: Path) -> ReadCounter:
    return ReadCounter(tmp_path / "objects")


def _recording(objects: ReadCounter, duration_s: float = 40.0) -> RecordingMetadata:
    for name in ("main", "wide"):
        make_test_video(
            objects.path_of(f"videos/{name}.mp4"), duration_s=duration_s, width=96, height=54, fps=FPS
        )
    return RecordingMetadata(
        recording_id="rec-1",
        fps=FPS,
        duration_s=duration_s,
        pitch=Pitch(105.0, 68.0),
        video_uris=("videos/main.mp4", objects.uri("videos/wide.mp4")),
        periods=(Period(1, 0.0, duration_s),),
    )


def _plan(recording: RecordingMetadata, times: list[float]) -> tc.ClipPlan:
    moments = [Moment(f"s{i}", "shot", t, t, 1, "home", "saved") for i, t in enumerate(times)]
    return tc.plan_clips(recording, moments, ClipSettings(before_s=2.0, after_s=1.0))


def test_each_source_is_read_once_for_all_its_clips(objects: ReadCounter, tmp_path: Path) -> None:
    recording = _recording(objects)
    plan = _plan(recording, [5.0, 12.0, 20.0, 33.0])

    entries, sources = cut_recording_clips(objects, "rec-1", plan.clips, {}, tmp_path / "work", CutOptions())

    assert len(entries) == 8 and all(e["state"] == "cut" for e in entries)
    assert objects.reads == Counter({"videos/main.mp4": 1, "videos/wide.mp4": 1})
    assert [s.fetched for s in sources] == [True, True]
    for entry in entries:
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(objects.path_of(entry["key"])))
        assert abs(frames - 3.0 * FPS) <= 1
    assert not (tmp_path / "work" / "angle-0").exists()  # local copies and clips cleaned up


def _logging_ffmpeg(tmp_path: Path) -> tuple[str, Path]:
    """The real ffmpeg behind a wrapper that writes each command line to a log, one per line."""
    log, wrapper = tmp_path / "ffmpeg.log", tmp_path / "ffmpeg-logging"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{ffmpeg_exe()}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper), log


@pytest.mark.parametrize("max_parallel", [1, 0])
def test_clips_cut_at_once_share_the_cores_decoder_and_encoder_alike(
    objects: ReadCounter, tmp_path: Path, max_parallel: int
) -> None:
    recording = _recording(objects, duration_s=20.0)
    plan = _plan(recording, [5.0, 12.0])
    executable, log = _logging_ffmpeg(tmp_path)
    options = CutOptions(max_parallel=max_parallel, ffmpeg_executable=executable)

    entries, _ = cut_recording_clips(objects, "rec-1", plan.clips, {}, tmp_path / "work", options)

    assert all(e["state"] == "cut" for e in entries)
    cuts = [line.split() for line in log.read_text().splitlines() if "-ss" in line.split()]
    assert len(cuts) == 4
    expected = str(available_cores() if max_parallel == 1 else 1)
    for args in cuts:
        before_input, after_input = args[: args.index("-i")], args[args.index("-i") :]
        assert before_input[before_input.index("-threads") + 1] == expected  # the decoder
        assert after_input[after_input.index("-threads") + 1] == expected  # the encoder


class DownloadingStore(ReadCounter):
    """The local store read as S3 is: every source downloaded into the work folder, none read in place.
    Records how many local copies of sources exist right after each download."""

    def __init__(self, root: Path, workdir: Path) -> None:
        super().__init__(root)
        self.workdir, self.copies_at_once = workdir, 0
        self.landed: dict[str, threading.Event] = {}

    def local_path(self, key: str) -> Path | None:
        return None

    def download(self, key: str, dest: Path) -> Path:
        if key == "videos/main.mp4":  # the first angle lands only once the second has landed
            assert self.landed.setdefault("videos/wide.mp4", threading.Event()).wait(10)
        path = super().download(key, dest)
        self.copies_at_once = max(self.copies_at_once, len(list(self.workdir.glob("angle-*/source/*"))))
        self.landed.setdefault(key, threading.Event()).set()
        return path


def test_sources_are_fetched_at_once_two_local_copies_at_most(objects: ReadCounter, tmp_path: Path) -> None:
    recording = _recording(objects, duration_s=20.0)
    make_test_video(objects.path_of("videos/high.mp4"), duration_s=20.0, width=96, height=54, fps=FPS)
    recording = replace(recording, video_uris=(*recording.video_uris, "videos/high.mp4"))
    store = DownloadingStore(objects.root, tmp_path / "work")
    plan = _plan(recording, [5.0, 12.0])

    entries, sources = cut_recording_clips(store, "rec-1", plan.clips, {}, tmp_path / "work", CutOptions())

    assert len(entries) == 6 and all(e["state"] == "cut" for e in entries), entries
    # The second angle was cut first; the entries still come in clip order (the preview is the first).
    assert [e["clip_id"] for e in entries] == sorted(e["clip_id"] for e in entries)
    assert store.reads == Counter({"videos/main.mp4": 1, "videos/wide.mp4": 1, "videos/high.mp4": 1})
    assert [s.fetched for s in sources] == [True, True, True]
    assert 1 <= store.copies_at_once <= MAX_LOCAL_COPIES
    assert not list((tmp_path / "work").glob("angle-*/source/*"))


def test_a_failure_after_an_angle_stops_the_fetches_waiting(objects: ReadCounter, tmp_path: Path) -> None:
    """The manifest write after the first angle fails (a full disk, the store down): the error comes
    out, and the angles still waiting for room to be fetched are not fetched (nothing hangs)."""
    recording = _recording(objects, duration_s=20.0)
    for name in ("high", "behind"):
        make_test_video(objects.path_of(f"videos/{name}.mp4"), duration_s=20.0, width=96, height=54, fps=FPS)
    recording = replace(recording, video_uris=(*recording.video_uris, "videos/high.mp4", "videos/behind.mp4"))
    store = DownloadingStore(objects.root, tmp_path / "work")
    plan = _plan(recording, [5.0])
    outcome: list[BaseException] = []

    def manifest_write_fails(entries: list[dict]) -> None:
        raise OSError("No space left on device")

    def cut() -> None:
        try:
            options = CutOptions()
            cut_recording_clips(
                store, "rec-1", plan.clips, {}, tmp_path / "work", options, on_angle_done=manifest_write_fails
            )
        except BaseException as error:
            outcome.append(error)

    runner = threading.Thread(target=cut, daemon=True)  # a hang fails the test instead of the suite
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "cutting hung on the fetches waiting for room"
    assert isinstance(outcome[0], OSError) and "No space left" in str(outcome[0])
    # Two fetched at once, one more started when the first angle's room was freed; never the fourth.
    assert sum(store.reads.values()) <= MAX_LOCAL_COPIES + 1 < len(recording.video_uris)


def test_a_rerun_reads_no_source_whose_clips_are_all_current(objects: ReadCounter, tmp_path: Path) -> None:
    recording = _recording(objects)
    plan = _plan(recording, [5.0, 12.0])
    first, _ = cut_recording_clips(objects, "rec-1", plan.clips, {}, tmp_path, CutOptions())
    previous = tc.reusable_entries(tc.manifest("rec-1", ClipSettings(), first))
    objects.delete(clip_key("rec-1", "rec-1-s1-1"))
    objects.reads.clear()

    again, sources = cut_recording_clips(objects, "rec-1", plan.clips, previous, tmp_path, CutOptions())

    assert objects.reads == Counter({"videos/wide.mp4": 1})
    assert [(s.kept, s.attempted) for s in sources] == [(2, 0), (1, 1)]
    assert sorted(e["clip_id"] for e in again) == sorted(e["clip_id"] for e in first)
    assert objects.exists(clip_key("rec-1", "rec-1-s1-1"))


def test_a_source_that_is_not_in_the_store_fails_its_clips_only(objects: ReadCounter, tmp_path: Path) -> None:
    recording = _recording(objects)
    objects.delete("videos/wide.mp4")
    plan = _plan(recording, [5.0])

    entries, _ = cut_recording_clips(objects, "rec-1", plan.clips, {}, tmp_path, CutOptions())

    states = {e["clip_id"]: (e["state"], e["reason"]) for e in entries}
    assert states["rec-1-s0-0"] == ("cut", None)
    assert states["rec-1-s0-1"][0] == "failed" and "does not exist" in states["rec-1-s0-1"][1]


def test_video_uris_resolve_to_this_stores_keys_only(objects: ReadCounter) -> None:
    assert video_key(objects, "videos/main.mp4") == "videos/main.mp4"
    assert video_key(objects, objects.uri("videos/a/b.mp4")) == "videos/a/b.mp4"
    for uri in ("synthetic://rec-1/panorama.mp4", "file:///elsewhere/video.mp4", "s3://bucket/videos/x.mp4"):
        with pytest.raises(UnreadableVideo):
            video_key(objects, uri)


def test_clips_no_manifest_keeps_are_removed(objects: ReadCounter, tmp_path: Path) -> None:
    recording = _recording(objects)
    entries, _ = cut_recording_clips(
        objects, "rec-1", _plan(recording, [5.0, 12.0]).clips, {}, tmp_path, CutOptions()
    )

    removed = remove_stale_clips(
        objects, "rec-1", [e for e in entries if e["clip_id"].startswith("rec-1-s0")]
    )

    assert removed == 2
    assert not objects.exists(clip_key("rec-1", "rec-1-s1-0"))
    assert objects.exists(clip_key("rec-1", "rec-1-s0-0"))


def test_a_window_past_the_end_of_the_video_is_an_error_not_an_empty_clip(tmp_path: Path) -> None:
    video = tmp_path / "short.mp4"
    make_test_video(video, duration_s=2, width=96, height=54, fps=FPS)

    with pytest.raises(FfmpegError, match="no frames"):
        cut_clip(video, tmp_path / "clip.mp4", start_s=5.0, duration_s=3.0)


class CountingS3(S3ObjectStore):
    """The S3 store, counting whole-object downloads per key."""

    def __init__(self, bucket: str, endpoint_url: str) -> None:
        super().__init__(bucket, endpoint_url=endpoint_url)
        self.downloads: Counter[str] = Counter()

    def download(self, key: str, dest: Path) -> Path:
        self.downloads[key] += 1
        return super().download(key, dest)


def test_on_s3_each_source_is_downloaded_once_and_clips_are_s3_objects(
    s3_server_url: str, tmp_path: Path
) -> None:
    store = CountingS3(f"clips-{uuid.uuid4().hex[:12]}", s3_server_url)
    store.ensure_bucket()
    for name in ("main", "wide"):
        make_test_video(tmp_path / f"{name}.mp4", duration_s=30, width=96, height=54, fps=FPS)
        store.put_file(f"videos/{name}.mp4", tmp_path / f"{name}.mp4")
    recording = RecordingMetadata(
        recording_id="rec-1",
        fps=FPS,
        duration_s=30.0,
        pitch=Pitch(105.0, 68.0),
        video_uris=(store.uri("videos/main.mp4"), store.uri("videos/wide.mp4")),
        periods=(Period(1, 0.0, 30.0),),
    )

    entries, _ = cut_recording_clips(
        store, "rec-1", _plan(recording, [5.0, 15.0, 25.0]).clips, {}, tmp_path / "work", CutOptions()
    )

    assert len(entries) == 6 and all(e["state"] == "cut" for e in entries)
    assert store.downloads == Counter({"videos/main.mp4": 1, "videos/wide.mp4": 1})
    assert all(
        store.uri(e["key"]).startswith(f"s3://{store.bucket}/processed/training_clips/") for e in entries
    )
    assert all(store.exists(e["key"]) for e in entries)
