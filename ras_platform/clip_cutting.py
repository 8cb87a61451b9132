"""Cutting a recording's training clips: each source video fetched once, its clips cut in parallel.

The media team's pipeline fetched a source per clip; here each camera angle is fetched from the
object store once (or read in place from the local store), its length probed, every clip of that
angle cut from the local copy (windows clamped to that angle's own length) while other angles are
fetched, and the copy removed. Clips whose fingerprint (source version,
window, encoding) matches the previous manifest and whose file exists are kept, not cut again; an
angle with nothing to cut is not fetched at all. A clip that fails is reported with its reason and
the rest go on (partial success); deciding whether that is acceptable is the caller's.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ras_core import training_clips as tc
from ras_core.training_clips import PlannedClip
from ras_platform.ffmpeg import DEFAULT_TIMEOUT_S, FfmpegError, cut_clip, probe_duration
from ras_platform.object_store import InvalidObjectKey, ObjectStore, validate_key


class UnreadableVideo(LookupError):
    """A video URI that names nothing this object store can read."""


# Sources fetched at once, and so local copies of sources held at once (a 96-min 720p angle is ~6 GB).
MAX_LOCAL_COPIES = 2


@dataclass(frozen=True)
class CutOptions:
    timeout_s: float = DEFAULT_TIMEOUT_S  # per clip
    max_parallel: int = 0  # clips cut at once; 0 = one per core
    ffmpeg_executable: str | None = None  # None = the bundled binary
    # A window that its angle's video cuts shorter than this is not cut (`ClipSettings.min_duration_s`).
    min_duration_s: float = 1.0

    @property
    def workers(self) -> int:
        return self.max_parallel or available_cores()

    @property
    def threads_per_cut(self) -> int:
        # The cores shared among the cuts running at once; one each when there is a cut per core.
        return max(1, available_cores() // self.workers)


def available_cores() -> int:
    # The cores this process may run on (a container's CPU set), not the machine's.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def clips_prefix(recording_id: str) -> str:
    return f"processed/training_clips/{recording_id}/clips/"


def clip_key(recording_id: str, clip_id: str) -> str:
    return f"{clips_prefix(recording_id)}{clip_id}.mp4"


def manifest_key(recording_id: str) -> str:
    return f"processed/training_clips/{recording_id}/manifest.json"


def video_key(objects: ObjectStore, uri: str) -> str:
    """The object key a recording's video URI names: a bare key, or a `file://` / `s3://` URI that
    this store would give for some key (`objects.uri(key) == uri`), so only its own objects qualify."""
    parts = urlsplit(uri)
    if not parts.scheme:
        try:
            return validate_key(uri)
        except InvalidObjectKey as error:
            raise UnreadableVideo(f"video URI {uri!r} is not an object key: {error}") from None
    if parts.scheme not in ("file", "s3"):
        raise UnreadableVideo(f"video URI {uri!r}: only object keys, file:// and s3:// URIs can be read")
    segments = [s for s in unquote(parts.path).split("/") if s]
    # The key is some tail of the path (s3: all of it; file: what lies under the store's root).
    for first in range(len(segments)):
        candidate = "/".join(segments[first:])
        try:
            if objects.uri(candidate) == uri:
                return candidate
        except InvalidObjectKey:
            continue
    raise UnreadableVideo(f"video URI {uri!r} is not in this object store")


@dataclass
class SourceRun:
    """What happened to one camera angle's source video."""

    angle_index: int
    uri: str
    fetched: bool = False
    version: str | None = None
    kept: int = 0  # clips of an earlier run still current
    attempted: int = 0  # clips this run tried to cut
    duration_s: float | None = None  # the video's length, probed once fetched


@dataclass
class _Angle:
    """One angle's plan for this run: what is kept, what to cut, and where its source is."""

    source: SourceRun
    clips: list[PlannedClip]
    key: str | None = None
    kept: list[dict[str, Any]] = field(default_factory=list)
    to_cut: list[tuple[PlannedClip, str]] = field(default_factory=list)  # (clip, fingerprint)
    failed: list[dict[str, Any]] = field(default_factory=list)


