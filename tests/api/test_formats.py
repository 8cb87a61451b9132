"""Representations of player tracking: every media type carries the same window as the default JSON,
content codings round-trip, and each representation has its own validators."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from ras_api import formats
from ras_api.formats import ARROW_STREAM, COLUMNAR_JSON, JSON
from tests.api.conftest import RECORDING_ID, Api

HEAD = ("recording_id", "coordinate_system", "pitch", "fps", "start_s", "end_s")
PLAYER_FIELDS = ("track_id", "team_side", "jersey_number", "x", "y", "speed_mps")
IDENTITY = {"Accept-Encoding": "identity"}


def frames_from_columns(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The frames shape rebuilt from the columnar one, as a client would."""
    frames_table, players_table = document["frames"], document["players"]
    frames = []
    for i, frame in enumerate(frames_table["frame"]):
        ball = None
        if frames_table["ball_x"][i] is not None:
            ball = {axis: frames_table[f"ball_{axis}"][i] for axis in ("x", "y", "z")}
        frames.append(
            {"frame": frame, "t": frames_table["t"][i], "period": frames_table["period"][i], "ball": ball,
             "players": []}
        )  # fmt: skip
    by_frame = {frame["frame"]: frame for frame in frames}
    for i, frame in enumerate(players_table["frame"]):
        by_frame[frame]["players"].append({name: players_table[name][i] for name in PLAYER_FIELDS})
    return frames


