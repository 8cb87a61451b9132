"""Player-tracking windows served from the frames rendered at import (`ras_core.rendered`): through
HTTP as a client gets them, byte for byte the computed path's, and never from a sidecar that does not
belong to the processed file beside it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ras_api.routers import tracking
from ras_core import catalogue, rendered
from tests.api.conftest import RECORDING_ID, ZOLA, Api

OUTPUT = catalogue.processed_output("player_tracking")
FRAMES_KEY = OUTPUT.sidecar_key(RECORDING_ID, rendered.SIDECAR)
# Unfiltered windows (what the sidecar serves): inside one 10-s row group, across several, starting
# and ending between frames, from before the first frame, past the last, empty, the default (60 s)
# and a streamed one (over 60 s, in 30-s chunks).
WINDOWS = (
    "start=10&end=12",
    "start=7.25&end=31.33",
    "start=0&end=0.05",
    "start=0.049&end=10.051",
    "start=295&end=305",
    "start=590&end=600",
    "start=599.95&end=600",
    "start=5000&end=5010",
    "",
    "start=12.34",
    "start=100&end=250",
    "start=0&end=600",
)


def _fresh_cache(api: Api) -> None:
    # Bodies are kept by the application cache: a second request of a window must compute it again.
    api.client.app.state.response_cache = None  # type: ignore[attr-defined]


def _windows(api: Api) -> dict[str, tuple[int, bytes, str]]:
    _fresh_cache(api)
    answers = {}
    for query in WINDOWS:
        response = api.get(f"{RECORDING_ID}/player-tracking?{query}", headers={"Accept-Encoding": "identity"})
        answers[query] = (response.status_code, response.content, response.headers["etag"])
    return answers


@pytest.fixture
def computing_forbidden(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any request that groups and encodes frames per request, as the computed path does."""

    def computed(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the window was computed, not read from the rendered frames")

    monkeypatch.setattr(tracking.transforms, "tracking_frames_json", computed)
    yield


def _computed(api: Api, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[int, bytes, str]]:
    """The same windows from the computed path: the sidecar hidden for the duration."""
    monkeypatch.setattr(tracking, "_rendered", lambda *args: None)
    answers = _windows(api)
    monkeypatch.undo()
    return answers


def test_unfiltered_windows_are_served_from_the_rendered_frames(api: Api, computing_forbidden: None) -> None:
    for query, (status, body, _) in _windows(api).items():
        assert status == 200, (query, body[:200])
        json.loads(body)  # one valid document, streamed or not


def test_rendered_windows_are_the_computed_bytes(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    computed = _computed(api, monkeypatch)
    with monkeypatch.context() as patch:
        patch.setattr(tracking.transforms, "tracking_frames_json", None)  # not called: a TypeError if so
        served = _windows(api)
    assert served == computed  # status, every byte and the ETag
    frames = json.loads(served["start=7.25&end=31.33"][1])["frames"]
    assert [f["frame"] for f in frames] == list(range(73, 314))  # 10 fps, end exclusive


def _rewrite_sidecar(api: Api, digest: str) -> None:
    path = api.platform.object_store.local_path(FRAMES_KEY)
    assert path is not None
    table = pq.read_table(path)
    entry = json.loads(pq.read_metadata(path).metadata[rendered.METADATA_KEY])
    stored = json.dumps({**entry, rendered.DIGEST_KEY: digest}).encode()
    pq.write_table(table.replace_schema_metadata({rendered.METADATA_KEY: stored}), path, row_group_size=100)


def test_a_sidecar_of_another_import_is_not_served(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    computed = _computed(api, monkeypatch)
    # Same frames, but it names other content than the processed file beside it: as a sidecar left
    # over from an earlier import, or from a copy whose processed file was replaced, would.
    _rewrite_sidecar(api, "0" * 64)
    with monkeypatch.context() as patch:
        spied: list[object] = []
        patch.setattr(rendered.Frames, "window", lambda *args: spied.append(args) or b"")
        assert _windows(api) == computed
    assert spied == []


def test_without_a_sidecar_windows_are_computed(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    computed = _computed(api, monkeypatch)
    api.platform.object_store.delete(FRAMES_KEY)
    assert _windows(api) == computed


def test_a_processed_file_naming_no_frames_is_served_computed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file imported before sidecars existed names no digest: its windows are computed."""
    computed = _computed(api, monkeypatch)
    path = api.platform.object_store.local_path(OUTPUT.key(RECORDING_ID))
    assert isinstance(path, Path)
    table = pq.read_table(path)
    entry = json.loads(table.schema.metadata[b"ras"])
    del entry[rendered.DIGEST_KEY]
    pq.write_table(table.replace_schema_metadata({b"ras": json.dumps(entry).encode()}), path)
    with monkeypatch.context() as patch:
        patch.setattr(rendered.Frames, "window", None)  # not called: a TypeError if so
        again = _windows(api)
    assert {q: (s, b) for q, (s, b, _) in again.items()} == {q: (s, b) for q, (s, b, _) in computed.items()}


def test_filtered_windows_are_computed(api: Api, computing_forbidden: None) -> None:
    # The sidecar holds whole frames: a period, side or jersey filter is the computed path's.
    for query in ("period=1", "side=home", "jersey=7"):
        with pytest.raises(AssertionError, match="computed"):
            api.get(f"{RECORDING_ID}/player-tracking?start=10&end=12&{query}")


def test_a_duplicate_copies_the_sidecar_and_serves_from_it(api: Api, computing_forbidden: None) -> None:
    response = api.client.post(
        f"/recordings/{RECORDING_ID}/duplicate", json={"target_recording_id": "rec-copy"}, headers=ZOLA
    )
    assert response.status_code == 200, response.text
    assert OUTPUT.sidecar_key("rec-copy", rendered.SIDECAR) in response.json()["copied"]
    original = api.get(f"{RECORDING_ID}/player-tracking?start=1&end=2").json()
    copied = api.get("rec-copy/player-tracking?start=1&end=2").json()
    assert copied["recording_id"] == "rec-copy" and copied["frames"] == original["frames"]


def test_a_forced_duplicate_removes_a_sidecar_the_source_lacks(api: Api) -> None:
    copy = {"target_recording_id": "rec-copy"}
    assert (
        api.client.post(f"/recordings/{RECORDING_ID}/duplicate", json=copy, headers=ZOLA).status_code == 200
    )
    api.platform.object_store.delete(FRAMES_KEY)
    again = api.client.post(
        f"/recordings/{RECORDING_ID}/duplicate", json={**copy, "force": True}, headers=ZOLA
    )
    assert again.status_code == 200, again.text
    assert OUTPUT.sidecar_key("rec-copy", rendered.SIDECAR) in again.json()["deleted"]
    assert not api.platform.object_store.exists(OUTPUT.sidecar_key("rec-copy", rendered.SIDECAR))
