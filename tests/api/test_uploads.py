"""The upload API (contracts.md "Video uploads") on the local object store: parts through presigned
URLs, resume from GET /uploads/{id}, complete, abort, expiry. The S3 backend's multipart protocol is
tested in tests/adapters/test_object_store.py; the whole path with the sensor in tests/e2e."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ras_api.app import create_app
from ras_core.uploads import metadata_key, original_key
from ras_platform.platform import Platform
from ras_platform.settings import Settings

ZOLA = {"X-Token": "zola-test-token"}
PART_SIZE = 64 * 1024
VIDEO = bytes(range(256)) * (PART_SIZE * 2 // 256) + b"the last, short part"  # three parts
METADATA = {"pitch": {"length_m": 105.0, "width_m": 68.0}, "home_team": "Home FC", "away_team": "Away FC"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path,
        api_base_url="http://testserver",
        zola_token=ZOLA["X-Token"],
        signing_key="test-signing-key",
        upload_part_size=PART_SIZE,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _platform(client: TestClient) -> Platform:
    return client.app.state.platform  # type: ignore[attr-defined]


def _initiate(client: TestClient, **overrides: object) -> dict:
    body = {
        "recording_id": "rec-up-1",
        "filename": "match.MP4",
        "size_bytes": len(VIDEO),
        "content_type": "video/mp4",
        "metadata": METADATA,
        **overrides,
    }
    response = client.post("/uploads", json=body, headers=ZOLA)
    assert response.status_code == 201, response.text
    return response.json()


def _put_part(client: TestClient, url: str, number: int) -> str:
    chunk = VIDEO[(number - 1) * PART_SIZE : number * PART_SIZE]
    response = client.put(url, content=chunk)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


def test_an_interrupted_upload_resumes_from_its_status(client: TestClient) -> None:
    initiated = _initiate(client)
    upload_id = initiated["upload_id"]
    assert initiated["part_size"] == PART_SIZE
    assert [p["part_number"] for p in initiated["parts"]] == [1, 2, 3]
    assert client.get(f"/uploads/{upload_id}", headers=ZOLA).json()["state"] == "initiated"

    first = _put_part(client, initiated["parts"][0]["url"], 1)  # then the client loses everything
    status = client.get(f"/uploads/{upload_id}", headers=ZOLA)
    assert status.headers["cache-control"] == "no-store"
    resumed = status.json()
    assert resumed["state"] == "uploading"
    assert resumed["parts_received"] == [{"part_number": 1, "etag": first.strip('"'), "size": PART_SIZE}]
    assert [p["part_number"] for p in resumed["parts_missing"]] == [2, 3]

    etags = {1: first} | {
        p["part_number"]: _put_part(client, p["url"], p["part_number"]) for p in resumed["parts_missing"]
    }
    parts = [{"part_number": n, "etag": etag} for n, etag in sorted(etags.items())]
    completed = client.post(f"/uploads/{upload_id}/complete", json={"parts": parts}, headers=ZOLA)
    assert completed.status_code == 200, completed.text
    assert completed.json()["state"] == "completed" and completed.json()["parts_missing"] == []

    objects = _platform(client).object_store
    assert objects.get_bytes(original_key(upload_id, "mp4")) == VIDEO
    sidecar = json.loads(objects.get_bytes(metadata_key(upload_id)))
    assert sidecar == {"recording_id": "rec-up-1", **METADATA}
    again = client.post(f"/uploads/{upload_id}/complete", json={"parts": parts}, headers=ZOLA)
    assert again.status_code == 200 and again.json()["state"] == "completed"  # idempotent


def test_complete_with_a_missing_part_is_refused_and_the_upload_stays_open(client: TestClient) -> None:
    initiated = _initiate(client)
    upload_id = initiated["upload_id"]
    etag = _put_part(client, initiated["parts"][0]["url"], 1)
    response = client.post(
        f"/uploads/{upload_id}/complete",
        json={"parts": [{"part_number": 1, "etag": etag}, {"part_number": 2, "etag": etag}]},
        headers=ZOLA,
    )
    assert response.status_code == 400
    assert "part 2" in response.json()["detail"]
    assert client.get(f"/uploads/{upload_id}", headers=ZOLA).json()["state"] == "uploading"


def test_abort_removes_parts_and_the_upload(client: TestClient) -> None:
    initiated = _initiate(client)
    upload_id = initiated["upload_id"]
    _put_part(client, initiated["parts"][0]["url"], 1)
    assert client.delete(f"/uploads/{upload_id}", headers=ZOLA).status_code == 204
    assert client.get(f"/uploads/{upload_id}", headers=ZOLA).status_code == 404
    assert _platform(client).object_store.list_multipart("uploads/") == []
    assert _platform(client).object_store.list(f"uploads/{upload_id}/") == []
    late = client.put(initiated["parts"][1]["url"], content=b"late")
    assert late.status_code == 404


def test_uploads_never_completed_expire_and_their_parts_are_removed(client: TestClient) -> None:
    initiated = _initiate(client)
    upload_id = initiated["upload_id"]
    _put_part(client, initiated["parts"][0]["url"], 1)
    uploads = _platform(client).uploads
    assert uploads.expire_stale() == []  # young uploads are left alone
    later = datetime.now(UTC) + uploads.expiry + timedelta(seconds=1)
    assert uploads.expire_stale(now=later) == [upload_id]
    assert _platform(client).object_store.list_multipart("uploads/") == []
    status = client.get(f"/uploads/{upload_id}", headers=ZOLA).json()
    assert status["state"] == "failed" and status["reason"].startswith("expired")


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"recording_id": "../etc"}, "recording_id"),
        ({"filename": "notes.txt"}, "filename"),
    ],
)
def test_initiate_refuses_bad_ids_and_non_video_names(client: TestClient, overrides: dict, name: str) -> None:
    body = {"recording_id": "rec-1", "filename": "a.mp4", "size_bytes": 10, "metadata": METADATA, **overrides}
    response = client.post("/uploads", json=body, headers=ZOLA)
    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == name


def test_uploads_need_the_zola_token(client: TestClient) -> None:
    assert client.post("/uploads", json={}).status_code == 401
    assert client.get(f"/uploads/{'0' * 32}").status_code == 401
    assert client.get(f"/uploads/{'0' * 32}", headers=ZOLA).status_code == 404
    assert client.get("/uploads/not-an-id", headers=ZOLA).status_code == 404
