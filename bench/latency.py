"""Scenario `latency`: EMA callback accepted → import run started → processed asset materialized.

Recordings are pushed through the embedded platform one at a time (`PACE_S` apart, so the figure is
the platform's reaction time, not a queue; the throughput scenario reports the same figures under its
burst). For every `succeeded` callback that was applied:

- accepted: the inbox row's `received_at` (state store), written before the API answered 202;
- run started: `start_time` of the first import run of the recording (its own, or a shared
  `import_recordings` run listing it), created after the callback, whose assets read that job's raw
  files (Dagster run records);
- materialized: the latest materialization in that run of those assets (Dagster event log).

Reference: the callback sensor's measured tick interval in the same run (the median gap between its
ticks), the floor the daemon's sensor loop puts under any reaction.
"""

from __future__ import annotations

import itertools
import statistics
from datetime import datetime
from typing import Any

from bench import percentile, row
from ras_platform.dagster_client import FAST_LANE, FAST_LANE_TAG

RECORDINGS = {"reduced": 2, "full": 9}  # x 6 EMA callbacks each: ~12 and ~54 samples
PACE_S = 10.0
TARGET_RUN_START_P95_S = 2.5  # issue 18: about two seconds


def _relevant_outputs(job_kind: str) -> set[str]:
    from ras_core import catalogue

    produced = {raw.name for raw in catalogue.job_type(job_kind).raw_outputs}
    return {out.name for out in catalogue.PROCESSED_OUTPUTS if produced & set(out.raw_inputs)}


def _succeeded_callbacks(database_url: str) -> list[Any]:
    from sqlalchemy import create_engine, select

    from ras_platform.db.schema import callback_inbox

    engine = create_engine(database_url)
    query = select(
        callback_inbox.c.recording_id, callback_inbox.c.job_kind, callback_inbox.c.received_at
    ).where(callback_inbox.c.job_state == "succeeded", callback_inbox.c.outcome == "applied")
    with engine.connect() as conn:
        rows = list(conn.execute(query))
    engine.dispose()
    return rows


def _launched_at(instance: Any, run_id: str) -> float | None:
    from dagster import DagsterEventType

    starting = instance.all_logs(run_id, of_type=DagsterEventType.PIPELINE_STARTING)
    return starting[0].timestamp if starting else None


def _timestamp(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def imported_by(run: Any) -> dict[str, set[str]]:
    """What an import run imports, by recording: one recording's outputs (`import_processed`, from
    its tags) or several recordings' (`import_recordings`, from its run config)."""
    if run.job_name == "import_processed" and (recording := run.tags.get("ras/recording")):
        return {recording: set(run.tags.get("ras/outputs", "").split(","))}
    if run.job_name != "import_recordings":
        return {}
    config = (run.run_config or {}).get("ops", {}).get("import_listed_recordings", {}).get("config", {})
    listed = [entry.rpartition(":") for entry in config.get("imports", [])]
    return {recording: set(outputs.split(",")) for recording, _, outputs in listed}


def callback_latencies(instance: Any, database_url: str, records: list[Any]) -> list[dict[str, float]]:
    """One dict per applied `succeeded` callback: seconds to run created, started, materialized."""
    from dagster import AssetKey, AssetRecordsFilter

    imports: dict[str, list[tuple[Any, set[str]]]] = {}
    for record in records:
        for recording, outputs in imported_by(record.dagster_run).items():
            imports.setdefault(recording, []).append((record, outputs))
    samples = []
    for callback in _succeeded_callbacks(database_url):
        accepted = _timestamp(callback.received_at)
        wanted = _relevant_outputs(callback.job_kind)
        candidates = sorted(
            (
                (r, outputs)
                for r, outputs in imports.get(callback.recording_id, [])
                if _timestamp(r.create_timestamp) >= accepted - 0.5 and wanted & outputs
            ),
            key=lambda candidate: _timestamp(candidate[0].create_timestamp),
        )
        if not candidates or candidates[0][0].start_time is None:
            continue
        record, outputs = candidates[0]
        sample = {
            "run_created_s": _timestamp(record.create_timestamp) - accepted,
            "run_started_s": record.start_time - accepted,
        }
        launched = _launched_at(instance, record.dagster_run.run_id)
        if launched is not None:  # the run queue or the fast lane handed it to the launcher (STARTING)
            sample["run_launched_s"] = launched - accepted
        sample["fast_lane"] = float(record.dagster_run.tags.get(FAST_LANE_TAG) == FAST_LANE)
        materialized = []
        for name in wanted & outputs:
            found = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(name), asset_partitions=[callback.recording_id]),
                limit=20,
            ).records
            materialized += [m.timestamp for m in found if m.run_id == record.dagster_run.run_id]
        if materialized:
            sample["materialized_s"] = max(materialized) - accepted
        samples.append(sample)
    return samples


