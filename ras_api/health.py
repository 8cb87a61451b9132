"""Liveness and readiness: `/health/live` (the process answers) and `/health/ready` (it can serve).

Readiness checks every dependency a request may need: the database (SELECT 1), the object store (a
HEAD of a probe key: reachable and authorised) and Dagster (its GraphQL API has our code location
loaded), concurrently, each within `CHECK_TIMEOUT_S`. A dependency down is a 503 problem naming it, so
a load balancer takes the replica out while liveness keeps the process from being restarted for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from ras_api.openapi import PROBLEM_SCHEMA
from ras_api.problems import PROBLEM_JSON, problem_response
from ras_platform.dagster_client import DagsterClient
from ras_platform.platform import Platform

CHECK_TIMEOUT_S = 3.0
PROBE_KEY = "health/ready-probe"

router = APIRouter(tags=["ops"])


def _database(platform: Platform) -> None:
    store = platform.state_store
    with store._engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _object_store(platform: Platform) -> None:
    platform.object_store.stat(PROBE_KEY)  # absent is fine: the store answered


def _dagster(platform: Platform, client: DagsterClient) -> None:
    if not client.location_loaded():
        raise RuntimeError(f"code location {platform.settings.dagster_location_name} is not loaded")


async def _check(name: str, probe: Callable[[], None]) -> tuple[str, str]:
    try:
        await asyncio.wait_for(run_in_threadpool(probe), CHECK_TIMEOUT_S)
    except TimeoutError:
        return name, f"no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as error:  # any failure of a dependency makes the replica unready
        return name, f"{type(error).__name__}: {str(error)[:200]}"
    return name, "ok"


def _dagster_client(request: Request, platform: Platform) -> DagsterClient:
    # Its own client with a short timeout: a hung webserver must not hold the probe for 30 s.
    state = request.app.state
    if getattr(state, "health_dagster", None) is None:
        settings = platform.settings
        state.health_dagster = DagsterClient(
            settings.dagster_url, settings.dagster_location_name, timeout_s=CHECK_TIMEOUT_S
        )
    return state.health_dagster


@router.get("/health/live", summary="Liveness: the process answers (no dependency is asked)")
def live() -> dict[str, str]:
    return {"status": "alive"}


_READY_EXAMPLE: dict[str, Any] = {"database": "ok", "object_store": "ok", "dagster": "ok"}


@router.get(
    "/health/ready",
    summary="Readiness: database, object store and Dagster answer",
    responses={
        200: {"content": {"application/json": {"example": {"status": "ready", "checks": _READY_EXAMPLE}}}},
        503: {
            "description": "a dependency is down; `checks` names each one's state",
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        },
    },
)
async def ready(request: Request) -> JSONResponse:
    platform: Platform = request.app.state.platform
    client = _dagster_client(request, platform)
    results = await asyncio.gather(
        _check("database", lambda: _database(platform)),
        _check("object_store", lambda: _object_store(platform)),
        _check("dagster", lambda: _dagster(platform, client)),
    )
    checks = dict(results)
    down = [name for name, state in checks.items() if state != "ok"]
    if down:
        return problem_response(
            503,
            f"not ready: {', '.join(down)} unavailable",
            instance=request.url.path,
            headers={"Retry-After": "5"},
            checks=checks,
        )
    return JSONResponse({"status": "ready", "checks": checks})
