"""Tokens in `X-Token`, compared in constant time: 401 without one, 403 with the wrong one.

Declared as API-key security schemes, so the OpenAPI document says which operations need which token.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from ras_api.problems import Problem

_ZOLA_KEY = APIKeyHeader(
    name="X-Token", scheme_name="ZolaToken", description="the Zola token", auto_error=False
)
_EMA_KEY = APIKeyHeader(name="X-Token", scheme_name="EmaToken", description="the EMA token", auto_error=False)


def _check(presented: str | None, expected: str, who: str) -> None:
    if not presented:
        raise Problem(401, f"this endpoint needs the {who} token in the X-Token header")
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise Problem(403, f"the X-Token header does not hold the {who} token")


def require_zola(request: Request, x_token: Annotated[str | None, Depends(_ZOLA_KEY)] = None) -> None:
    _check(x_token, request.app.state.platform.settings.zola_token, "Zola")


def require_ema(request: Request, x_token: Annotated[str | None, Depends(_EMA_KEY)] = None) -> None:
    _check(x_token, request.app.state.platform.settings.ema_token, "EMA")


# Checked again before the body is read (`ras_api.edge.GuardedRoute`).
TOKEN_CHECKS = frozenset({require_zola, require_ema})
ZolaAuth = Depends(require_zola)
EmaAuth = Depends(require_ema)