def assert_same_frames(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    # Arrow carries the float32 values themselves; JSON prints them to 4 decimals.
    assert [f["frame"] for f in actual] == [f["frame"] for f in expected]
    for got, want in zip(actual, expected, strict=True):
        assert got["t"] == pytest.approx(want["t"]) and got["period"] == want["period"]
        assert (got["ball"] is None) == (want["ball"] is None)
        if want["ball"] is not None:
            assert got["ball"] == pytest.approx(want["ball"], abs=5e-5, nan_ok=True)
        assert len(got["players"]) == len(want["players"])
        for got_player, want_player in zip(got["players"], want["players"], strict=True):
            assert {k: v for k, v in got_player.items() if not isinstance(v, float)} == {
                k: v for k, v in want_player.items() if not isinstance(v, float)
            }
            floats = [k for k, v in want_player.items() if isinstance(v, float)]
            assert [got_player[k] for k in floats] == pytest.approx(
                [want_player[k] for k in floats], abs=5e-5
            )


def get(api: Api, query: str, accept: str, **headers: str) -> Any:
    response = api.get(f"{RECORDING_ID}/player-tracking?{query}", headers={"Accept": accept, **headers})
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize(
    "query",
    [
        "start=10&end=20",
        "start=10&end=12&side=home",
        "start=10&end=12&jersey=999",  # frames kept without players
        "start=280&end=320&period=2",  # across half-time, one period
        "start=100&end=250",  # streamed in chunks
    ],
)
def test_columnar_and_arrow_carry_the_same_window_as_json(api: Api, query: str) -> None:
    default = get(api, query, JSON).json()
    assert default["frames"], "the window should hold frames"

    columnar = get(api, query, COLUMNAR_JSON)
    assert columnar.headers["content-type"] == COLUMNAR_JSON
    document = columnar.json()
    assert {name: document[name] for name in HEAD} == {name: default[name] for name in HEAD}
    assert_same_frames(frames_from_columns(document), default["frames"])

    arrow = get(api, query, ARROW_STREAM)
    assert arrow.headers["content-type"] == ARROW_STREAM
    table = pa.ipc.open_stream(arrow.content).read_all()
    head = json.loads(table.schema.metadata[formats.ARROW_HEAD_KEY])
    assert head == {name: default[name] for name in HEAD}
    assert_same_frames(table.to_pylist(), default["frames"])


def test_accept_picks_by_quality_and_refuses_what_is_not_offered(api: Api) -> None:
    window = "start=10&end=11"
    assert get(api, window, f"{JSON};q=0.5, {ARROW_STREAM}").headers["content-type"] == ARROW_STREAM
    assert get(api, window, "*/*").headers["content-type"] == JSON
    assert get(api, window, f"application/*, {COLUMNAR_JSON};q=0.1").headers["content-type"] == JSON
    refused = api.get(f"{RECORDING_ID}/player-tracking?{window}", headers={"Accept": "text/csv"})
    assert refused.status_code == 406
    assert refused.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("coding", ["br", "gzip"])
def test_large_bodies_are_compressed_and_decode_to_the_same_bytes(api: Api, coding: str) -> None:
    for accept in (JSON, COLUMNAR_JSON, ARROW_STREAM):
        plain = get(api, "start=10&end=20", accept, **IDENTITY)
        assert "content-encoding" not in plain.headers
        compressed = get(api, "start=10&end=20", accept, **{"Accept-Encoding": coding})
        assert compressed.headers["content-encoding"] == coding
        assert compressed.content == plain.content  # the client decoded it
        assert int(compressed.headers["content-length"]) < len(plain.content) / 2
        assert compressed.headers["etag"] != plain.headers["etag"]
        assert compressed.headers["vary"] == "Accept, Accept-Encoding"


def test_streamed_windows_are_compressed_chunk_by_chunk(api: Api) -> None:
    plain = get(api, "start=100&end=250", JSON, **IDENTITY)
    compressed = get(api, "start=100&end=250", JSON, **{"Accept-Encoding": "br"})
    assert compressed.headers["content-encoding"] == "br"
    assert compressed.content == plain.content


def test_each_representation_has_its_own_etag_and_304(api: Api) -> None:
    etags = {
        (accept, coding): get(api, "start=10&end=20", accept, **{"Accept-Encoding": coding}).headers["etag"]
        for accept in (JSON, COLUMNAR_JSON, ARROW_STREAM)
        for coding in ("identity", "br")
    }
    assert len(set(etags.values())) == len(etags)
    for (accept, coding), etag in etags.items():
        again = api.get(
            f"{RECORDING_ID}/player-tracking?start=10&end=20",
            headers={"Accept": accept, "Accept-Encoding": coding, "If-None-Match": etag},
        )
        assert again.status_code == 304 and again.headers["etag"] == etag


def test_small_bodies_are_not_compressed(api: Api) -> None:
    response = api.get(f"{RECORDING_ID}/player-tracking/jersey-numbers", headers={"Accept-Encoding": "br"})
    assert response.status_code == 200
    assert len(response.content) < formats.MIN_COMPRESSED_BYTES
    assert "content-encoding" not in response.headers


def test_openapi_documents_every_representation(api: Api) -> None:
    operation = api.client.get("/openapi.json").json()["paths"]["/recordings/{recording_id}/player-tracking"]
    assert set(operation["get"]["responses"]["200"]["content"]) == {JSON, COLUMNAR_JSON, ARROW_STREAM}
    assert "406" in operation["get"]["responses"]
    assert "Accept-Encoding" in operation["get"]["description"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("application/json", JSON),
        (f"{ARROW_STREAM}", ARROW_STREAM),
        (f"{COLUMNAR_JSON};q=0.9, {ARROW_STREAM};q=0.8", COLUMNAR_JSON),
        ("text/*", None),
        (f"*/*;q=0.1, {JSON};q=0", COLUMNAR_JSON),
        (f"{JSON};q=oops", None),  # a malformed q counts as 0
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert formats.negotiate(accept, (JSON, COLUMNAR_JSON, ARROW_STREAM)) == expected


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        (None, None),
        ("identity", None),
        ("gzip, deflate", "gzip"),
        ("gzip, deflate, br", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("*", "br"),
        ("*, br;q=0", "gzip"),
    ],
)
def test_content_coding(accept_encoding: str | None, expected: str | None) -> None:
    assert formats.content_coding(accept_encoding) == expected
