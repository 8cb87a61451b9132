"""The embedded code server's command line: Dagster's own, with the code location preloaded."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from ras_platform.code_server import RUN_WORKER_PRELOAD, code_location_module, forkserver_context
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


def _import_a_file(out: str) -> None:
    """In a forked run worker: the polars and pyarrow work of an import, after the preload."""
    import polars as pl

    from ras_core.processed import arrow_table, write_parquet

    frame = pl.DataFrame({"t": [0.0, 0.04, 0.08], "team_side": ["home", "away", "home"]})
    write_parquet(arrow_table(frame.group_by("team_side").agg(pl.col("t").max())), Path(out), {})


def test_a_worker_forked_after_the_preload_does_an_imports_work(tmp_path: Path) -> None:
    # Forking after polars and pyarrow are imported (never used) must leave the child able to use
    # them: a thread pool started before the fork would deadlock here.
    context = forkserver_context(RUN_WORKER_PRELOAD)
    out = tmp_path / "out.parquet"
    worker = context.Process(target=_import_a_file, args=(str(out),))
    worker.start()
    worker.join(timeout=120)
    assert worker.exitcode == 0 and out.stat().st_size > 0
