"""Scenario `load` (full size only): 1,000 recordings started within a minute, EMA jobs lasting 1-10
minutes (the simulator's `--job-duration-s`/`--job-duration-jitter-s`), on the production profile
(PostgreSQL; S3 and EventBridge doubles). Reported:

- the time until every recording is completed or failed, against the throughput-bound ideal: the
  longer of N / the platform's measured throughput and the start window plus two waves of the
  longest EMA job. The throughput is the `throughput` scenario's at the same size, from results.json,
  on the load's own profile: `throughput.production_recordings_per_hour` (the production profile
  costs about 3 times the local one's CPU per recording); without that row, the local profile's
  `throughput.recordings_per_hour`, and the note says so. `load.completion_ratio_to_local_ideal`
  keeps the ideal from the local profile's throughput (the previous definition);
- CPU seconds per recording over the load (`bench.throughput.CpuSampler`), the platform's processes
  (the PostgreSQL server's included) apart from the environment's doubles (EMA simulator, the AWS
  double in the harness process: `bench.profiles.cpu_split`);
- the p95 of each sensor's tick (end - start, from Dagster's tick history);
- the run queue's depth over time (queued runs, sampled every few seconds);
- the daemon's and the API's peak RSS (VmHWM; the API's summed over its worker processes);
- lost (not terminal when the run ends) and stuck (inbox rows never applied) recordings: must be 0.

The load itself is full size only (hours on 2 cores). At reduced size the scenario runs `SMOKE`, the
same machinery on 3 short recordings, and marks its rows so; tests/bench/test_load.py runs it too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import percentile, row
from bench.profiles import cpu_split, environment_roots, production

if TYPE_CHECKING:
    from ras_platform.object_store import ObjectStore
    from ras_platform.state_store import StateStore

RESULTS_JSON = Path(__file__).resolve().parent / "results.json"
LOCAL_THROUGHPUT = "throughput.recordings_per_hour"
PRODUCTION_THROUGHPUT = "throughput.production_recordings_per_hour"
# The full load at fewer recordings (same start window and EMA job lengths), for a machine or a
# session that cannot give it hours; its rows say so.
RECORDINGS_ENV = "RAS_BENCH_LOAD_RECORDINGS"
TARGET_RATIO = 1.25
TARGET_TICK_P95_S = 10.0
QUEUE_SAMPLE_S = 5.0
# CPU every second, not throughput's 0.2 s: walking /proc five times a second for 100 minutes cost
# the harness about 0.35 CPU-s per recording, on the same two cores as the platform it measures.
CPU_SAMPLE_S = 1.0
EMA_WAVES = 2  # the independent jobs, then the three that need them


@dataclass(frozen=True)
class LoadSpec:
    recordings: int
    start_window_s: float
    job_min_s: float
    job_max_s: float
    recording_s: float = 300.0
    timeout_s: float = 6 * 3600

    @property
    def simulator_args(self) -> list[str]:
        return [
            f"--job-duration-s={self.job_min_s:g}",
            f"--job-duration-jitter-s={self.job_max_s - self.job_min_s:g}",
        ]


FULL = LoadSpec(recordings=1000, start_window_s=60.0, job_min_s=60.0, job_max_s=600.0)
SMOKE = LoadSpec(
    recordings=3, start_window_s=3.0, job_min_s=0.5, job_max_s=2.0, recording_s=30.0, timeout_s=600
)


@dataclass
class LoadRun:
    spec: LoadSpec
    profile: str
    elapsed_s: float = 0.0
    completed: int = 0
    failed: int = 0
    lost: list[str] = field(default_factory=list)  # not terminal at the end
    stuck_inbox_rows: int = 0
    queue_depth: list[tuple[float, int]] = field(default_factory=list)  # (s since start, queued runs)
    tick_p95_s: dict[str, float] = field(default_factory=dict)
    daemon_peak_rss_mb: float = float("nan")
    api_peak_rss_mb: float = float("nan")
    cpu_s: dict[str, float] = field(default_factory=dict)  # per process, over the load (CpuSampler)
    threads_s: dict[str, float] = field(default_factory=dict)  # CpuSampler.threads_s


def _vm_hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError):
                continue
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


class QueueSampler:
    """Queued Dagster runs every `interval_s`, from the instance the stack uses."""

    def __init__(self, dagster_home: Path, interval_s: float = QUEUE_SAMPLE_S) -> None:
        self.dagster_home, self.interval_s = dagster_home, interval_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

        started = time.monotonic()
        with DagsterInstance.from_config(str(self.dagster_home)) as instance:
            queued = RunsFilter(statuses=[DagsterRunStatus.QUEUED])
            while not self._stop.is_set():
                self.samples.append((time.monotonic() - started, instance.get_runs_count(queued)))
                self._stop.wait(self.interval_s)

    def __enter__(self) -> QueueSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def sensor_tick_p95(dagster_home: Path) -> dict[str, float]:
    """p95 of each sensor's tick duration (end - start) over the run."""
    from dagster import DagsterInstance
    from dagster._core.scheduler.instigation import InstigatorType

    durations: dict[str, list[float]] = defaultdict(list)
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=100_000)
            durations[state.instigator_name] += [
                t.tick_data.end_timestamp - t.timestamp for t in ticks if t.tick_data.end_timestamp
            ]
    return {name: percentile(values, 95) for name, values in sorted(durations.items()) if values}


