"""Pictures of a recording, where a person would rather look than read: a pitch heatmap per team, a
shot map and a momentum chart, drawn from the processed files (PNG bytes out, nothing stored here).

Processed coordinates are normalised with the origin at the top-left and y pointing down
(contracts.md, "Processed data"); mplsoccer's custom pitch has its origin at the bottom-left in
metres, so y is flipped and both axes scaled by the recording's pitch. Off-pitch points are kept in
the shot map and left out of the heatmap's bins.

Drawn with matplotlib's object API (Figure + Agg canvas), not pyplot: no global state, safe in any
thread, no display needed. matplotlib and mplsoccer are imported inside the functions: only the runs
that draw pay their start-up.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from ras_core.recording import RecordingMetadata

HOME_COLOUR = "#d62728"
AWAY_COLOUR = "#1f77b4"
PITCH_COLOUR = "#22312b"
DPI = 80
HEATMAP_BINS = (24, 16)  # along the length, across the width: ~4.4 m cells on a 105 x 68 m pitch


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor=figure.get_facecolor())
    return buffer.getvalue()


def _pitch(recording: RecordingMetadata) -> Any:
    from mplsoccer import Pitch

    return Pitch(
        pitch_type="custom",
        pitch_length=recording.pitch.length_m,
        pitch_width=recording.pitch.width_m,
        line_color="#c7d5cc",
        pitch_color=PITCH_COLOUR,
        line_zorder=2,  # lines over the heatmap's cells
    )


def _to_metres(recording: RecordingMetadata, x: Any, y: Any) -> tuple[Any, Any]:
    return x * recording.pitch.length_m, (1.0 - y) * recording.pitch.width_m


def _team_names(recording: RecordingMetadata) -> dict[str, str]:
    return {"home": recording.home_team or "Home", "away": recording.away_team or "Away"}


def team_heatmaps(player_tracking: Path, recording: RecordingMetadata) -> bytes:
    """Where each team's players were: share of tracked player-frames per pitch cell, home and away
    side by side, each attacking as in the video's first period."""
    import numpy as np
    import polars as pl
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.figure import Figure

    rows = pl.read_parquet(player_tracking, columns=["team_side", "x", "y"])
    on_pitch = pl.col("x").is_between(0, 1) & pl.col("y").is_between(0, 1)
    pitch = _pitch(recording)
    figure = Figure(figsize=(12, 4.4), facecolor=PITCH_COLOUR, layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, (side, name) in zip(axes, _team_names(recording).items(), strict=True):
        pitch.draw(ax=ax)
        team = rows.filter((pl.col("team_side") == side) & on_pitch)
        x, y = _to_metres(recording, team["x"].to_numpy(), team["y"].to_numpy())
        if len(x):
            stats = pitch.bin_statistic(x, y, statistic="count", bins=HEATMAP_BINS)
            stats["statistic"] = stats["statistic"] / max(float(np.sum(stats["statistic"])), 1.0)
            colour = HOME_COLOUR if side == "home" else AWAY_COLOUR
            cmap = LinearSegmentedColormap.from_list(side, [PITCH_COLOUR, colour, "#ffffff"])
            pitch.heatmap(stats, ax=ax, cmap=cmap, edgecolors=PITCH_COLOUR)
        ax.set_title(f"{name} ({side}): {len(x):,} player-frames", color="white", fontsize=12)
    figure.suptitle(f"{recording.recording_id}: where each team played", color="white", fontsize=14)
    return _png(figure)


def shot_map(shots: Sequence[dict[str, Any]], recording: RecordingMetadata) -> bytes:
    """Every shot where it was taken: size by xG, a star for a goal, colour by team."""
    from matplotlib.figure import Figure

    pitch = _pitch(recording)
    figure = Figure(figsize=(8, 5.6), facecolor=PITCH_COLOUR, layout="constrained")
    ax = figure.subplots()
    pitch.draw(ax=ax)
    names = _team_names(recording)
    summary = []
    for side, colour in (("home", HOME_COLOUR), ("away", AWAY_COLOUR)):
        team = [s for s in shots if s.get("team_side") == side and s.get("position")]
        goals = [s for s in team if s.get("outcome") == "goal"]
        for group, marker in ((team, "o"), (goals, "*")):
            if not group:
                continue
            x, y = _to_metres(
                recording,
                _array([s["position"]["x"] for s in group]),
                _array([s["position"]["y"] for s in group]),
            )
            sizes = [120 + 900 * float(s.get("xg") or 0) for s in group]
            pitch.scatter(x, y, s=sizes, marker=marker, c=colour, edgecolors="white", alpha=0.8, ax=ax)
        xg = sum(float(s.get("xg") or 0) for s in team)
        summary.append(f"{names[side]} {len(goals)} goals, {len(team)} shots, xG {xg:.2f}")
    ax.set_title(f"{recording.recording_id} shots: " + " - ".join(summary), color="white", fontsize=11)
    return _png(figure)


def momentum_chart(timeline: Sequence[dict[str, float]], recording: RecordingMetadata) -> bytes:
    """Momentum over the match: above the line the home team is on top, below the away team."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.2), layout="constrained")
    ax = figure.subplots()
    minutes = _array([point["t"] / 60.0 for point in timeline])
    momentum = _array([point["momentum"] for point in timeline])
    names = _team_names(recording)
    if len(minutes):
        for above, colour, side in ((True, HOME_COLOUR, "home"), (False, AWAY_COLOUR, "away")):
            where = momentum >= 0 if above else momentum <= 0
            ax.fill_between(
                minutes,
                momentum,
                0,
                where=where,
                interpolate=True,
                color=colour,
                alpha=0.7,
                label=names[side],
            )
        ax.legend(loc="upper right", fontsize=9)
    for period in recording.periods[1:]:
        ax.axvline(period.start_s / 60.0, color="grey", linestyle="--", linewidth=1)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylim(-1, 1)
    ax.set_xlim(0, recording.duration_s / 60.0)
    ax.set_xlabel("minute")
    ax.set_ylabel("momentum")
    ax.set_title(f"{recording.recording_id}: match momentum")
    return _png(figure)


def _array(values: Sequence[float]) -> Any:
    import numpy as np

    return np.asarray(values, dtype=float)


@dataclass(frozen=True)
class Picture:
    name: str  # URL segment: /recordings/{id}/pictures/{name}.png
    source: str  # the processed output it is drawn from
    title: str
    draw: Callable[[Path, RecordingMetadata], bytes]


def _from_document(
    key: str, draw: Callable[[Any, RecordingMetadata], bytes]
) -> Callable[[Path, RecordingMetadata], bytes]:
    def from_file(path: Path, recording: RecordingMetadata) -> bytes:
        return draw(json.loads(path.read_text(encoding="utf-8"))[key], recording)

    return from_file


PICTURES: tuple[Picture, ...] = (
    Picture("team-heatmaps", "player_tracking", "Where each team played", team_heatmaps),
    Picture("shot-map", "shot_details", "Shot map", _from_document("shots", shot_map)),
    Picture("momentum", "match_momentum", "Match momentum", _from_document("timeline", momentum_chart)),
)


def picture(name: str) -> Picture:
    for known in PICTURES:
        if known.name == name:
            return known
    raise KeyError(name)


def pictures_of(output_name: str) -> tuple[Picture, ...]:
    """The pictures drawn from one processed output (its asset shows them)."""
    return tuple(p for p in PICTURES if p.source == output_name)
