"""Start the platform as processes on one machine: API, one code server per Dagster code location,
Dagster webserver and daemon, and (for `ras demo`, the end-to-end tests and the chaos run, which kills
and restarts them) the EMA simulator. `ras serve` starts the same processes without the simulator,
against the EMA its settings name.

The code servers are started here, not by the webserver and the daemon from `workspace.yaml`: a
daemon replaces the code servers it manages every 60 s (Dagster's RELOAD_WORKSPACE_INTERVAL), and
each replacement loads the code location again, ~3 s of CPU per location on these machines, while
sensor ticks and run launches wait for it. Long-lived code servers shared by both processes are also
how production runs them (one deployment per location in the Helm chart). Their run workers fork
from a process that has imported Dagster and the code location once (`ras_platform/code_server.py`),
instead of each run importing both again."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from ras_platform.dagster_client import VALIDATE_KIND, DagsterClient, DagsterError
from ras_platform.logs import dagster_python_logs
from ras_platform.settings import EMBEDDED_MAX_CONCURRENT_RUNS, Settings

BIN = Path(sys.executable).parent
# Dagster's webserver and daemon commands with ras_platform.dagster_tuning applied.
DAGSTER_PROCESS = [sys.executable, "-m", "ras_platform.dagster_process"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_dagster_yaml(storage_postgres_url: str | None = None) -> dict:
    """The Dagster instance of one machine: SQLite (or PostgreSQL) storage, a queued coordinator
    that dequeues every second, with a fast lane for the callback fast path's import runs
    (`ras_platform/run_coordinator.py`), a cap on concurrent EMA-trigger runs, and validation runs
    one at a time."""
    config: dict = {
        "telemetry": {"enabled": False},
        "run_coordinator": {
            "module": "ras_platform.run_coordinator",
            "class": "FastLaneRunCoordinator",
            "config": {
                "max_concurrent_runs": EMBEDDED_MAX_CONCURRENT_RUNS,
                "dequeue_interval_seconds": 1,
                "tag_concurrency_limits": [
                    {"key": "ras/kind", "value": "ema-trigger", "limit": 1},
                    {"key": "ras/kind", "value": VALIDATE_KIND, "limit": 1},
                ],
            },
        },
        "sensors": {"use_threads": True, "num_workers": 3},
        "run_monitoring": {
            "enabled": True,
            "start_timeout_seconds": 60,
            "max_resume_run_attempts": 0,
            "poll_interval_seconds": 30,
        },
        # A run whose worker died (not one whose asset failed) is retried by Dagster itself.
        "run_retries": {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False},
    }
    if storage_postgres_url:
        # The tables exist before any process starts (`Stack._create_dagster_storage`). Left to
        # autocreate, every DagsterInstance built from this file reflects the schema first: three
        # new connections and catalogue queries, and the code server builds an instance for every
        # sensor tick (py-spy under the production profile, 2026-11-30: 14% of its samples).
        config["storage"] = {
            "postgres": {"postgres_url": storage_postgres_url, "should_autocreate_tables": False}
        }
    return config


# Code location name → module; workspace.yaml lists the same two for `dagster dev`.
CODE_LOCATIONS = {"ras": "ras_assets.definitions", "ras_marts": "ras_assets.marts"}


@dataclass
class ProcessSpec:
    name: str
    argv: list[str]
    health_url: str | None = None
    port: int | None = None  # a gRPC code server: healthy once it accepts connections


@dataclass
class Stack:
    """The processes of the embedded platform, with their logs under `home/logs`."""

    home: Path
    settings_env: dict[str, str]
    simulator_args: list[str] = field(default_factory=list)
    dagster_postgres_url: str | None = None
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    orphan_groups: list[int] = field(default_factory=list)  # process groups of killed processes
    # False for `ras serve`: no simulator, and RAS_EMA_BASE_URL is the settings' own.
    simulator: bool = True
    data_dir: Path | None = None  # RAS_DATA_DIR; default home/data
    api_host: str = "127.0.0.1"  # where the API listens (EMA must reach it for callbacks)
    stop_timeout_s: float = 20.0  # after SIGTERM, how long before every process left gets SIGKILL

    def __post_init__(self) -> None:
        self.home = self.home.absolute()
        self.data_dir = (self.data_dir or self.home / "data").absolute()
        for name in ("api", "ema", "dagster", *CODE_LOCATIONS):
            self.ports.setdefault(name, free_port())
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.workspace.write_text(yaml.safe_dump(self._workspace_yaml(), sort_keys=False))
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        instance = embedded_dagster_yaml(self.dagster_postgres_url)
        # Every run's log lines as JSON, with recording, job type and run id (ras_platform/logs.py).
        instance["python_logs"] = dagster_python_logs(path=str(self.home / "logs" / "runs.jsonl"))
        (self.dagster_home / "dagster.yaml").write_text(yaml.safe_dump(instance, sort_keys=False))
        self._create_dagster_storage()

    def _create_dagster_storage(self) -> None:
        """Create the instance's storage once, before the processes start: on a fresh SQLite home,
        the webserver, the daemon and their code servers racing to create it can stamp Dagster's
        alembic table twice ("more than one head"), and then no location loads."""
        from dagster import DagsterInstance

        if self.dagster_postgres_url:
            from dagster_postgres import DagsterPostgresStorage

            # dagster.yaml asks its processes not to create tables (`embedded_dagster_yaml`): this
            # creates them (or finds them). Its engines keep no connection open (NullPool).
            DagsterPostgresStorage(self.dagster_postgres_url, should_autocreate_tables=True)
        with DagsterInstance.from_config(str(self.dagster_home)) as instance:
            instance.get_runs(limit=1)
            instance.all_instigator_state()

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def workspace(self) -> Path:
        return self.home / "workspace.yaml"

    def _workspace_yaml(self) -> dict:
        return {
            "load_from": [
                {"grpc_server": {"host": "127.0.0.1", "port": self.ports[name], "location_name": name}}
                for name in CODE_LOCATIONS
            ]
        }

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def dagster_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['dagster']}"

    @property
    def ema_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['ema']}"

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "RAS_DATA_DIR": str(self.data_dir),
            "RAS_API_BASE_URL": self.api_url,
            "RAS_DAGSTER_URL": self.dagster_url,
            **({"RAS_EMA_BASE_URL": self.ema_url} if self.simulator else {}),
            "DAGSTER_HOME": str(self.dagster_home),
            **self.settings_env,
        }
        return env

    @property
    def settings(self) -> Settings:
        return Settings(**{k[4:].lower(): v for k, v in self.env.items() if k.startswith("RAS_")})

    def code_server_specs(self) -> list[ProcessSpec]:
        return [
            ProcessSpec(
                f"code-{name}",
                [
                    sys.executable,
                    "-m",
                    "ras_platform.code_server",  # Dagster's code server, run workers forked warm
                    "api",
                    "grpc",
                    "-m",
                    module,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.ports[name]),
                    "--location-name",
                    name,
                    "--log-level",
                    "warning",
                    "--log-format",
                    "json",
                ],
                port=self.ports[name],
            )
            for name, module in CODE_LOCATIONS.items()
        ]

    def specs(self) -> list[ProcessSpec]:
        """Every process, code servers first: the webserver and the daemon connect to them."""
        settings = self.settings
        workspace = str(self.workspace)
        simulator = [self._simulator_spec(settings)] if self.simulator else []
        return [
            *self.code_server_specs(),
            *simulator,
            ProcessSpec(
                "api",
                [
                    sys.executable,
                    "-m",
                    "ras_api",  # uvicorn with one worker per CPU (settings.api_worker_count)
                    "--host",
                    self.api_host,
                    "--port",
                    str(self.ports["api"]),
                    "--log-level",
                    "warning",
                ],
                f"{self.api_url}/health",
            ),
            ProcessSpec(
                "webserver",
                [
                    *DAGSTER_PROCESS,
                    "webserver",
                    "-w",
                    workspace,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.ports["dagster"]),
                    "--log-format",
                    "json",
                ],
                f"{self.dagster_url}/server_info",
            ),
            ProcessSpec(
                "daemon", [*DAGSTER_PROCESS, "daemon", "run", "-w", workspace, "--log-format", "json"], None
            ),
        ]

    def _simulator_spec(self, settings: Settings) -> ProcessSpec:
        return ProcessSpec(
            "ema",
            [
                str(BIN / "ema-simulator"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ports["ema"]),
                "--api-key",
                settings.ema_api_key,
                "--callback-token",
                settings.ema_token,
                *self.simulator_args,
            ],
            f"{self.ema_url}/health",
        )

    def start(self, only: str | None = None) -> None:
        specs = [spec for spec in self.specs() if only in (None, spec.name)]
        code_servers = [spec for spec in specs if spec.port is not None]
        for wave in (code_servers, [spec for spec in specs if spec.port is None]):
            for spec in wave:
                self._launch(spec)
            for spec in wave:
                self._wait_healthy(spec)
        if only in (None, "webserver"):
            self._wait_until(self._code_location_loaded, "the code location to load in the webserver")

    def _launch(self, spec: ProcessSpec) -> None:
        log = open(self.home / "logs" / f"{spec.name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[spec.name] = subprocess.Popen(
            spec.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `stop` signals the whole tree
            cwd=self.home,
            preexec_fn=_default_stop_signals,
        )

    def _code_location_loaded(self) -> bool:
        client = DagsterClient(self.dagster_url, self.settings.dagster_location_name)
        try:
            return client.location_loaded()
        except (httpx.HTTPError, DagsterError):
            return False
        finally:
            client.close()

    def active_runs(self) -> int:
        """Dagster runs queued or under way, asked of the webserver."""
        client = DagsterClient(self.dagster_url, self.settings.dagster_location_name)
        try:
            return len(client.active_run_ids())
        finally:
            client.close()

    def wait_for_runs(self, timeout_s: float = 120) -> None:
        """Let runs finish before a stop: a recording is completed inside its last import run,
        which still has steps and events to write, and a stop would leave it interrupted."""
        self._wait_until(lambda: self.active_runs() == 0, "Dagster runs to finish", timeout_s)

    def _wait_until(self, condition: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.5)
        raise TimeoutError(f"gave up waiting for {what} after {timeout_s} s")

    def _wait_healthy(self, spec: ProcessSpec, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.processes[spec.name].poll() is not None:
                raise RuntimeError(f"{spec.name} exited; see {self.home / 'logs' / (spec.name + '.log')}")
            if _healthy(spec):
                return
            time.sleep(0.3)
        raise TimeoutError(f"{spec.name} not healthy after {timeout_s} s")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill one process as a crash would: the process alone. Runs live on in the code server's
        workers, as runs on ECS or Kubernetes outlive a daemon. `stop` reaps what is left."""
        process = self.processes.pop(name, None)
        if process and process.poll() is None:
            if name == "api":
                # The API's workers share its listening socket and die with it, as in a crashed
                # container; left alone they would keep the port from the restarted API.
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
            process.wait(timeout=30)
        if process:
            self.orphan_groups.append(process.pid)

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start(only=name)

    def stop(self) -> None:
        """SIGTERM to every process group, clients first; SIGKILL to whatever is left after
        `stop_timeout_s`, and to what the groups still hold (run workers, forkservers)."""
        # Clients first, code servers last: the daemon and webserver still talk to them on the way down.
        order = ("daemon", "webserver", "api", "ema", *(f"code-{n}" for n in CODE_LOCATIONS))
        groups = [process.pid for process in self.processes.values()] + self.orphan_groups
        for name in order:
            process = self.processes.get(name)
            if process and process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for process in self.processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        for group in groups:
            _signal_group(group, signal.SIGKILL)
        self.processes.clear()
        self.orphan_groups.clear()

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _default_stop_signals() -> None:
    """In the child, before exec: SIGINT and SIGTERM back to their defaults. A shell running us in
    the background ignores SIGINT, an ignored signal stays ignored across exec, and Dagster maps
    SIGTERM onto its SIGINT handler (dagster-notes.md): the webserver and daemon would ignore both."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def _healthy(spec: ProcessSpec) -> bool:
    if spec.port is not None:
        # `dagster api grpc` loads the code location before it listens, so a connection means loaded.
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", spec.port), timeout=2):
            return True
        return False
    if spec.health_url is None:
        return True
    try:
        return httpx.get(spec.health_url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
