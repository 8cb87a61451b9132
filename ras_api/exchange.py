"""What one HTTP exchange was (route template, method, status, duration), for the middlewares that
log and count requests: the status is only known from the response's first message."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Exchange:
    route: str  # the matched route template, never the raw path (it holds recording ids)
    method: str
    status: int
    elapsed_s: float


async def call_noting_exchange(
    app: Any, scope: dict[str, Any], receive: Any, send: Any, noted: Callable[[Exchange], None]
) -> None:
    """Call the ASGI app and hand `noted` the exchange once it ends, however it ends (500 if the app
    raised before answering)."""
    started = time.perf_counter()
    status = 500

    async def send_and_note(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    try:
        await app(scope, receive, send_and_note)
    finally:
        # The router leaves the matched route in the scope; unmatched paths share one label.
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        noted(Exchange(route, scope.get("method", ""), status, time.perf_counter() - started))
