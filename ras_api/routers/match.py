"""Match-level documents: momentum, details (and the attacking moments drawn from events), shots, report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ras_api.caching import NO_STORE, PUBLIC_7_DAYS
from ras_api.delivery_models import (
    AttackingMoments,
    MatchDetails,
    MatchMomentum,
    MatchReport,
    ShotDetails,
    TeamSide,
)
from ras_api.routers.delivery import DELIVERY_RESPONSES, DeliveryDep
from ras_core import delivery as transforms

router = APIRouter(tags=["match"], responses=DELIVERY_RESPONSES)
BASE = "/recordings/{recording_id}"


def _as_processed(delivery: DeliveryDep, output_name: str, endpoint: str, cache_control: str) -> Response:
    """An unfiltered processed document, delivered as stored."""
    obj = delivery.processed(output_name, endpoint)
    return delivery.json((obj,), endpoint, {}, cache_control, lambda: delivery.read_document(obj))


@router.get(f"{BASE}/match-momentum", response_model=MatchMomentum, summary="Momentum timeline")
def get_match_momentum(delivery: DeliveryDep) -> Response:
    return _as_processed(delivery, "match_momentum", "match-momentum", PUBLIC_7_DAYS)


@router.get(f"{BASE}/match-details", response_model=MatchDetails, summary="Per team totals and per period")
def get_match_details(delivery: DeliveryDep) -> Response:
    return _as_processed(delivery, "match_details", "match-details", PUBLIC_7_DAYS)


@router.get(
    f"{BASE}/match-details/attacking-moments",
    response_model=AttackingMoments,
    summary="A team's events chained within 15 s into moments",
    description=(
        "A team's own events (period markers excluded) chained while each starts within "
        f"{transforms.ATTACKING_CHAIN_GAP_S:g} s of the end of the chain so far; a period boundary ends a "
        "moment. Without `team`, both teams' moments ordered by start."
    ),
)
def get_attacking_moments(
    delivery: DeliveryDep,
    team: Annotated[TeamSide | None, Query(description="home or away; both when omitted")] = None,
) -> Response:
    obj = delivery.processed("events", "match-details/attacking-moments")

    def build() -> dict[str, object]:
        events = delivery.read_document(obj)["events"]
        return {
            "recording_id": delivery.recording_id,
            "team": team,
            "chain_gap_s": transforms.ATTACKING_CHAIN_GAP_S,
            "moments": transforms.attacking_moments(events, team),
        }

    return delivery.json((obj,), "attacking-moments", {"team": team}, PUBLIC_7_DAYS, build)


@router.get(f"{BASE}/shot-details", response_model=ShotDetails, summary="Shots")
def get_shot_details(delivery: DeliveryDep) -> Response:
    return _as_processed(delivery, "shot_details", "shot-details", PUBLIC_7_DAYS)


@router.get(
    f"{BASE}/match-report",
    response_model=MatchReport,
    summary="Match report",
    description="Not cached by clients (`no-store`): the report may be rewritten after review.",
)
def get_match_report(delivery: DeliveryDep) -> Response:
    return _as_processed(delivery, "match_report", "match-report", NO_STORE)
