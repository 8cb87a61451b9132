"""Issue 14: what a hostile client did to the API, one regression test per defect, through the app.

Each test names the defect it guards. Requests that must not be read are driven at the ASGI level,
with a `receive` that records whether the app asked for the body.
"""

from __future__ import annotations

import asyncio
import errno
import json
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from ras_api.routers.tracking import MAX_WINDOW_S, STREAM_CHUNK_S, Window, _chunks
from ras_core.callbacks import MAX_REASON_CHARS
from tests.api.conftest import EMA, RECORDING_ID, RUNNING_ID, ZOLA, Api

PROBLEM = "application/problem+json"


def _callback(**overrides: object) -> dict[str, Any]:
    body = {
        "job_id": "ema-1",
        "job_kind": "player-tracking",
        "job_state": "running",
        "job_exit_code": None,
        "job_reason": None,
        "emitted_at": "2026-11-23T12:00:00Z",
    }
    return {**body, **overrides}


def _asgi(app: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bool]:
    """One request straight through the ASGI app; (status, headers, whether the body was read)."""
    read = False
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal read
        read = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, read


# --- defect 1: the endless chunk loop ---------------------------------------------------------------


def test_a_window_at_1e18_is_refused_by_the_query_bounds(api: Api) -> None:
    answer: dict[str, Any] = {}

    def ask() -> None:
        answer["r"] = api.get(f"{RECORDING_ID}/player-tracking?start=1e18&end=1000000000000000128")

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(60)  # a liveness bound, not a speed assertion: before the fix this never returned
    assert not worker.is_alive(), "the request spun forever"
    assert answer["r"].status_code in (400, 422)
    assert answer["r"].headers["content-type"] == PROBLEM
    params = json.dumps(api.client.get("/openapi.json").json()["paths"])
    assert '"maximum": 86400.0' in params


@pytest.mark.parametrize("start", [0.0, 1e9, 1e18, 2.0**60])
def test_the_chunk_loop_is_counted_whatever_the_floats(start: float) -> None:
    chunks = _chunks(Window(start, start + MAX_WINDOW_S, None, None, None))
    assert 1 <= len(chunks) <= MAX_WINDOW_S / STREAM_CHUNK_S
    assert chunks[-1][1] == start + MAX_WINDOW_S


# --- defect 5: size limits, and tokens before bodies -------------------------------------------------


def test_a_body_over_the_cap_is_refused_before_it_is_read(api: Api) -> None:
    big = b"x" * (2 * 1024 * 1024)
    path = f"/recordings/{RUNNING_ID}/jobs/callback"
    headers = {"content-type": "application/json", "content-length": str(len(big)), **EMA}
    status, response_headers, read = _asgi(api.client.app, "POST", path, headers, big)
    assert status == 413 and response_headers["content-type"] == PROBLEM
    assert not read


def test_a_chunked_body_over_the_cap_is_cut_off_while_streaming(api: Api) -> None:
    def chunks():  # no Content-Length: the cap is enforced on the stream
        for _ in range(40):
            yield b" " * 65536

    answer = api.client.post(
        f"/recordings/{RUNNING_ID}/jobs/callback",
        content=chunks(),
        headers={"content-type": "application/json", **EMA},
    )
    assert answer.status_code == 413 and answer.headers["content-type"] == PROBLEM
    assert api.platform.state_store.pending_callbacks() == []


