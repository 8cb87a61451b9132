"""The uploaded video of a recording: `video` (probed metadata, thumbnail) and `video_renditions`
(the HLS ladder of contracts.md), both under `processed/video/{recording_id}/`.

The upload sensor asks for one `process_video` run per registered upload. Renditions are written
once: `renditions.json` goes last and with a write-once put, and the API builds the master playlist
from it, so no player ever sees a half-written ladder, and a re-run after it changes nothing.
"""

import json
import tempfile
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
    in_process_executor,
)

from ras_assets.partitions import recordings_partitions
from ras_platform.clip_cutting import UnreadableVideo, video_key
from ras_platform.object_store import ObjectStore
from ras_platform.video import NotAVideo, make_hls, make_thumbnail, probe_video, renditions_key, video_folder
from resources import ObjectStoreResource, StateStoreResource

PROCESS_VIDEO_JOB = "process_video"

# The uploads area as Dagster sees it: the upload sensor reports one observation per upload decided
# (registered or failed, and why), so a failed upload is visible in the UI without a recording.
uploads_area = AssetSpec(
    "uploads",
    group_name="video",
    description="Videos uploaded under uploads/ in the object store; each observation is one upload's "
    "outcome (registered, or failed with the prober's reason).",
)


def _key_or_none(objects: ObjectStore, uri: str) -> str | None:
    try:
        return video_key(objects, uri)
    except UnreadableVideo:
        return None


def _source_video(store: StateStoreResource, objects: ObjectStore, recording_id: str, workdir: Path) -> Path:
    meta = store.store.get_recording(recording_id)
    if meta is None:
        raise Failure(f"recording {recording_id} is not registered", allow_retries=False)
    keys = [key for uri in meta.video_uris if (key := _key_or_none(objects, uri)) and objects.exists(key)]
    if not keys:
        raise Failure(f"recording {recording_id} has no video in the object store", allow_retries=False)
    return objects.local_path(keys[0]) or objects.download(keys[0], workdir / Path(keys[0]).name)


@asset(partitions_def=recordings_partitions, group_name="video", kinds={"ffmpeg"})
def video(
    context: AssetExecutionContext, state_store: StateStoreResource, object_store: ObjectStoreResource
) -> MaterializeResult:
    """A recording's uploaded video as probed (duration, frame rate, size, codec), with a thumbnail
    at `processed/video/{recording_id}/thumbnail.jpg`."""
    objects, recording_id = object_store.store, context.partition_key
    with tempfile.TemporaryDirectory(prefix="ras-video-") as workdir:
        source = _source_video(state_store, objects, recording_id, Path(workdir))
        try:
            probe = probe_video(source)
        except NotAVideo as error:
            raise Failure(f"not a readable video: {error}", allow_retries=False) from error
        thumbnail = make_thumbnail(
            source, Path(workdir) / "thumbnail.jpg", at_s=min(1.0, probe.duration_s / 2)
        )
        thumbnail_key = f"{video_folder(recording_id)}thumbnail.jpg"
        objects.put_file(thumbnail_key, thumbnail)
        objects.put_bytes(f"{video_folder(recording_id)}video.json", json.dumps(probe.to_dict()).encode())
    return MaterializeResult(
        metadata={
            "duration_s": probe.duration_s,
            "fps": probe.fps,
            "resolution": f"{probe.width}x{probe.height}",
            "codec": probe.codec,
            "thumbnail": MetadataValue.url(objects.uri(thumbnail_key)),
        }
    )


@asset(partitions_def=recordings_partitions, group_name="video", kinds={"ffmpeg"}, deps=[video])
def video_renditions(
    context: AssetExecutionContext, state_store: StateStoreResource, object_store: ObjectStoreResource
) -> MaterializeResult:
    """The HLS ladder of a recording's video (360p and 720p by default, rungs above the source
    skipped; H.264, ~4 s segments) under `processed/video/{recording_id}/{rung}/`, written once."""
    objects, recording_id = object_store.store, context.partition_key
    existing = _written(objects, recording_id)
    if existing is not None:
        return MaterializeResult(metadata={**_rendition_metadata(existing), "written": "before (write-once)"})
    with tempfile.TemporaryDirectory(prefix="ras-hls-") as workdir:
        source = _source_video(state_store, objects, recording_id, Path(workdir))
        try:
            probe = probe_video(source)
        except NotAVideo as error:
            raise Failure(f"not a readable video: {error}", allow_retries=False) from error
        out = Path(workdir) / "hls"
        renditions = make_hls(source, out, probe)
        # Segments first, the list of renditions last: until it exists nothing names them.
        files = sorted(path for path in out.rglob("*") if path.is_file())
        for path in files:
            objects.put_file(f"{video_folder(recording_id)}{path.relative_to(out).as_posix()}", path)
        listing = {"renditions": [r.to_dict() for r in renditions], "source": probe.to_dict()}
        objects.put_bytes(renditions_key(recording_id), json.dumps(listing).encode(), if_absent=True)
    context.log.info(f"{recording_id}: {len(files)} HLS files for {', '.join(r.name for r in renditions)}")
    return MaterializeResult(metadata={**_rendition_metadata(listing), "files": len(files), "written": "now"})


def _written(objects: ObjectStore, recording_id: str) -> dict | None:
    if not objects.exists(renditions_key(recording_id)):
        return None
    return json.loads(objects.get_bytes(renditions_key(recording_id)))


def _rendition_metadata(listing: dict) -> dict[str, object]:
    return {
        "renditions": ", ".join(r["name"] for r in listing["renditions"]),
        "bandwidths": MetadataValue.json({r["name"]: r["bandwidth"] for r in listing["renditions"]}),
    }


process_video_job = define_asset_job(
    PROCESS_VIDEO_JOB,
    selection=AssetSelection.assets(video, video_renditions),
    partitions_def=recordings_partitions,
    executor_def=in_process_executor,
    tags={"ras/kind": "video"},
    description="Probe a recording's uploaded video, take its thumbnail and cut its HLS renditions.",
)
