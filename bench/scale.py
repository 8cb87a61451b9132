"""Scenario `scale`: the hot paths with 100,000 registered recordings (10,000 reduced).

A SQLite state store is filled directly (bulk inserts after the real migrations) with N finished
recordings and their history: 7 completed jobs, one change-log row per job and one processed inbox
row per EMA job each. On top come the hot recordings every scenario acts on:

- 200 in flight: one wave-1 EMA job running (its `succeeded` callback waiting in the inbox, its raw
  files in the object store), the other wave-1 jobs completed, wave 2 pending;
- 200 new: registered and validated, all jobs pending.

All N + 400 partitions are added to a temporary Dagster instance in one call. Then, with the real
sensor functions through `build_sensor_context`:

- `scale.sensor_tick_200_s`: one `ema_callback_sensor` evaluation applying the 200 callbacks;
  `scale.sensor_tick_200_events_s` adds writing its raw asset events to the instance, as the daemon does;
- `scale.dispatch_tick_s`: one `dispatch_sensor` evaluation;
- `scale.analytics_p95_ms`: GET /recordings/{id}/analytics on random recordings, the API under
  uvicorn on loopback, sequential httpx requests.

Reference for each: the same figure on a store holding only the 400 hot recordings, in the same run
(a ratio near 1 says nothing on the path grows with the number of recordings). EXPLAIN QUERY PLAN of
the state-store queries on these paths is checked for full scans.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import median, percentile, row

RECORDINGS = {"reduced": 10_000, "full": 100_000}
HOT = 200
DEFAULT_REPEATS = 3
GET_REQUESTS = 400
TARGET_TICK_S = 5.0
TARGET_GET_P95_MS = 20.0
WAVE_1 = ("event-detection", "player-tracking", "ball-tracking")
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "raw"
RAW_FIXTURES = {
    "event-detection": "event-detection-v3.json",
    "player-tracking": "player-tracking-v3.csv",
    "ball-tracking": "ball-tracking-v3.csv",
    "match-momentum": "match-momentum.csv",
    "physical-metrics": "physical-metrics.parquet",
}
SIGNING_KEY = "bench-signing-key"
UNREACHABLE = "http://127.0.0.1:9"


def _sql_time(moment: datetime) -> str:
    """How SQLAlchemy's DateTime stores an (UTC, naive) datetime in SQLite."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _metadata(recording_id: str) -> str:
    from ras_core.recording import parse_recording_metadata
    from ras_platform.demo import demo_metadata

    return json.dumps(parse_recording_metadata(demo_metadata(recording_id, 5760.0)).to_dict())


def _bulk_history(path: Path, ids: list[str], at: datetime) -> None:
    """Finished recordings, inserted with sqlite3 executemany (the store's own API is per recording)."""
    from ras_core import catalogue

    template = _metadata("ID-PLACEHOLDER")
    when = _sql_time(at)
    jobs = catalogue.job_type_names()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    with db:
        db.executemany(
            "INSERT INTO recordings (recording_id, metadata, version, registered_at, validated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            ((rec, template.replace("ID-PLACEHOLDER", rec), len(jobs), when, when) for rec in ids),
        )
        db.executemany(
            "INSERT INTO job_states (recording_id, job_type, state, attempt, ema_job_id, reason, updated_at) "
            "VALUES (?, ?, 'completed', 1, ?, NULL, ?)",
            (
                (rec, job, f"ema-{rec}-{job}" if catalogue.job_type(job).is_ema else None, when)
                for rec in ids
                for job in jobs
            ),
        )
        db.executemany(
            "INSERT INTO state_changes (recording_id, version, job_type, from_state, to_state, attempt, "
            "ema_job_id, source, outcome, reason, at) "
            "VALUES (?, ?, ?, 'succeeded', 'completed', 1, NULL, 'import', 'applied', NULL, ?)",
            ((rec, v + 1, job, when) for rec in ids for v, job in enumerate(jobs)),
        )
        db.executemany(
            "INSERT INTO callback_inbox (recording_id, job_id, job_kind, job_state, payload, dedupe_key, "
            "received_at, processed_at, outcome) VALUES (?, ?, ?, 'succeeded', '{}', ?, ?, ?, 'applied')",
            (
                (rec, f"ema-{rec}-{job}", job, f"{rec}|ema-{rec}-{job}|succeeded|x", when, when)
                for rec in ids
                for job in jobs
                if catalogue.job_type(job).is_ema
            ),
        )
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