def test_every_operation_with_a_body_checks_its_token_before_reading_it(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    checked = []
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation or "401" not in operation["responses"]:
                continue
            path = template.replace("{recording_id}", RUNNING_ID).replace("{upload_id}", "u-1")
            body = b"[" * 500_000  # parsing this is what a client without a token must not cost
            headers = {"content-type": "application/json", "content-length": str(len(body))}
            status, response_headers, read = _asgi(api.client.app, method.upper(), path, headers, body)
            assert (status, read) == (401, False), f"{method} {template}"
            assert response_headers["content-type"] == PROBLEM
            checked.append(f"{method} {template}")
    assert len(checked) >= 4, checked


def test_ten_megabytes_of_metadata_are_refused(api: Api) -> None:
    meta = {
        "fps": 25.0,
        "duration_s": 60.0,
        "pitch": {"length_m": 105.0, "width_m": 68.0},
        "video_uris": ["s3://v/x.mp4"],
        "periods": [],
        "home_team": "H" * (10 * 1024 * 1024),
    }
    answer = api.client.put("/recordings/rec-big", json=meta, headers=ZOLA)
    assert answer.status_code == 413 and answer.headers["content-type"] == PROBLEM
    assert api.platform.state_store.get_recording("rec-big") is None


def test_metadata_numbers_are_bounded_by_the_model(api: Api) -> None:
    meta = {
        "fps": 25.0,
        "duration_s": 1e300,
        "pitch": {"length_m": 105.0, "width_m": 68.0},
        "video_uris": ["s3://v/x.mp4"],
        "periods": [{"id": 1, "start_s": 0, "end_s": 1e300}],
    }
    answer = api.client.put("/recordings/rec-huge", json=meta, headers=ZOLA)
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["RecordingModel"]
    assert schema["properties"]["duration_s"]["maximum"] == 86400.0


# --- defects 2, 3 and the one callback model ----------------------------------------------------------


def test_a_nul_in_job_id_is_a_422_problem_not_a_500(api: Api) -> None:
    answer = api.client.post(
        f"/recordings/{RUNNING_ID}/jobs/callback", json=_callback(job_id="ema\u00001"), headers=EMA
    )
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    assert "job_id" in answer.json()["detail"]


def test_a_nul_in_the_reason_is_cleaned_before_the_inbox(api: Api) -> None:
    body = _callback(job_state="failed", job_reason="bad\u0000frame\u0007", extra={"note": "a\u0000b"})
    answer = api.client.post(f"/recordings/{RUNNING_ID}/jobs/callback", json=body, headers=EMA)
    assert answer.status_code == 202
    [stored] = api.platform.state_store.pending_callbacks()
    assert "\x00" not in json.dumps(stored.payload, ensure_ascii=False)
    assert stored.payload["job_reason"] == "bad\ufffdframe\ufffd"
    assert stored.payload["extra"] == {"note": "a\ufffdb"}


def test_a_huge_reason_is_cut_not_stored_whole(api: Api) -> None:
    body = _callback(job_state="failed", job_reason="r" * 500_000)
    answer = api.client.post(f"/recordings/{RUNNING_ID}/jobs/callback", json=body, headers=EMA)
    assert answer.status_code == 202
    [stored] = api.platform.state_store.pending_callbacks()
    assert len(stored.payload["job_reason"]) == MAX_REASON_CHARS


@pytest.mark.parametrize("depth", [300, 600])
def test_deeply_nested_extra_fields_are_a_422_problem(api: Api, depth: int) -> None:
    nested: Any = "leaf"
    for _ in range(depth):
        nested = {"n": nested}
    body = json.dumps(_callback(extra=nested))
    answer = api.client.post(
        f"/recordings/{RUNNING_ID}/jobs/callback",
        content=body,
        headers={"content-type": "application/json", **EMA},
    )
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    assert api.platform.state_store.pending_callbacks() == []


def test_the_callback_model_is_one_model_from_the_api_to_the_inbox(api: Api) -> None:
    # Platform job kinds get no EMA callback, at the API and at the store alike.
    from ras_platform.state_store import InvalidCallback

    answer = api.client.post(
        f"/recordings/{RUNNING_ID}/jobs/callback", json=_callback(job_kind="training-clips"), headers=EMA
    )
    assert answer.status_code == 422
    with pytest.raises(InvalidCallback):
        api.platform.state_store.add_callback(RUNNING_ID, _callback(job_kind="training-clips"))
    # A job id of 201-255 characters was refused by the API but accepted by the inbox.
    long_id = _callback(job_id="j" * 255)
    accepted = api.client.post(f"/recordings/{RUNNING_ID}/jobs/callback", json=long_id, headers=EMA)
    assert accepted.status_code == 202
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["EmaCallback"]
    assert schema["properties"]["job_id"]["maxLength"] == 255
    assert "pattern" in schema["properties"]["job_id"]


# --- defect 4: presigned URL expiries ---------------------------------------------------------------


def _signed_get(api: Api) -> tuple[str, dict[str, str]]:
    store = api.platform.object_store
    key = "raw/player-tracking/rec-api/attempt-1.csv"
    parts = urlsplit(store.presign_get(key, 600))
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


@pytest.mark.parametrize("expires", ["\u00b2", "9" * 5000, "0{real}", " {real}", "+{real}", "{real}.0"])
def test_a_garbled_expiry_is_a_403_not_a_500(api: Api, expires: str) -> None:
    path, params = _signed_get(api)
    params["expires"] = expires.format(real=params["expires"])
    answer = api.client.get(path, params=params)
    assert answer.status_code == 403 and answer.headers["content-type"] == PROBLEM


def test_a_non_ascii_signature_is_a_403_not_a_500(api: Api) -> None:
    path, params = _signed_get(api)
    params["signature"] = "é" * 64
    assert api.client.get(path, params=params).status_code == 403


# --- defect 9: what a problem says -----------------------------------------------------------------


def test_405_names_the_allowed_methods_in_a_problem(api: Api) -> None:
    answer = api.client.patch(f"/recordings/{RECORDING_ID}/analytics")
    assert answer.status_code == 405 and answer.headers["content-type"] == PROBLEM
    assert set(answer.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


@pytest.mark.parametrize("path", ["/recordings/%3Cscript%3Ealert(1)%3C%2Fscript%3E/nowhere", "/x%00y"])
def test_the_instance_never_echoes_markup_or_nul(api: Api, path: str) -> None:
    answer = api.client.get(path)
    assert answer.headers["content-type"] == PROBLEM
    instance = answer.json()["instance"]
    assert "<" not in instance and "\x00" not in instance and instance.isascii()


# --- one handler for unexpected errors; storage faults ------------------------------------------------


def test_an_unexpected_error_is_a_problem_not_plain_text(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(api.platform.state_store, "change_log", broken)
    client = TestClient(api.client.app, raise_server_exceptions=False)
    answer = client.get(f"/recordings/{RECORDING_ID}/analytics/logs")
    assert answer.status_code == 500 and answer.headers["content-type"] == PROBLEM
    assert "boom" not in answer.text


def test_a_database_outage_is_a_503_problem(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(api.platform.state_store, "get_recording", down)
    answer = api.get(f"{RECORDING_ID}/analytics")
    assert answer.status_code == 503 and answer.headers["content-type"] == PROBLEM
    assert "retry-after" in answer.headers


@pytest.mark.parametrize(("code", "status"), [(errno.EROFS, 503), (errno.ENOSPC, 507)])
def test_a_read_only_or_full_disk_on_upload_is_a_problem(
    api: Api, monkeypatch: pytest.MonkeyPatch, code: int, status: int
) -> None:
    store = api.platform.object_store
    url = urlsplit(store.presign_put("raw/player-tracking/rec-running/attempt-9.csv", 600))

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(code, "storage fault")

    monkeypatch.setattr(type(store), "adopt", refuse)
    answer = api.client.put(f"{url.path}?{url.query}", content=b"a,b\n1,2\n")
    assert answer.status_code == status and answer.headers["content-type"] == PROBLEM


# --- defect 2 as clients see it: quarantined callbacks in the change log -----------------------------


def test_a_quarantined_callback_shows_in_the_logs_with_its_reason(api: Api) -> None:
    store = api.platform.state_store
    failed = store.dead_letters.quarantine_now("callback_inbox", 42, RUNNING_ID, "ValueError: NUL in reason")
    assert failed.quarantined
    logs = api.get(f"{RUNNING_ID}/analytics/logs").json()
    [letter] = logs["dead_letters"]
    assert letter["state"] == "quarantined" and letter["row_id"] == 42
    assert letter["reason"] == "ValueError: NUL in reason"


def test_quarantined_rows_are_a_metric(api: Api) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    api.platform.state_store.dead_letters.quarantine_now("outbox", 7, RUNNING_ID, "ValidationException")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(api.client.get("/metrics").text)
        for s in family.samples
    }
    assert samples[("ras_quarantined", (("source", "outbox"),))] == 1
    assert samples[("ras_quarantined", (("source", "callback_inbox"),))] == 0


def test_job_types_are_bounded_so_a_refusal_never_echoes_a_huge_string(api: Api) -> None:
    answer = api.client.post(
        f"/recordings/{RECORDING_ID}/jobs", json={"job_types": ["x" * 100_000]}, headers=ZOLA
    )
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    assert len(answer.content) < 2000


def test_registering_a_new_recording_answers_a_documented_201(api: Api) -> None:
    # Found by the long schemathesis run: 201 was returned but not documented.
    meta = {
        "fps": 25.0,
        "duration_s": 60.0,
        "pitch": {"length_m": 105.0, "width_m": 68.0},
        "video_uris": ["s3://v/x.mp4"],
        "periods": [{"id": 1, "start_s": 0.0, "end_s": 60.0}],
    }
    assert api.client.put("/recordings/rec-new", json=meta, headers=ZOLA).status_code == 201
    put = api.client.get("/openapi.json").json()["paths"]["/recordings/{recording_id}"]["put"]
    assert {"200", "201"} <= set(put["responses"])
