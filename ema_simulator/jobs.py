"""Jobs as EMA runs them: scheduled → starting → running → succeeded | failed, with injected faults.

Every fault decision comes from a per-job RNG seeded by (seed, Idempotency-Key), so a run with the same
seed and the same triggers makes the same decisions whatever order the requests arrive in.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from ema_simulator import synthetic
from ema_simulator.config import SimulatorConfig
from ras_core.catalogue import raw_output
from ras_core.recording import Pitch, RecordingMetadata

log = logging.getLogger("ema_simulator")

CONTENT_TYPES = {"csv": "text/csv", "json": "application/json", "parquet": "application/vnd.apache.parquet"}
_MATCH_CACHE_SIZE = 2  # a full-size match is a few hundred MB in memory


@dataclass(frozen=True)
class JobPlan:
    """What will go wrong with one job, decided when it is created."""

    fail: bool
    duplicate: dict[str, bool]  # per state: send that callback twice
    out_of_order: str | None  # "late-running" | "scheduled-after-starting"
    stale: bool
    malformed: str | None  # raw output name uploaded broken
    duration_s: float  # scheduled → last callback


@dataclass
class SimJob:
    id: str
    kind: str
    api_version: str
    recording: RecordingMetadata
    idempotency_key: str
    attempt: int | None
    callback_url: str
    uploads: dict[str, str]  # raw output name -> presigned PUT URL
    plan: JobPlan
    state: str = "scheduled"
    cancelled: bool = False
    sent: list[dict[str, Any]] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "api_version": self.api_version,
            "recording_id": self.recording.recording_id,
            "recording": self.recording.to_dict(),
            "idempotency_key": self.idempotency_key,
            "attempt": self.attempt,
            "state": self.state,
            "cancelled": self.cancelled,
            "plan": {
                "fail": self.plan.fail,
                "out_of_order": self.plan.out_of_order,
                "stale": self.plan.stale,
                "malformed": self.plan.malformed,
            },
            "uploaded": self.uploaded,
            "callbacks": self.sent,
        }


def attempt_of(idempotency_key: str) -> int | None:
    """The attempt suffix of `{recording_id}:{job_type}:{attempt}`, if the key has one."""
    tail = idempotency_key.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Simulator:
    """All jobs, counters and outbound HTTP of one simulator process."""

    def __init__(self, config: SimulatorConfig, client: httpx.AsyncClient):
        self.config = config
        self.client = client
        self.jobs: dict[str, SimJob] = {}
        self.jobs_by_key: dict[str, SimJob] = {}
        self.trigger_attempts: Counter[str] = Counter()
        self.pitches: dict[str, Pitch] = {}  # learnt from v3 requests, used by v2 ones
        self.failed_once: set[tuple[str, str]] = set()
        self.stats: Counter[str] = Counter()
        self.callbacks_by_state: Counter[str] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        # Every callback the platform answered 202 (its inbox holds it): what the chaos run checks.
        self.acknowledged: list[dict[str, str]] = []
        self._matches: dict[RecordingMetadata, asyncio.Task[synthetic.SyntheticMatch]] = {}
        self._outbound = asyncio.Semaphore(config.max_outbound_requests)

    # -- creating jobs ---------------------------------------------------------------------------

    def recording(
        self, recording_id: str, fps: float, duration_s: float, pitch: Pitch | None
    ) -> RecordingMetadata:
        if pitch is not None:
            self.pitches[recording_id] = pitch
        return synthetic.two_half_recording(
            recording_id, fps, duration_s, pitch or self.pitches.get(recording_id)
        )

    def plan(self, kind: str, recording_id: str, idempotency_key: str, uploads: list[str]) -> JobPlan:
        cfg = self.config
        rng = random.Random(f"{cfg.seed}:{idempotency_key}")
        first_time = (recording_id, kind) not in self.failed_once
        fail_first = kind in cfg.fail_first_attempt and first_time
        if fail_first:
            self.failed_once.add((recording_id, kind))
        fail = rng.random() < cfg.failure_rate or fail_first
        states = ("scheduled", "starting", "running", "succeeded", "failed")
        duplicate = {s: rng.random() < cfg.duplicate_rate for s in states}
        out_of_order = (
            rng.choice(["late-running", "scheduled-after-starting"])
            if rng.random() < cfg.out_of_order_rate
            else None
        )
        if out_of_order == "scheduled-after-starting" and cfg.early_callback:
            out_of_order = "late-running"  # `scheduled` has already gone out with the trigger answer
        stale = rng.random() < cfg.stale_rate
        malformable = not cfg.malformed_kinds or kind in cfg.malformed_kinds
        always = recording_id in cfg.malformed_recordings
        malformed = (
            rng.choice(sorted(uploads))
            if malformable and (rng.random() < cfg.malformed_rate or always)
            else None
        )
        # Drawn last, and only with jitter, so the faults above stay what a seed always gave.
        jitter = rng.uniform(0, cfg.job_duration_jitter_s) if cfg.job_duration_jitter_s else 0.0
        return JobPlan(fail, duplicate, out_of_order, stale, malformed, cfg.job_duration_s + jitter)

    def create(
        self,
        *,
        kind: str,
        api_version: str,
        recording: RecordingMetadata,
        idempotency_key: str,
        callback_url: str,
        uploads: dict[str, str],
    ) -> SimJob:
        plan = self.plan(kind, recording.recording_id, idempotency_key, list(uploads))
        job = SimJob(
            str(uuid.uuid4()),
            kind,
            api_version,
            recording,
            idempotency_key,
            attempt_of(idempotency_key),
            callback_url,
            uploads,
            plan,
        )
        self.jobs[job.id] = job
        self.jobs_by_key[idempotency_key] = job
        self.stats["jobs_created"] += 1
        return job

    def start(self, job: SimJob, *, scheduled_sent: bool) -> None:
        job.task = asyncio.create_task(self._run(job, scheduled_sent))
        self.tasks.add(job.task)
        job.task.add_done_callback(self.tasks.discard)

    def cancel(self, job: SimJob) -> None:
        job.cancelled = True
        if job.task is not None:
            job.task.cancel()
        self.stats["cancels"] += 1

    # -- running jobs ----------------------------------------------------------------------------

    async def _run(self, job: SimJob, scheduled_sent: bool) -> None:
        step = job.plan.duration_s / 4
        emitted: dict[str, dict[str, Any]] = {}
        try:
            if job.plan.out_of_order == "scheduled-after-starting":
                emitted["starting"] = await self.send(job, "starting")
                self.stats["out_of_order_sent"] += 1
                emitted["scheduled"] = await self.send(job, "scheduled")
            else:
                if not scheduled_sent:
                    emitted["scheduled"] = await self.send(job, "scheduled")
                await asyncio.sleep(step)
                emitted["starting"] = await self.send(job, "starting")
            await asyncio.sleep(step)
            emitted["running"] = await self.send(job, "running")
            await asyncio.sleep(step)
            await self._finish(job)
            await asyncio.sleep(step)
            await self._after_finish(job, emitted.get("running"))
        except asyncio.CancelledError:
            log.info("job %s (%s) cancelled", job.id, job.kind)
            raise
        except Exception:
            log.exception("job %s (%s) crashed", job.id, job.kind)

    async def _finish(self, job: SimJob) -> None:
        if job.plan.fail:
            await self.send(
                job, "failed", exit_code=137, reason=f"{job.kind}: inference worker ran out of memory"
            )
            return
        problem = await self._upload_all(job)
        if problem:
            await self.send(job, "failed", exit_code=2, reason=problem)
        else:
            await self.send(job, "succeeded", exit_code=0)

    async def _after_finish(self, job: SimJob, running: dict[str, Any] | None) -> None:
        """Late arrivals: an old `running` after the final state, a callback for a job id long gone."""
        if job.plan.out_of_order == "late-running" and running is not None:
            await self._post(job, running)
            self.stats["out_of_order_sent"] += 1
        if job.plan.stale:
            stale_state = random.Random(job.idempotency_key).choice(["running", "succeeded", "failed"])
            body = self._body(job, stale_state, None, None) | {"job_id": f"stale-{uuid.uuid4()}"}
            await self._post(job, body)
            self.stats["stale_sent"] += 1

    def _body(self, job: SimJob, state: str, exit_code: int | None, reason: str | None) -> dict[str, Any]:
        return {
            "job_id": job.id,
            "job_kind": job.kind,
            "job_state": state,
            "job_exit_code": exit_code,
            "job_reason": reason,
            "emitted_at": _now(),
        }

    async def send(
        self, job: SimJob, state: str, exit_code: int | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Move the job to `state` and tell the platform (twice, if the plan says so)."""
        if job.cancelled:
            raise asyncio.CancelledError
        job.state = state
        body = self._body(job, state, exit_code, reason)
        await self._post(job, body)
        if job.plan.duplicate.get(state):
            await self._post(job, body)
            self.stats["duplicates_sent"] += 1
        return body

    async def _post(self, job: SimJob, body: dict[str, Any]) -> None:
        headers = {"X-Token": self.config.callback_token}
        response = await self._with_retries(
            "callback", lambda: self.client.post(job.callback_url, json=body, headers=headers)
        )
        job.sent.append(body)
        self.callbacks_by_state[body["job_state"]] += 1
        if response is not None and response.status_code == 202:
            self.acknowledged.append(
                {
                    "recording_id": job.recording.recording_id,
                    "job_id": body["job_id"],
                    "job_state": body["job_state"],
                    "emitted_at": body["emitted_at"],
                }
            )
        if response is None or response.is_error:
            self.stats["callback_failures"] += 1

    async def _with_retries(self, what: str, request: Any) -> httpx.Response | None:
        """Retry connection errors and 5xx with doubling waits; a 4xx is final (logged, not retried)."""
        wait = self.config.retry_backoff_s
        for attempt in range(self.config.callback_retries + 1):
            try:
                async with self._outbound:  # waits here, not in httpx's pool (see the config)
                    response: httpx.Response = await request()
            except httpx.TransportError as error:
                log.warning("%s attempt %d: %s", what, attempt + 1, error)
            else:
                if response.status_code < 500:
                    if response.is_error:
                        log.warning("%s answered %d: %s", what, response.status_code, response.text[:200])
                    return response
                log.warning("%s attempt %d answered %d", what, attempt + 1, response.status_code)
            await asyncio.sleep(wait)
            wait *= 2
        return None

    # -- results ---------------------------------------------------------------------------------

    async def match(self, recording: RecordingMetadata) -> synthetic.SyntheticMatch:
        """One generation per recording even when its jobs ask concurrently; off the event loop."""
        if recording not in self._matches:
            while len(self._matches) >= _MATCH_CACHE_SIZE:
                self._matches.pop(next(iter(self._matches)))
            self._matches[recording] = asyncio.create_task(
                asyncio.to_thread(
                    synthetic.synthetic_match,
                    recording,
                    broadcast=self.config.is_broadcast(recording.recording_id),
                )
            )
        return await self._matches[recording]

    async def _content(self, job: SimJob, raw_name: str) -> bytes:
        if raw_name == job.plan.malformed:
            self.stats["malformed_outputs"] += 1
            # An always-malformed recording is a systematic fault: the same bytes on every attempt, which
            # the platform stops retrying. A random one is a glitch: another attempt, other bytes.
            always = job.recording.recording_id in self.config.malformed_recordings
            glitch = None if always else job.attempt or 0
            return synthetic.malformed_output_bytes(raw_name, job.recording.recording_id, glitch=glitch)
        match = await self.match(job.recording)
        variant = self.config.tracking_variant if raw_name in ("player-tracking", "ball-tracking") else None
        return await asyncio.to_thread(synthetic.raw_output_bytes, match, raw_name, variant=variant)

    async def _upload_all(self, job: SimJob) -> str | None:
        """PUT every result; the reason to fail the job with if one cannot be delivered."""
        for raw_name, url in job.uploads.items():
            content = await self._content(job, raw_name)
            headers = {"Content-Type": CONTENT_TYPES[raw_output(raw_name).file_format]}
            response = await self._with_retries(
                f"upload {raw_name}",
                lambda u=url, c=content, h=headers: self.client.put(u, content=c, headers=h),
            )
            if response is None or response.is_error:
                self.stats["upload_failures"] += 1
                status = "no answer" if response is None else f"HTTP {response.status_code}"
                return f"upload of {raw_name} failed: {status}"
            job.uploaded.append(raw_name)
            self.stats["uploads"] += 1
        return None

    def snapshot(self) -> dict[str, Any]:
        counters = (
            "trigger_requests",
            "jobs_created",
            "idempotent_replays",
            "transient_failures",
            "duplicates_sent",
            "stale_sent",
            "out_of_order_sent",
            "malformed_outputs",
            "uploads",
            "upload_failures",
            "callback_failures",
            "cancels",
        )
        return {name: self.stats[name] for name in counters} | {
            "callbacks_by_state": dict(self.callbacks_by_state),
            "callbacks_sent": sum(self.callbacks_by_state.values()),
            "callbacks_acknowledged": len(self.acknowledged),
            "jobs_in_flight": len(self.tasks),
        }

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for pending in self._matches.values():
            pending.cancel()
