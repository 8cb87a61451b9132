"""The production deployment files: the Dagster instance of deploy/dagster.production.yaml loaded for
real against the local PostgreSQL (with the ECS launcher and S3 compute logs on moto's AWS mock),
the Helm values, the workspace and the Dockerfile.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth; override with RAS_TEST_PG_HOST,
RAS_TEST_PG_PORT, RAS_TEST_PG_USER, RAS_TEST_PG_PASSWORD). Without it the instance tests skip, or fail
when the environment variable CI is set.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg2
import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.run_coordinator import SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun, make_new_run_id
from dagster._utils.tags import TagConcurrencyLimitsCounter
from dagster_aws.ecs import EcsRunLauncher
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from moto import mock_aws

from ras_platform.run_coordinator import FastLaneRunCoordinator
from ras_platform.settings import Settings
from ras_platform.stack import embedded_dagster_yaml

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_YAML = ROOT / "deploy" / "dagster.production.yaml"
WORKSPACE_YAML = ROOT / "deploy" / "workspace.production.yaml"
HELM_VALUES = ROOT / "deploy" / "helm" / "values.yaml"
DOCKERFILE = ROOT / "Dockerfile"
CODE_LOCATION_MODULE = "ras_assets.definitions"

EMA_TRIGGER_LIMIT = {"key": "ras/kind", "value": "ema-trigger", "limit": 2}
IMPORT_LIMIT = {"key": "ras/kind", "value": "import", "limit": 20}
VALIDATE_LIMIT = {"key": "ras/kind", "value": "validate", "limit": 1}
RUN_TASK_FAMILY = "ras-run"
LOG_BUCKET = "ras-dagster-compute-logs"

pytestmark = pytest.mark.timeout(60)


def production_config() -> dict:
    return yaml.safe_load(PRODUCTION_YAML.read_text())


def queue_settings(instance_config: dict) -> dict:
    """The run queue's limits, as the fast-lane run coordinator of an instance file takes them."""
    coordinator = instance_config["run_coordinator"]
    assert coordinator["class"] == "FastLaneRunCoordinator"
    return coordinator["config"]


# ---- the instance file, without PostgreSQL -------------------------------------------------------


def test_production_yaml_is_a_valid_instance_config(tmp_path: Path) -> None:
    shutil.copy(PRODUCTION_YAML, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))  # raises on any unknown or malformed key
    assert config["telemetry"] == {"enabled": False}
    postgres_db = config["storage"]["postgres"]["postgres_db"]
    assert postgres_db["scheme"] == "postgresql+psycopg2"  # dagster-notes.md: SQLAlchemy 2.1 gotcha
    for field, env_var in [
        ("username", "DAGSTER_PG_USERNAME"),
        ("password", "DAGSTER_PG_PASSWORD"),
        ("hostname", "DAGSTER_PG_HOST"),
        ("db_name", "DAGSTER_PG_DB"),
        ("port", "DAGSTER_PG_PORT"),
    ]:
        assert postgres_db[field] == {"env": env_var}
    assert config["run_monitoring"]["enabled"] is True


def test_production_launcher_is_ecs_with_valid_config() -> None:
    launcher = production_config()["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_aws.ecs", "EcsRunLauncher")
    result = validate_config(EcsRunLauncher.config_type(), launcher["config"])
    assert result.success, [error.message for error in result.errors or []]
    config = launcher["config"]
    assert config["task_definition"] == {"env": "DAGSTER_ECS_TASK_DEFINITION"}
    assert config["container_name"] == "run"
    assert config["include_sidecars"] is False
    assert set(config["run_resources"]) == {"cpu", "memory"}
    assert len(config["task_definition_prefix"]) <= 16  # EcsRunLauncher's limit


def test_production_queue_limits_ema_triggers() -> None:
    limits = queue_settings(production_config())["tag_concurrency_limits"]
    assert EMA_TRIGGER_LIMIT in limits
    assert IMPORT_LIMIT in limits
    assert VALIDATE_LIMIT in limits
    # The production limit names the same tag the embedded instance (and the jobs) use.
    embedded = queue_settings(embedded_dagster_yaml())["tag_concurrency_limits"]
    tag = {(limit["key"], limit["value"]) for limit in embedded}
    assert tag <= {(limit["key"], limit["value"]) for limit in limits}


def tagged_run(job_name: str, kind: str, **kwargs: object) -> DagsterRun:
    return DagsterRun(job_name=job_name, run_id=make_new_run_id(), tags={"ras/kind": kind}, **kwargs)


def test_queue_launches_at_most_two_ema_triggers_at_once() -> None:
    limits = queue_settings(production_config())["tag_concurrency_limits"]
    trigger = tagged_run("trigger_ema_jobs", "ema-trigger")
    validate = tagged_run("validate_recordings", "validate")
    in_progress = [tagged_run("trigger_ema_jobs", "ema-trigger") for _ in range(2)]
    assert not TagConcurrencyLimitsCounter(limits, in_progress[:1]).is_blocked(trigger)
    counter = TagConcurrencyLimitsCounter(limits, in_progress)
    assert counter.is_blocked(trigger)
    assert not counter.is_blocked(validate)


