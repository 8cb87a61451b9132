"""The API's edge: what a request must satisfy before any of it is parsed.

- `BodyLimit` (ASGI middleware) refuses a body over its route's cap with 413: at once when the
  Content-Length says so, else while the stream is read, so no body larger than the cap is ever held.
- `GuardedRoute` checks the `X-Token` of an operation that needs one before the body is read: a
  client without the token costs a header comparison, never a parse.
- Text from outside is cleaned or refused by the request models (`ras_core.text`), so a NUL or a
  control character never reaches a database, a log line or a problem document.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ras_api.auth import TOKEN_CHECKS
from ras_api.problems import problem_response

# Caps come from settings (`RAS_API_MAX_BODY_BYTES`, `RAS_OBJECT_MAX_BODY_BYTES`).
OBJECTS_PREFIX = "/objects/"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


class BodyLimit:
    """Caps request bodies: `object_limit` under /objects/ (presigned uploads), `api_limit` elsewhere."""

    def __init__(self, app: ASGIApp, *, api_limit: int, object_limit: int) -> None:
        self.app, self.api_limit, self.object_limit = app, api_limit, object_limit

    def limit_for(self, scope: Scope) -> int:
        return self.object_limit if scope["path"].startswith(OBJECTS_PREFIX) else self.api_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            # Refused before the app runs: nothing is read, nothing is parsed.
            response = problem_response(413, str(BodyTooLarge(limit).detail), instance=scope["path"])
            await response(scope, receive, send)
            return
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException: the route's problem handler answers 413 (problem+json).
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, capped, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) <= 19 else None
    return None


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


class GuardedRoute(APIRoute):
    """An APIRoute whose token dependencies (`require_zola`, `require_ema`) also run before FastAPI
    reads and parses the body; they run again as ordinary dependencies, which costs nothing."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        checks = [d.call for d in _dependencies(self.dependant) if d.call in TOKEN_CHECKS]
        if not checks:
            return handler

        async def guarded(request: Request) -> Response:
            for check in checks:
                check(request, request.headers.get("x-token"))
            return await handler(request)

        return guarded