def put_videos(objects: ObjectStore, ids: list[str], duration_s: float) -> None:
    """The demo video of every recording, generated once and stored under each one's key."""
    from ras_platform.demo import demo_video_key, put_demo_video

    first = put_demo_video(objects, ids[0], duration_s)
    with tempfile.TemporaryDirectory(prefix="ras-load-video-") as tmp:
        video = Path(tmp) / "panorama.mp4"
        objects.download(first, video)
        for recording_id in ids[1:]:
            objects.put_file(demo_video_key(recording_id), video)


def run_load(spec: LoadSpec, *, profile: str = "production", home: Path | None = None) -> LoadRun:
    from bench.throughput import CpuSampler, _start_jobs, _wait_for_daemon
    from ras_platform.demo import ApiClient, demo_metadata
    from ras_platform.object_store import build_object_store
    from ras_platform.stack import Stack
    from ras_platform.state_store import StateStore

    result = LoadRun(spec, profile)
    ids = [f"load-{i:05d}" for i in range(spec.recordings)]
    rng = random.Random(18)
    offsets = sorted(rng.uniform(0, spec.start_window_s) for _ in ids)
    with ExitStack() as resources:
        tmp = resources.enter_context(
            tempfile.TemporaryDirectory(prefix="ras-load-", ignore_cleanup_errors=True)
        )
        settings_env, dagster_pg = (
            production(resources, prefix="ras_load") if profile == "production" else ({}, None)
        )
        stack = Stack(
            home=home or Path(tmp),
            settings_env=settings_env,
            simulator_args=spec.simulator_args,
            dagster_postgres_url=dagster_pg,
        )
        resources.enter_context(stack)
        _wait_for_daemon(stack)
        api = ApiClient(stack.api_url, stack.settings.zola_token)
        resources.callback(api.http.close)
        # Each recording's video, before the clock starts: its training clips are cut from it (a
        # recording whose video is missing fails its training-clips job, and so the recording).
        put_videos(build_object_store(stack.settings), ids, spec.recording_s)
        extra = environment_roots() if profile == "production" else {}
        sampler = CpuSampler(
            {**extra, **{p.pid: name for name, p in stack.processes.items()}},
            interval_s=CPU_SAMPLE_S,
            alone=tuple(pid for pid in extra if pid == os.getpid()),
        )
        with QueueSampler(stack.dagster_home) as queue:
            sampler.start()
            began = time.monotonic()
            for recording_id, offset in zip(ids, offsets, strict=True):
                time.sleep(max(0.0, began + offset - time.monotonic()))
                api.register(demo_metadata(recording_id, spec.recording_s))
                _start_jobs(api, recording_id)
            store = StateStore(stack.settings.resolved_database_url, migrate=False)
            resources.callback(store.close)
            with open(stack.home / "logs" / "load-progress.log", "w") as progress:
                states = wait_for_states(store, ids, timeout_s=spec.timeout_s, began=began, out=progress)
            result.elapsed_s = time.monotonic() - began
            result.cpu_s = sampler.stop()
            result.threads_s = sampler.threads_s
        result.queue_depth = queue.samples
        result.completed = sum(state == "completed" for state in states.values())
        result.failed = sum(state == "failed" for state in states.values())
        result.lost = sorted(rec for rec, state in states.items() if state not in TERMINAL)
        result.stuck_inbox_rows = len(store.pending_callbacks(limit=10_000))
        result.daemon_peak_rss_mb = _vm_hwm_mb(stack.processes["daemon"].pid)
        result.api_peak_rss_mb = sum(_vm_hwm_mb(pid) for pid in _tree(stack.processes["api"].pid))
        result.tick_p95_s = sensor_tick_p95(stack.dagster_home)
    return result


