"""Processed events, filtered by type."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from ras_api.caching import PUBLIC_7_DAYS
from ras_api.delivery_models import Events
from ras_api.problems import Problem
from ras_api.routers.delivery import DELIVERY_RESPONSES, DeliveryDep
from ras_core import delivery as transforms

router = APIRouter(tags=["events"], responses=DELIVERY_RESPONSES)

TypeFilter = Annotated[
    str | None,
    Query(
        description="comma-separated event types, e.g. `shot,goal`; all when omitted. Known: "
        + ", ".join(transforms.EVENT_TYPES),
        max_length=400,
        alias="type",
    ),
]


def parse_types(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    types = tuple(sorted({part.strip() for part in value.split(",") if part.strip()}))
    unknown = transforms.unknown_event_types(types)
    if unknown or not types:
        raise Problem(
            400,
            f"type: unknown event type {', '.join(unknown) or '(empty)'}; known: "
            + ", ".join(transforms.EVENT_TYPES),
            invalid_params=[{"name": "type", "reason": "unknown event type"}],
        )
    return types


@router.get(
    "/recordings/{recording_id}/events",
    response_model=Events,
    summary="Processed events (one shape for every EMA schema version)",
)
def get_events(delivery: DeliveryDep, event_types: TypeFilter = None) -> Response:
    types = parse_types(event_types)
    obj = delivery.processed("events", "events")

    def build() -> dict[str, Any]:
        document = delivery.read_document(obj)
        return {**document, "events": transforms.events_of_types(document["events"], types)}

    return delivery.json((obj,), "events", {"type": types}, PUBLIC_7_DAYS, build)
