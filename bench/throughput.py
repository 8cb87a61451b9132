"""Scenario `throughput`: R short recordings end to end on the embedded platform (`Stack`).

The whole platform runs as processes on loopback (EMA simulator with zero job duration, API,
Dagster webserver + daemon, SQLite everywhere). R recordings are registered and started at once
through the API; the figures are:

- recordings per hour: R / (first registration → last job completed, from the state store);
- Dagster runs per recording: every run in the stack's Dagster instance / R;
- CPU seconds per recording: the CPU of the four stack processes and all their descendants (code
  servers, run workers), sampled from /proc, / R.

The reference is the same platform, in the same harness run, with one import run per asset per
recording (`RAS_BENCH_RUN_PER_ASSET=1`, read by sensors/ema_callbacks.py) instead of one run for the
assets of a recording that are ready together, launched by the callback sensor alone (the callback
fast path off). Both run with the marts' automatic refresh off (`PLATFORM_ENV`).

The production profile's design runs too (`run_production`, design only: no reference run of its
own; its rows are referenced to the local design of the same run): the same `run_platform` with
PostgreSQL for the platform's state store and for Dagster's instance, and the moto S3/EventBridge
double in the harness process (`bench.profiles.production`, shared with the `load` scenario, whose
ideal is computed from these rows). Its CPU sampler also counts the PostgreSQL server's processes
("postgres") and the harness process itself ("aws-double (harness)": moto's threads, but also the
harness's own uploads, polling and /proc sampling); the platform's figure
(`throughput.production_cpu_s_per_recording`) leaves out the environment's doubles (the EMA
simulator and the AWS double), which its note gives apart. Rows:
`throughput.production_recordings_per_hour`, `throughput.production_runs_per_recording`,
`throughput.production_cpu_s_per_recording`.

`RAS_BENCH_THROUGHPUT_PROFILES` selects the profiles to run: `local`, `production` or
`local,production` (the default). The production rows carry `part: production`, so a run of one
profile replaces only that profile's rows in results.json and keeps the other's.

`run_platform` is shared with the latency scenario.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import row

DURATION_S = 300.0  # 5-minute matches
RECORDINGS = {"reduced": 5, "full": 30}
TARGET_PER_HOUR = 1000.0  # issue 18 (was 600)
TARGET_RUNS = 3.0
TARGET_CPU_S = 4.0  # CPU-s per 5-minute recording, all stack processes (issue 18)
# Import runs a recording needs when each wave's outputs become ready together: the three
# independent jobs', then the three that need them.
IMPORT_WAVES = 2
SIMULATOR_ARGS = ["--job-duration-s=0"]
# The marts' refresh is a dbt build over every recording at most every 5 minutes of wall time, whatever
# the number of recordings: whether one falls inside a 2-minute run is chance (it took 1.2 CPU-s per
# recording of R=30 when it did), so it is off in both runs.
PLATFORM_ENV = {"RAS_MARTS_AUTOMATION": "false"}
# Which profiles to run, comma-separated (default both): one can be measured again alone, and its rows
# (the production ones carry `part`) replace only its own in results.json.
PROFILES_ENV = "RAS_BENCH_THROUGHPUT_PROFILES"
LOCAL, PRODUCTION = "local", "production"
PROFILES = (LOCAL, PRODUCTION)
# The reference: the design before issue 18, one import run per asset, launched by the callback
# sensor only (with the fast path on, the API would launch grouped runs itself).
PER_ASSET_ENV = {**PLATFORM_ENV, "RAS_BENCH_RUN_PER_ASSET": "1", "RAS_CALLBACK_FAST_PATH": "false"}
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """CPU seconds of the stack's processes and all their descendants, sampled from /proc.

    Descendants are found by parent pid, not by session: Dagster starts its code servers in sessions
    of their own, and run workers are their children. Each process is counted by its own utime + stime
    at its last sample (a process that exits between samples loses at most one interval).

    A root in `alone` is counted without its descendants: the harness process itself (where the AWS
    double of the production profile runs as threads), whose children are the stack's processes and
    the harness's tools. When the harness is sampled, `threads_s` gives, after `stop`, the CPU of two
    of its threads that are not the double's: its main thread and this sampler's own.
    """

    def __init__(self, roots: dict[int, str], interval_s: float = 0.2, *, alone: tuple[int, ...] = ()):
        self.owner: dict[int, str] = dict(roots)  # pid → stack process it descends from
        self.alone = frozenset(alone)
        self.interval_s = interval_s
        self.baseline: dict[int, float] = {}
        self.latest: dict[int, float] = {}
        self.threads_s: dict[str, float] = {}
        self._main_tid = threading.main_thread().native_id
        self._main_began = 0.0
        self._own_cpu_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> dict[int, float]:
        parents, cpu = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            parents[int(entry)] = int(fields[1])
            cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / _CLK_TCK
        changed = True
        while changed:  # adopt children of known processes, however deep
            changed = False
            for pid, parent in parents.items():
                if pid not in self.owner and parent in self.owner and parent not in self.alone:
                    self.owner[pid] = self.owner[parent]
                    changed = True
        return {pid: value for pid, value in cpu.items() if pid in self.owner}

    def _record(self, found: dict[int, float]) -> None:
        for pid, value in found.items():
            self.latest[pid] = max(value, self.latest.get(pid, 0.0))

    def _loop(self) -> None:
        began = time.thread_time()
        while not self._stop.wait(self.interval_s):
            self._record(self._sample())
        self._own_cpu_s = time.thread_time() - began

    def _samples_the_harness(self) -> bool:
        return os.getpid() in self.owner

    def start(self) -> None:
        first = self._sample()
        self.baseline = dict(first)
        self._record(first)
        self._main_began = _thread_cpu_s(self._main_tid)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """CPU seconds used since `start`, per stack process name (descendants included)."""
        self._stop.set()
        self._thread.join()
        self._record(self._sample())
        if self._samples_the_harness():
            self.threads_s = {
                "its main thread (uploads, registering, polling)": _thread_cpu_s(self._main_tid)
                - self._main_began,
                "this CPU sampler's /proc reads": self._own_cpu_s,
            }
        per_name: Counter[str] = Counter()
        for pid, value in self.latest.items():
            per_name[self.owner[pid]] += value - self.baseline.get(pid, 0.0)
        return dict(per_name)


def _thread_cpu_s(tid: int | None) -> float:
    """utime + stime of one of this process's threads."""
    try:
        text = Path(f"/proc/self/task/{tid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


@dataclass
class PlatformRun:
    recordings: list[str]
    started_at: datetime
    finished_at: datetime | None
    completed: int
    cpu_s: dict[str, float]
    runs_by_job: Counter[str]
    run_records: list[Any] = field(default_factory=list)
    latencies: list[dict[str, float]] = field(default_factory=list)
    tick_interval_s: float | None = None
    threads_s: dict[str, float] = field(default_factory=dict)  # CpuSampler.threads_s

    @property
    def elapsed_s(self) -> float:
        end = self.finished_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()

    @property
    def runs(self) -> int:
        return sum(self.runs_by_job.values())


def _wait_for_daemon(stack: Any, timeout_s: float = 120) -> None:
    """The daemon has no health URL: wait until the webserver reports its sensor daemon healthy."""
    query = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            data = httpx.post(f"{stack.dagster_url}/graphql", json={"query": query}, timeout=5).json()
            statuses = data["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]
            if any(s["daemonType"] == "SENSOR" and s["healthy"] for s in statuses):
                return
        except (httpx.HTTPError, KeyError, TypeError):
            pass
        time.sleep(0.5)
    raise TimeoutError("the Dagster daemon's sensor loop did not become healthy")


def _start_jobs(api: Any, recording_id: str, timeout_s: float = 60) -> None:
    """POST /jobs, retried while the webserver is still loading the code location."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            api.start_jobs(recording_id)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def run_platform(
    recordings: int,
    *,
    label: str,
    settings_env: dict[str, str] | None = None,
    pace_s: float = 0.0,
    duration_s: float = DURATION_S,
    timeout_s: float = 1800,
    keep_home: Path | None = None,
    simulator_args: list[str] = SIMULATOR_ARGS,
    dagster_postgres_url: str | None = None,
    extra_roots: dict[int, str] | None = None,
) -> PlatformRun:
    """Start the stack, push `recordings` recordings through it (one every `pace_s`), analyse.

    `extra_roots` are processes sampled beside the stack's (`bench.profiles.environment_roots`: the
    PostgreSQL server and this harness process, the latter without its children)."""
    from ras_platform.demo import ApiClient, demo_metadata, put_demo_video, wait_until_done
    from ras_platform.object_store import build_object_store
    from ras_platform.stack import Stack

    with tempfile.TemporaryDirectory(prefix=f"ras-bench-{label}-", ignore_cleanup_errors=True) as tmp:
        home = keep_home or Path(tmp)
        stack = Stack(
            home=home,
            settings_env=settings_env or {},
            simulator_args=simulator_args,
            dagster_postgres_url=dagster_postgres_url,
        )
        ids = [f"bench-{label}-{i:03d}" for i in range(recordings)]
        with stack:
            _wait_for_daemon(stack)
            extra = extra_roots or {}
            sampler = CpuSampler(
                {**extra, **{p.pid: name for name, p in stack.processes.items()}},
                alone=tuple(pid for pid in extra if pid == os.getpid()),
            )
            api = ApiClient(stack.api_url, stack.settings.zola_token)
            sampler.start()
            started_at = datetime.now(UTC)
            objects = build_object_store(stack.settings)
            for recording_id in ids:
                put_demo_video(objects, recording_id, duration_s)
                api.register(demo_metadata(recording_id, duration_s))
                _start_jobs(api, recording_id)
                if pace_s:
                    time.sleep(pace_s)
            with open(home / "logs" / "bench-progress.log", "w") as progress:
                final = wait_until_done(api, ids, timeout_s=timeout_s, out=progress)
            cpu = sampler.stop()
            api.http.close()
        completed = sum(a["overall_state"] == "completed" for a in final.values())
        result = PlatformRun(ids, started_at, _last_change(stack, ids), completed, cpu, Counter())
        result.threads_s = sampler.threads_s
        _analyse_dagster(stack, result)
        return result


def _last_change(stack: Any, ids: list[str]) -> datetime | None:
    from sqlalchemy import create_engine, func, select

    from ras_platform.db.schema import UtcDateTime, job_states

    engine = create_engine(stack.settings.resolved_database_url)
    with engine.connect() as conn:
        naive = conn.scalar(
            select(func.max(job_states.c.updated_at)).where(job_states.c.recording_id.in_(ids))
        )
    engine.dispose()
    if naive is None:
        return None
    if isinstance(naive, str):
        naive = datetime.fromisoformat(naive)
    return UtcDateTime().process_result_value(naive, None)  # type: ignore[arg-type]


def _analyse_dagster(stack: Any, result: PlatformRun) -> None:
    """Runs per job, callback → run start/materialization latencies, the callback sensor's tick gap."""
    from dagster import DagsterInstance

    from bench.latency import callback_latencies, sensor_tick_interval

    with DagsterInstance.from_config(str(stack.dagster_home)) as instance:
        records = instance.get_run_records()
        result.run_records = records
        result.runs_by_job = Counter(r.dagster_run.job_name for r in records)
        result.latencies = callback_latencies(instance, stack.settings.resolved_database_url, records)
        result.tick_interval_s = sensor_tick_interval(instance, "ema_callback_sensor")


def split_imports(records: list[Any]) -> dict[str, list[str]]:
    """Recordings that took more import runs than waves, with the outputs of each run in order:
    what the next person needs to see why runs per recording exceeded its target."""
    from bench.latency import imported_by

    runs: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for record in records:
        for recording, outputs in imported_by(record.dagster_run).items():
            runs[recording].append((record.create_timestamp.timestamp(), ",".join(sorted(outputs))))
    return {
        rec: [outputs for _, outputs in sorted(r)] for rec, r in sorted(runs.items()) if len(r) > IMPORT_WAVES
    }


def _rows(size: str, design: PlatformRun, reference: PlatformRun) -> list[dict[str, Any]]:
    n = len(design.recordings)
    per_hour = n / design.elapsed_s * 3600
    ref_per_hour = n / reference.elapsed_s * 3600
    cpu, ref_cpu = sum(design.cpu_s.values()) / n, sum(reference.cpu_s.values()) / n
    platform_cpu = sum(v for k, v in design.cpu_s.items() if k != "ema") / n
    ref_platform_cpu = sum(v for k, v in reference.cpu_s.items() if k != "ema") / n
    ref_is = (
        "the same platform with one import run per asset per recording (RAS_BENCH_RUN_PER_ASSET=1), "
        "launched by the callback sensor only (RAS_CALLBACK_FAST_PATH=false)"
    )
    status = (
        f"R={n} 5-minute recordings, zero EMA delay, marts automation off in both; "
        f"completed {design.completed}/{n} "
        f"(reference {reference.completed}/{n}) in {design.elapsed_s:.0f} s "
        f"(reference {reference.elapsed_s:.0f} s)"
    )
    runs = ", ".join(f"{job} {count / n:.2f}" for job, count in sorted(design.runs_by_job.items()))
    ref_runs = ", ".join(f"{job} {count / n:.2f}" for job, count in sorted(reference.runs_by_job.items()))
    cpu_split = ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(design.cpu_s.items()))
    ref_cpu_split = ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(reference.cpu_s.items()))
    complete = design.completed == n
    extra = split_imports(design.run_records)
    split = (
        "recordings with more than one import run per wave: "
        + "; ".join(f"{rec} ({' | '.join(outs)})" for rec, outs in extra.items())
        if extra
        else "one import run per wave for every recording"
    )
    rows = [
        row("throughput.recordings_per_hour", per_hour if complete else 0.0, "rec/h", size=size,
            reference=ref_per_hour, reference_is=ref_is, target=TARGET_PER_HOUR, higher_is_better=True,
            note=status, digits=1),
        row("throughput.runs_per_recording", design.runs / n, "runs", size=size, reference=reference.runs / n,
            target=TARGET_RUNS, note=f"per job: {runs}; reference: {ref_runs}; {split}"),
        row("throughput.cpu_s_per_recording", cpu, "cpu-s", size=size, reference=ref_cpu, target=TARGET_CPU_S,
            note=f"all stack processes incl. the EMA simulator; per process: {cpu_split}; "
            f"reference: {ref_cpu_split}", digits=2),
        row("throughput.platform_cpu_s_per_recording", platform_cpu, "cpu-s", size=size,
            reference=ref_platform_cpu,
            note="API, Dagster webserver, daemon and code servers (with their run workers)", digits=2),
    ]  # fmt: skip
    return rows


