"""One storage contract, two backends: every test here runs against a local directory and S3 (moto)."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from ras_api.objects import make_objects_router
from ras_api.problems import install_problem_handlers
from ras_platform.object_store import (
    InvalidMultipart,
    InvalidObjectKey,
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    UploadNotFound,
    build_object_store,
)
from ras_platform.s3_object_store import S3ObjectStore
from ras_platform.settings import Settings

from .conftest import free_port

SIGNING_KEY = "test-signing-key"


class LoopbackServer:
    """The objects router served by uvicorn in a thread: presigned URLs tested over real HTTP."""

    def __init__(self, app: FastAPI, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            self._thread.join(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(5)


def _s3_store(s3_server_url: str) -> S3ObjectStore:
    store = S3ObjectStore(f"test-{uuid.uuid4().hex[:12]}", endpoint_url=s3_server_url)
    store.ensure_bucket()
    return store


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects", base_url="http://unused", signing_key=SIGNING_KEY)
    return _s3_store(request.getfixturevalue("s3_server_url"))


@pytest.fixture
def local_served(tmp_path: Path) -> Iterator[LocalObjectStore]:
    port = free_port()
    local = LocalObjectStore(
        tmp_path / "objects", base_url=f"http://127.0.0.1:{port}", signing_key=SIGNING_KEY
    )
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(make_objects_router(lambda: local))
    with LoopbackServer(app, port):
        yield local


@pytest.fixture(params=["local", "s3"])
def served_store(request: pytest.FixtureRequest) -> ObjectStore:
    """A store whose presigned URLs answer over HTTP: the API's /objects route, or moto's S3."""
    if request.param == "local":
        return request.getfixturevalue("local_served")
    return _s3_store(request.getfixturevalue("s3_server_url"))


# --- the shared contract ----------------------------------------------------------------------------


def test_put_get_stat_exists(store: ObjectStore) -> None:
    assert store.stat("raw/x/a.json") is None
    assert not store.exists("raw/x/a.json")
    assert store.put_bytes("raw/x/a.json", b'{"a": 1}') is True
    assert store.get_bytes("raw/x/a.json") == b'{"a": 1}'
    info = store.stat("raw/x/a.json")
    assert info is not None
    assert (info.key, info.size) == ("raw/x/a.json", 8)
    assert info.etag and not info.etag.startswith('"')
    assert info.modified.tzinfo is not None
    assert store.exists("raw/x/a.json")


def test_if_absent_is_write_once(store: ObjectStore, tmp_path: Path) -> None:
    assert store.put_bytes("processed/x/a.csv", b"first", if_absent=True) is True
    assert store.put_bytes("processed/x/a.csv", b"second", if_absent=True) is False
    source = tmp_path / "third.csv"
    source.write_bytes(b"third")
    assert store.put_file("processed/x/a.csv", source, if_absent=True) is False
    assert store.get_bytes("processed/x/a.csv") == b"first"
    assert store.put_bytes("processed/x/a.csv", b"replaced") is True
    assert store.get_bytes("processed/x/a.csv") == b"replaced"


def test_raw_keys_are_write_once_in_every_store(store: ObjectStore, tmp_path: Path) -> None:
    """contracts.md: a raw key never changes once written, whichever store holds it (the local
    store used to refuse only over HTTP, S3 silently overwrote): put, put_file and copy all refuse,
    and a retry's attempt has a key of its own."""
    first = "raw/ball-tracking/rec-1/attempt-1.csv"
    assert store.put_bytes(first, b"attempt one") is True
    assert store.put_bytes(first, b"overwrite") is False
    source = tmp_path / "other.csv"
    source.write_bytes(b"other")
    assert store.put_file(first, source) is False
    store.put_bytes("processed/x/r.csv", b"elsewhere")
    assert store.copy("processed/x/r.csv", first) is False
    assert store.get_bytes(first) == b"attempt one"
    assert store.put_bytes("raw/ball-tracking/rec-1/attempt-2.csv", b"attempt two") is True
    assert store.get_bytes(first) == b"attempt one"


