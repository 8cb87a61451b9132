"""Raw pitch coordinates (metres, centre origin, y up) to the processed system and back.

Processed coordinates are pitch fractions with the origin at the top-left corner as seen from the
main camera and y pointing down (contracts.md): x_n = (x + L/2) / L, y_n = (W/2 - y) / W. Values off
the pitch stay outside [0, 1] (never clipped) and ball height stays in metres. The functions take
plain floats, numpy arrays or polars expressions alike, so there is one copy of the formula.
"""

from __future__ import annotations

from typing import Any, TypeVar

from ras_core.recording import Pitch

COORDINATE_SYSTEM_NAME = "normalised-top-left"

Coordinate = TypeVar("Coordinate")


def normalise_x(x: Coordinate, pitch: Pitch) -> Coordinate:
    return (x + pitch.length_m / 2) / pitch.length_m  # type: ignore[operator]


def normalise_y(y: Coordinate, pitch: Pitch) -> Coordinate:
    # Raw y grows towards the far touchline; processed y grows down the screen, towards the camera.
    return (pitch.width_m / 2 - y) / pitch.width_m  # type: ignore[operator]


def denormalise_x(x_n: Coordinate, pitch: Pitch) -> Coordinate:
    return x_n * pitch.length_m - pitch.length_m / 2  # type: ignore[operator]


def denormalise_y(y_n: Coordinate, pitch: Pitch) -> Coordinate:
    return pitch.width_m / 2 - y_n * pitch.width_m  # type: ignore[operator]


def normalise_point(point: dict[str, float] | None, pitch: Pitch) -> dict[str, float] | None:
    """A raw `{"x", "y"}` position in metres as a processed one; None stays None."""
    if point is None:
        return None
    return {"x": normalise_x(float(point["x"]), pitch), "y": normalise_y(float(point["y"]), pitch)}


def pitch_dict(pitch: Pitch) -> dict[str, float]:
    return {"length_m": pitch.length_m, "width_m": pitch.width_m}


def coordinate_system(pitch: Pitch) -> dict[str, Any]:
    """The description every processed output carries, so a reader never guesses the system."""
    return {
        "name": COORDINATE_SYSTEM_NAME,
        "origin": "top-left",
        "x": "right",
        "y": "down",
        "units": "pitch-fraction",
        "ball_z_units": "m",
        "pitch": pitch_dict(pitch),
    }