TERMINAL = ("completed", "failed")
POLL_S = 2.0


def overall_states(store: StateStore, ids: list[str]) -> dict[str, str]:
    """Every recording's overall state (as GET analytics derives it) from one read of the state
    store. Until 2026-11-30 the harness asked GET analytics for each of the 1,000 recordings every
    second: its poller and the API worker answering it took a quarter of the 2-core machine that
    the platform under test was measured on."""
    from sqlalchemy import select

    from ras_core.states import JobState, overall_state
    from ras_platform.db.engine import read_transaction
    from ras_platform.db.schema import job_states

    by_recording: dict[str, list[JobState]] = {rec: [] for rec in ids}
    with read_transaction(store._engine) as conn:
        for recording_id, state in conn.execute(select(job_states.c.recording_id, job_states.c.state)):
            if recording_id in by_recording:
                by_recording[recording_id].append(JobState(state))
    return {rec: overall_state(states) for rec, states in by_recording.items()}


def wait_for_states(
    store: StateStore, ids: list[str], *, timeout_s: float, began: float, out: Any
) -> dict[str, str]:
    """Poll the overall states until every recording is completed or failed (or the timeout), one
    progress line per poll: seconds since the first start, recordings per overall state."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = overall_states(store, ids)
        counts = "  ".join(f"{k}={v}" for k, v in sorted(Counter(states.values()).items()))
        print(f"{time.monotonic() - began:7.0f} s  {counts}", file=out, flush=True)
        if all(state in TERMINAL for state in states.values()) or time.monotonic() >= deadline:
            return states
        time.sleep(POLL_S)


def throughput_per_hour(size: str, metric: str = LOCAL_THROUGHPUT, path: Path | None = None) -> float | None:
    """A throughput row's recordings/h at `size`, from the published results (None when absent or 0:
    an incomplete throughput run publishes 0)."""
    try:
        rows = json.loads((path or RESULTS_JSON).read_text())
    except (OSError, ValueError):
        return None
    found = [r["value"] for r in rows if r["metric"] == metric and r["size"] == size]
    return found[0] if found and found[0] else None


@dataclass(frozen=True)
class IdealRates:
    """The throughputs the load is compared with: `per_hour` (from the row `per_hour_from`) makes
    the ideal, `local_per_hour` the local-profile ideal."""

    per_hour: float | None
    local_per_hour: float | None
    per_hour_from: str = PRODUCTION_THROUGHPUT

    @property
    def fell_back(self) -> bool:
        return self.per_hour_from == LOCAL_THROUGHPUT


def ideal_rates(size: str, profile: str = "production", path: Path | None = None) -> IdealRates:
    """The same profile's throughput for the ideal: the production profile's row at `size` for a
    production load, when present; otherwise the local profile's (a fallback the notes name)."""
    local = throughput_per_hour(size, LOCAL_THROUGHPUT, path)
    if profile == "production" and (prod := throughput_per_hour(size, PRODUCTION_THROUGHPUT, path)):
        return IdealRates(prod, local, PRODUCTION_THROUGHPUT)
    return IdealRates(local, local, LOCAL_THROUGHPUT)


def ideal_s(spec: LoadSpec, per_hour: float | None) -> float:
    """The longer of the throughput bound and the EMA bound (the last start plus two waves of the
    longest job): no platform finishes sooner than either."""
    ema_bound = spec.start_window_s + EMA_WAVES * spec.job_max_s
    throughput_bound = spec.recordings / per_hour * 3600 if per_hour else 0.0
    return max(ema_bound, throughput_bound)


def _rate(per_hour: float | None, metric: str) -> str:
    return f"{per_hour:.0f} rec/h ({metric})" if per_hour else f"none ({metric} missing: EMA bound only)"