@dataclass
class Fixture:
    root: Path
    url: str
    resources: dict
    in_flight: list[str]
    new: list[str]
    cold: list[str]

    def all_ids(self) -> list[str]:
        return self.cold + self.in_flight + self.new


def build(root: Path, *, seed: int = 0) -> Fixture:
    """A state store + object store under `root` with the 2 x HOT hot recordings only."""
    from ras_core import catalogue
    from ras_core.lifecycle import JobRef, RetryPolicy
    from ras_core.recording import parse_recording_metadata
    from ras_core.states import JobState, Source
    from ras_platform.demo import demo_metadata
    from ras_platform.lifecycle import Lifecycle
    from ras_platform.object_store import LocalObjectStore
    from ras_platform.state_store import StateStore

    url = f"sqlite:///{root / 'ras.sqlite'}"
    store = StateStore(url)
    objects = LocalObjectStore(root / "objects", base_url=UNREACHABLE, signing_key=SIGNING_KEY)
    jobs = Lifecycle(store, objects, RetryPolicy())
    cold: list[str] = []
    in_flight = [f"flight-{i:04d}" for i in range(HOT)]
    new = [f"new-{i:04d}" for i in range(HOT)]
    for i, rec in enumerate(in_flight):
        store.register_recording(parse_recording_metadata(demo_metadata(rec, 5760.0)))
        store.mark_validated(rec)
        kind = WAVE_1[i % len(WAVE_1)]
        for job in WAVE_1:
            store.transition(rec, job, JobState.SCHEDULED, source=Source.DISPATCH)
            jobs.trigger_answered(JobRef(rec, job, 1), f"ema-{rec}-{job}")
            store.transition(rec, job, JobState.RUNNING, source=Source.CALLBACK)
            if job != kind:
                store.transition(rec, job, JobState.SUCCEEDED, source=Source.CALLBACK)
                store.transition(rec, job, JobState.COMPLETED, source=Source.IMPORT)
        for raw, fixture in RAW_FIXTURES.items():
            objects.put_file(catalogue.raw_output(raw).key(rec, 1), FIXTURES / fixture)
    for rec in new:
        store.register_recording(parse_recording_metadata(demo_metadata(rec, 5760.0)))
        store.mark_validated(rec)
    # The callbacks arrive last, as EMA's would: one `succeeded` per in-flight recording.
    for i, rec in enumerate(in_flight):
        kind = WAVE_1[i % len(WAVE_1)]
        store.add_callback(
            rec,
            {
                "job_id": f"ema-{rec}-{kind}",
                "job_kind": kind,
                "job_state": "succeeded",
                "job_exit_code": 0,
                "job_reason": None,
                "emitted_at": f"2026-11-23T12:00:00.{seed:03d}Z",
            },
        )
    store.close()
    resources = _resources(root)
    return Fixture(root, url, resources, in_flight, new, cold)


def _resources(root: Path) -> dict[str, Any]:
    """The platform's resources on the database `root/ras.sqlite` and the files under `root/objects`."""
    from resources import platform_resources

    overrides = {"data_dir": str(root), "ema_base_url": UNREACHABLE, "api_base_url": UNREACHABLE}
    return platform_resources({**overrides, "signing_key": SIGNING_KEY, "ema_max_attempts": "3"})


def with_history(small: Fixture, root: Path, n_cold: int) -> tuple[Fixture, dict[str, float]]:
    """A copy of the hot-only fixture under `root` plus `n_cold` finished recordings of last month."""
    shutil.copytree(small.root, root)
    cold = [f"cold-{i:06d}" for i in range(n_cold)]
    started = time.perf_counter()
    _bulk_history(root / "ras.sqlite", cold, datetime.now(UTC) - timedelta(days=30))
    return relocated(small, root, cold), {"bulk_insert_s": time.perf_counter() - started}


def relocated(fixture: Fixture, root: Path, cold: list[str] | None = None) -> Fixture:
    url = f"sqlite:///{root / 'ras.sqlite'}"
    # Built anew: pydantic's model_copy(update=...) does not change a Dagster resource's config.
    resources = _resources(root)
    return Fixture(
        root, url, resources, fixture.in_flight, fixture.new, fixture.cold if cold is None else cold
    )