def selected_profiles(value: str | None = None) -> tuple[str, ...]:
    """The profiles `RAS_BENCH_THROUGHPUT_PROFILES` names (comma-separated), in run order; both when
    it is unset or empty."""
    raw = os.environ.get(PROFILES_ENV, "") if value is None else value
    chosen = {name.strip() for name in raw.split(",") if name.strip()}
    if unknown := chosen - set(PROFILES):
        raise ValueError(f"{PROFILES_ENV}: unknown {sorted(unknown)}; known: {', '.join(PROFILES)}")
    return tuple(name for name in PROFILES if name in chosen) or PROFILES


def run_production(recordings: int, *, label: str) -> PlatformRun:
    """`run_platform` on the production profile: a temporary PostgreSQL database for the platform
    and for Dagster, the AWS double in this process; the PostgreSQL server and this process are
    sampled beside the stack."""
    from bench.profiles import environment_roots, production

    with ExitStack() as resources:
        settings_env, database = production(resources, prefix="ras_tp")
        return run_platform(
            recordings,
            label=label,
            settings_env={**PLATFORM_ENV, **settings_env},
            dagster_postgres_url=database,
            extra_roots=environment_roots(),
        )


def _production_rows(size: str, design: PlatformRun, local: PlatformRun | None) -> list[dict[str, Any]]:
    """The production profile's design, against the local profile's design of the same run when
    there is one (no per-asset reference runs on this profile)."""
    from bench.profiles import cpu_split

    n = len(design.recordings)
    complete = design.completed == n
    cpu, cpu_note = cpu_split(design.cpu_s, n, design.threads_s)
    runs = ", ".join(f"{job} {count / n:.2f}" for job, count in sorted(design.runs_by_job.items()))
    extra = split_imports(design.run_records)
    split = (
        f"{len(extra)} recording(s) with more than one import run per wave"
        if extra
        else "one import run per wave for every recording"
    )
    status = (
        f"production profile (PostgreSQL for the platform and for Dagster, moto S3/EventBridge in the "
        f"harness process), design only; R={n} 5-minute recordings, zero EMA delay, marts automation "
        f"off; completed {design.completed}/{n} in {design.elapsed_s:.0f} s"
    )
    if local is None:
        refs: dict[str, Any] = {"per_hour": None, "runs": None, "cpu": None}
        reference_is = cpu_reference_is = None
    else:
        local_complete = local.completed == len(local.recordings)
        refs = {
            "per_hour": len(local.recordings) / local.elapsed_s * 3600 if local_complete else None,
            "runs": local.runs / len(local.recordings),
            "cpu": sum(v for k, v in local.cpu_s.items() if k != "ema") / len(local.recordings),
        }
        reference_is = "the local profile's design (SQLite, local files) in the same run"
        cpu_reference_is = f"{reference_is}: its platform's CPU (throughput.platform_cpu_s_per_recording)"
    rows = [
        row("throughput.production_recordings_per_hour", per_hour(design) if complete else 0.0, "rec/h",
            size=size, reference=refs["per_hour"], reference_is=reference_is, note=status, digits=1),
        row("throughput.production_runs_per_recording", design.runs / n, "runs", size=size,
            reference=refs["runs"], reference_is=reference_is, note=f"per job: {runs}; {split}"),
        row("throughput.production_cpu_s_per_recording", cpu, "cpu-s", size=size, reference=refs["cpu"],
            reference_is=cpu_reference_is, note=cpu_note, digits=2),
    ]  # fmt: skip
    # Rows of their own part: a run of one profile leaves the other's rows in results.json.
    return [{**r, "part": PRODUCTION} for r in rows]


