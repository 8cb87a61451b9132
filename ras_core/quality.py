"""Where a data-quality figure becomes a warning: plain values, light to import (settings and the
Dagster resources read them; `ras_core.checks` measures against them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QualityThresholds:
    """Where a quality figure becomes a warning; from settings (`RAS_QUALITY_*`), never a failure.

    The defaults take broadcast footage as normal (contracts.md, "What real EMA output looks like"):
    30-50 % of frames without players, the ball unseen for long stretches and often out of play.
    """

    min_player_frame_coverage: float = 0.5
    min_ball_frame_coverage: float = 0.3
    max_player_off_pitch_share: float = 0.05
    max_ball_off_pitch_share: float = 0.25
    # A broadcast camera shows part of the pitch; fewer than this many of a side per frame, or more
    # than a team fields, means the tracker is missing or duplicating people.
    min_players_per_side: int = 4
    max_players_per_side: int = 11
    min_jersey_coverage: float = 0.5
