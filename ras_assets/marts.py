"""Analytics marts: the dbt project in `dbt/`, one Dagster asset per dbt model.

The marts read every recording's processed files in place (DuckDB over globs) and are rebuilt whole,
so they are not partitioned. dbt sources name their processed asset (`meta.dagster.asset_key` in
`dbt/models/sources.yml`), so the asset graph reads processed → marts, and dbt tests become asset
checks. Nothing materializes them automatically: they are built on demand (UI, `dagster asset
materialize --select group:marts`) or by a schedule an operator adds, never from a sensor or the API.

They are a code location of their own (`defs` below, `ras_marts` in workspace.yaml): importing
dagster-dbt (which imports dbt-core) costs ~2 s of CPU per process, and the main location's run
workers, started many times a minute, should not pay it. The asset graph still joins across
locations, so lineage reads processed → marts in the UI.
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

from dagster import AssetExecutionContext, ConfigurableResource, Definitions, Failure, in_process_executor
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets
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


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project)
def marts(context: AssetExecutionContext, dbt: DbtCliResource, marts_warehouse: MartsWarehouseResource):
    """Build the dbt marts and run their tests (reported as asset checks)."""
    Path(marts_warehouse.database_path).parent.mkdir(parents=True, exist_ok=True)
    # Run artifacts (manifest, run results, log) in a temporary folder, not one more under dbt/target.
    with tempfile.TemporaryDirectory(prefix="ras-marts-") as target:
        args = ["build", "--vars", marts_warehouse.dbt_vars()]
        yield from dbt.cli(args, context=context, target_path=Path(target)).stream()


def marts_resources(settings: Settings) -> dict[str, ConfigurableResource]:
    return {
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
        "marts_warehouse": MartsWarehouseResource(
            database_path=str(settings.data_dir.absolute() / "marts.duckdb"),
            objects_dir=str(settings.objects_dir) if settings.object_store == "local" else None,
        ),
    }


defs = Definitions(assets=[marts], resources=marts_resources(get_settings()), executor=in_process_executor)
