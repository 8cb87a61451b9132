"""Player tracking: windows of frames (players with the ball merged in) and the jersey numbers seen."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Query, Response

from ras_api import formats
from ras_api.caching import PUBLIC_7_DAYS
from ras_api.delivery_models import JerseyNumbers, PlayerTracking, PlayerTrackingColumns, TrackingSide
from ras_api.formats import ARROW_STREAM, COLUMNAR_JSON, JSON
from ras_api.models import MAX_DURATION_S
from ras_api.problems import Problem
from ras_api.routers.delivery import (
    DELIVERY_RESPONSES,
    Delivery,
    DeliveryDep,
    ProcessedObject,
    problem_doc,
)
from ras_core import delivery as transforms
from ras_core import rendered
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
# What a response holds: the processed file's other columns (confidences) are never read.
TRACKING_COLUMNS = [*transforms.FRAME_COLUMNS, *transforms.FRAME_BALL_COLUMNS]
_WINDOW_DOC = (
    f"`start` defaults to 0 and `end` to `start` + {DEFAULT_WINDOW_S:g} s; a window may span at most "
    f"{MAX_WINDOW_S:g} s. Windows longer than {IN_MEMORY_WINDOW_S:g} s are streamed. Only the parquet row "
    "groups overlapping the window are read; an unfiltered window in the default JSON is read from "
    "frames rendered when the data was imported (the same bytes). Frames are kept when the "
    "`side`/`jersey` filters leave no player in them, so the ball and the clock stay continuous."
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


_FORMATS_DOC = (
    "Three representations, chosen by `Accept` (the default is `application/json`):\n\n"
    f"- `{JSON}`: the frames shape below, one object per frame with its ball and players;\n"
    f"- `{COLUMNAR_JSON}`: the same window as two flat tables of column arrays, `frames` (`frame, t, "
    "period, ball_x, ball_y, ball_z`; ball columns null when the ball was not seen) and `players` "
    "(`frame` plus the player fields), beside the same `recording_id`, `coordinate_system`, `pitch`, "
    "`fps`, `start_s`, `end_s`; about a third smaller and cheaper to parse;\n"
    f"- `{ARROW_STREAM}`: an Apache Arrow IPC stream of the frames shape (`players` a list of structs), "
    "the other fields as JSON in the schema metadata under `ras`; read it with "
    "`pyarrow.ipc.open_stream(body).read_all()`.\n\n"
    "Bodies over 8 KiB are compressed when `Accept-Encoding` allows (`br`, else `gzip`); each media "
    "type and coding has its own ETag. An `Accept` none of these satisfies is a 406."
)
_OFFERED = (JSON, COLUMNAR_JSON, ARROW_STREAM)
_OTHER_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The window, in the representation `Accept` asked for",
        "content": {
            COLUMNAR_JSON: {
                "schema": PlayerTrackingColumns.model_json_schema(ref_template="#/components/schemas/{model}")
            },
            ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}},
        },
    },
    406: problem_doc(f"`Accept` names none of {', '.join(_OFFERED)}"),
}


@router.get(
    BASE,
    response_model=PlayerTracking,
    summary="Frames with players and the merged ball, for a time window",
    description=f"{_WINDOW_DOC}\n\n{_FORMATS_DOC}",
    responses=_OTHER_FORMATS,
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
    media_type = formats.negotiate(delivery.request.headers.get("accept"), _OFFERED)
    if media_type is None:
        raise Problem(406, f"player-tracking is offered as {', '.join(_OFFERED)}")
    obj = delivery.processed("player_tracking", "player-tracking")
    variant = delivery.variant(
        (obj,), "player-tracking", asdict(window), PUBLIC_7_DAYS, media_type, vary="Accept, Accept-Encoding"
    )
    if (unchanged := delivery.not_modified(variant)) is not None:
        return unchanged
    source = Source(obj.path, _footer(obj.path, obj.etag), _stored(obj.path, obj.etag))
    head = _head(delivery, source, window)
    if media_type == JSON and (frames := _rendered(delivery, obj, source, window)) is not None:
        # The same bytes as the computed path below, read from the frames rendered at import.
        if window.end - window.start > IN_MEMORY_WINDOW_S:
            return delivery.streamed(variant, _rendered_chunks(head, frames, window))
        return delivery.cached(variant, lambda: b"".join(_rendered_chunks(head, frames, window)))
    if media_type == COLUMNAR_JSON:
        return delivery.cached(variant, lambda: _columnar(head, source, window))
    chunks = _arrow_chunks if media_type == ARROW_STREAM else _json_chunks
    if window.end - window.start > IN_MEMORY_WINDOW_S:
        return delivery.streamed(variant, chunks(head, source, window))
    return delivery.cached(variant, lambda: b"".join(chunks(head, source, window)))


@dataclass(frozen=True)
class Source:
    """One version of the processed tracking file, with its parsed footer and `ras` metadata."""

    path: Path
    footer: pq.FileMetaData
    stored: dict[str, Any]  # shared by every request of this version: read, never modified


@lru_cache(maxsize=256)
def _footer(path: Path, etag: str) -> pq.FileMetaData:
    # Keyed by the object's etag, which every write changes: a re-import is never read with a stale
    # footer. Parsing it costs a cold window ~0.5 ms, twice (head and rows).
    return pq.read_metadata(path)


@lru_cache(maxsize=256)
def _stored(path: Path, etag: str) -> dict[str, Any]:
    """The file's `ras` metadata entry, parsed once per version (never modified by callers)."""
    return read_parquet_metadata(path, _footer(path, etag))


