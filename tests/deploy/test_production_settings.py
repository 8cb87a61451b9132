"""Production settings refuse what would make it unsafe (issue 14, defect 6): empty or short secrets,
and the local object store."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ras_platform.settings import MIN_SECRET_BYTES, Settings

GOOD = {
    "profile": "production",
    "database_url": "postgresql+psycopg2://ras@db/ras",
    "object_store": "s3",
    "zola_token": "z" * MIN_SECRET_BYTES,
    "ema_token": "e" * MIN_SECRET_BYTES,
    "signing_key": "k" * MIN_SECRET_BYTES,
}


def test_production_accepts_long_secrets_and_s3() -> None:
    assert Settings(**GOOD).profile == "production"


@pytest.mark.parametrize("name", ["zola_token", "ema_token", "signing_key"])
@pytest.mark.parametrize("secret", ["", "   ", "x" * (MIN_SECRET_BYTES - 1)])
def test_production_refuses_an_empty_or_short_secret(name: str, secret: str) -> None:
    with pytest.raises(ValidationError, match=f"RAS_{name.upper()}"):
        Settings(**{**GOOD, name: secret})


def test_production_refuses_them_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GOOD.items():
        monkeypatch.setenv(f"RAS_{name.upper()}", value)
    monkeypatch.setenv("RAS_SIGNING_KEY", "")
    with pytest.raises(ValidationError, match="RAS_SIGNING_KEY"):
        Settings()


def test_production_refuses_the_local_object_store() -> None:
    with pytest.raises(ValidationError, match="RAS_OBJECT_STORE=s3"):
        Settings(**{**GOOD, "object_store": "local"})


def test_embedded_keeps_its_defaults() -> None:
    assert Settings(profile="embedded").object_store == "local"
