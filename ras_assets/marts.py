"""Analytics marts: the dbt project in `dbt/`, one Dagster asset per dbt model.

The marts read every recording's processed files in place (DuckDB over globs) and are rebuilt whole,
so they are not partitioned. dbt sources name their processed asset (`meta.dagster.asset_key` in
`dbt/models/sources.yml`), so the asset graph reads processed → marts, and dbt tests become asset
checks. They keep up by themselves: `MARTS_AUTOMATION` rebuilds them after processed data changed,
at most once per `MARTS_REFRESH_CRON` tick (the `marts_automation` sensor evaluates it), and they can
be built on demand too (UI, `dagster asset materialize --select group:marts`). Each build records
the marts' column schemas and row counts in their materialization metadata.

They are a code location of their own (`defs` below, `ras_marts` in workspace.yaml): importing
dagster-dbt (which imports dbt-core) costs ~2 s of CPU per process, and the main location's run
workers, started many times a minute, should not pay it. The asset graph still joins across
locations, so lineage reads processed → marts in the UI.
"""

import json
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    ConfigurableResource,
    DefaultSensorStatus,
    Definitions,
    Failure,
    in_process_executor,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from filelock import FileLock

from ras_platform.settings import Settings, get_settings

DBT_PROJECT_DIR = Path(__file__).parents[1] / "dbt"
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# The venv's dbt, also when the venv is not on PATH (processes started as .venv/bin/...).
_VENV_DBT = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else shutil.which("dbt") or "dbt"


def _project_files(project: DbtProject) -> list[Path]:
    generated = {project.target_path.name, "logs", "dbt_packages"}
    return [
        path
        for path in project.project_dir.rglob("*")
        if path.suffix in {".sql", ".yml"}
        and not generated & set(path.relative_to(project.project_dir).parts)
    ]


def manifest_is_stale(project: DbtProject) -> bool:
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    return any(path.stat().st_mtime > built for path in _project_files(project))


def prepare_manifest(project: DbtProject) -> None:
    """Run `dbt parse` when the manifest is missing (a clean clone) or older than a project file.

    `DbtProject.prepare_if_dev()` parses only under `dagster dev`, and then on every load (~7 s of
    CPU); the webserver, the daemon, `dg check defs` and the tests would find no manifest at all. A
    parse needs no database and no network; afterwards a load only compares a few file times.
    """
    if not manifest_is_stale(project):
        return
    project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    # The webserver and the daemon load the code location at the same time.
    with FileLock(project.manifest_path.with_name("parse.lock")):
        if manifest_is_stale(project):
            dbt = DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
            dbt.cli(["parse", "--quiet"], target_path=project.target_path).wait()


prepare_manifest(dbt_project)


class MartsWarehouseResource(ConfigurableResource):
    """Where the marts are built (a DuckDB file) and the local objects directory they read."""

    database_path: str
    # None when the object store is S3: the marts read local files only (see dbt/README.md).
    objects_dir: str | None = None

    def dbt_vars(self) -> str:
        if self.objects_dir is None:
            raise Failure("the marts read processed files from a local object store; this one is S3")
        return json.dumps({"marts_db": self.database_path, "objects_dir": self.objects_dir})


# Rebuild after any processed asset (any recording) changed, but at most once per tick: a busy
# platform imports every few seconds, and a full rebuild of every mart each time would not keep up.
# Not `eager()`: it waits while any dependency partition is missing, and a failed recording's
# partitions stay missing for good.
MARTS_REFRESH_CRON = "*/5 * * * *"
MARTS_AUTOMATION = (
    AutomationCondition.any_deps_updated().since_last_handled()
    & AutomationCondition.cron_tick_passed(MARTS_REFRESH_CRON).since_last_handled()
    & ~AutomationCondition.in_progress()
).with_label(f"after processed data changed, at most every tick of {MARTS_REFRESH_CRON}")


class MartsTranslator(DagsterDbtTranslator):
    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> AutomationCondition | None:
        return MARTS_AUTOMATION if dbt_resource_props["resource_type"] == "model" else None


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=MartsTranslator())
def marts(context: AssetExecutionContext, dbt: DbtCliResource, marts_warehouse: MartsWarehouseResource):
    """Build the dbt marts and run their tests (reported as asset checks); each mart's materialization
    carries its column schema (`dagster/column_schema`) and row count (`dagster/row_count`)."""
    Path(marts_warehouse.database_path).parent.mkdir(parents=True, exist_ok=True)
    # Run artifacts (manifest, run results, log) in a temporary folder, not one more under dbt/target.
    with tempfile.TemporaryDirectory(prefix="ras-marts-") as target:
        args = ["build", "--vars", marts_warehouse.dbt_vars()]
        invocation = dbt.cli(args, context=context, target_path=Path(target))
        # Column lineage would parse every model's SQL with sqlglot on each build: schemas are enough.
        yield from invocation.stream().fetch_row_counts().fetch_column_metadata(with_column_lineage=False)
        _release_warehouse(invocation)


def _release_warehouse(invocation: Any) -> None:
    """Close the DuckDB file the metadata queries opened in this process: DuckDB refuses another
    connection to a file with a different configuration (a reader's read_only) while one is open."""
    if invocation.adapter is not None:
        invocation.adapter.cleanup_connections()
        environment = getattr(type(invocation.adapter.connections), "_ENV", None)
        if environment is not None:
            environment.close()


def marts_objects_dir(settings: Settings) -> str | None:
    """The local objects directory the marts read, or None where they cannot be built (S3)."""
    return str(settings.objects_dir) if settings.object_store == "local" else None


def marts_automation_sensor(settings: Settings) -> AutomationConditionSensorDefinition:
    """Evaluates the marts' automation condition. Stopped by default where the marts cannot be built
    (an S3 object store): running, it would start a run that fails every `MARTS_REFRESH_CRON` tick;
    and where `RAS_MARTS_AUTOMATION` is off."""
    builds = marts_objects_dir(settings) is not None
    description = "Evaluates the marts' automation condition: rebuild after processed data changed."
    if not builds:
        description += " Stopped by default: the marts read a local object store and this one is S3."
    elif not settings.marts_automation:
        description += " Stopped by default: RAS_MARTS_AUTOMATION is off (build the marts on demand)."
    automatic = builds and settings.marts_automation
    return AutomationConditionSensorDefinition(
        "marts_automation",
        target=AssetSelection.assets(marts),
        default_status=DefaultSensorStatus.RUNNING if automatic else DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=30,
        description=description,
    )


def marts_resources(settings: Settings) -> dict[str, ConfigurableResource]:
    return {
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
        "marts_warehouse": MartsWarehouseResource(
            database_path=str(settings.data_dir.absolute() / "marts.duckdb"),
            objects_dir=marts_objects_dir(settings),
        ),
    }


_settings = get_settings()
defs = Definitions(
    assets=[marts],
    sensors=[marts_automation_sensor(_settings)],
    resources=marts_resources(_settings),
    executor=in_process_executor,
)
