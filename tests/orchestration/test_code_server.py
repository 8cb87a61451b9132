"""The embedded code server's command line: Dagster's own, with the code location preloaded."""

from __future__ import annotations

import importlib

import pytest

from ras_platform.code_server import RUN_WORKER_PRELOAD, code_location_module
from ras_platform.stack import Stack


def test_the_code_location_module_is_read_from_dagsters_arguments() -> None:
    assert code_location_module(["api", "grpc", "-m", "ras_assets.definitions", "-p", "4000"]) == (
        "ras_assets.definitions"
    )
    assert code_location_module(["api", "grpc", "--module-name", "ras_assets.marts"]) == "ras_assets.marts"
    assert code_location_module(["api", "grpc", "-p", "4000", "-m"]) is None


def test_the_stack_starts_every_code_location_through_it(tmp_path) -> None:
    specs = Stack(home=tmp_path, settings_env={}).code_server_specs()
    assert {code_location_module(spec.argv[3:]) for spec in specs} == {
        "ras_assets.definitions",
        "ras_assets.marts",
    }
    assert all(spec.argv[1:5] == ["-m", "ras_platform.code_server", "api", "grpc"] for spec in specs)


@pytest.mark.parametrize("module", RUN_WORKER_PRELOAD)
def test_every_preloaded_module_imports(module: str) -> None:
    # The forkserver skips a preload name that fails to import, silently: a typo would cost every run
    # the import again.
    importlib.import_module(module)
