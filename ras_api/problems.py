"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class Problem(Exception):
    def __init__(self, status: int, detail: str, *, title: str | None = None, **extra: Any):
        self.status, self.detail, self.title, self.extra = status, detail, title, extra
        super().__init__(detail)


def problem_response(
    status: int, detail: str, *, title: str | None = None, instance: str | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **({"instance": instance} if instance else {}),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


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
        status = 400 if all(e.get("loc", ("",))[0] == "query" for e in errors) else 422
        return problem_response(
            status,
            "; ".join(_validation_detail(e) for e in errors),
            instance=request.url.path,
            invalid_params=invalid,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), instance=request.url.path)
