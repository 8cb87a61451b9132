"""GET /recordings/{id}/pictures/{name}.png: drawn from the processed files, cached by their etag."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ras_core import pictures
from tests.api.conftest import PENDING_ID, RECORDING_ID, Api


@pytest.mark.parametrize("name", [p.name for p in pictures.PICTURES])
def test_each_picture_is_a_png_of_a_sensible_size(api: Api, name: str) -> None:
    answer = api.get(f"{RECORDING_ID}/pictures/{name}.png")

    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(answer.content))
    assert image.format == "PNG" and 600 <= image.width <= 1200 and 200 <= image.height <= 600
    assert len(set(image.convert("L").getdata())) > 20  # drawn, not a blank canvas
    assert answer.headers["cache-control"] == "no-cache" and answer.headers["etag"].startswith('"')


def test_a_revalidation_is_a_304_and_the_picture_is_drawn_once(api: Api) -> None:
    first = api.get(f"{RECORDING_ID}/pictures/shot-map.png")
    again = api.get(f"{RECORDING_ID}/pictures/shot-map.png", headers={"If-None-Match": first.headers["etag"]})
    misses = api.client.app.state.response_cache.misses
    third = api.get(f"{RECORDING_ID}/pictures/shot-map.png")

    assert again.status_code == 304 and third.content == first.content
    assert api.client.app.state.response_cache.misses == misses  # served from the cache


def test_a_picture_of_data_not_there_yet_names_the_job_state(api: Api) -> None:
    answer = api.get(f"{PENDING_ID}/pictures/team-heatmaps.png")

    assert answer.status_code == 404
    assert "job player-tracking is pending" in answer.json()["detail"]
    assert api.get(f"{RECORDING_ID}/pictures/nonsense.png").status_code == 400  # a bad path parameter
