"""The OpenAPI document states every status and content type the API really answers.

Routes document their own successes and specific errors; the errors every operation of a kind can
give are added here from what the document already says about it, so a new route is covered without
remembering to list them: a token (security) → 401/403; a recording id (or any path parameter) in
the path → 400/404; a body → 400/413/422; query parameters → 400; every operation → 500 and 503.
Every 4xx/5xx body is an RFC 9457 problem (`application/problem+json`), never FastAPI's default
`application/json` validation error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from ras_api.problems import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "invalid_params": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _generic(operation: dict[str, Any], path: str) -> dict[str, str]:
    """status → description of the errors this operation can give by its kind."""
    statuses = {
        "500": "an unexpected error (a problem document, never plain text)",
        "503": "a dependency (database, object store, Dagster) is unavailable; retry later",
    }
    if operation.get("security"):
        statuses |= {"401": "no X-Token header", "403": "the X-Token header holds the wrong token"}
    params = operation.get("parameters", [])
    if "{recording_id}" in path:
        statuses |= {"404": "unknown recording", "400": "the recording id does not match its pattern"}
    elif any(p.get("in") == "path" for p in params):
        statuses |= {"404": "nothing found under that path", "400": "a path parameter is invalid"}
    if any(p.get("in") == "query" for p in params):
        statuses["400"] = "a parameter is invalid; `invalid_params` names it"
    if "requestBody" in operation:
        statuses.setdefault("400", "the body cannot be read (not UTF-8 or not JSON)")
        statuses |= {
            "413": "the body exceeds the size limit (refused before it is read)",
            "422": "the body does not validate; `invalid_params` names each field",
        }
    return statuses


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the generic problem responses to every operation and make every error body a problem."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in _generic(operation, path).items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status[:1] in ("4", "5"):
                    response["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}
    schemas = schema["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Wrap the app's document builder so the generated document is completed once."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        if not schema.get("x-problems-completed"):
            complete(schema)
            schema["x-problems-completed"] = True
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
