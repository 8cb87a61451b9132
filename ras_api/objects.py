"""`/objects/{key}`: where the local object store's presigned URLs point (embedded profile only).

In production the object store is S3 and presigned URLs go to S3 itself; this router is then not
mounted. Here it plays S3's part: the HMAC signature and expiry in the query string are the only
authorisation, PUT bodies are streamed to a temporary file and moved into place atomically, and
raw files are write-once, as in every object store (an identical re-upload, EMA retrying, is fine;
different bytes are a 409). Each attempt of a job has keys of its own, so a retry never meets it.
A PUT with `uploadId` and `partNumber` is a part of a multipart upload, as on S3.
"""

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from ras_api.problems import Problem
from ras_platform.object_store import (
    InvalidMultipart,
    InvalidObjectKey,
    LocalObjectStore,
    ObjectStore,
    UploadNotFound,
    file_sha256,
    is_write_once,
    validate_key,
)

# What a URL this store signed looks like: ASCII digits without a leading zero (at most 12, which
# reaches the year 33658), and 64 lowercase hex digits. Anything else is refused before parsing, so
# '²' (a digit to `str.isdigit`), a 5,000-digit number or a re-padded expiry never reach `int()`.
_EXPIRES = re.compile(r"[1-9][0-9]{0,11}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_PART_NUMBER = re.compile(r"[1-9][0-9]{0,4}")  # S3: parts 1-10,000
# Optional and loosely typed on purpose: a missing or garbled parameter is a refused URL (403), not
# a validation error that would tell a caller which part of a forged URL to fix.
Expires = Annotated[str | None, Query(description="unix time after which the URL is refused")]
Signature = Annotated[str | None, Query(description="hex HMAC-SHA256 over method, key and expires")]
# S3's upload_part parameters: a part of a multipart upload (ras_platform.object_store).
UploadId = Annotated[str | None, Query(alias="uploadId", description="multipart upload the part belongs to")]
PartNumber = Annotated[str | None, Query(alias="partNumber", description="the part's number, from 1")]


def make_objects_router(store_getter: Callable[[], ObjectStore]) -> APIRouter:
    """The router; `store_getter` is a FastAPI dependency returning the platform's object store.

    Errors are raised as `Problem`, so the app must have `install_problem_handlers` applied.
    """
    router = APIRouter(tags=["objects"])

    def local_store(store: Annotated[ObjectStore, Depends(store_getter)]) -> LocalObjectStore:
        if not isinstance(store, LocalObjectStore):
            raise Problem(404, "objects are served by S3 in this profile, not by the API")
        return store

    Store = Annotated[LocalObjectStore, Depends(local_store)]

    @router.put(
        "/objects/{key:path}",
        status_code=200,
        summary="Upload through a local presigned URL",
        responses={
            200: {"description": "stored; `ETag` names the object (or the part)"},
            403: {"description": "the URL's signature is invalid or it has expired"},
            409: {"description": "a raw file is written once; it already holds different bytes"},
            507: {"description": "the storage is full"},
        },
    )
    async def put_object(
        key: str,
        request: Request,
        store: Store,
        expires: Expires = None,
        signature: Signature = None,
        upload_id: UploadId = None,
        part_number: PartNumber = None,
    ) -> Response:
        if upload_id is not None or part_number is not None:
            return await _put_part(store, key, request, upload_id, part_number, expires, signature)
        _require_signed(store, "PUT", key, expires, signature)
        tmp = store.temp_path(key)
        try:
            await _receive(request, tmp)
            return await run_in_threadpool(_store_upload, store, key, tmp)
        finally:
            tmp.unlink(missing_ok=True)

    @router.get(
        "/objects/{key:path}",
        summary="Download through a local presigned URL",
        response_class=FileResponse,
        responses={
            200: {"description": "the object's bytes", "content": {"*/*": {}}},
            403: {"description": "the URL's signature is invalid or it has expired"},
        },
    )
    def get_object(key: str, store: Store, expires: Expires = None, signature: Signature = None) -> Response:
        _require_signed(store, "GET", key, expires, signature)
        path, info = store.local_path(key), store.stat(key)
        if path is None or info is None:
            raise Problem(404, f"no object {key}")
        return FileResponse(path, headers={"ETag": f'"{info.etag}"'})

    return router


async def _put_part(
    store: LocalObjectStore,
    key: str,
    request: Request,
    upload_id: str | None,
    part_number: str | None,
    expires: str | None,
    signature: str | None,
) -> Response:
    """A part of a multipart upload: streamed to disk, answered with its ETag (MD5), as S3 does."""
    signed = (
        upload_id is not None
        and part_number is not None
        and _PART_NUMBER.fullmatch(part_number) is not None
        and expires is not None
        and _EXPIRES.fullmatch(expires) is not None
        and signature is not None
        and _SIGNATURE.fullmatch(signature) is not None
    )
    if not signed or not store.verify_part(key, upload_id, int(part_number), int(expires), signature):
        raise Problem(403, "the URL's signature is invalid or it has expired")
    try:
        tmp = store.part_temp_path(key, upload_id)
    except UploadNotFound:
        raise Problem(404, f"no upload {upload_id} in progress for {key}") from None
    try:
        digest = hashlib.md5(usedforsecurity=False)
        await _receive(request, tmp, digest)
        part = await run_in_threadpool(
            store.adopt_part, key, upload_id, int(part_number), tmp, etag=digest.hexdigest()
        )
    except UploadNotFound:
        raise Problem(404, f"upload {upload_id} was completed or aborted meanwhile") from None
    except InvalidMultipart as error:
        raise Problem(400, str(error)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return Response(status_code=200, headers={"ETag": f'"{part.etag}"'})


def _require_signed(
    store: LocalObjectStore, method: str, key: str, expires: str | None, signature: str | None
) -> None:
    try:
        validate_key(key)
    except InvalidObjectKey as error:
        raise Problem(400, str(error)) from None
    signed = (
        expires is not None
        and signature is not None
        and _EXPIRES.fullmatch(expires) is not None
        and _SIGNATURE.fullmatch(signature) is not None
    )
    if not signed or not store.verify(method, key, int(expires), signature):
        raise Problem(403, "the URL's signature is invalid or it has expired")


async def _receive(request: Request, tmp: Path, digest: Any = None) -> None:
    # Streamed to disk, not buffered: a tracking CSV is hundreds of MB. Writes are small and local,
    # so doing them on the event loop is cheaper than a thread hop per chunk. A part's ETag (MD5) is
    # hashed on the way through rather than by reading the part again.
    with open(tmp, "wb") as out:
        async for chunk in request.stream():
            out.write(chunk)
            if digest is not None:
                digest.update(chunk)
        out.flush()
        os.fsync(out.fileno())  # the move into place is atomic; fsync makes it durable too


def _store_upload(store: LocalObjectStore, key: str, tmp: Path) -> Response:
    if store.adopt(key, tmp):
        return _stored(store, key)
    assert is_write_once(key)  # adopt() replaces any other key
    existing = store.local_path(key)
    if existing is not None and file_sha256(existing) == file_sha256(tmp):
        return _stored(store, key)  # EMA re-sent the same file: nothing changes
    raise Problem(409, f"{key} is a raw file, written once; it already holds different bytes")


def _stored(store: LocalObjectStore, key: str) -> Response:
    info = store.stat(key)
    return Response(status_code=200, headers={"ETag": f'"{info.etag}"'} if info else {})

