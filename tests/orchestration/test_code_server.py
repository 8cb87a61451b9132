"""The embedded code server's command line: Dagster's own, with the code location preloaded."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ras_platform import dagster_process
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


def test_the_stack_starts_the_webserver_and_the_daemon_with_the_tuning(tmp_path) -> None:
    specs = {spec.name: spec for spec in Stack(home=tmp_path, settings_env={}).specs()}
    assert specs["webserver"].argv[1:4] == ["-m", "ras_platform.dagster_process", "webserver"]
    assert specs["daemon"].argv[1:5] == ["-m", "ras_platform.dagster_process", "daemon", "run"]


def test_dagster_process_refuses_an_unknown_command(capsys) -> None:
    assert dagster_process.main(["dev"]) == 2
    assert "webserver,daemon" in capsys.readouterr().out


# In a fresh interpreter, so that this test session's alembic stays as Dagster ships it.
_INSTANCES_WITH_TUNING = """
import sys, tempfile
from alembic.script import ScriptDirectory
from dagster import DagsterInstance
from dagster._core.storage.sql import get_alembic_config
import dagster._core.storage.event_log.sqlite.sqlite_event_log as event_log_module
uncached_head = ScriptDirectory.from_config(get_alembic_config(event_log_module.__file__)).get_current_head()
import ras_platform.dagster_tuning as tuning
counts = []
for _ in range(3):  # what each run worker does: build its instance, which checks every storage's revision
    with tempfile.TemporaryDirectory() as home, DagsterInstance.local_temp(home) as instance:
        instance.get_runs(limit=1)
        instance.event_log_storage.get_logs_for_run("no-such-run")
    counts.append(tuning.cached_script_directories())
cached = ScriptDirectory.from_config(get_alembic_config(event_log_module.__file__))
assert cached is ScriptDirectory.from_config(get_alembic_config(event_log_module.__file__))
assert cached.get_current_head() == uncached_head, (cached.get_current_head(), uncached_head)
print(*counts)
"""


def test_dagster_storages_read_alembics_migration_scripts_once_per_process() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _INSTANCES_WITH_TUNING], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    # One per storage kind (runs, event log, schedules: each has its own alembic.ini), built by the
    # first instance; the next two instances build none.
    assert done.stdout.split() == ["3", "3", "3"]


_RUNS_WITH_TUNING = """
import sys, tempfile
from dagster import DagsterEventType, DagsterInstance, asset, materialize
if sys.argv[1] == "tuned":
    import ras_platform.dagster_tuning as tuning

@asset
def scored() -> int:
    return 1

with tempfile.TemporaryDirectory() as home, DagsterInstance.local_temp(home) as instance:
    runs = [materialize([scored], instance=instance).run_id for _ in range(3)]
    for run_id in runs:  # every event of every run was stored and reads back
        kinds = [e.dagster_event_type for e in instance.all_logs(run_id) if e.is_dagster_event]
        assert kinds[-1] == DagsterEventType.RUN_SUCCESS, kinds
        assert DagsterEventType.ASSET_MATERIALIZATION in kinds, kinds
    assert len(instance.fetch_materializations(scored.key, limit=10).records) == 3
    print(tuning.engines_built if sys.argv[1] == "tuned" else "-")
"""


def test_dagster_sqlite_storages_build_one_engine_per_database_file() -> None:
    """Three runs write their events through one engine per file: the runs, schedules and event-log
    index databases, and each run's shard (Dagster alone builds one per connection: per event)."""
    for mode in ("plain", "tuned"):  # the same script passes with Dagster's own storages
        done = subprocess.run(
            [sys.executable, "-c", _RUNS_WITH_TUNING, mode], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) <= 3 + 3


_AWS_PRELOAD = """
import boto3
import ras_platform.aws_preload as preload
loader = boto3.DEFAULT_SESSION._session.get_component("data_loader")
cached = {key[1] for key in loader._cache if key[0] == "load_service_model"}
print(sorted(cached), boto3.DEFAULT_SESSION._session._credentials)
"""


def test_the_aws_preload_leaves_service_models_and_no_credentials() -> None:
    """Run workers forked after the preload find S3's and EventBridge's models on boto3's default
    session, read once; the placeholder keys of the preload's clients are not kept anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-c", _AWS_PRELOAD], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['events',", "'s3']", "None"]


# What the daemon and a run worker ask of a PostgreSQL instance again and again: sensor states and
# ticks (each behind the schedule storage's table and index checks) and asset events (each behind the
# event log's `has_table`). Prints the new connections of the last three rounds, and the answers.
_ROUNDS_ON_POSTGRES = """
import sys, tempfile
from pathlib import Path
import yaml
from sqlalchemy import event
from sqlalchemy.pool import Pool
from dagster import AssetKey, AssetMaterialization, DagsterInstance
if sys.argv[2] == "tuned":
    import ras_platform.dagster_tuning

connections = []
event.listen(Pool, "connect", lambda *_: connections.append(1))
with tempfile.TemporaryDirectory() as home:
    storage = {"postgres": {"postgres_url": sys.argv[1]}}
    Path(home, "dagster.yaml").write_text(yaml.safe_dump({"storage": storage}))
    with DagsterInstance.from_config(home) as instance:
        answers = []
        for round in range(4):
            if round == 1:
                connections.clear()
            answers.append((
                len(instance.all_instigator_state()),
                len(instance.get_ticks("origin", "selector", limit=5)),
            ))
            instance.report_runless_asset_event(AssetMaterialization("tuning_probe"))
        written = instance.fetch_materializations(AssetKey("tuning_probe"), limit=10).records
        print(len(connections), len(written), *{a for a in answers})
"""


@pytest.mark.postgres
def test_dagster_postgres_storages_reuse_connections(postgres_server) -> None:
    """Dagster's PostgreSQL storages open a connection for every statement group, and the schedule
    storage and event log reflect the catalogue before most of them. With the tuning, once the first
    round has opened its pool, the next rounds open no connection at all; every answer is the same
    and every asset event is stored."""
    printed = {}
    for mode in ("plain", "tuned"):
        url = postgres_server.create_database()
        try:
            done = subprocess.run(
                [sys.executable, "-c", _ROUNDS_ON_POSTGRES, url, mode],
                capture_output=True,
                text=True,
                timeout=180,
            )
        finally:
            postgres_server.drop_database(url)
        assert done.returncode == 0, done.stderr
        printed[mode] = done.stdout.split()
    plain, tuned = int(printed["plain"][0]), int(printed["tuned"][0])
    assert printed["plain"][1:] == printed["tuned"][1:] == ["4", "(0,", "0)"]
    assert tuned == 0 < plain, (tuned, plain)
