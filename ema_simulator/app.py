"""The EMA double's HTTP API (contracts.md, "EMA API"): v2 and v3 triggers, cancel, and debug views."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response

from ema_simulator.config import SimulatorConfig, describe
from ema_simulator.jobs import SimJob, Simulator
from ema_simulator.models import V2JobRequest, V3JobRequest
from ras_core.recording import Pitch, RecordingMetadata


def _simulator(request: Request) -> Simulator:
    return request.app.state.simulator


SimulatorDep = Annotated[Simulator, Depends(_simulator)]
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1)]


def _require_api_key(simulator: SimulatorDep, x_api_key: Annotated[str | None, Header()] = None) -> None:
    if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), simulator.config.api_key.encode()):
        raise HTTPException(status_code=401, detail="missing or wrong X-Api-Key")


jobs_api = APIRouter(dependencies=[Depends(_require_api_key)])


async def _trigger(
    simulator: Simulator,
    key: str,
    *,
    kind: str,
    api_version: str,
    recording: RecordingMetadata,
    callback_url: str,
    uploads: dict[str, str],
) -> SimJob:
    """Transient 503s first, then the job this key already made, else a new one."""
    simulator.stats["trigger_requests"] += 1
    simulator.trigger_attempts[key] += 1
    if simulator.trigger_attempts[key] <= simulator.config.transient_trigger_failures:
        simulator.stats["transient_failures"] += 1
        raise HTTPException(status_code=503, detail="EMA is busy, retry later", headers={"Retry-After": "0"})
    if key in simulator.jobs_by_key:
        simulator.stats["idempotent_replays"] += 1
        return simulator.jobs_by_key[key]
    job = simulator.create(
        kind=kind,
        api_version=api_version,
        recording=recording,
        idempotency_key=key,
        callback_url=callback_url,
        uploads=uploads,
    )
    scheduled_sent = False
    if simulator.config.early_callback:
        # The platform must cope with a callback for a job id its trigger call has not returned yet.
        await simulator.send(job, "scheduled")
        scheduled_sent = True
    simulator.start(job, scheduled_sent=scheduled_sent)
    return job


@jobs_api.post("/v2/jobs", status_code=202)
async def trigger_v2(body: V2JobRequest, key: IdempotencyKey, simulator: SimulatorDep) -> dict[str, str]:
    recording = simulator.recording(body.recording_id, body.input.fps, body.input.duration_s, None)
    job = await _trigger(
        simulator,
        key,
        kind=body.job_kind,
        api_version="v2",
        recording=recording,
        callback_url=body.callback_url,
        uploads=body.uploads(),
    )
    return {"job_id": job.id, "job_state": job.state}


@jobs_api.post("/v3/jobs", status_code=202)
async def trigger_v3(body: V3JobRequest, key: IdempotencyKey, simulator: SimulatorDep) -> dict[str, str]:
    rec = body.recording
    recording = simulator.recording(
        rec.id, rec.fps, rec.duration_s, Pitch(rec.pitch.length_m, rec.pitch.width_m)
    )
    job = await _trigger(
        simulator,
        key,
        kind=body.kind,
        api_version="v3",
        recording=recording,
        callback_url=body.callback.url,
        uploads=body.uploads(),
    )
    return {"id": job.id, "state": job.state}


def _cancel(simulator: Simulator, job_id: str) -> Response:
    job = simulator.jobs.get(job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id}")
    simulator.cancel(job)
    return Response(status_code=204)


@jobs_api.delete("/v2/jobs/{job_id}", status_code=204)
async def cancel_v2(job_id: str, simulator: SimulatorDep) -> Response:
    return _cancel(simulator, job_id)


@jobs_api.delete("/v3/jobs/{job_id}", status_code=204)
async def cancel_v3(job_id: str, simulator: SimulatorDep) -> Response:
    return _cancel(simulator, job_id)


debug_api = APIRouter()


@debug_api.get("/jobs/{job_id}")
async def get_job(job_id: str, simulator: SimulatorDep) -> dict[str, Any]:
    job = simulator.jobs.get(job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id}")
    return job.summary()


@debug_api.get("/health")
async def health(simulator: SimulatorDep) -> dict[str, Any]:
    return {"status": "ok", "config": describe(simulator.config)}


@debug_api.get("/stats")
async def stats(simulator: SimulatorDep) -> dict[str, Any]:
    return simulator.snapshot()


@debug_api.get("/callbacks")
async def acknowledged_callbacks(simulator: SimulatorDep) -> dict[str, Any]:
    """Every callback the platform acknowledged with 202: (recording_id, job_id, job_state, emitted_at)."""
    return {"acknowledged": simulator.acknowledged}


def create_app(config: SimulatorConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """The simulator app; `transport` routes its callbacks and uploads in-process (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(30.0, connect=5.0)) as client:
            app.state.simulator = Simulator(config, client)
            try:
                yield
            finally:
                await app.state.simulator.close()

    app = FastAPI(
        title="EMA simulator", description="The bundled EMA double (contracts.md)", lifespan=lifespan
    )
    app.include_router(jobs_api)
    app.include_router(debug_api)
    return app
