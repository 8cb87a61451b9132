"""Normalisation maps the pitch corners and centre exactly and is invertible (property tests)."""

from __future__ import annotations

import math

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from ras_core.coords import coordinate_system, denormalise_x, denormalise_y, normalise_x, normalise_y
from ras_core.recording import Pitch

pitches = st.builds(
    Pitch,
    length_m=st.floats(min_value=20.0, max_value=130.0, allow_nan=False),
    width_m=st.floats(min_value=10.0, max_value=100.0, allow_nan=False),
)


@given(pitches)
def test_corners_and_centre_map_exactly(pitch: Pitch) -> None:
    half_l, half_w = pitch.length_m / 2, pitch.width_m / 2
    # Top-left as seen from the main camera: the left goal line, the far touchline (raw y = +W/2).
    assert (normalise_x(-half_l, pitch), normalise_y(half_w, pitch)) == (0.0, 0.0)
    assert (normalise_x(half_l, pitch), normalise_y(-half_w, pitch)) == (1.0, 1.0)
    assert (normalise_x(0.0, pitch), normalise_y(0.0, pitch)) == (0.5, 0.5)


@given(pitches, st.floats(-1.5, 1.5), st.floats(-1.5, 1.5))
def test_normalisation_is_invertible_and_never_clipped(pitch: Pitch, fx: float, fy: float) -> None:
    x, y = fx * pitch.length_m, fy * pitch.width_m  # up to a pitch beyond each line: off-pitch is legal
    x_n, y_n = normalise_x(x, pitch), normalise_y(y, pitch)
    assert math.isclose(denormalise_x(x_n, pitch), x, abs_tol=1e-9 * pitch.length_m)
    assert math.isclose(denormalise_y(y_n, pitch), y, abs_tol=1e-9 * pitch.width_m)


def test_the_same_formula_applies_to_polars_columns() -> None:
    pitch = Pitch(105.0, 68.0)
    frame = pl.DataFrame({"x": [-52.5, 0.0, 60.0], "y": [34.0, 0.0, -40.0]})
    out = frame.select(x=normalise_x(pl.col("x"), pitch), y=normalise_y(pl.col("y"), pitch))
    assert out.get_column("x").to_list()[:2] == [0.0, 0.5]
    assert out.get_column("x").to_list()[2] > 1.0  # not clipped
    assert out.get_column("y").to_list()[:2] == [0.0, 0.5]


def test_coordinate_system_names_origin_axes_units_and_pitch() -> None:
    system = coordinate_system(Pitch(105.0, 68.0))
    assert system == {
        "name": "normalised-top-left",
        "origin": "top-left",
        "x": "right",
        "y": "down",
        "units": "pitch-fraction",
        "ball_z_units": "m",
        "pitch": {"length_m": 105.0, "width_m": 68.0},
    }