def sensor_tick_interval(instance: Any, sensor_name: str) -> float | None:
    """Median gap between the sensor's ticks, from the instance's tick history."""
    from dagster._core.scheduler.instigation import InstigatorType

    states = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.instigator_name == sensor_name
    ]
    if not states:
        return None
    ticks = instance.get_ticks(states[0].instigator_origin_id, states[0].selector_id, limit=2000)
    stamps = sorted(t.timestamp for t in ticks)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return statistics.median(gaps) if gaps else None


def latency_rows(size: str, result: Any, *, prefix: str = "latency.", targets: bool = True) -> list[dict]:
    samples = result.latencies
    started = [s["run_started_s"] for s in samples]
    created = [s["run_created_s"] for s in samples]
    materialized = [s["materialized_s"] for s in samples if "materialized_s" in s]
    tick = result.tick_interval_s
    ref_is = "median gap between ema_callback_sensor ticks, same run"
    timed = [s for s in samples if "run_launched_s" in s]
    queued = [s["run_launched_s"] - s["run_created_s"] for s in timed]
    fast_lane = sum(1 for s in samples if s.get("fast_lane"))
    starting = [s["run_started_s"] - s["run_launched_s"] for s in timed]
    note = (
        f"{len(samples)} callbacks of {len(result.recordings)} recordings; run created p50/p95 "
        f"{percentile(created, 50):.2f}/{percentile(created, 95):.2f} s (fast path launch or sensor wait), "
        f"created→started p50 {percentile([s - c for s, c in zip(started, created, strict=True)], 50):.2f} s "
        f"= created→launched (the run queue's wait, or the fast lane's launch) p50/p95 "
        f"{percentile(queued, 50):.2f}/{percentile(queued, 95):.2f} s + "
        f"launched→started p50/p95 {percentile(starting, 50):.2f}/{percentile(starting, 95):.2f} s; "
        f"{fast_lane} of the {len(samples)} by a fast-lane run (launched when submitted)"
        if timed
        else "no callback reached an import run"
    )
    start_target = TARGET_RUN_START_P95_S if targets else None
    return [
        row(f"{prefix}callback_to_run_start_p50_s", percentile(started, 50), "s", size=size, reference=tick,
            reference_is=ref_is),
        row(f"{prefix}callback_to_run_start_p95_s", percentile(started, 95), "s", size=size, reference=tick,
            target=start_target, note=note),
        row(f"{prefix}callback_to_materialized_p50_s", percentile(materialized, 50), "s", size=size,
            reference=tick),
        row(f"{prefix}callback_to_materialized_p95_s", percentile(materialized, 95), "s", size=size,
            reference=tick),
    ]  # fmt: skip


# EMA jobs take 0-5 s, drawn per job: a callback then arrives at a random phase of the 5 s sensor
# loop, as real EMA jobs of varied length do. With a fixed duration every callback came a fixed time
# after the run that triggered it, itself launched on a tick, and the sensor wait looked shorter.
SIMULATOR_ARGS = ["--job-duration-s=0", "--job-duration-jitter-s=5"]


def run(size: str, repeats: int | None = None) -> list[dict[str, Any]]:
    """One paced stack run (repeats multiply the recordings instead: more samples, same percentiles)."""
    from bench.throughput import run_platform

    result = run_platform(
        RECORDINGS[size] * (repeats or 1), label="lat", pace_s=PACE_S, simulator_args=SIMULATOR_ARGS
    )
    return latency_rows(size, result)