def per_hour(run: PlatformRun) -> float:
    return len(run.recordings) / run.elapsed_s * 3600


def _median(runs: list[PlatformRun]) -> PlatformRun:
    # The median repeat by elapsed time stands for all (its runs, CPU and completion belong together).
    return sorted(runs, key=lambda r: r.elapsed_s)[len(runs) // 2]


def run(size: str, repeats: int | None = None) -> list[dict[str, Any]]:
    """Design and reference alternate per repeat (default 1 each: a run takes minutes), then the
    production profile's design, for the profiles `RAS_BENCH_THROUGHPUT_PROFILES` selects."""
    recordings = RECORDINGS[size]
    profiles = selected_profiles()
    design_runs, reference_runs, production_runs = [], [], []
    production_failed: Exception | None = None
    for i in range(repeats or 1):
        if LOCAL in profiles:
            design_runs.append(run_platform(recordings, label=f"tp{i}", settings_env=PLATFORM_ENV))
            reference_runs.append(run_platform(recordings, label=f"tpref{i}", settings_env=PER_ASSET_ENV))
        if PRODUCTION in profiles and production_failed is None:
            try:
                production_runs.append(run_production(recordings, label=f"tpprod{i}"))
            except Exception as error:  # the local rows, measured, are still worth writing
                traceback.print_exc()
                production_failed = error
    rows: list[dict[str, Any]] = []
    design = _median(design_runs) if design_runs else None
    if design is not None:
        rows += _rows(size, design, _median(reference_runs))
        from bench.latency import latency_rows

        # Callback latency under this burst, for comparison with the paced `latency` scenario.
        rows += latency_rows(size, design, prefix="throughput.burst_", targets=False)
    if production_failed is not None:
        note = f"{type(production_failed).__name__}: {production_failed}"
        failed = row("throughput.production_error", None, "-", size=size, note=note)
        rows.append({**failed, "part": PRODUCTION})
    elif production_runs:
        rows += _production_rows(size, _median(production_runs), design)
    return rows