def test_validation_runs_run_one_at_a_time_everywhere() -> None:
    """A second validation run waits queued while one runs (POSTs meanwhile ride on it)."""
    for limits in (
        queue_settings(production_config())["tag_concurrency_limits"],
        queue_settings(embedded_dagster_yaml())["tag_concurrency_limits"],
    ):
        validate = tagged_run("validate_recordings", "validate")
        assert not TagConcurrencyLimitsCounter(limits, []).is_blocked(validate)
        assert TagConcurrencyLimitsCounter(
            limits, [tagged_run("validate_recordings", "validate")]
        ).is_blocked(validate)


# ---- the instance, for real, on PostgreSQL --------------------------------------------------------


def pg_params() -> dict[str, str]:
    return {
        "host": os.environ.get("RAS_TEST_PG_HOST", "127.0.0.1"),
        "port": os.environ.get("RAS_TEST_PG_PORT", "5432"),
        "user": os.environ.get("RAS_TEST_PG_USER", "postgres"),
        "password": os.environ.get("RAS_TEST_PG_PASSWORD", ""),
    }


def admin_connection():
    params = pg_params()
    try:
        connection = psycopg2.connect(dbname="postgres", connect_timeout=3, **params)
    except psycopg2.OperationalError as exc:
        message = (
            f"PostgreSQL not reachable at {params['host']}:{params['port']} as {params['user']} ({exc}). "
            "Start PostgreSQL 15 there (trust auth) or point RAS_TEST_PG_HOST/PORT/USER/PASSWORD at one, "
            "then run: .venv/bin/pytest tests/deploy"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    connection.autocommit = True
    return connection


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A uniquely named, empty database, dropped afterwards."""
    name = f"ras_deploy_test_{uuid.uuid4().hex[:12]}"
    admin = admin_connection()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def production_instance(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterInstance]:
    """deploy/dagster.production.yaml, unchanged, as a DagsterInstance: PostgreSQL for real, ECS and S3
    on moto's in-process AWS mock."""
    params = pg_params()
    env = {
        "DAGSTER_PG_USERNAME": params["user"],
        "DAGSTER_PG_PASSWORD": params["password"],
        "DAGSTER_PG_HOST": params["host"],
        "DAGSTER_PG_PORT": params["port"],
        "DAGSTER_PG_DB": fresh_database,
        "DAGSTER_ECS_TASK_DEFINITION": RUN_TASK_FAMILY,
        "DAGSTER_COMPUTE_LOG_BUCKET": LOG_BUCKET,
        "DAGSTER_COMPUTE_LOG_PREFIX": "compute-logs",
        # moto accepts any credentials; these keep boto3 away from the machine's real ones.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION_YAML, home / "dagster.yaml")
    with mock_aws():
        boto3.client("ecs").register_task_definition(
            family=RUN_TASK_FAMILY,
            containerDefinitions=[{"name": "run", "image": "recording-analytics:test", "memory": 1024}],
        )
        boto3.client("s3").create_bucket(
            Bucket=LOG_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        instance = DagsterInstance.from_config(str(home))
        try:
            yield instance
        finally:
            instance.dispose()


@pytest.mark.postgres
def test_production_instance_uses_postgres_storage(production_instance: DagsterInstance) -> None:
    assert isinstance(production_instance.run_storage, PostgresRunStorage)
    assert isinstance(production_instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(production_instance.schedule_storage, PostgresScheduleStorage)
    assert production_instance.run_storage.postgres_url.startswith("postgresql+psycopg2://")
    assert list(production_instance.all_instigator_state()) == []


@pytest.mark.postgres
def test_production_instance_queues_runs_with_tag_limits(production_instance: DagsterInstance) -> None:
    coordinator = production_instance.run_coordinator
    assert isinstance(coordinator, FastLaneRunCoordinator)
    queue = coordinator.get_run_queue_config()
    assert EMA_TRIGGER_LIMIT in queue.tag_concurrency_limits
    assert IMPORT_LIMIT in queue.tag_concurrency_limits
    assert queue.max_concurrent_runs == queue_settings(production_config())["max_concurrent_runs"]

    # A run as the webserver creates it for the code location of workspace.production.yaml.
    grpc_server = yaml.safe_load(WORKSPACE_YAML.read_text())["load_from"][0]["grpc_server"]
    location = GrpcServerCodeLocationOrigin(
        host=grpc_server["host"], port=grpc_server["port"], location_name=grpc_server["location_name"]
    )
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), "trigger_ema_jobs")
    run = production_instance.add_run(tagged_run("trigger_ema_jobs", "ema-trigger", remote_job_origin=origin))
    coordinator.submit_run(SubmitRunContext(run, workspace=None))  # type: ignore[arg-type]

    stored = production_instance.get_run_by_id(run.run_id)
    assert stored is not None
    assert stored.status == DagsterRunStatus.QUEUED
    assert stored.tags["ras/kind"] == "ema-trigger"
    assert stored.remote_job_origin.location_name == Settings().dagster_location_name
    assert [
        entry.dagster_event_type.value
        for entry in production_instance.all_logs(run.run_id)
        if entry.dagster_event_type
    ] == ["PIPELINE_ENQUEUED"]


@pytest.mark.postgres
def test_production_instance_launches_on_ecs_and_logs_to_s3(production_instance: DagsterInstance) -> None:
    launcher = production_instance.run_launcher
    assert isinstance(launcher, EcsRunLauncher)
    assert launcher.task_definition.endswith(f"task-definition/{RUN_TASK_FAMILY}:1")
    assert launcher.container_name == "run"
    assert launcher.include_sidecars is False
    assert launcher.run_resources == {"cpu": "512", "memory": "1024"}
    assert launcher.secrets_tags == []

    compute_logs = production_instance.compute_log_manager
    assert isinstance(compute_logs, S3ComputeLogManager)
    assert compute_logs._s3_bucket == LOG_BUCKET
    assert compute_logs._s3_prefix == "compute-logs"


# ---- Helm values, workspace and Dockerfile --------------------------------------------------------


def helm_values() -> dict:
    return yaml.safe_load(HELM_VALUES.read_text())


def dockerfile_cmd() -> list[str]:
    cmds = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD ")]
    assert len(cmds) == 1
    return json.loads(cmds[0].removeprefix("CMD "))


def dockerfile_exposed_port() -> int:
    match = re.search(r"^EXPOSE (\d+)$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert match
    return int(match.group(1))


def test_helm_code_location_runs_our_module_from_our_image() -> None:
    values = helm_values()
    user = values["dagster-user-deployments"]
    assert user["enabled"] is True
    [deployment] = user["deployments"]
    assert deployment["name"] == Settings().dagster_location_name  # the chart's location name
    assert deployment["codeServerArgs"] == ["-m", CODE_LOCATION_MODULE]
    assert "dagsterApiGrpcArgs" not in deployment  # the chart would prefer it over codeServerArgs
    assert deployment["port"] == dockerfile_exposed_port()
    assert deployment["image"]["repository"].endswith("/recording-analytics")
    assert {"name": "ras-settings"} in deployment["envSecrets"]
    assert {"name": "RAS_PROFILE", "value": "production"} in deployment["env"]


def test_helm_instance_matches_the_production_instance() -> None:
    values = helm_values()
    production = production_config()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert {"name": "ras-settings"} in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]

    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True
    # Dagster's own coordinator: the chart's webserver and daemon images do not carry ras_platform.
    assert coordinator["type"] == "QueuedRunCoordinator"
    queued = coordinator["config"]["queuedRunCoordinator"]
    assert queued["tagConcurrencyLimits"] == queue_settings(production)["tag_concurrency_limits"]
    assert queued["maxConcurrentRuns"] == queue_settings(production)["max_concurrent_runs"]

    postgresql = values["postgresql"]
    assert postgresql["enabled"] is False  # external PostgreSQL
    assert postgresql["postgresqlHost"]
    assert postgresql["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] is True
    assert values["telemetry"]["enabled"] is False
    assert values["computeLogManager"]["type"] == "S3ComputeLogManager"
    # Webserver and daemon run Dagster's image at our pinned version.
    assert values["dagsterWebserver"]["image"]["tag"] == values["dagsterDaemon"]["image"]["tag"] == "1.13.27"


def test_production_workspace_names_the_api_location() -> None:
    [entry] = yaml.safe_load(WORKSPACE_YAML.read_text())["load_from"]
    assert entry["grpc_server"]["location_name"] == Settings().dagster_location_name
    assert entry["grpc_server"]["port"] == dockerfile_exposed_port()


def test_dockerfile_cmd_starts_the_code_location() -> None:
    cmd = dockerfile_cmd()
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert cmd[cmd.index("-h") + 1] == "0.0.0.0"
    assert int(cmd[cmd.index("-p") + 1]) == dockerfile_exposed_port()
    module = cmd[cmd.index("-m") + 1]
    assert module == CODE_LOCATION_MODULE
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin
    # The module defines `defs = Definitions(...)`, which `dagster code-server start -m` loads.
    tree = ast.parse(Path(spec.origin).read_text())
    assert any(
        isinstance(node, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id == "defs" for target in node.targets)
        for node in tree.body
    )


# The code location is still being written by the lead; the import currently fails in
# ras_assets/jobs.py (`from __future__ import annotations` turns `config: TriggerEmaConfig` into a string
# Dagster cannot resolve). Remove this marker once `import ras_assets.definitions` works.


def test_dockerfile_cmd_module_imports() -> None:
    from dagster import Definitions

    module = importlib.import_module(dockerfile_cmd()[-1])
    assert isinstance(module.defs, Definitions)
