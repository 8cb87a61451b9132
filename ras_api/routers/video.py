"""Playback of a recording's video (contracts.md "Video uploads"): the HLS master playlist, generated
from the renditions present, and the renditions' playlists and segments, which never change.

No token, like the other GETs. A cache miss is a read of one small JSON or one file: no database.
"""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from ras_api.deps import PlatformDep, RecordingId
from ras_api.problems import Problem
from ras_platform.object_store import ObjectNotFound
from ras_platform.video import master_playlist, renditions_key, video_folder

router = APIRouter(tags=["video"])
HLS_PLAYLIST = "application/vnd.apple.mpegurl"
MASTER_CACHE = {"Cache-Control": "no-cache"}
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
_RENDITION = re.compile(r"\d{2,4}p")
_FILE = re.compile(r"index\.m3u8|seg_\d{5}\.ts")


@router.get(
    "/recordings/{recording_id}/video/master.m3u8",
    response_class=Response,
    responses={200: {"content": {HLS_PLAYLIST: {}}}},
    summary="HLS master playlist of the recording's video renditions",
)
async def get_master_playlist(recording_id: RecordingId, platform: PlatformDep) -> Response:
    try:
        listing = json.loads(
            await run_in_threadpool(platform.object_store.get_bytes, renditions_key(recording_id))
        )
    except ObjectNotFound:
        raise Problem(404, f"recording {recording_id} has no video renditions (yet)") from None
    return Response(master_playlist(listing["renditions"]), media_type=HLS_PLAYLIST, headers=MASTER_CACHE)


@router.get(
    "/recordings/{recording_id}/video/{rendition}/{filename}",
    response_class=Response,
    responses={200: {"content": {HLS_PLAYLIST: {}, "video/mp2t": {}}}},
    summary="A rendition's playlist or segment (immutable)",
)
async def get_rendition_file(
    recording_id: RecordingId, rendition: str, filename: str, platform: PlatformDep
) -> Response:
    if _RENDITION.fullmatch(rendition) is None or _FILE.fullmatch(filename) is None:
        raise Problem(404, "no such rendition file")
    key = f"{video_folder(recording_id)}{rendition}/{filename}"
    media_type = HLS_PLAYLIST if filename.endswith(".m3u8") else "video/mp2t"
    objects = platform.object_store
    path = objects.local_path(key)
    if path is not None:
        return FileResponse(path, media_type=media_type, headers=IMMUTABLE)
    try:
        body = await run_in_threadpool(objects.get_bytes, key)
    except ObjectNotFound:
        raise Problem(404, f"no {rendition}/{filename} for recording {recording_id}") from None
    return Response(body, media_type=media_type, headers=IMMUTABLE)