def cut_recording_clips(
    objects: ObjectStore,
    recording_id: str,
    clips: Sequence[PlannedClip],
    previous: dict[str, dict[str, Any]],
    workdir: Path,
    options: CutOptions,
    *,
    on_angle_done: Callable[[list[dict[str, Any]]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[SourceRun]]:
    """Manifest entries of every planned clip (cut, kept or failed) and what each source did.

    `previous` maps clip id → its entry in the last manifest (`training_clips.reusable_entries`).
    `on_angle_done` gets the entries so far after each angle cut, so a crash loses one angle's work.
    Up to `MAX_LOCAL_COPIES` sources are fetched at once and each angle is cut as soon as its copy
    lands, one angle at a time (its clips in parallel): fetches of different objects add up their
    bandwidth, so two angles take about as long to fetch as one, and the cuts of one angle overlap
    the fetch of the next whenever the angles land apart. At most that many local copies exist.
    """
    existing = {info.key for info in objects.list(clips_prefix(recording_id))}
    by_angle: dict[int, list[PlannedClip]] = {}
    for clip in clips:
        by_angle.setdefault(clip.angle_index, []).append(clip)
    angles = [
        _plan_angle(objects, recording_id, index, angle_clips, previous, existing)
        for index, angle_clips in sorted(by_angle.items())
    ]
    # Angles with nothing to cut are settled without a fetch.
    entries = [entry for angle in angles if not angle.to_cut for entry in angle.kept + angle.failed]
    to_fetch = [angle for angle in angles if angle.to_cut]
    copies, abandoned = threading.Semaphore(MAX_LOCAL_COPIES), threading.Event()

    def fetch(angle: _Angle) -> Path:
        copies.acquire()  # released once this angle's clips are cut and its copy removed
        if abandoned.is_set():
            raise RuntimeError("not fetched: cutting an earlier angle stopped with an error")
        return _fetch_angle(objects, angle, workdir)

    with ThreadPoolExecutor(max_workers=MAX_LOCAL_COPIES) as fetcher:
        fetches = {fetcher.submit(fetch, angle): angle for angle in to_fetch}
        try:
            for fetched in as_completed(fetches):
                try:
                    entries += _cut_angle(objects, recording_id, fetches[fetched], fetched, workdir, options)
                finally:
                    copies.release()
                if on_angle_done is not None:
                    on_angle_done(list(entries))
        except BaseException:
            abandoned.set()  # the fetches still waiting for a copy's room give up instead of waiting
            for _ in fetches:
                copies.release()
            raise
    # In clip order, whichever angle landed first: the preview strip is the first cut clip's.
    return sorted(entries, key=lambda entry: entry["clip_id"]), [angle.source for angle in angles]


def _plan_angle(
    objects: ObjectStore,
    recording_id: str,
    angle_index: int,
    clips: list[PlannedClip],
    previous: dict[str, dict[str, Any]],
    existing: set[str],
) -> _Angle:
    angle = _Angle(SourceRun(angle_index, clips[0].source_uri), clips)
    try:
        key = video_key(objects, angle.source.uri)
        info = objects.stat(key)
        if info is None:
            raise UnreadableVideo(f"video {angle.source.uri} does not exist")
    except UnreadableVideo as error:
        angle.failed = [tc.manifest_entry(clip, state="failed", reason=str(error)) for clip in clips]
        return angle
    angle.key, angle.source.version = key, info.etag
    for clip in clips:
        fingerprint = tc.clip_fingerprint(clip, info.etag)
        before = previous.get(clip.clip_id)
        target = clip_key(recording_id, clip.clip_id)
        # A settled failure (past its angle's end) has no file and needs none.
        if (
            before is not None
            and before.get("fingerprint") == fingerprint
            and (target in existing or before["state"] == "failed")
        ):
            angle.kept.append(before)
        else:
            angle.to_cut.append((clip, fingerprint))
    angle.source.kept, angle.source.attempted = len(angle.kept), len(angle.to_cut)
    return angle


def _fetch_angle(objects: ObjectStore, angle: _Angle, workdir: Path) -> Path:
    """The local store's file itself; otherwise one download into the angle's folder."""
    assert angle.key is not None
    folder = workdir / f"angle-{angle.source.angle_index}"
    return objects.local_path(angle.key) or objects.download(
        angle.key, folder / "source" / Path(angle.key).name
    )


def _cut_angle(
    objects: ObjectStore,
    recording_id: str,
    angle: _Angle,
    fetch: Future[Path],
    workdir: Path,
    options: CutOptions,
) -> list[dict[str, Any]]:
    source, angle_dir = angle.source, workdir / f"angle-{angle.source.angle_index}"
    try:
        try:
            local = fetch.result()
            source.fetched = True
        except Exception as error:  # any read failure fails this angle's clips, not the others
            reason = f"fetching {source.uri} failed: {error}"
            return angle.kept + [tc.manifest_entry(c, state="failed", reason=reason) for c, _ in angle.to_cut]
        try:
            source.duration_s = probe_duration(
                local, timeout_s=options.timeout_s, executable=options.ffmpeg_executable
            )
        except FfmpegError as error:
            reason = f"probing {source.uri} failed: {failure_reason(error)}"
            return angle.kept + [tc.manifest_entry(c, state="failed", reason=reason) for c, _ in angle.to_cut]
        jobs, past_end = [], []
        for clip, fingerprint in angle.to_cut:
            fitted = tc.fit_to_video(clip, source.duration_s, options.min_duration_s)
            if isinstance(fitted, str):
                # Settled for this source version: kept as it is by a re-run, not fetched for again.
                past_end.append(
                    tc.manifest_entry(clip, state="failed", reason=fitted, fingerprint=fingerprint)
                )
            else:
                jobs.append((fitted, fingerprint))
        with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
            cut = pool.map(
                lambda job: _cut_one(objects, recording_id, local, job[0], job[1], angle_dir, options), jobs
            )
            return angle.kept + list(cut) + past_end
    finally:
        shutil.rmtree(angle_dir, ignore_errors=True)


def _cut_one(
    objects: ObjectStore,
    recording_id: str,
    source: Path,
    clip: PlannedClip,
    fingerprint: str,
    folder: Path,
    options: CutOptions,
) -> dict[str, Any]:
    # Named by clip id, so ffmpeg's command line (and a wrapper around it) says which clip it is.
    local = folder / "clips" / f"{clip.clip_id}.mp4"
    try:
        result = cut_clip(
            source,
            local,
            start_s=clip.start_s,
            duration_s=clip.duration_s,
            timeout_s=options.timeout_s,
            threads=options.threads_per_cut,
            executable=options.ffmpeg_executable,
        )
        key = clip_key(recording_id, clip.clip_id)
        size = local.stat().st_size
        objects.put_file(key, local)
    except FfmpegError as error:
        return tc.manifest_entry(clip, state="failed", reason=failure_reason(error))
    except OSError as error:
        return tc.manifest_entry(clip, state="failed", reason=f"storing the clip failed: {error}")
    finally:
        local.unlink(missing_ok=True)
    return tc.manifest_entry(
        clip,
        state="cut",
        key=key,
        fingerprint=fingerprint,
        duration_s=round(result.duration_s, 3),
        size_bytes=size,
    )


def failure_reason(error: FfmpegError) -> str:
    """ffmpeg's verdict and the last lines of its stderr: enough to tell why, short enough for a manifest."""
    tail = " | ".join(line.strip() for line in error.stderr_tail.splitlines()[-3:] if line.strip())
    return f"{error.reason}: {tail}" if tail else error.reason


def remove_stale_clips(objects: ObjectStore, recording_id: str, entries: Sequence[dict[str, Any]]) -> int:
    """Delete clip files no entry keeps (moments or angles gone since the last run); how many."""
    keep = {e["key"] for e in entries if e.get("state") == "cut"}
    stale = [info.key for info in objects.list(clips_prefix(recording_id)) if info.key not in keep]
    for key in stale:
        objects.delete(key)
    return len(stale)