def test_put_file_download_and_local_path(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    source.write_bytes(b"\x00PAR1" * 1000)
    assert store.put_file("processed/p/r1.parquet", source) is True
    dest = store.download("processed/p/r1.parquet", tmp_path / "out" / "copy.parquet")
    assert dest.read_bytes() == source.read_bytes()
    local = store.local_path("processed/p/r1.parquet")
    if isinstance(store, LocalObjectStore):
        assert local is not None and local.read_bytes() == source.read_bytes()
    else:
        assert local is None


def test_list_by_prefix(store: ObjectStore) -> None:
    for key in ("raw/b/r1.csv", "raw/a/r2.json", "raw/a/r1.json", "processed/a/r1.json"):
        store.put_bytes(key, key.encode())
    assert [i.key for i in store.list("raw/a/")] == ["raw/a/r1.json", "raw/a/r2.json"]
    assert [i.key for i in store.list("raw/a/r1")] == ["raw/a/r1.json"]
    assert [i.key for i in store.list("raw/")] == ["raw/a/r1.json", "raw/a/r2.json", "raw/b/r1.csv"]
    assert len(store.list("")) == 4
    assert store.list("nothing/") == []
    assert {i.size for i in store.list("raw/a/")} == {len(b"raw/a/r1.json")}


def test_copy_and_delete(store: ObjectStore) -> None:
    store.put_bytes("raw/x/r1.json", b"payload")
    assert store.copy("raw/x/r1.json", "raw/x/r2.json") is True
    assert store.get_bytes("raw/x/r2.json") == b"payload"
    store.delete("raw/x/r1.json")
    assert not store.exists("raw/x/r1.json")
    assert store.exists("raw/x/r2.json")
    store.delete("raw/x/r1.json")  # deleting what is gone is not an error: retries repeat deletes


def test_missing_objects_raise_object_not_found(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound):
        store.get_bytes("raw/x/none.json")
    with pytest.raises(ObjectNotFound):
        store.download("raw/x/none.json", tmp_path / "none.json")
    with pytest.raises(ObjectNotFound):
        store.copy("raw/x/none.json", "raw/x/other.json")


def test_replace_is_atomic_for_readers(store: ObjectStore) -> None:
    versions = [bytes([i]) * 200_000 for i in range(1, 9)]
    store.put_bytes("processed/p/r1.json", versions[0])
    seen: list[bytes] = []
    stop = threading.Event()

    def read_while_writing() -> None:
        while not stop.is_set():
            seen.append(store.get_bytes("processed/p/r1.json"))

    reader = threading.Thread(target=read_while_writing)
    reader.start()
    try:
        for version in versions[1:]:
            store.put_bytes("processed/p/r1.json", version)
    finally:
        stop.set()
        reader.join()
    assert seen and all(blob in versions for blob in seen)
    assert store.get_bytes("processed/p/r1.json") == versions[-1]
    assert [i.key for i in store.list("processed/")] == ["processed/p/r1.json"]  # no temporaries


def test_failed_write_leaves_previous_version(store: ObjectStore, tmp_path: Path) -> None:
    store.put_bytes("processed/p/r1.json", b"v1")
    before = store.stat("processed/p/r1.json")
    with pytest.raises(FileNotFoundError):
        store.put_file("processed/p/r1.json", tmp_path / "does-not-exist")
    assert store.get_bytes("processed/p/r1.json") == b"v1"
    assert store.stat("processed/p/r1.json") == before
    assert [i.key for i in store.list("")] == ["processed/p/r1.json"]


def test_etag_changes_when_content_changes(store: ObjectStore) -> None:
    store.put_bytes("processed/p/r1.json", b"v1")
    first = store.stat("processed/p/r1.json")
    store.put_bytes("processed/p/r1.json", b"v2")
    second = store.stat("processed/p/r1.json")
    assert first is not None and second is not None and first.etag != second.etag


@pytest.mark.parametrize(
    "key",
    ["", "../etc/passwd", "/abs/key", "raw//x", "raw/../x", "raw/./x", "raw/x y", "raw/x?y=1", "a\\b", "r/"],
)
def test_invalid_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidObjectKey):
        store.put_bytes(key, b"x")
    with pytest.raises(InvalidObjectKey):
        store.stat(key)
    with pytest.raises(InvalidObjectKey):
        store.presign_get(key, 60)


def test_uri_names_the_backend(store: ObjectStore) -> None:
    uri = store.uri("raw/x/r1.json")
    if isinstance(store, S3ObjectStore):
        assert uri == f"s3://{store.bucket}/raw/x/r1.json"
    else:
        assert uri.startswith("file:///") and uri.endswith("/objects/raw/x/r1.json")


def test_presigned_put_then_get_over_http(served_store: ObjectStore) -> None:
    body = b"pts,timestamp_in_seconds\n0,0.0\n" * 1000
    put = httpx.put(served_store.presign_put("raw/ball-tracking/r1.csv", 300), content=body)
    assert put.status_code == 200, put.text
    assert served_store.get_bytes("raw/ball-tracking/r1.csv") == body
    got = httpx.get(served_store.presign_get("raw/ball-tracking/r1.csv", 300))
    assert got.status_code == 200
    assert got.content == body
    info = served_store.stat("raw/ball-tracking/r1.csv")
    assert info is not None and got.headers["etag"].strip('"') == info.etag


# --- the local backend's HTTP route -----------------------------------------------------------------


def _assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status


