"""Player tracking: windows of frames (players with the ball merged in) and the jersey numbers seen."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from ras_api.caching import PUBLIC_7_DAYS, caching_headers, etag_matches, not_modified
from ras_api.delivery_models import JerseyNumbers, PlayerTracking, TrackingSide
from ras_api.models import MAX_DURATION_S
from ras_api.problems import Problem
from ras_api.routers.delivery import DELIVERY_RESPONSES, JSON, Delivery, DeliveryDep
from ras_core import delivery as transforms
from ras_core.processed import read_parquet_metadata, read_tracking_window

router = APIRouter(tags=["player-tracking"], responses=DELIVERY_RESPONSES)
BASE = "/recordings/{recording_id}/player-tracking"

DEFAULT_WINDOW_S = 60.0
MAX_WINDOW_S = 600.0
# Windows up to this long are built in memory and kept in the application cache (~3.5 MB per minute
# at 25 fps); longer ones are streamed chunk by chunk and never held whole.
IN_MEMORY_WINDOW_S = 60.0
STREAM_CHUNK_S = 30.0
_MAX_CHUNKS = math.ceil(MAX_WINDOW_S / STREAM_CHUNK_S)
_WINDOW_DOC = (
    f"`start` defaults to 0 and `end` to `start` + {DEFAULT_WINDOW_S:g} s; a window may span at most "
    f"{MAX_WINDOW_S:g} s. Windows longer than {IN_MEMORY_WINDOW_S:g} s are streamed. Only the parquet row "
    "groups overlapping the window are read. Frames are kept when the `side`/`jersey` filters leave no "
    "player in them, so the ball and the clock stay continuous."
)

# Bounded by the longest recording the API registers, so the OpenAPI document states the range and
# every float in it has sub-millisecond resolution (a 1e18 start once made `start + 30 == start`).
StartS = Annotated[
    float | None,
    Query(ge=0, le=MAX_DURATION_S, allow_inf_nan=False, description="window start, s"),
]
EndS = Annotated[
    float | None,
    Query(ge=0, le=MAX_DURATION_S, allow_inf_nan=False, description="window end (exclusive), s"),
]


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    period: int | None
    side: str | None
    jersey: int | None


def _window(
    start: float | None, end: float | None, period: int | None, side: str | None, jersey: int | None
) -> Window:
    start_s = 0.0 if start is None else start
    end_s = start_s + DEFAULT_WINDOW_S if end is None else end
    if end_s <= start_s:
        raise _bad("end", f"end ({end_s:g}) must be after start ({start_s:g})")
    if end_s - start_s > MAX_WINDOW_S:
        raise _bad("end", f"the window may span at most {MAX_WINDOW_S:g} s; asked for {end_s - start_s:g} s")
    return Window(start_s, end_s, period, side, jersey)


def _bad(name: str, detail: str) -> Problem:
    return Problem(400, f"{name}: {detail}", invalid_params=[{"name": name, "reason": detail}])


@router.get(
    BASE,
    response_model=PlayerTracking,
    summary="Frames with players and the merged ball, for a time window",
    description=_WINDOW_DOC,
)
def get_player_tracking(
    delivery: DeliveryDep,
    start: StartS = None,
    end: EndS = None,
    period: Annotated[int | None, Query(ge=1, le=99)] = None,
    side: Annotated[TrackingSide | None, Query()] = None,
    jersey: Annotated[int | None, Query(ge=0, le=999)] = None,
) -> Response:
    window = _window(start, end, period, side, jersey)
    obj = delivery.processed("player_tracking", "player-tracking")
    params = asdict(window)
    etag = delivery.etag((obj,), "player-tracking", params)
    if etag_matches(delivery.request, etag):
        return not_modified(etag, PUBLIC_7_DAYS)
    headers = caching_headers(etag, PUBLIC_7_DAYS)
    if window.end - window.start > IN_MEMORY_WINDOW_S:
        frames = _stream(_head(delivery, obj.path, window), obj.path, window)
        return StreamingResponse(frames, media_type=JSON, headers=headers)
    key = (delivery.recording_id, "player-tracking", (obj.etag,), tuple(sorted(params.items())))
    body = delivery.cache.get_or_compute(
        key, lambda: b"".join(_stream(_head(delivery, obj.path, window), obj.path, window))
    )
    return Response(body, media_type=JSON, headers=headers)


def _head(delivery: Delivery, path: Path, window: Window) -> dict[str, Any]:
    """The response minus its frames: the coordinate system and pitch the parquet file says it used."""
    stored = read_parquet_metadata(path)
    return {
        "recording_id": delivery.recording_id,
        "coordinate_system": stored["coordinate_system"],
        "pitch": stored["pitch"],
        "fps": stored.get("fps", delivery.recording.fps),
        "start_s": window.start,
        "end_s": window.end,
    }


def _stream(head: dict[str, Any], path: Path, window: Window) -> Iterator[bytes]:
    """The JSON document in pieces: the head, then the frames of one chunk of the window at a time."""
    yield json.dumps(head, separators=(",", ":"))[:-1].encode() + b',"frames":['
    first = True
    # A counted loop: however the floats round, it ends after at most MAX_WINDOW_S / STREAM_CHUNK_S chunks.
    for chunk_start, chunk_end in _chunks(window):
        table = read_tracking_window(path, chunk_start, chunk_end, period=window.period)
        # A frame has one time, so it falls in exactly one chunk: chunks join with a comma.
        frames = transforms.tracking_frames_json(table, window.side, window.jersey)[1:-1]
        if frames:
            yield (b"" if first else b",") + frames.encode()
            first = False
    yield b"]}"


def _chunks(window: Window) -> list[tuple[float, float]]:
    """[start, end) cut into STREAM_CHUNK_S pieces; the last ends exactly at `window.end`."""
    count = min(math.ceil((window.end - window.start) / STREAM_CHUNK_S), _MAX_CHUNKS)
    bounds = [window.start + i * STREAM_CHUNK_S for i in range(count)] + [window.end]
    return [(a, b) for a, b in itertools.pairwise(bounds) if a < b]


@router.get(
    f"{BASE}/jersey-numbers",
    response_model=JerseyNumbers,
    summary="Jersey numbers seen per side and period, with the share of frames each appears in",
)
def get_jersey_numbers(delivery: DeliveryDep) -> Response:
    obj = delivery.processed("player_tracking", "player-tracking/jersey-numbers")

    def build() -> dict[str, Any]:
        table = read_tracking_window(
            obj.path, 0.0, math.inf, columns=["frame", "period", "team_side", "jersey_number"]
        )
        rows = pl.from_arrow(table)
        assert isinstance(rows, pl.DataFrame)
        return {"recording_id": delivery.recording_id, "sides": transforms.jersey_numbers(rows)}

    return delivery.json((obj,), "jersey-numbers", {}, PUBLIC_7_DAYS, build)
