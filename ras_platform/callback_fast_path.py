"""The callback fast path: a callback just stored in the inbox is applied at once and its import run
launched through Dagster's GraphQL API, instead of waiting for `ema_callback_sensor`'s next tick
(a daemon loop of up to 5 s, then the run queue).

The API calls it after answering EMA (`ras_api/routers/callbacks.py`). The sensor stays the safety
net and needs nothing from here: a row this path never applied (the API was killed after the 202,
the database was busy) is still unprocessed and the sensor applies it; an import this path applied
but could not launch (Dagster down, the API killed in between) leaves its job `succeeded` with no
import run, which the sensor launches after `READY_IMPORT_GRACE`. The sensor launches an import
only for a recording with no import run queued or under way, so no import runs twice for the same
inputs.

The fast path launches only while its run would start at once and another slot would still be
free: while fewer than `max_active_runs` - 1 Dagster runs (of any kind; `max_active_runs` is as many
as Dagster runs at once) are queued or under way. The last free slot is the sensor's, for the
imports that waited longest (`SLOTS_LEFT_TO_THE_SENSOR`). Past that it
still applies the callbacks and reports the raw outputs (that work stays out of the sensor's tick),
and leaves the launch to `ema_callback_sensor`, which launches each recording's waiting imports as
import runs finish, all the recording's ready outputs in one run (fewer runs: less CPU per
recording). When Dagster does not answer, the fast path leaves everything to the sensor.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from ras_core import catalogue
from ras_platform.dagster_client import (
    FAST_LANE,
    FAST_LANE_TAG,
    IMPORT_PROCESSED_JOB,
    DagsterClient,
    DagsterError,
    raw_asset_path,
)
from ras_platform.lifecycle import Lifecycle, RawMaterialization
from ras_platform.state_store import StateStore

log = logging.getLogger(__name__)

# One recording's callbacks: a handful at a time (three jobs of a wave finishing together).
CALLBACKS_PER_CALL = 50


def import_run_key(store: StateStore, recording_id: str, outputs: Iterable[str], *, salt: str = "") -> str:
    """The run key of importing `outputs` of a recording: one per set of outputs and the attempts of
    the jobs whose files they read, so the same inputs are imported by one run, whoever asks."""
    names = sorted(outputs)
    jobs = {
        catalogue.job_of_raw(raw).name for out in names for raw in catalogue.processed_output(out).raw_inputs
    } | {catalogue.job_of_processed(out).name for out in names}
    attempts = sorted(f"{job}@{store.job_status(recording_id, job).attempt}" for job in jobs)
    digest = hashlib.sha1(f"{names}{attempts}{salt}".encode()).hexdigest()[:16]
    return f"import:{recording_id}:{digest}"


def import_run_tags(recording_id: str, outputs: Iterable[str]) -> dict[str, str]:
    return {"ras/recording": recording_id, "ras/outputs": ",".join(sorted(outputs))}


def raw_event_metadata(raw: RawMaterialization) -> dict[str, str | int]:
    """What a raw EMA output's materialization carries, from the sensor or from here."""
    return {
        "ema_job_id": raw.ema_job_id or "-",
        "uri": raw.uri,
        "size_bytes": raw.size,
        "attempt": raw.attempt,
    }


def raw_event_description(raw: RawMaterialization) -> str:
    return f"uploaded by EMA job {raw.ema_job_id}"


@dataclass
class FastPathOutcome:
    applied: int = 0
    launched: list[str] = field(default_factory=list)  # run ids
    reported: int = 0  # raw materializations reported to Dagster
    left_to_sensor: list[str] = field(default_factory=list)  # what failed, for the log
    # Imports applied but left for the sensor to launch, because the run queue is full.
    waiting: list[str] = field(default_factory=list)
    # Why nothing was applied and everything was left to the sensor (Dagster did not answer); None
    # when the fast path went ahead.
    deferred: str | None = None


