"""Per-player moments: shots and goals from shot details, top speeds from tracking."""

from __future__ import annotations

import math
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Query, Response

from ras_api.caching import PUBLIC_7_DAYS
from ras_api.delivery_models import PlayerMoments
from ras_api.routers.delivery import DELIVERY_RESPONSES, DeliveryDep, ProcessedObject
from ras_core import delivery as transforms
from ras_core.processed import read_tracking_window

router = APIRouter(tags=["players"], responses=DELIVERY_RESPONSES)
SPEED_COLUMNS = ["t", "period", "team_side", "jersey_number", "speed_mps"]


@router.get(
    "/recordings/{recording_id}/player-moments",
    response_model=PlayerMoments,
    summary="Per player (side + jersey): shots, goals and top-speed moments",
    description=(
        "Players are identified by side and jersey number; tracks without a number and referees are "
        "left out. Top-speed moments are the fastest tracking samples of each player, at least "
        f"{transforms.TOP_SPEED_SEPARATION_S:g} s apart so one sprint counts once. Needs the shot-details "
        "and player-tracking jobs."
    ),
)
def get_player_moments(
    delivery: DeliveryDep,
    top: Annotated[int, Query(ge=1, le=10, description="top-speed moments per player")] = 3,
) -> Response:
    shots = delivery.processed("shot_details", "player-moments")
    tracking = delivery.processed("player_tracking", "player-moments")

    def build() -> dict[str, Any]:
        speeds = transforms.top_speed_moments(_speed_samples(tracking), top)
        players = transforms.player_moments(delivery.read_document(shots)["shots"], speeds)
        return {
            "recording_id": delivery.recording_id,
            "top_speed_separation_s": transforms.TOP_SPEED_SEPARATION_S,
            "players": players,
        }

    return delivery.json((shots, tracking), "player-moments", {"top": top}, PUBLIC_7_DAYS, build)


def _speed_samples(tracking: ProcessedObject) -> pl.DataFrame:
    rows = pl.from_arrow(read_tracking_window(tracking.path, 0.0, math.inf, columns=SPEED_COLUMNS))
    assert isinstance(rows, pl.DataFrame)
    return rows