def test_expired_urls_are_refused(local_served: LocalObjectStore) -> None:
    local_served.put_bytes("raw/x/r1.json", b"{}")
    _assert_problem(httpx.get(local_served.presign_get("raw/x/r1.json", -1)), 403)
    _assert_problem(httpx.put(local_served.presign_put("raw/x/r2.json", -1), content=b"{}"), 403)
    assert not local_served.exists("raw/x/r2.json")


def test_forged_or_misused_signatures_are_refused(local_served: LocalObjectStore) -> None:
    good = local_served.presign_get("raw/x/r1.json", 300)
    _assert_problem(httpx.get(good.replace("raw/x/r1.json", "raw/x/r9.json")), 403)
    _assert_problem(httpx.get(good[:-4] + "0000"), 403)
    _assert_problem(httpx.put(good, content=b"{}"), 403)  # a read URL does not allow writing
    _assert_problem(httpx.get(f"{local_served.base_url}/objects/raw/x/r1.json"), 403)
    _assert_problem(httpx.get(good.replace("expires=", "expires=x")), 403)


def test_raw_files_are_write_once_over_http(local_served: LocalObjectStore) -> None:
    url = local_served.presign_put("raw/event-detection/r1.json", 300)
    assert httpx.put(url, content=b'{"v": 1}').status_code == 200
    assert httpx.put(url, content=b'{"v": 1}').status_code == 200  # EMA retrying the same upload
    _assert_problem(httpx.put(url, content=b'{"v": 2}'), 409)
    assert local_served.get_bytes("raw/event-detection/r1.json") == b'{"v": 1}'
    assert [i.key for i in local_served.list("raw/")] == ["raw/event-detection/r1.json"]


def test_processed_files_can_be_replaced_over_http(local_served: LocalObjectStore) -> None:
    url = local_served.presign_put("processed/events/r1.json", 300)
    assert httpx.put(url, content=b"v1").status_code == 200
    assert httpx.put(url, content=b"v2").status_code == 200
    assert local_served.get_bytes("processed/events/r1.json") == b"v2"


def test_get_of_a_missing_object_is_404(local_served: LocalObjectStore) -> None:
    _assert_problem(httpx.get(local_served.presign_get("raw/x/none.json", 300)), 404)


def test_racing_write_once_puts_have_one_winner(tmp_path: Path) -> None:
    local = LocalObjectStore(tmp_path, base_url="http://unused", signing_key=SIGNING_KEY)
    blobs = [bytes([i]) * 10_000 for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda blob: local.put_bytes("raw/x/r1.csv", blob, if_absent=True), blobs))
    assert won.count(True) == 1
    assert local.get_bytes("raw/x/r1.csv") == blobs[won.index(True)]


def test_verify_checks_signature_method_key_and_expiry(tmp_path: Path) -> None:
    now = [1_000_000.0]
    local = LocalObjectStore(tmp_path, base_url="http://api", signing_key=SIGNING_KEY, clock=lambda: now[0])
    url = httpx.URL(local.presign_put("raw/x/r1.csv", 60))
    expires, signature = int(url.params["expires"]), url.params["signature"]
    assert url.path == "/objects/raw/x/r1.csv" and url.params["method"] == "PUT"
    assert local.verify("PUT", "raw/x/r1.csv", expires, signature)
    assert not local.verify("GET", "raw/x/r1.csv", expires, signature)
    assert not local.verify("PUT", "raw/x/r2.csv", expires, signature)
    assert not local.verify("PUT", "raw/x/r1.csv", expires + 1, signature)
    assert not local.verify("PUT", "../x", expires, signature)
    other = LocalObjectStore(tmp_path, base_url="http://api", signing_key="other", clock=lambda: now[0])
    assert not other.verify("PUT", "raw/x/r1.csv", expires, signature)
    now[0] += 61
    assert not local.verify("PUT", "raw/x/r1.csv", expires, signature)


# --- wiring -----------------------------------------------------------------------------------------


def test_build_object_store_follows_settings(tmp_path: Path, s3_server_url: str) -> None:
    local = build_object_store(Settings(data_dir=tmp_path))
    assert isinstance(local, LocalObjectStore) and local.root == (tmp_path / "objects").absolute()
    s3 = build_object_store(
        Settings(object_store="s3", s3_bucket="built-bucket", s3_endpoint_url=s3_server_url)
    )
    assert isinstance(s3, S3ObjectStore)
    s3.ensure_bucket()
    s3.ensure_bucket()  # idempotent: every process start calls it
    s3.put_bytes("raw/x/r1.json", b"{}")
    client = boto3.client("s3", endpoint_url=s3_server_url, region_name="eu-west-1")
    assert client.get_object(Bucket="built-bucket", Key="raw/x/r1.json")["Body"].read() == b"{}"


