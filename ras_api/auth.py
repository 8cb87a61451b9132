"""Tokens in `X-Token`, compared in constant time: 401 without one, 403 with the wrong one."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from ras_api.problems import Problem


def _check(presented: str | None, expected: str, who: str) -> None:
    if not presented:
        raise Problem(401, f"this endpoint needs the {who} token in the X-Token header")
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise Problem(403, f"the X-Token header does not hold the {who} token")


def require_zola(request: Request, x_token: Annotated[str | None, Header()] = None) -> None:
    _check(x_token, request.app.state.platform.settings.zola_token, "Zola")


def require_ema(request: Request, x_token: Annotated[str | None, Header()] = None) -> None:
    _check(x_token, request.app.state.platform.settings.ema_token, "EMA")


ZolaAuth = Depends(require_zola)
EmaAuth = Depends(require_ema)