def load_rows(result: LoadRun, size: str, rates: IdealRates) -> list[dict[str, Any]]:
    spec = result.spec
    ideal = ideal_s(spec, rates.per_hour)
    local_ideal = ideal_s(spec, rates.local_per_hour)
    profile_is = "local" if rates.fell_back else "production"
    rate = _rate(rates.per_hour, rates.per_hour_from)
    fallback = (
        f"FALLBACK: no {PRODUCTION_THROUGHPUT} at {size} size in results.json, so the ideal uses the "
        f"local profile's throughput (SQLite, local files: about a third of the production profile's "
        f"CPU per recording, so this ideal is too short for the {result.profile} profile); "
        if rates.fell_back and result.profile == "production"
        else ""
    )
    worst_tick = max(result.tick_p95_s.values(), default=float("nan"))
    depth = [d for _, d in result.queue_depth]
    over_time = " ".join(
        f"{t:.0f}s:{d}" for t, d in result.queue_depth[:: max(1, len(result.queue_depth) // 24)]
    )
    if result.cpu_s:
        cpu, cpu_note = cpu_split(result.cpu_s, spec.recordings, result.threads_s)
        cpu_note = f"from the first start to the end of the load, / {spec.recordings} recordings; {cpu_note}"
    else:
        cpu, cpu_note = float("nan"), "not sampled"
    return [
        row("load.completion_s", result.elapsed_s, "s", size=size, reference=ideal,
            reference_is=f"throughput-bound ideal: max(N / the {profile_is} profile's throughput, "
                         "start window + 2 longest EMA jobs)",
            note=f"{fallback}{spec.recordings} recordings started within {spec.start_window_s:g} s, EMA jobs "
                 f"{spec.job_min_s:g}-{spec.job_max_s:g} s, {result.profile} profile; throughput {rate} "
                 f"from results.json; completed {result.completed}, "
                 f"failed {result.failed}, lost {len(result.lost)}, inbox rows never applied "
                 f"{result.stuck_inbox_rows}"),
        row("load.completion_ratio_to_ideal", result.elapsed_s / ideal, "x", size=size, target=TARGET_RATIO,
            note=f"{fallback}against the ideal from the {profile_is} profile's throughput, {rate}: "
                 + ("the throughput-bound ideal of the load's own profile" if not fallback
                    else "NOT the load's own profile")
                 + f" (ideal {ideal:.0f} s)"),
        row("load.completion_ratio_to_local_ideal", result.elapsed_s / local_ideal, "x", size=size,
            note=f"against the ideal from the local profile's throughput (SQLite, local files), "
                 f"{_rate(rates.local_per_hour, LOCAL_THROUGHPUT)}: the previous definition, kept for "
                 f"comparison (ideal {local_ideal:.0f} s)"),
        row("load.cpu_s_per_recording", cpu, "cpu-s", size=size, note=cpu_note, digits=2),
        row("load.sensor_tick_p95_s", worst_tick, "s", size=size, target=TARGET_TICK_P95_S,
            note="worst sensor; per sensor: "
                 + ", ".join(f"{name} {p95:.2f}" for name, p95 in result.tick_p95_s.items())),
        row("load.run_queue_depth_max", max(depth, default=float("nan")), "runs", size=size,
            note=f"queued runs every {QUEUE_SAMPLE_S:g} s: {over_time}"),
        row("load.daemon_peak_rss_mb", result.daemon_peak_rss_mb, "MB", size=size),
        row("load.api_peak_rss_mb", result.api_peak_rss_mb, "MB", size=size,
            note="VmHWM summed over the API's processes (supervisor and workers)"),
        row("load.lost_or_stuck", len(result.lost) + result.stuck_inbox_rows, "recordings", size=size,
            target=0),
    ]  # fmt: skip


def run(size: str, repeats: int | None = None) -> list[dict[str, Any]]:
    """Full size: the 1,000-recording load. Reduced: the smoke variant on the same profile, its rows
    marked as such (a machinery check with figures, not the load's answer)."""
    spec = FULL if size == "full" else SMOKE
    if size == "full" and os.environ.get(RECORDINGS_ENV):
        spec = dataclasses.replace(FULL, recordings=int(os.environ[RECORDINGS_ENV]))
    rows = load_rows(run_load(spec), size, ideal_rates(size))
    label = (
        f"SMOKE ({SMOKE.recordings} recordings; the load is full size only). "
        if spec is SMOKE
        else f"SCALED ({spec.recordings} of {FULL.recordings} recordings, {RECORDINGS_ENV}). "
        if spec is not FULL
        else ""
    )
    for result in rows:
        result["note"] = label + (result.get("note") or "")
    return rows