def ticks(fixture: Fixture, *, write_events: bool = True) -> dict[str, Any]:
    """Add every partition in one call, then one callback tick (+ its events) and one dispatch tick."""
    from dagster import build_sensor_context, instance_for_test

    from sensors.dispatch import dispatch_sensor
    from sensors.ema_callbacks import ema_callback_sensor

    out: dict[str, Any] = {}
    with instance_for_test() as instance:
        started = time.perf_counter()
        instance.add_dynamic_partitions("recordings", fixture.all_ids())
        out["add_partitions_s"] = time.perf_counter() - started

        context = build_sensor_context(instance=instance, resources=fixture.resources)
        started = time.perf_counter()
        result = ema_callback_sensor(context)
        out["callback_tick_s"] = time.perf_counter() - started
        if write_events:  # ~10-100 ms per event: once per store, not per repeat
            started = time.perf_counter()
            for event in result.asset_events:
                instance.report_runless_asset_event(event)
            out["events_s"] = time.perf_counter() - started
        out["asset_events"] = len(result.asset_events)
        out["import_runs"] = len(result.run_requests)

        context = build_sensor_context(instance=instance, resources=fixture.resources)
        started = time.perf_counter()
        dispatched = dispatch_sensor(context)
        out["dispatch_tick_s"] = time.perf_counter() - started
        scheduled = [
            job
            for request in dispatched.run_requests
            if request.job_name == "trigger_ema_jobs"
            for job in request.run_config["ops"]["trigger_ema"]["config"]["jobs"]
        ]
        out["scheduled"] = len(scheduled)
        out["scheduled_new"] = sum(job.startswith("new-") for job in scheduled)
    return out


def _free_port() -> int:
    from ras_platform.stack import free_port

    return free_port()


@contextmanager
def api_server(fixture: Fixture):
    import os

    port = _free_port()
    env = {
        **os.environ,
        "RAS_DATA_DIR": str(fixture.root),
        "RAS_DATABASE_URL": fixture.url,
        "RAS_DAGSTER_URL": UNREACHABLE,
        "RAS_EMA_BASE_URL": UNREACHABLE,
        "RAS_SIGNING_KEY": SIGNING_KEY,
    }
    argv = [sys.executable, "-m", "uvicorn", "ras_api.app:app", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*argv, "--log-level", "warning"], env=env, cwd=fixture.root, stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def get_latencies_ms(base: str, ids: list[str], count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    times = []
    with httpx.Client(base_url=base, timeout=10) as client:
        for rec in rng.sample(ids, min(20, len(ids))):  # warm-up: connections, imports, page cache
            client.get(f"/recordings/{rec}/analytics").raise_for_status()
        for _ in range(count):
            rec = rng.choice(ids)
            started = time.perf_counter()
            client.get(f"/recordings/{rec}/analytics").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return times


# The state-store queries on the measured paths, as the store issues them (literal parameters).
PLANS = {
    "pending_callbacks": "SELECT * FROM callback_inbox WHERE processed_at IS NULL ORDER BY id LIMIT 200",
    "jobs_in_state": "SELECT * FROM job_states WHERE state = 'pending' AND job_type IN ('event-detection', "
    "'player-tracking', 'ball-tracking', 'match-details', 'shot-details', 'match-report', "
    "'training-clips') ORDER BY updated_at, recording_id, job_type LIMIT 500",
    "job_rows": "SELECT * FROM job_states WHERE recording_id = 'cold-000001'",
    "lock_recording": "SELECT recording_id FROM recordings WHERE recording_id = 'cold-000001'",
    "all_completed": "SELECT count(*) FROM job_states WHERE recording_id = 'cold-000001' "
    "AND job_type IN ('event-detection') AND state = 'completed'",
    "inbox_by_dedupe_key": "SELECT id FROM callback_inbox WHERE dedupe_key = 'x'",
    "change_log": "SELECT * FROM state_changes WHERE recording_id = 'cold-000001' AND version > 0 "
    "ORDER BY version",
    "pending_events": "SELECT * FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 100",
}


def query_plans(path: Path) -> dict[str, str]:
    db = sqlite3.connect(path)
    plans = {}
    for name, query in PLANS.items():
        details = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + query)]
        plans[name] = " / ".join(details)
    db.close()
    return plans


def _full_scans(plans: dict[str, str]) -> list[str]:
    # "SCAN t" without "USING ... INDEX" reads every row; "SCAN t USING INDEX" walks an index in order.
    return [
        f"{name}: {plan}"
        for name, plan in plans.items()
        if any(p.startswith("SCAN") and "INDEX" not in p for p in plan.split(" / "))
    ]


