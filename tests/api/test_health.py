"""Liveness vs readiness (issue 14, defect 7): a dependency down is a 503 problem naming it, while the
liveness probe, which asks nothing, stays 200."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from ras_api import health
from ras_platform.dagster_client import DagsterClient
from tests.api.conftest import Api

PROBLEM = "application/problem+json"


def _dagster(api: Api, handler) -> None:  # type: ignore[no-untyped-def]
    api.client.app.state.health_dagster = DagsterClient(
        "http://dagster", "ras", transport=httpx.MockTransport(handler)
    )


def _loaded(request: httpx.Request) -> httpx.Response:
    location = {"__typename": "RepositoryLocation"}
    entry = {"name": "ras", "loadStatus": "LOADED", "locationOrLoadError": location}
    workspace = {"__typename": "Workspace", "locationEntries": [entry]}
    return httpx.Response(200, json={"data": {"workspaceOrError": workspace}})


def test_ready_when_every_dependency_answers(api: Api) -> None:
    _dagster(api, _loaded)
    answer = api.client.get("/health/ready")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ready",
        "checks": {"database": "ok", "object_store": "ok", "dagster": "ok"},
    }
    assert api.client.get("/health/live").json() == {"status": "alive"}


def test_a_database_down_is_a_503_problem_while_live_stays_200(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dagster(api, _loaded)

    def down(platform: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(health, "_database", down)
    answer = api.client.get("/health/ready")
    assert answer.status_code == 503 and answer.headers["content-type"] == PROBLEM
    body = answer.json()
    assert body["checks"]["database"].startswith("OperationalError") and body["checks"]["dagster"] == "ok"
    assert "database" in body["detail"]
    assert api.client.get("/health/live").status_code == 200


def test_dagster_unreachable_is_named(api: Api) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    _dagster(api, refuse)
    answer = api.client.get("/health/ready")
    assert answer.status_code == 503
    assert answer.json()["checks"]["dagster"].startswith("ConnectError")
