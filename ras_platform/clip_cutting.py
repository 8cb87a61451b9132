"""Cutting a recording's training clips: each source video fetched once, its clips cut in parallel.

The media team's pipeline fetched a source per clip; here each camera angle is fetched from the
object store once (or read in place from the local store), every clip of that angle is cut from the
local copy, the copy is removed, and the next angle follows. Clips whose fingerprint (source version,
window, encoding) matches the previous manifest and whose file exists are kept, not cut again; an
angle with nothing to cut is not fetched at all. A clip that fails is reported with its reason and
the rest go on (partial success); deciding whether that is acceptable is the caller's.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ras_core import training_clips as tc
from ras_core.training_clips import PlannedClip
from ras_platform.ffmpeg import DEFAULT_TIMEOUT_S, FfmpegError, cut_clip
from ras_platform.object_store import InvalidObjectKey, ObjectStore, validate_key


class UnreadableVideo(LookupError):
    """A video URI that names nothing this object store can read."""


@dataclass(frozen=True)
class CutOptions:
    timeout_s: float = DEFAULT_TIMEOUT_S  # per clip
    max_parallel: int = 0  # clips cut at once; 0 = one per core
    ffmpeg_executable: str | None = None  # None = the bundled binary

    @property
    def workers(self) -> int:
        return self.max_parallel or available_cores()


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
    `on_angle_done` gets the entries so far after each angle, so a crash loses one angle's work.
    """
    existing = {info.key for info in objects.list(clips_prefix(recording_id))}
    entries: list[dict[str, Any]] = []
    sources: list[SourceRun] = []
    by_angle: dict[int, list[PlannedClip]] = {}
    for clip in clips:
        by_angle.setdefault(clip.angle_index, []).append(clip)
    for angle_index, angle_clips in sorted(by_angle.items()):
        source = SourceRun(angle_index, angle_clips[0].source_uri)
        sources.append(source)
        entries += _cut_angle(
            objects, recording_id, angle_clips, previous, existing, workdir, options, source
        )
        if on_angle_done is not None:
            on_angle_done(list(entries))
    return entries, sources


def _cut_angle(
    objects: ObjectStore,
    recording_id: str,
    clips: list[PlannedClip],
    previous: dict[str, dict[str, Any]],
    existing: set[str],
    workdir: Path,
    options: CutOptions,
    source: SourceRun,
) -> list[dict[str, Any]]:
    try:
        key = video_key(objects, source.uri)
        info = objects.stat(key)
        if info is None:
            raise UnreadableVideo(f"video {source.uri} does not exist")
    except UnreadableVideo as error:
        return [tc.manifest_entry(clip, state="failed", reason=str(error)) for clip in clips]
    source.version = info.etag
    kept, to_cut = [], []
    for clip in clips:
        fingerprint = tc.clip_fingerprint(clip, info.etag)
        before = previous.get(clip.clip_id)
        target = clip_key(recording_id, clip.clip_id)
        if before and before.get("fingerprint") == fingerprint and target in existing:
            kept.append(before)
        else:
            to_cut.append((clip, fingerprint))
    source.kept, source.attempted = len(kept), len(to_cut)
    if not to_cut:
        return kept
    angle_dir = workdir / f"angle-{source.angle_index}"
    try:
        local = _fetch(objects, key, angle_dir)
        source.fetched = True
    except Exception as error:  # any read failure fails this angle's clips, not the others
        reason = f"fetching {source.uri} failed: {error}"
        return kept + [tc.manifest_entry(c, state="failed", reason=reason) for c, _ in to_cut]
    try:
        with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
            cut = pool.map(
                lambda job: _cut_one(objects, recording_id, local, job[0], job[1], angle_dir, options),
                to_cut,
            )
            return kept + list(cut)
    finally:
        shutil.rmtree(angle_dir, ignore_errors=True)


def _fetch(objects: ObjectStore, key: str, folder: Path) -> Path:
    """The local store's file itself; otherwise one download into `folder`."""
    return objects.local_path(key) or objects.download(key, folder / "source" / Path(key).name)


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