def test_objects_route_is_not_served_for_s3(s3_server_url: str) -> None:
    s3 = _s3_store(s3_server_url)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(make_objects_router(lambda: s3))

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client:
            return await client.get("/objects/raw/x/r1.json", params={"expires": "1", "signature": "00"})

    response = asyncio.run(get())
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


# --- multipart uploads (S3's protocol on both backends) ------------------------------------------

PART = 5 * 1024 * 1024  # S3's smallest part but the last


def _upload_part(store: ObjectStore, key: str, upload_id: str, number: int, body: bytes) -> str:
    response = httpx.put(store.presign_upload_part(key, upload_id, number, 300), content=body)
    assert response.status_code == 200, response.text
    return response.headers["etag"].strip('"')


def test_multipart_upload_resumes_from_listed_parts(served_store: ObjectStore) -> None:
    key = "uploads/u1/original.mp4"
    body = bytes(range(256)) * (PART // 256) + b"tail of the video"
    first, last = body[:PART], body[PART:]
    upload_id = served_store.create_multipart(key)
    etag_1 = _upload_part(served_store, key, upload_id, 1, first)
    assert not served_store.exists(key)  # nothing is visible before complete
    # A client that lost its state asks which parts arrived, and sends only the rest.
    received = served_store.list_parts(key, upload_id)
    assert [(p.part_number, p.etag, p.size) for p in received] == [(1, etag_1, PART)]
    assert etag_1 == hashlib.md5(first).hexdigest()
    etag_2 = _upload_part(served_store, key, upload_id, 2, last)
    assert [u.upload_id for u in served_store.list_multipart("uploads/")] == [upload_id]
    served_store.complete_multipart(key, upload_id, [(1, etag_1), (2, f'"{etag_2}"')])
    assert served_store.get_bytes(key) == body
    assert served_store.list_multipart("uploads/") == []
    with pytest.raises(UploadNotFound):
        served_store.list_parts(key, upload_id)


def test_multipart_complete_refuses_parts_not_received(served_store: ObjectStore) -> None:
    key = "uploads/u2/original.mp4"
    upload_id = served_store.create_multipart(key)
    etag = _upload_part(served_store, key, upload_id, 1, b"only part")
    with pytest.raises(InvalidMultipart):
        served_store.complete_multipart(key, upload_id, [(1, etag), (2, etag)])
    with pytest.raises(InvalidMultipart):
        served_store.complete_multipart(key, upload_id, [(1, "0" * 32)])
    assert not served_store.exists(key)
    served_store.complete_multipart(key, upload_id, [(1, etag)])
    assert served_store.get_bytes(key) == b"only part"


def test_multipart_abort_removes_parts_and_refuses_more(served_store: ObjectStore) -> None:
    key = "uploads/u3/original.mp4"
    upload_id = served_store.create_multipart(key)
    _upload_part(served_store, key, upload_id, 1, b"part")
    served_store.abort_multipart(key, upload_id)
    served_store.abort_multipart(key, upload_id)  # aborting twice is harmless
    assert served_store.list_multipart("uploads/") == []
    late = httpx.put(served_store.presign_upload_part(key, upload_id, 2, 300), content=b"late")
    # S3 and the local route answer 404 NoSuchUpload; moto answers 500. Either way nothing is stored.
    assert late.status_code == 404 or (isinstance(served_store, S3ObjectStore) and late.status_code >= 400)
    assert not served_store.exists(key)


def test_local_part_urls_are_signed_per_part(local_served: LocalObjectStore) -> None:
    key = "uploads/u4/original.mp4"
    upload_id = local_served.create_multipart(key)
    url = local_served.presign_upload_part(key, upload_id, 1, 300)
    _assert_problem(httpx.put(url.replace("partNumber=1", "partNumber=2"), content=b"x"), 403)
    _assert_problem(httpx.put(url.replace(upload_id, "f" * 32), content=b"x"), 403)
    single = local_served.presign_put(key, 300)  # a single-PUT URL is no part URL
    _assert_problem(httpx.put(f"{single}&uploadId={upload_id}&partNumber=1", content=b"x"), 403)
    _assert_problem(httpx.put(local_served.presign_upload_part(key, upload_id, 1, -1), content=b"x"), 403)
    assert local_served.list_parts(key, upload_id) == []
    assert local_served.list("") == []  # parts live outside the key space


def test_list_starts_after_a_key(store: ObjectStore) -> None:
    for name in ("a", "b", "c"):
        store.put_bytes(f"uploads/{name}/original.mp4", b"v")
    listed = store.list("uploads/", start_after="uploads/b")
    assert [info.key for info in listed] == ["uploads/b/original.mp4", "uploads/c/original.mp4"]
    assert [info.key for info in store.list("uploads/", start_after="uploads/b/z")] == [
        "uploads/c/original.mp4"
    ]