@lru_cache(maxsize=256)
def _frames(path: Path, etag: str) -> rendered.Frames:
    # Per version of the sidecar, like `_footer`: its footer and row-group times, parsed once.
    return rendered.Frames.open(path)


def _rendered(
    delivery: Delivery, obj: ProcessedObject, source: Source, window: Window
) -> rendered.Frames | None:
    """The frames rendered at import, when they can serve this window: no filter asked for, and a
    sidecar carrying the digest the processed file names (`ras_core.rendered`)."""
    if (window.period, window.side, window.jersey) != (None, None, None):
        return None
    digest = source.stored.get(rendered.DIGEST_KEY)
    if digest is None:
        return None  # imported before sidecars, or its frames could not be rendered
    sidecar = delivery.sidecar(obj, rendered.SIDECAR)
    if sidecar is None:
        return None
    frames = _frames(sidecar.path, sidecar.etag)
    return frames if frames.digest == digest else None


def _rendered_chunks(head: dict[str, Any], frames: rendered.Frames, window: Window) -> Iterator[bytes]:
    """`_json_chunks`' document, from the rendered frames: the same bytes."""
    yield formats.json_bytes(head)[:-1] + b',"frames":['
    first = True
    for chunk_start, chunk_end in _chunks(window):
        if body := frames.window(chunk_start, chunk_end):
            if not first:
                yield b","
            yield body
            first = False
    yield b"]}"


def _head(delivery: Delivery, source: Source, window: Window) -> dict[str, Any]:
    """The response minus its frames: the coordinate system and pitch the parquet file says it used."""
    stored = source.stored
    return {
        "recording_id": delivery.recording_id,
        "coordinate_system": stored["coordinate_system"],
        "pitch": stored["pitch"],
        "fps": stored.get("fps", delivery.recording.fps),
        "start_s": window.start,
        "end_s": window.end,
    }


def _window_tables(source: Source, window: Window) -> Iterator[pa.Table]:
    """The window's rows, `STREAM_CHUNK_S` at a time: a frame has one time, so it is in one chunk."""
    # A counted loop: however the floats round, it ends after at most MAX_WINDOW_S / STREAM_CHUNK_S chunks.
    for chunk_start, chunk_end in _chunks(window):
        yield read_tracking_window(
            source.path,
            chunk_start,
            chunk_end,
            columns=TRACKING_COLUMNS,
            period=window.period,
            metadata=source.footer,
        )


def _chunks(window: Window) -> list[tuple[float, float]]:
    """[start, end) cut into STREAM_CHUNK_S pieces; the last ends exactly at `window.end`."""
    count = min(math.ceil((window.end - window.start) / STREAM_CHUNK_S), _MAX_CHUNKS)
    bounds = [window.start + i * STREAM_CHUNK_S for i in range(count)] + [window.end]
    return [(a, b) for a, b in itertools.pairwise(bounds) if a < b]


def _json_chunks(head: dict[str, Any], source: Source, window: Window) -> Iterator[bytes]:
    """The JSON document in pieces: the head, then the frames of one chunk of the window at a time."""
    yield formats.json_bytes(head)[:-1] + b',"frames":['
    first = True
    for table in _window_tables(source, window):
        frames = transforms.tracking_frames_json(table, window.side, window.jersey)[1:-1]
        if frames:
            yield (b"" if first else b",") + frames
            first = False
    yield b"]}"


def _arrow_chunks(head: dict[str, Any], source: Source, window: Window) -> Iterator[bytes]:
    tables = (
        transforms.tracking_frames_arrow(table, window.side, window.jersey)
        for table in _window_tables(source, window)
    )
    return formats.arrow_stream(head, transforms.TRACKING_FRAMES_SCHEMA, tables)


def _columnar(head: dict[str, Any], source: Source, window: Window) -> bytes:
    # Column arrays span the whole window, so this shape is built whole even for long windows.
    table = pa.concat_tables(_window_tables(source, window))
    frames, players = transforms.tracking_columns(table, window.side, window.jersey)
    return formats.columnar_json(head, {"frames": frames, "players": players})


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
