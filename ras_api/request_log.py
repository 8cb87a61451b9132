"""One JSON log line per request (route template, status, duration) with the recording it concerns,
which is also bound for every line logged while the request is handled."""

from __future__ import annotations

import logging
import re
from typing import Any

from ras_api.exchange import Exchange, call_noting_exchange
from ras_platform.logs import log_context

log = logging.getLogger("ras.api")
# The recording of a /recordings/{id}/... path, before routing has validated it: only a well-formed
# id is bound (contracts.md: anything else never reaches a log line).
_RECORDING = re.compile(r"^/recordings/([A-Za-z0-9][A-Za-z0-9_-]{0,63})(?:/|$)")
# Job endpoints name their job type in a query parameter.
_JOB_TYPE = re.compile(r"(?:^|&)jobType=([a-z-]{1,40})(?:&|$)")


class RequestLog:
    """Pure ASGI middleware."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match = _RECORDING.match(scope.get("path", ""))
        job_type = _JOB_TYPE.search(scope.get("query_string", b"").decode("latin-1"))
        with log_context(recording_id=match and match.group(1), job_type=job_type and job_type.group(1)):
            await call_noting_exchange(self.app, scope, receive, send, _log_exchange)


def _log_exchange(exchange: Exchange) -> None:
    elapsed_ms = round(exchange.elapsed_s * 1000, 1)
    log.info(
        "%s %s %d %.1f ms",
        exchange.method,
        exchange.route,
        exchange.status,
        elapsed_ms,
        extra={"ras": {"route": exchange.route, "status": exchange.status, "duration_ms": elapsed_ms}},
    )