class CallbackFastPath:
    def __init__(self, lifecycle: Lifecycle, dagster: DagsterClient, *, max_active_runs: int) -> None:
        self.lifecycle, self.dagster = lifecycle, dagster
        self.max_active_runs = max_active_runs

    def apply_after(self, delay_s: float, recording_id: str) -> FastPathOutcome:
        """`apply` once `delay_s` has passed: the first of a recording's callbacks to get there
        applies every callback of the recording that arrived meanwhile, in one import run; the others
        find nothing left (their rows are processed)."""
        time.sleep(delay_s)
        return self.apply(recording_id)

    def apply(self, recording_id: str) -> FastPathOutcome:
        """Apply the recording's unprocessed callbacks, launch the imports they made ready while
        the run queue has room, then report the raw outputs delivered (after the launch: the run is
        what a client waits for). With Dagster not answering, it leaves them all to the sensor."""
        try:
            room = launch_room(self.dagster, self.max_active_runs)
        except (httpx.HTTPError, DagsterError) as error:
            # No launch or report could succeed; the sensor does both once Dagster is back.
            deferred = f"Dagster did not answer: {error!r}"
            log.info("callback fast path of %s left to the sensor: %s", recording_id, deferred)
            return FastPathOutcome(deferred=deferred)
        plan = self.lifecycle.process_inbox(limit=CALLBACKS_PER_CALL, recording_id=recording_id)
        outcome = FastPathOutcome(applied=plan.applied)
        store = self.lifecycle.store
        for recording, outputs in sorted(plan.imports.items()):
            if not outputs:
                continue
            if room <= 0:
                outcome.waiting.append(f"{recording}: {sorted(outputs)}")
                continue
            try:
                run_id = self.dagster.launch_partition_run(
                    IMPORT_PROCESSED_JOB,
                    recording,
                    # Started when submitted, not at the daemon's next dequeue (room was checked).
                    {**import_run_tags(recording, outputs), FAST_LANE_TAG: FAST_LANE},
                    assets=[[name] for name in sorted(outputs)],
                    run_key=import_run_key(store, recording, outputs),
                )
                outcome.launched.append(run_id)
                room -= 1
            except (httpx.HTTPError, DagsterError) as error:  # the sensor launches it after the grace
                outcome.left_to_sensor.append(f"import {sorted(outputs)}: {error!r}")
        for raw in plan.raw_materializations:
            try:
                self.dagster.report_materialization(
                    raw_asset_path(catalogue.raw_output(raw.raw_name)),
                    raw.recording_id,
                    raw_event_metadata(raw),
                    raw_event_description(raw),
                )
                outcome.reported += 1
            except (httpx.HTTPError, DagsterError) as error:
                # The row is applied, so the sensor will not report it: the UI misses this raw
                # materialization (the import and the job's state are unaffected).
                outcome.left_to_sensor.append(f"raw {raw.raw_name}: {error!r}")
        if outcome.waiting:
            log.info("callback fast path of %s: run queue full; waiting: %s", recording_id, outcome.waiting)
        if outcome.left_to_sensor:
            log.warning(
                "callback fast path of %s left to the sensor: %s", recording_id, outcome.left_to_sensor
            )
        return outcome


# Free run slots the fast path leaves to `ema_callback_sensor`. Under load slots free one at a time,
# and callbacks arrive many a second: the fast path took every freed slot for one recording's
# import, ahead of imports that had waited minutes, and the sensor never found a slot to share
# among them (bench `load`, 2026-11-30: 72 one-recording runs against 18 shared ones in 5 minutes,
# 2,283 delivered jobs waiting). The last free slot goes to the longest-waiting imports instead.
SLOTS_LEFT_TO_THE_SENSOR = 1


def launch_room(dagster: DagsterClient, max_active_runs: int) -> int:
    """How many more runs the fast path may launch to start at once: `max_active_runs` minus those
    queued or under way, less the slot it leaves to the callback sensor."""
    active = len(dagster.active_run_ids(limit=max_active_runs))
    return max(0, max_active_runs - active - SLOTS_LEFT_TO_THE_SENSOR)
