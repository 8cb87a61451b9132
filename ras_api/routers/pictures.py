"""Pictures of a recording (ras_core.pictures) as PNG: drawn on first request from the processed file
and kept in the response cache under that file's etag, so imports never pay for drawing them and a
re-import draws afresh. The Dagster UI shows them in the assets' metadata (markdown images)."""

from __future__ import annotations

import threading
from typing import Literal

from fastapi import APIRouter, Response

from ras_api.caching import caching_headers, etag_matches, not_modified
from ras_api.routers.delivery import DELIVERY_RESPONSES, DeliveryDep
from ras_core import pictures

router = APIRouter(tags=["pictures"], responses=DELIVERY_RESPONSES)
PictureName = Literal[tuple(p.name for p in pictures.PICTURES)]  # type: ignore[valid-type]
# A rebuilt file keeps its URL: browsers revalidate (cheap 304s) instead of keeping a stale picture.
REVALIDATE = "no-cache"
# Drawing takes a core for a fraction of a second; one at a time keeps delivery responsive.
_drawing = threading.Lock()


def picture_path(recording_id: str, name: str) -> str:
    return f"/recordings/{recording_id}/pictures/{name}.png"


@router.get(
    "/recordings/{recording_id}/pictures/{name}.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "the picture"}},
    summary="A picture of the recording: team-heatmaps, shot-map or momentum (PNG)",
)
def get_picture(delivery: DeliveryDep, name: PictureName) -> Response:
    picture = pictures.picture(name)
    source = delivery.processed(picture.source, f"pictures/{name}.png")
    etag = delivery.etag((source,), f"pictures/{name}", {})
    if etag_matches(delivery.request, etag):
        return not_modified(etag, REVALIDATE)

    def draw() -> bytes:
        with _drawing:
            return picture.draw(source.path, delivery.recording)

    key = (delivery.recording_id, "picture", name, source.etag)
    body = delivery.cache.get_or_compute(key, draw)
    return Response(body, media_type="image/png", headers=caching_headers(etag, REVALIDATE))
