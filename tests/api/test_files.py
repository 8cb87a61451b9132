"""upload-url (EMA), raw-files (Zola) and duplicate (Zola)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from ras_api.problems import PROBLEM_JSON
from ras_core import catalogue
from ras_core.states import JobState
from tests.api.conftest import EMA, PENDING_ID, RECORDING_ID, RUNNING_ID, ZOLA, Api


@pytest.mark.parametrize(
    ("method", "path", "token"),
    [
        ("GET", "upload-url?jobType=player-tracking", EMA),
        ("GET", "raw-files", ZOLA),
        ("POST", "duplicate", ZOLA),
    ],
)
def test_tokens(api: Api, method: str, path: str, token: dict[str, str]) -> None:
    url = f"/recordings/{RECORDING_ID}/{path}"
    body = {"target_recording_id": "rec-copy"}
    missing = api.client.request(method, url, json=body)
    assert missing.status_code == 401 and missing.headers["content-type"] == PROBLEM_JSON
    wrong = {"X-Token": ZOLA["X-Token"] if token is EMA else EMA["X-Token"]}
    assert api.client.request(method, url, json=body, headers=wrong).status_code == 403


def test_upload_urls_cover_every_raw_file_of_the_job(api: Api) -> None:
    response = api.get(f"{RECORDING_ID}/upload-url?jobType=player-tracking", headers=EMA)
    assert response.status_code == 200, response.text
    body = response.json()
    names = [u["name"] for u in body["uploads"]]
    assert names == ["player-tracking", "match-momentum", "physical-metrics"]
    upload = body["uploads"][0]
    assert upload["key"] == "raw/player-tracking/rec-api/attempt-1.csv" and upload["attempt"] == 1
    assert "method=PUT" in upload["url"]
    expires = int(dict(p.split("=") for p in urlsplit(upload["url"]).query.split("&"))["expires"])
    assert abs(expires - _epoch(body["expires_at"])) <= 2
    assert response.headers["cache-control"] == "no-store"


def _epoch(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


@pytest.mark.parametrize("query", ["jobType=dance", "jobType=training-clips", ""])
def test_upload_url_needs_a_known_ema_job_type(api: Api, query: str) -> None:
    response = api.get(f"{RECORDING_ID}/upload-url?{query}", headers=EMA)
    assert response.status_code == 400
    assert response.json()["invalid_params"][0]["name"] == "jobType"


def test_raw_files_lists_existing_files_with_working_links(api: Api) -> None:
    response = api.get(f"{RECORDING_ID}/raw-files", headers=ZOLA)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, max-age=60"
    files = response.json()["files"]
    assert {f["name"] for f in files} == {raw.name for raw in catalogue.raw_outputs()}
    link = next(f for f in files if f["name"] == "match-report")
    assert "method=GET" in link["url"]
    download = api.client.get(link["url"].removeprefix("http://testserver"))
    assert download.status_code == 200 and download.json()["recording_id"] == RECORDING_ID
    assert api.get(f"{PENDING_ID}/raw-files", headers=ZOLA).json()["files"] == []


def duplicate(api: Api, target: str, force: bool = False, source: str = RECORDING_ID):  # type: ignore[no-untyped-def]
    return api.client.post(
        f"/recordings/{source}/duplicate", json={"target_recording_id": target, "force": force}, headers=ZOLA
    )


def test_duplicate_copies_files_and_state(api: Api) -> None:
    response = duplicate(api, "rec-copy")
    assert response.status_code == 200, response.text
    assert "processed/player_tracking/rec-copy.parquet" in response.json()["copied"]
    store = api.platform.state_store
    assert store.get_recording("rec-copy").fps == 10.0
    assert all(s.state is JobState.COMPLETED for s in store.job_states("rec-copy"))
    original = api.get(f"{RECORDING_ID}/player-tracking?start=1&end=2").json()
    copied = api.get("rec-copy/player-tracking?start=1&end=2").json()
    assert copied["recording_id"] == "rec-copy"
    assert copied["frames"] == original["frames"]
    assert api.get("rec-copy/match-report").json()["recording_id"] == "rec-copy"


def test_duplicate_refuses_a_target_with_data_unless_forced(api: Api) -> None:
    assert duplicate(api, "rec-copy").status_code == 200
    refused = duplicate(api, "rec-copy")
    assert refused.status_code == 409 and "force" in refused.json()["detail"]
    assert duplicate(api, "rec-copy", force=True).status_code == 200
    # A registered target with nothing run yet has no data to lose.
    assert duplicate(api, PENDING_ID).status_code == 200


def test_duplicate_refuses_a_source_in_flight_and_bad_targets(api: Api) -> None:
    assert duplicate(api, "rec-copy", source=RUNNING_ID).status_code == 409
    assert duplicate(api, RECORDING_ID).status_code == 422
    bad = duplicate(api, "../escape")
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM_JSON
    assert api.platform.state_store.get_recording("rec-copy") is None


def test_duplicate_with_force_refuses_a_target_whose_jobs_are_in_flight(api: Api) -> None:
    # Issue 14, defect 10: force overwrites data, never a job EMA is still working on.
    before = api.platform.state_store.job_states(RUNNING_ID)
    refused = duplicate(api, RUNNING_ID, force=True)
    assert refused.status_code == 409 and "player-tracking" in refused.json()["detail"]
    assert api.platform.state_store.job_states(RUNNING_ID) == before


def test_copy_recording_state_refuses_a_busy_target_in_its_transaction(api: Api) -> None:
    from ras_platform.state_store import RecordingBusy

    with pytest.raises(RecordingBusy, match=RUNNING_ID):
        api.platform.state_store.copy_recording_state(RECORDING_ID, RUNNING_ID)


def test_a_retry_uploads_beside_the_attempt_that_failed_instead_of_meeting_a_409(api: Api) -> None:
    """Issue 11: in the embedded profile a retry after one malformed output could never succeed,
    because its upload met attempt 1's write-once key (409). Each attempt now has keys of its own."""
    first = api.get(f"{RECORDING_ID}/upload-url?jobType=ball-tracking", headers=EMA).json()["uploads"][0]
    api.platform.lifecycle.start(RECORDING_ID, ["ball-tracking"], force=True)  # attempt 2

    retry = api.get(f"{RECORDING_ID}/upload-url?jobType=ball-tracking", headers=EMA).json()["uploads"][0]

    assert (first["attempt"], retry["attempt"]) == (1, 2) and retry["key"] != first["key"]
    put = api.client.put(retry["url"].removeprefix("http://testserver"), content=b"pts,x\n1,2\n")
    assert put.status_code == 200, put.text
    again = api.client.put(first["url"].removeprefix("http://testserver"), content=b"different bytes")
    assert again.status_code == 409  # attempt 1's file is still written once
    files = api.get(f"{RECORDING_ID}/raw-files", headers=ZOLA).json()["files"]
    assert [f["attempt"] for f in files if f["name"] == "ball-tracking"] == [1, 2]
