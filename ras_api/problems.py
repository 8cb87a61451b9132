"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import errno
import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    405: "Method Not Allowed",
    413: "Content Too Large",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    507: "Insufficient Storage",
}
# The storage faults a client can do nothing about but wait: answered 503/507, never a plain 500.
_STORAGE_FULL = {errno.ENOSPC, errno.EDQUOT}
_STORAGE_UNAVAILABLE = {errno.EROFS, errno.EIO}
_MAX_INSTANCE = 512


class Problem(Exception):
    def __init__(self, status: int, detail: str, *, title: str | None = None, **extra: Any):
        self.status, self.detail, self.title, self.extra = status, detail, title, extra
        super().__init__(detail)


def problem_instance(path: str) -> str:
    """The request path as a problem's `instance`: percent-encoded, so a NUL, a control character or
    `<script>` sent in the path is never echoed back as itself; bounded in length."""
    return quote(path, safe="/-_.~!$&'()*+,;=:@%")[:_MAX_INSTANCE]


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **({"instance": problem_instance(instance)} if instance else {}),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_detail(error: dict[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
    where = ".".join(location) or "request"
    return f"{where}: {error.get('msg', 'invalid')}"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status, exc.detail, title=exc.title, instance=request.url.path, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        invalid = [
            {"name": _validation_detail(e).split(":")[0], "reason": e.get("msg", "invalid")} for e in errors
        ]
        # A bad path or query parameter is a bad request (400); a body that does not validate is 422.
        status = 400 if all(e.get("loc", ("",))[0] in ("query", "path") for e in errors) else 422
        return problem_response(
            status,
            "; ".join(_validation_detail(e) for e in errors),
            instance=request.url.path,
            invalid_params=invalid,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The exception's headers travel with it; a 405's `Allow` names every method of the path
        # (Starlette's names only those of the first route that matched it).
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request)) or headers.get("Allow", "")
        return problem_response(exc.status_code, str(exc.detail), instance=request.url.path, headers=headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return problem_response(
            503, "the database is unavailable; retry later", instance=request.url.path, headers=_RETRY
        )

    @app.exception_handler(OSError)
    async def _storage(request: Request, exc: OSError) -> JSONResponse:
        if exc.errno in _STORAGE_FULL:
            status, detail = 507, "the storage is full; retry later"
        elif exc.errno in _STORAGE_UNAVAILABLE:
            status, detail = 503, "the storage cannot be written now; retry later"
        else:
            return await _unexpected(request, exc)
        log.error("storage fault on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(status, detail, instance=request.url.path, headers=_RETRY)

    # The one handler of every other unexpected error: a problem document, never a plain-text 500.
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "an unexpected error occurred", instance=request.url.path)


_RETRY = {"Retry-After": "30"}
_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    routes = request.app.router.routes
    return [
        method
        for method in _HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
