"""What every delivery router shares: finding a recording's processed object, the 404 that names the
job's state, conditional GETs and the application cache. Not a router itself.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request, Response
from fastapi.responses import StreamingResponse

from ras_api import formats
from ras_api.caching import ResponseCache, etag_matches, strong_etag
from ras_api.deps import PlatformDep, RecordingId
from ras_api.openapi import PROBLEM_SCHEMA
from ras_api.problems import PROBLEM_JSON, Problem
from ras_core import catalogue
from ras_core.delivery import data_served, unavailable_detail
from ras_core.recording import RecordingMetadata
from ras_core.records import JobStatus
from ras_platform.object_store import ObjectInfo
from ras_platform.platform import Platform

JSON = formats.JSON
def problem_doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}


# The error answers every delivery GET can give, documented so the OpenAPI document tells clients.
DELIVERY_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the If-None-Match ETag is current"},
    400: problem_doc("a parameter is invalid; `invalid_params` names it"),
    404: problem_doc(
        "unknown recording, or its data is not served: the job that makes it is not completed "
        "(the detail names the job, its state, attempt and reason)"
    ),
}

_cache_lock = threading.Lock()


def response_cache(request: Request) -> ResponseCache:
    """One cache per app, created on first use."""
    state = request.app.state
    with _cache_lock:
        if getattr(state, "response_cache", None) is None:
            state.response_cache = ResponseCache()
    return state.response_cache


@dataclass(frozen=True)
class ProcessedObject:
    name: str  # processed output name, e.g. "player_tracking"
    key: str
    etag: str
    path: Path  # a local file holding exactly the bytes of `etag`


@dataclass(frozen=True)
class Variant:
    """One representation of a delivery response: its media type and content coding decide its bytes,
    so each has its own strong ETag (RFC 9110 8.8.3) and its own application cache entry."""

    etag: str  # of the identity-coded body
    cache_key: tuple[Any, ...]
    media_type: str
    coding: str | None  # the coding the client prefers; small bodies are still sent as they are
    cache_control: str
    vary: str

    def etag_for(self, coding: str | None) -> str:
        return self.etag if coding is None else f'{self.etag[:-1]}-{coding}"'

    def headers(self, coding: str | None, *, with_encoding: bool = True) -> dict[str, str]:
        headers = {"ETag": self.etag_for(coding), "Cache-Control": self.cache_control, "Vary": self.vary}
        if coding is not None and with_encoding:
            headers["Content-Encoding"] = coding
        return headers


@dataclass(frozen=True)
class Delivery:
    """One delivery request: its recording, the platform and the conditional-GET machinery."""

    request: Request
    platform: Platform
    recording: RecordingMetadata
    cache: ResponseCache
    # The recording's jobs as read with it (`StateStore.recording_with_jobs`): one read per request.
    jobs: Mapping[str, JobStatus] = field(default_factory=dict)

    @property
    def recording_id(self) -> str:
        return self.recording.recording_id

    def processed(self, output_name: str, endpoint: str) -> ProcessedObject:
        """The processed object, or a 404 naming the state of the job that makes it: data is served
        only while its job is completed (`ras_core.delivery.DATA_AVAILABILITY`)."""
        job = catalogue.job_of_processed(output_name)
        status = self.jobs.get(job.name) or self.platform.state_store.job_status(self.recording_id, job.name)
        unavailable = partial(
            unavailable_detail, endpoint, job.name, status.state, status.attempt, status.reason
        )
        if not data_served(status.state):
            raise Problem(404, unavailable())
        key = catalogue.processed_output(output_name).key(self.recording_id)
        info = self.platform.object_store.stat(key)
        if info is None:
            raise Problem(404, unavailable(missing=output_name))
        return ProcessedObject(output_name, key, info.etag, self._local_file(info))

    def sidecar(self, obj: ProcessedObject, sidecar: str) -> ProcessedObject | None:
        """A delivery file the import wrote beside `obj` (`ProcessedOutput.sidecars`), or None when
        there is none; whether it belongs to `obj` is for the caller to check."""
        key = catalogue.processed_output(obj.name).sidecar_key(self.recording_id, sidecar)
        info = self.platform.object_store.stat(key)
        if info is None:
            return None
        return ProcessedObject(obj.name, key, info.etag, self._local_file(info))

    def _local_file(self, info: ObjectInfo) -> Path:
        store = self.platform.object_store
        path = store.local_path(info.key)
        if path is not None:
            return path
        # S3: readers need a seekable local file (parquet row groups); one copy per object version.
        cached = self.platform.settings.data_dir.absolute() / "delivery-cache" / f"{info.key}.{info.etag}"
        if not cached.is_file():
            tmp = cached.with_name(f"{cached.name}.{uuid.uuid4().hex}.tmp")
            store.download(info.key, tmp)
            os.replace(tmp, cached)
        return cached

    def etag(self, objects: tuple[ProcessedObject, ...], endpoint: str, params: Mapping[str, Any]) -> str:
        return strong_etag(tuple(o.etag for o in objects), endpoint, params)

    def json(
        self,
        objects: tuple[ProcessedObject, ...],
        endpoint: str,
        params: Mapping[str, Any],
        cache_control: str,
        build: Callable[[], Any],
    ) -> Response:
        """A conditional, cached JSON response; `build` runs only when neither answers."""
        variant = self.variant(objects, endpoint, params, cache_control)
        if (unchanged := self.not_modified(variant)) is not None:
            return unchanged
        return self.cached(variant, lambda: formats.json_bytes(build()))

    def variant(
        self,
        objects: tuple[ProcessedObject, ...],
        endpoint: str,
        params: Mapping[str, Any],
        cache_control: str,
        media_type: str = JSON,
        vary: str = "Accept-Encoding",
    ) -> Variant:
        """The representation this request asks for: media type, content coding and validators."""
        # The default JSON keeps the ETag it had before other media types were offered.
        keyed = dict(params) if media_type == JSON else {**params, "media_type": media_type}
        return Variant(
            etag=self.etag(objects, endpoint, keyed),
            cache_key=(
                self.recording_id,
                endpoint,
                tuple(o.etag for o in objects),
                tuple(sorted(keyed.items())),
            ),
            media_type=media_type,
            coding=formats.content_coding(self.request.headers.get("accept-encoding")),
            cache_control=cache_control,
            vary=vary,
        )

    def not_modified(self, variant: Variant) -> Response | None:
        """A 304 when If-None-Match names this representation, in whichever coding it was sent."""
        for coding in dict.fromkeys((variant.coding, None)):
            etag = variant.etag_for(coding)
            if etag_matches(self.request, etag):
                return Response(status_code=304, headers=variant.headers(coding, with_encoding=False))
        return None

    def cached(self, variant: Variant, build: Callable[[], bytes]) -> Response:
        """The body from the application cache (or `build`), compressed when large and accepted."""
        body = self.cache.get_or_compute(variant.cache_key, build)
        coding = variant.coding if len(body) >= formats.MIN_COMPRESSED_BYTES else None
        if coding is not None:
            identity = body
            body = self.cache.get_or_compute(
                (*variant.cache_key, coding), lambda: formats.compress(identity, coding)
            )
        return Response(body, media_type=variant.media_type, headers=variant.headers(coding))

    def streamed(self, variant: Variant, chunks: Iterable[bytes]) -> StreamingResponse:
        """A body too long to hold, sent chunk by chunk (and compressed chunk by chunk)."""
        if variant.coding is not None:
            chunks = formats.compress_stream(chunks, variant.coding)
        return StreamingResponse(
            chunks, media_type=variant.media_type, headers=variant.headers(variant.coding)
        )

    def read_document(self, obj: ProcessedObject) -> dict[str, Any]:
        """A processed JSON document, its `recording_id` set to the path's (duplicates share bytes)."""
        return {**orjson.loads(obj.path.read_bytes()), "recording_id": self.recording_id}


def delivery(request: Request, recording_id: RecordingId, platform: PlatformDep) -> Delivery:
    # Sync (one threadpool hop, as `ExistingRecording`'s): the recording and its jobs' states in one
    # read, so `Delivery.processed` reads nothing more.
    found = platform.state_store.recording_with_jobs(recording_id)
    if found is None:
        raise Problem(404, f"recording {recording_id} is not registered")
    recording, jobs = found
    return Delivery(request, platform, recording, response_cache(request), jobs)


DeliveryDep = Annotated[Delivery, Depends(delivery)]
