"""Delivery endpoints over the processed synthetic match: filters, shapes, caching headers, errors."""

from __future__ import annotations

import json

import pytest

from ras_api.problems import PROBLEM_JSON
from ras_core import catalogue
from ras_core.states import JobState, Source
from tests.api.conftest import PENDING_ID, RECORDING_ID, RUNNING_ID, Api, walk_to

SEVEN_DAYS = "public, max-age=604800"
DOCUMENT_ENDPOINTS = (
    "player-tracking",
    "player-tracking/jersey-numbers",
    "player-moments",
    "match-momentum",
    "match-details",
    "match-details/attacking-moments",
    "events",
    "shot-details",
)


def assert_problem(response, status: int, param: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status and body["detail"]
    if param is not None:
        assert param in [p["name"] for p in body["invalid_params"]], body
        assert body["detail"].startswith(param)
    return body


@pytest.mark.parametrize("endpoint", DOCUMENT_ENDPOINTS)
def test_seven_day_endpoints_are_public_with_a_strong_etag_and_304(api: Api, endpoint: str) -> None:
    first = api.get(f"{RECORDING_ID}/{endpoint}")
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == SEVEN_DAYS
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.json()["recording_id"] == RECORDING_ID
    again = api.get(f"{RECORDING_ID}/{endpoint}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == SEVEN_DAYS
    weak = api.get(f"{RECORDING_ID}/{endpoint}", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304


def test_match_report_is_no_store(api: Api) -> None:
    response = api.get(f"{RECORDING_ID}/match-report")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert set(response.json()) >= {"score", "summary", "key_moments", "coordinate_system"}


def test_etag_follows_the_parameters_and_a_reimport(api: Api) -> None:
    window = f"{RECORDING_ID}/player-tracking?start=10&end=12"
    etag = api.get(window).headers["etag"]
    assert api.get(f"{window}&side=home").headers["etag"] != etag
    assert api.get(window).headers["etag"] == etag  # stable, and served from the application cache
    # A re-import writes a new file under the same key: the old ETag no longer validates.
    store = api.platform.object_store
    key = catalogue.processed_output("player_tracking").key(RECORDING_ID)
    store.put_bytes(key, store.get_bytes(key))
    after = api.get(window, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag


def test_reimported_document_is_not_served_from_the_application_cache(api: Api) -> None:
    assert api.get(f"{RECORDING_ID}/match-report").json()["summary"] != "rewritten"
    store = api.platform.object_store
    key = catalogue.processed_output("match_report").key(RECORDING_ID)
    document = json.loads(store.get_bytes(key))
    store.put_bytes(key, json.dumps({**document, "summary": "rewritten"}).encode())
    assert api.get(f"{RECORDING_ID}/match-report").json()["summary"] == "rewritten"


def test_player_tracking_window_shape_and_metadata(api: Api) -> None:
    body = api.get(f"{RECORDING_ID}/player-tracking?start=10&end=12").json()
    assert body["coordinate_system"]["name"] == "normalised-top-left"
    assert body["pitch"] == {"length_m": 105.0, "width_m": 68.0}
    assert body["fps"] == 10.0 and (body["start_s"], body["end_s"]) == (10.0, 12.0)
    frames = body["frames"]
    assert len(frames) == 20  # 2 s at 10 fps, end exclusive
    assert [f["frame"] for f in frames] == list(range(100, 120))
    assert all(10 <= f["t"] < 12 and f["period"] == 1 for f in frames)
    player = frames[0]["players"][0]
    assert set(player) == {"track_id", "team_side", "jersey_number", "x", "y", "speed_mps"}
    assert len(frames[0]["players"]) == 25
    assert any(f["ball"] is not None and set(f["ball"]) == {"x", "y", "z"} for f in frames)


def test_player_tracking_filters(api: Api) -> None:
    base = f"{RECORDING_ID}/player-tracking?start=10&end=11"
    home = api.get(f"{base}&side=home").json()["frames"]
    assert home and all(p["team_side"] == "home" for f in home for p in f["players"])
    jersey = home[0]["players"][3]["jersey_number"]
    one = api.get(f"{base}&side=home&jersey={jersey}").json()["frames"]
    assert len(one) == 10 and all(len(f["players"]) == 1 for f in one)
    # Frames stay when no player matches: the ball and the clock remain continuous.
    nobody = api.get(f"{base}&jersey=999").json()["frames"]
    assert len(nobody) == 10 and all(f["players"] == [] for f in nobody)
    second_half = api.get(f"{RECORDING_ID}/player-tracking?start=0&end=600&period=2")
    assert second_half.status_code == 200
    periods = {f["period"] for f in second_half.json()["frames"]}
    assert periods == {2}


def test_default_and_streamed_windows(api: Api) -> None:
    default = api.get(f"{RECORDING_ID}/player-tracking").json()
    assert (default["start_s"], default["end_s"]) == (0.0, 60.0)
    assert len(default["frames"]) == 600
    # Longer than the in-memory limit: streamed in chunks, and still one valid document.
    streamed = api.get(f"{RECORDING_ID}/player-tracking?start=100&end=250")
    assert streamed.status_code == 200 and "content-length" not in streamed.headers
    frames = streamed.json()["frames"]
    assert len(frames) == 1500
    assert [f["frame"] for f in frames] == list(range(1000, 2500))
    beyond = api.get(f"{RECORDING_ID}/player-tracking?start=5000&end=5010").json()
    assert beyond["frames"] == []


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("start=20&end=10", "end"),
        ("start=10&end=10", "end"),
        ("start=0&end=601", "end"),
        ("start=-1", "start"),
        ("side=left", "side"),
        ("jersey=ten", "jersey"),
        ("jersey=-3", "jersey"),
        ("period=0", "period"),
        ("start=nan", "start"),
    ],
)
def test_bad_tracking_filters_are_400_naming_the_parameter(api: Api, query: str, param: str) -> None:
    assert_problem(api.get(f"{RECORDING_ID}/player-tracking?{query}"), 400, param)


def test_jersey_numbers_per_side_and_period(api: Api) -> None:
    sides = api.get(f"{RECORDING_ID}/player-tracking/jersey-numbers").json()["sides"]
    home_first = next(s for s in sides if (s["team_side"], s["period"]) == ("home", 1))
    assert len(home_first["jersey_numbers"]) == 11
    assert all(0 < j["share"] <= 1 for j in home_first["jersey_numbers"])
    assert {(s["team_side"], s["period"]) for s in sides} >= {("home", 2), ("away", 1), ("away", 2)}


def test_player_moments(api: Api) -> None:
    body = api.get(f"{RECORDING_ID}/player-moments?top=2").json()
    players = body["players"]
    assert {p["team_side"] for p in players} == {"home", "away"}
    assert all(len(p["top_speed_moments"]) <= 2 for p in players)
    for player in players:
        times = [m["t"] for m in player["top_speed_moments"]]
        assert all(abs(a - b) >= body["top_speed_separation_s"] for a in times for b in times if a != b)
        speeds = [m["speed_mps"] for m in player["top_speed_moments"]]
        assert speeds == sorted(speeds, reverse=True)
    shots = api.get(f"{RECORDING_ID}/shot-details").json()["shots"]
    shooters = {(s["team_side"], s["jersey_number"]) for s in shots}
    delivered = {(p["team_side"], p["jersey_number"]) for p in players if p["shots"]}
    assert delivered == shooters
    assert all(g["outcome"] == "goal" for p in players for g in p["goals"])


def test_attacking_moments_chain_a_teams_events(api: Api) -> None:
    body = api.get(f"{RECORDING_ID}/match-details/attacking-moments?team=away").json()
    assert body["team"] == "away" and body["chain_gap_s"] == 15.0
    moments = body["moments"]
    assert moments and all(m["team_side"] == "away" for m in moments)
    assert all(m["start_s"] <= m["end_s"] and m["event_count"] == len(m["event_ids"]) for m in moments)
    both = api.get(f"{RECORDING_ID}/match-details/attacking-moments").json()["moments"]
    assert len(both) > len(moments)
    assert_problem(api.get(f"{RECORDING_ID}/match-details/attacking-moments?team=left"), 400, "team")


def test_events_type_filter(api: Api) -> None:
    everything = api.get(f"{RECORDING_ID}/events").json()["events"]
    shots = api.get(f"{RECORDING_ID}/events?type=shot,goal").json()["events"]
    assert shots == [e for e in everything if e["type"] in ("shot", "goal")]
    assert shots
    body = assert_problem(api.get(f"{RECORDING_ID}/events?type=shot,dance"), 400, "type")
    assert "dance" in body["detail"]
    assert_problem(api.get(f"{RECORDING_ID}/events?type=,"), 400, "type")


def test_unknown_recording_is_404(api: Api) -> None:
    body = assert_problem(api.get("rec-nobody/events"), 404)
    assert "rec-nobody" in body["detail"]


@pytest.mark.parametrize("bad_id", ["-starts-with-dash", "a" * 65, "has.dot", "sp ace"])
def test_ids_outside_the_pattern_are_400_before_any_lookup(api: Api, bad_id: str) -> None:
    assert_problem(api.get(f"{bad_id}/player-tracking"), 400, "recording_id")


def test_data_not_there_yet_names_the_job_state(api: Api) -> None:
    running = assert_problem(api.get(f"{RUNNING_ID}/player-tracking"), 404)
    assert running["detail"] == (
        "player-tracking is not available: job player-tracking is running (attempt 1)"
    )
    pending = assert_problem(api.get(f"{PENDING_ID}/match-report"), 404)
    assert "job match-report is pending" in pending["detail"]
    moments = assert_problem(api.get(f"{PENDING_ID}/player-moments"), 404)
    assert "job shot-details is pending" in moments["detail"]


def test_the_api_serves_every_endpoint_the_catalogue_declares(api: Api) -> None:
    """Routes are written by hand; this is what holds them to the catalogue's entries."""
    paths = api.client.get("/openapi.json").json()["paths"]
    served = {path.removeprefix("/recordings/{recording_id}/") for path, ops in paths.items() if "get" in ops}
    missing = set(catalogue.delivery_endpoints()) - served
    assert not missing, f"declared in the catalogue but not served: {sorted(missing)}"


def _endpoints_of(job_type: str) -> list[str]:
    """Every delivery path that reads an output of the job, from the catalogue."""
    job = catalogue.job_type(job_type)
    return [
        e for out in catalogue.PROCESSED_OUTPUTS if out.name in job.processed_outputs for e in out.endpoints
    ]


@pytest.mark.parametrize("state", [JobState.FAILED, JobState.PENDING, JobState.RUNNING])
def test_a_job_not_completed_serves_none_of_its_endpoints_and_analytics_says_why(
    api: Api, state: JobState
) -> None:
    # The files of the completed attempt are still in storage: today's rule must not serve them
    # half-updated (match-momentum was served while player-tracking's job had failed).
    store = api.platform.state_store
    store.transition(RECORDING_ID, "player-tracking", JobState.PENDING, source=Source.API, reason="re-run")
    if state is not JobState.PENDING:
        walk_to(store, RECORDING_ID, "player-tracking", JobState.RUNNING)
    if state is JobState.FAILED:
        store.transition(
            RECORDING_ID, "player-tracking", JobState.FAILED, source=Source.IMPORT, reason="boom"
        )
    status = store.job_status(RECORDING_ID, "player-tracking")
    assert status.state is state

    endpoints = _endpoints_of("player-tracking")
    assert {"player-tracking", "match-momentum", "player-tracking/jersey-numbers"} <= set(endpoints)
    for endpoint in [*endpoints, "player-moments"]:
        problem = assert_problem(api.get(f"{RECORDING_ID}/{endpoint}"), 404)
        assert f"job player-tracking is {state.value} (attempt 2)" in problem["detail"], endpoint
        if state is JobState.FAILED:
            assert problem["detail"].endswith(": boom")
    others = set(_endpoints_of("event-detection") + _endpoints_of("shot-details")) - {"player-moments"}
    for endpoint in sorted(others):
        assert api.get(f"{RECORDING_ID}/{endpoint}").status_code == 200, endpoint  # other jobs serve
    analytics = api.get(f"{RECORDING_ID}/analytics").json()
    job = next(j for j in analytics["jobs"] if j["job_type"] == "player-tracking")
    assert (job["state"], job["attempt"]) == (state.value, 2) and analytics["overall_state"] != "completed"


def test_the_openapi_description_states_when_data_is_served(api: Api) -> None:
    description = api.client.get("/openapi.json").json()["info"]["description"]
    assert "only while that job is `completed`" in description and "answers 404" in description
