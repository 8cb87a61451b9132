"""The Dagster resources take their parts from the one composition root the API and CLI use."""

from __future__ import annotations

from pathlib import Path

import pytest

from ras_platform.platform import platform_for
from ras_platform.settings import Settings
from resources import platform_resources


def test_every_resource_takes_its_part_from_one_platform(tmp_path: Path) -> None:
    overrides = {"data_dir": str(tmp_path), "ema_max_attempts": "5"}
    resources = platform_resources(overrides)
    platform = platform_for(overrides)
    assert resources["state_store"].store is platform.state_store
    assert resources["object_store"].store is platform.object_store
    assert resources["event_publisher"].publisher is platform.publisher
    assert resources["ema"].client is platform.ema
    # The settings are the one spelling of each backend's configuration.
    expected = Settings(**overrides)
    assert platform.object_store.root == expected.objects_dir
    assert platform.publisher.path == expected.events_file
    assert resources["ema"].max_attempts == 5 and resources["ema"].api_base_url == expected.api_base_url
    platform.state_store.close()


def test_bad_settings_fail_when_the_resources_are_built() -> None:
    with pytest.raises(ValueError, match="RAS_ZOLA_TOKEN"):
        platform_resources({"profile": "production", "database_url": "postgresql://db/ras"})


def test_a_backend_option_goes_through_settings_not_a_field_of_its_own() -> None:
    from pydantic import ValidationError

    from resources import AlertsResource

    with pytest.raises(ValidationError, match="api_base_url"):
        AlertsResource(api_base_url="http://api.test")