def measure(fixture: Fixture, scratch: Path, repeats: int) -> dict[str, Any]:
    """Median tick figures over `repeats` fresh copies of the fixture, GET latencies, query plans."""
    figures: dict[str, list] = {}
    for i in range(repeats):
        # A fresh path per copy: the resources cache one engine per database URL (resources/__init__.py).
        copy = scratch / f"{fixture.root.name}-copy-{i}"
        shutil.copytree(fixture.root, copy)
        for key, value in ticks(relocated(fixture, copy), write_events=i == 0).items():
            figures.setdefault(key, []).append(value)
        shutil.rmtree(copy)
    result: dict[str, Any] = {key: median(values) for key, values in figures.items()}
    with api_server(fixture) as base:
        result["get_ms"] = get_latencies_ms(base, fixture.all_ids(), GET_REQUESTS, seed=1)
        result["health_ms"] = get_latencies_ms_health(base, 100)
    result["plans"] = query_plans(fixture.root / "ras.sqlite")
    return result


def get_latencies_ms_health(base: str, count: int) -> list[float]:
    times = []
    with httpx.Client(base_url=base, timeout=10) as client:
        for _ in range(count):
            started = time.perf_counter()
            client.get("/health").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return times


def run(size: str, repeats: int | None = None) -> list[dict[str, Any]]:
    repeats = repeats or DEFAULT_REPEATS
    n = RECORDINGS[size]
    with tempfile.TemporaryDirectory(prefix="ras-bench-scale-") as tmp:
        small_fixture = build(Path(tmp) / "small")
        big_fixture, timings = with_history(small_fixture, Path(tmp) / "big", n)
        small = measure(small_fixture, Path(tmp), repeats)
        big = {**measure(big_fixture, Path(tmp), repeats), **timings}
    ref_is = f"the same on a store holding only the {2 * HOT} hot recordings, same run"
    get_p95, get_ref = percentile(big["get_ms"], 95), percentile(small["get_ms"], 95)
    scans = _full_scans(big["plans"])
    plan_note = "full scans: " + "; ".join(scans) if scans else "EXPLAIN: every path query uses an index"
    tick_note = (
        f"{n:,} recordings; {big['asset_events']:.0f} raw asset events and {big['import_runs']:.0f} import "
        f"run requests; partitions added in one call in {big['add_partitions_s']:.2f} s "
        f"(bulk insert {big['bulk_insert_s']:.1f} s); median of {repeats}"
    )
    dispatch_note = (
        f"scheduled {big['scheduled']:.0f} EMA jobs, {big['scheduled_new']:.0f} of them for the {HOT} new "
        f"recordings (reference: {small['scheduled']:.0f} / {small['scheduled_new']:.0f}). "
        + ("; ".join(f"{k}: {v}" for k, v in big["plans"].items() if k == "jobs_in_state"))
    )
    return [
        row("scale.sensor_tick_200_s", big["callback_tick_s"], "s", size=size,
            reference=small["callback_tick_s"], reference_is=ref_is, target=TARGET_TICK_S, note=tick_note),
        row("scale.sensor_tick_200_events_s", big["callback_tick_s"] + big["events_s"], "s", size=size,
            reference=small["callback_tick_s"] + small["events_s"], target=TARGET_TICK_S,
            note="the tick plus writing its raw asset events to the instance (report_runless_asset_event)"),
        row("scale.dispatch_tick_s", big["dispatch_tick_s"], "s", size=size,
            reference=small["dispatch_tick_s"], target=TARGET_TICK_S, note=dispatch_note),
        row("scale.dispatch_new_jobs_scheduled", big["scheduled_new"], "jobs", size=size,
            reference=small["scheduled_new"], target=3.0 * HOT, higher_is_better=True,
            note=f"wave-1 EMA jobs of the {HOT} new recordings the dispatch tick scheduled (3 each ready); "
            f"{HOT} older in-flight recordings hold {4 * HOT} blocked pending jobs"),
        row("scale.analytics_p95_ms", get_p95, "ms", size=size, reference=get_ref, target=TARGET_GET_P95_MS,
            note=f"p50 {percentile(big['get_ms'], 50):.1f} ms over {len(big['get_ms'])} GETs; "
            f"GET /health p95 {percentile(big['health_ms'], 95):.1f} ms; {plan_note}"),
    ]  # fmt: skip
