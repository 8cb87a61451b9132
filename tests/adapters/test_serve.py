"""`ras serve`'s stack, without starting it: the settings decide EMA, ports and data; no simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from ras_platform.serve import serve_stack, where_everything_is
from ras_platform.settings import Settings


def test_serve_honours_the_settings_and_starts_no_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = {
        "RAS_DATA_DIR": str(tmp_path / "data"),
        "RAS_EMA_BASE_URL": "https://ema.example/api",
        "RAS_API_BASE_URL": "https://ras.example:8443",
        "RAS_DAGSTER_URL": "http://127.0.0.1:3999",
        "RAS_EMA_MAX_ATTEMPTS": "5",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    stack = serve_stack(Settings(), api_host="0.0.0.0", stop_timeout_s=5)

    assert [spec.name for spec in stack.specs()] == [
        "code-ras",
        "code-ras_marts",
        "api",
        "webserver",
        "daemon",
    ]
    assert (stack.ports["api"], stack.ports["dagster"]) == (8443, 3999)
    env = stack.env
    assert {name: env[name] for name in environment} == environment  # every RAS_* as the user set it
    api = next(spec for spec in stack.specs() if spec.name == "api")
    assert api.argv[api.argv.index("--host") + 1] == "0.0.0.0"
    printed = where_everything_is(stack)
    assert "https://ema.example/api" in printed and str(tmp_path / "data" / "objects") in printed
    assert "simulator" not in printed
