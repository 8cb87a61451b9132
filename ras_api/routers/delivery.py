"""What every delivery router shares: finding a recording's processed object, the 404 that names the
job's state, conditional GETs and the application cache. Not a router itself.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from ras_api.caching import ResponseCache, caching_headers, etag_matches, not_modified, strong_etag
from ras_api.deps import ExistingRecording, PlatformDep
from ras_api.problems import PROBLEM_JSON, Problem
from ras_core import catalogue
from ras_core.recording import RecordingMetadata
from ras_core.states import JobState
from ras_platform.object_store import ObjectInfo
from ras_platform.platform import Platform

JSON = "application/json"
_PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "invalid_params": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}


def problem_doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}}}


# The error answers every delivery GET can give, documented so the OpenAPI document tells clients.
DELIVERY_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the If-None-Match ETag is current"},
    400: problem_doc("a parameter is invalid; `invalid_params` names it"),
    404: problem_doc("unknown recording, or its data is not there yet (the detail names the job's state)"),
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
class Delivery:
    """One delivery request: its recording, the platform and the conditional-GET machinery."""

    request: Request
    platform: Platform
    recording: RecordingMetadata
    cache: ResponseCache

    @property
    def recording_id(self) -> str:
        return self.recording.recording_id

    def processed(self, output_name: str, endpoint: str) -> ProcessedObject:
        """The processed object, or a 404 naming the state of the job that makes it."""
        key = catalogue.processed_output(output_name).key(self.recording_id)
        info = self.platform.object_store.stat(key)
        if info is None:
            raise Problem(404, self._not_available(output_name, endpoint))
        return ProcessedObject(output_name, key, info.etag, self._local_file(info))

    def _not_available(self, output_name: str, endpoint: str) -> str:
        job = catalogue.job_of_processed(output_name)
        status = self.platform.state_store.job_status(self.recording_id, job.name)
        state = f"job {job.name} is {status.state.value} (attempt {status.attempt})"
        if status.state is JobState.FAILED and status.reason:
            state += f": {status.reason}"
        elif status.state is JobState.COMPLETED:
            # Completed but absent: the processed file was removed; a forced re-run rebuilds it.
            state += f", but {output_name} is missing from storage"
        return f"{endpoint} is not available yet: {state}"

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
        etag = self.etag(objects, endpoint, params)
        if etag_matches(self.request, etag):
            return not_modified(etag, cache_control)
        key = (self.recording_id, endpoint, tuple(o.etag for o in objects), tuple(sorted(params.items())))
        body = self.cache.get_or_compute(key, lambda: json_bytes(build()))
        return Response(body, media_type=JSON, headers=caching_headers(etag, cache_control))

    def read_document(self, obj: ProcessedObject) -> dict[str, Any]:
        """A processed JSON document, its `recording_id` set to the path's (duplicates share bytes)."""
        return {**json.loads(obj.path.read_bytes()), "recording_id": self.recording_id}


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def delivery(request: Request, recording: ExistingRecording, platform: PlatformDep) -> Delivery:
    return Delivery(request, platform, recording, response_cache(request))


DeliveryDep = Annotated[Delivery, Depends(delivery)]
