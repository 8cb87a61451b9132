"""The EMA simulator against a tiny receiving platform, in process (httpx.ASGITransport)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from ema_simulator import synthetic
from ema_simulator.app import create_app
from ema_simulator.config import SimulatorConfig, config_from_env

pytestmark = pytest.mark.anyio
API_KEY = "test-key"
TOKEN = "test-token"
FAST = SimulatorConfig(job_duration_s=0, api_key=API_KEY, callback_token=TOKEN, retry_backoff_s=0.01)
HEADERS = {"X-Api-Key": API_KEY}
PLATFORM = "http://platform.test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Receiver:
    """What the platform saw, in arrival order: ("callback", body) and ("upload", name)."""

    log: list[tuple[str, Any]] = field(default_factory=list)
    tokens: list[str | None] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    callback_answers: list[int] = field(default_factory=list)  # answers to give first, then 202
    callback_hits: int = 0
    callback_delay_s: float = 0.0  # how long each callback takes to answer
    in_flight: int = 0
    peak_in_flight: int = 0  # most callbacks being answered at once

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/recordings/{recording_id}/jobs/callback")
        async def callback(recording_id: str, request: Request) -> Response:
            self.callback_hits += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                await asyncio.sleep(self.callback_delay_s)
                if self.callback_answers:
                    return Response(status_code=self.callback_answers.pop(0))
                self.tokens.append(request.headers.get("x-token"))
                self.log.append(("callback", await request.json()))
                return Response(status_code=202)
            finally:
                self.in_flight -= 1

        @app.put("/upload/{name}")
        async def upload(name: str, request: Request) -> Response:
            self.uploads[name] = await request.body()
            self.log.append(("upload", name))
            return Response(status_code=200)

        return app

    def states(self, job_id: str | None = None) -> list[str]:
        return [
            b["job_state"] for kind, b in self.log if kind == "callback" and job_id in (None, b["job_id"])
        ]

    def has_final(self, job_id: str) -> bool:
        return any(s in ("succeeded", "failed") for s in self.states(job_id))


@asynccontextmanager
async def simulator(config: SimulatorConfig, receiver: Receiver) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config, transport=httpx.ASGITransport(app=receiver.app()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ema.test") as client:
            yield client


async def until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout_s)


async def settled(ema: httpx.AsyncClient) -> dict[str, Any]:
    """The simulator's stats once no job is running any more."""
    for _ in range(1000):
        stats = (await ema.get("/stats")).json()
        if stats["jobs_in_flight"] == 0:
            return stats
        await asyncio.sleep(0.01)
    raise TimeoutError("jobs still running")


def v3_body(
    kind: str = "player-tracking", recording_id: str = "rec-sim", pitch: float = 105.0
) -> dict[str, Any]:
    names = {"player-tracking": ["player-tracking", "match-momentum", "physical-metrics"]}.get(kind, [kind])
    fmt = {"physical-metrics": "parquet"}
    return {
        "kind": kind,
        "recording": {
            "id": recording_id,
            "video_uris": ["s3://v/rec.mp4"],
            "fps": 25.0,
            "duration_s": 60.0,
            "pitch": {"length_m": pitch, "width_m": 68.0},
        },
        "results": [
            {"name": n, "format": fmt.get(n, "csv"), "upload_url": f"{PLATFORM}/upload/{n}"} for n in names
        ],
        "callback": {"url": f"{PLATFORM}/recordings/{recording_id}/jobs/callback"},
    }


def v2_body(kind: str = "event-detection", recording_id: str = "rec-sim") -> dict[str, Any]:
    body: dict[str, Any] = {
        "job_kind": kind,
        "recording_id": recording_id,
        "input": {"video_uris": ["s3://v/rec.mp4"], "fps": 25.0, "duration_s": 60.0},
        "output": {
            "upload_urls": {"events" if kind == "event-detection" else kind: f"{PLATFORM}/upload/{kind}"}
        },
        "callback_url": f"{PLATFORM}/recordings/{recording_id}/jobs/callback",
    }
    if kind != "event-detection":
        body["input"]["upstream"] = {"events": f"{PLATFORM}/get/events"}
    return body


def key(kind: str, attempt: int = 1, recording_id: str = "rec-sim") -> dict[str, str]:
    return HEADERS | {"Idempotency-Key": f"{recording_id}:{kind}:{attempt}"}


async def test_v3_job_walks_the_states_and_uploads_before_succeeded() -> None:
    receiver = Receiver()
    async with simulator(FAST, receiver) as ema:
        answer = await ema.post("/v3/jobs", json=v3_body(), headers=key("player-tracking"))
        assert answer.status_code == 202
        job_id = answer.json()["id"]
        assert answer.json()["state"] == "scheduled"
        await until(lambda: receiver.has_final(job_id))
        stats = (await ema.get("/stats")).json()
    assert receiver.states() == ["scheduled", "starting", "running", "succeeded"]
    kinds = [kind for kind, _ in receiver.log]
    assert kinds == ["callback"] * 3 + ["upload"] * 3 + ["callback"]  # every upload before succeeded
    assert sorted(receiver.uploads) == ["match-momentum", "physical-metrics", "player-tracking"]
    assert receiver.uploads["player-tracking"].startswith(b"pts,timestamp_in_seconds,period,track_id")
    assert set(receiver.tokens) == {TOKEN}
    last = receiver.log[-1][1]
    assert last["job_kind"] == "player-tracking" and last["job_exit_code"] == 0 and last["job_reason"] is None
    assert last["emitted_at"].endswith("Z")
    assert stats["uploads"] == 3 and stats["callbacks_by_state"]["succeeded"] == 1


async def test_v2_job_uploads_the_synthetic_events_under_any_single_name() -> None:
    receiver = Receiver()
    async with simulator(FAST, receiver) as ema:
        answer = await ema.post("/v2/jobs", json=v2_body(), headers=key("event-detection"))
        assert answer.status_code == 202 and answer.json()["job_state"] == "scheduled"
        job_id = answer.json()["job_id"]
        await until(lambda: receiver.has_final(job_id))
    assert receiver.states() == ["scheduled", "starting", "running", "succeeded"]
    match = synthetic.synthetic_match(synthetic.two_half_recording("rec-sim", 25.0, 60.0))
    assert receiver.uploads["event-detection"] == synthetic.raw_output_bytes(match, "event-detection")


async def test_v2_uses_the_pitch_learnt_from_v3() -> None:
    receiver = Receiver()
    async with simulator(FAST, receiver) as ema:
        v3 = await ema.post(
            "/v3/jobs", json=v3_body("ball-tracking", pitch=100.0), headers=key("ball-tracking")
        )
        v2 = await ema.post("/v2/jobs", json=v2_body(), headers=key("event-detection"))
        other = await ema.post(
            "/v2/jobs", json=v2_body(recording_id="rec-new"), headers=key("e", 1, "rec-new")
        )
        jobs = [
            (await ema.get(f"/jobs/{a.json().get('id') or a.json()['job_id']}")).json()
            for a in (v3, v2, other)
        ]
    assert [j["recording"]["pitch"]["length_m"] for j in jobs] == [100.0, 100.0, 105.0]
    assert [p["start_s"] for p in jobs[1]["recording"]["periods"]] == [0.0, 30.0]


async def test_api_key_is_required() -> None:
    async with simulator(FAST, Receiver()) as ema:
        missing = await ema.post("/v3/jobs", json=v3_body(), headers={"Idempotency-Key": "rec-sim:x:1"})
        wrong = await ema.post(
            "/v3/jobs", json=v3_body(), headers={"X-Api-Key": "nope", "Idempotency-Key": "k"}
        )
        cancel = await ema.delete("/v2/jobs/some-id")
    assert missing.status_code == wrong.status_code == cancel.status_code == 401


async def test_malformed_requests_are_422_naming_the_field() -> None:
    async with simulator(FAST, Receiver()) as ema:
        body = v3_body()
        del body["recording"]["fps"]
        no_fps = await ema.post("/v3/jobs", json=body, headers=key("player-tracking"))
        no_upstream = v2_body("match-report")
        del no_upstream["input"]["upstream"]
        dependent = await ema.post("/v2/jobs", json=no_upstream, headers=key("match-report"))
        wrong_kind = await ema.post(
            "/v2/jobs", json=v2_body() | {"job_kind": "ball-tracking"}, headers=key("b")
        )
        no_key = await ema.post("/v2/jobs", json=v2_body(), headers=HEADERS)
    assert no_fps.status_code == 422 and ["body", "recording", "fps"] in [
        e["loc"] for e in no_fps.json()["detail"]
    ]
    assert dependent.status_code == 422 and "input.upstream" in dependent.text
    assert wrong_kind.status_code == 422 and "job_kind" in wrong_kind.text
    assert no_key.status_code == 422 and "idempotency-key" in no_key.text.lower()


async def test_a_repeated_idempotency_key_returns_the_same_job() -> None:
    receiver = Receiver()
    async with simulator(FAST, receiver) as ema:
        first = await ema.post("/v2/jobs", json=v2_body(), headers=key("event-detection"))
        await until(lambda: receiver.has_final(first.json()["job_id"]))
        again = await ema.post("/v2/jobs", json=v2_body(), headers=key("event-detection"))
        stats = await settled(ema)
    assert again.status_code == 202 and again.json()["job_id"] == first.json()["job_id"]
    assert again.json()["job_state"] == "succeeded"
    assert stats["jobs_created"] == 1 and stats["idempotent_replays"] == 1
    assert receiver.states() == ["scheduled", "starting", "running", "succeeded"]


async def test_transient_trigger_failures_answer_503_then_accept() -> None:
    async with simulator(replace(FAST, transient_trigger_failures=2), Receiver()) as ema:
        answers = [
            (await ema.post("/v2/jobs", json=v2_body(), headers=key("ed"))).status_code for _ in range(3)
        ]
        other_key = await ema.post("/v2/jobs", json=v2_body(), headers=key("ed", 2))
        stats = (await ema.get("/stats")).json()
    assert answers == [503, 503, 202] and other_key.status_code == 503
    assert stats["transient_failures"] == 3 and stats["jobs_created"] == 1


async def test_duplicate_rate_sends_every_callback_twice() -> None:
    receiver = Receiver()
    async with simulator(replace(FAST, duplicate_rate=1.0), receiver) as ema:
        job_id = (await ema.post("/v2/jobs", json=v2_body(), headers=key("ed"))).json()["job_id"]
        await until(lambda: receiver.states().count("succeeded") == 2)
        stats = (await ema.get("/stats")).json()
    states = ["scheduled", "starting", "running", "succeeded"]
    assert receiver.states(job_id) == [s for s in states for _ in range(2)]
    assert stats["duplicates_sent"] == 4


async def test_failure_rate_fails_without_uploads() -> None:
    receiver = Receiver()
    async with simulator(replace(FAST, failure_rate=1.0), receiver) as ema:
        job_id = (await ema.post("/v3/jobs", json=v3_body(), headers=key("player-tracking"))).json()["id"]
        await until(lambda: receiver.has_final(job_id))
    assert receiver.states() == ["scheduled", "starting", "running", "failed"]
    final = receiver.log[-1][1]
    assert final["job_exit_code"] and final["job_reason"] and not receiver.uploads


async def test_fail_first_attempt_fails_once_then_succeeds_on_retrigger() -> None:
    receiver = Receiver()
    async with simulator(replace(FAST, fail_first_attempt=("ball-tracking",)), receiver) as ema:
        first = (
            await ema.post("/v3/jobs", json=v3_body("ball-tracking"), headers=key("ball-tracking", 1))
        ).json()
        await until(lambda: receiver.has_final(first["id"]))
        second = (
            await ema.post("/v3/jobs", json=v3_body("ball-tracking"), headers=key("ball-tracking", 2))
        ).json()
        await until(lambda: receiver.has_final(second["id"]))
    assert receiver.states(first["id"])[-1] == "failed" and receiver.states(second["id"])[-1] == "succeeded"


async def test_cancel_stops_callbacks() -> None:
    receiver = Receiver()
    async with simulator(replace(FAST, job_duration_s=1.0), receiver) as ema:
        job_id = (await ema.post("/v2/jobs", json=v2_body(), headers=key("ed"))).json()["job_id"]
        await until(lambda: receiver.states() == ["scheduled"])
        cancelled = await ema.delete(f"/v2/jobs/{job_id}", headers=HEADERS)
        unknown = await ema.delete("/v3/jobs/nope", headers=HEADERS)
        await asyncio.sleep(0.6)
        job = (await ema.get(f"/jobs/{job_id}")).json()
    assert cancelled.status_code == 204 and unknown.status_code == 404
    assert receiver.states() == ["scheduled"] and job["cancelled"]


async def test_out_of_order_stale_and_malformed_knobs() -> None:
    receiver = Receiver()
    config = replace(
        FAST, out_of_order_rate=1.0, stale_rate=1.0, malformed_rate=1.0, malformed_kinds=("ball-tracking",)
    )
    async with simulator(config, receiver) as ema:
        ball = (
            await ema.post("/v3/jobs", json=v3_body("ball-tracking"), headers=key("ball-tracking"))
        ).json()
        events = (await ema.post("/v2/jobs", json=v2_body(), headers=key("event-detection"))).json()
        stats = await settled(ema)
    for job_id in (ball["id"], events["job_id"]):
        assert receiver.states(job_id) != ["scheduled", "starting", "running", "succeeded"]
        assert "succeeded" in receiver.states(job_id)
    stale = [
        b
        for kind, b in receiver.log
        if kind == "callback" and b["job_id"] not in (ball["id"], events["job_id"])
    ]
    assert len(stale) == 2 and stats["stale_sent"] == 2 and stats["out_of_order_sent"] == 2
    assert stats["malformed_outputs"] == 1 and b"not-a-number" in receiver.uploads["ball-tracking"]
    assert json.loads(receiver.uploads["event-detection"])["events"]


async def test_early_callback_arrives_before_the_trigger_answer() -> None:
    receiver = Receiver()
    async with simulator(replace(FAST, early_callback=True, job_duration_s=0.4), receiver) as ema:
        answer = await ema.post("/v2/jobs", json=v2_body(), headers=key("ed"))
        seen_before_answer = receiver.states()
        await until(lambda: receiver.has_final(answer.json()["job_id"]))
    assert seen_before_answer == ["scheduled"]
    assert receiver.states() == ["scheduled", "starting", "running", "succeeded"]


async def test_callbacks_retry_5xx_but_not_4xx() -> None:
    receiver = Receiver(callback_answers=[503, 502])
    async with simulator(FAST, receiver) as ema:
        job_id = (await ema.post("/v2/jobs", json=v2_body(), headers=key("ed"))).json()["job_id"]
        await until(lambda: receiver.has_final(job_id))
    assert receiver.states() == ["scheduled", "starting", "running", "succeeded"]
    assert receiver.callback_hits == 6

    refusing = Receiver(callback_answers=[409])
    async with simulator(FAST, refusing) as ema:
        job_id = (await ema.post("/v2/jobs", json=v2_body(), headers=key("ed"))).json()["job_id"]
        await until(lambda: refusing.has_final(job_id))
        stats = (await ema.get("/stats")).json()
    assert refusing.states() == ["starting", "running", "succeeded"]  # `scheduled` got the 409: not retried
    assert refusing.callback_hits == 4 and stats["callback_failures"] == 1


def test_config_from_env_reads_every_kind_of_knob() -> None:
    config = config_from_env(
        {
            "EMA_SIM_FAILURE_RATE": "0.25",
            "EMA_SIM_FAIL_FIRST_ATTEMPT": "ball-tracking, match-report",
            "EMA_SIM_EARLY_CALLBACK": "true",
            "EMA_SIM_TRANSIENT_TRIGGER_FAILURES": "2",
            "EMA_SIM_API_KEY": "k",
        },
        seed=7,
    )
    assert config.failure_rate == 0.25 and config.fail_first_attempt == ("ball-tracking", "match-report")
    assert config.early_callback and config.transient_trigger_failures == 2 and config.api_key == "k"
    assert config.seed == 7
    with pytest.raises(ValueError, match="duplicate_rate"):
        config_from_env({"EMA_SIM_DUPLICATE_RATE": "2"})


def test_job_durations_spread_over_the_jitter_and_repeat_with_the_seed() -> None:
    from ema_simulator.jobs import Simulator

    def durations(config: SimulatorConfig) -> list[float]:
        sim = Simulator(config, client=None)  # type: ignore[arg-type]  # planning sends nothing
        return [
            sim.plan("ball-tracking", f"rec-{i}", f"key-{i}", ["ball-tracking"]).duration_s for i in range(50)
        ]

    jittered = replace(FAST, job_duration_s=1.0, job_duration_jitter_s=5.0, seed=3)
    spread = durations(jittered)
    assert all(1.0 <= d <= 6.0 for d in spread) and max(spread) - min(spread) > 2.5
    assert durations(jittered) == spread, "the seed decides every duration"
    assert set(durations(replace(FAST, job_duration_s=1.0))) == {1.0}
    with pytest.raises(ValueError, match="job_duration_jitter_s"):
        replace(FAST, job_duration_jitter_s=-1.0)


async def test_broadcast_recordings_get_broadcast_like_uploads() -> None:
    receiver = Receiver()
    config = replace(FAST, broadcast_recordings=("rec-sim",))
    async with simulator(config, receiver) as ema:
        answer = await ema.post("/v2/jobs", json=v2_body(), headers=key("event-detection"))
        await until(lambda: receiver.has_final(answer.json()["job_id"]))
    recording = synthetic.two_half_recording("rec-sim", 25.0, 60.0)
    broadcast = synthetic.synthetic_match(recording, broadcast=True)
    assert receiver.uploads["event-detection"] == synthetic.raw_output_bytes(broadcast, "event-detection")
    assert receiver.uploads["event-detection"] != synthetic.raw_output_bytes(
        synthetic.synthetic_match(recording), "event-detection"
    )


def test_broadcast_rate_picks_recordings_by_id_the_same_way_every_time() -> None:
    half = SimulatorConfig(broadcast_rate=0.5)
    ids = [f"rec-{n:03d}" for n in range(200)]
    picked = [recording_id for recording_id in ids if half.is_broadcast(recording_id)]
    assert 60 < len(picked) < 140 and picked == [r for r in ids if half.is_broadcast(r)]
    assert not any(SimulatorConfig().is_broadcast(r) for r in ids)
    assert all(SimulatorConfig(broadcast_rate=1.0).is_broadcast(r) for r in ids)
    env = config_from_env({"EMA_SIM_BROADCAST_RECORDINGS": "a,b", "EMA_SIM_BROADCAST_RATE": "0.25"})
    assert (env.broadcast_recordings, env.broadcast_rate) == (("a", "b"), 0.25)


async def test_outbound_requests_in_flight_stay_within_the_limit() -> None:
    """Thousands of jobs at once must queue in the simulator, not in httpx's pool (config.py)."""
    receiver = Receiver(callback_delay_s=0.02)
    async with simulator(replace(FAST, max_outbound_requests=3), receiver) as ema:
        for n in range(12):
            recording_id = f"rec-{n}"
            body = v2_body(recording_id=recording_id)
            await ema.post("/v2/jobs", json=body, headers=key("ed", recording_id=recording_id))
        stats = await settled(ema)
    assert len(receiver.states()) == 12 * 4 and stats["callback_failures"] == 0
    assert receiver.peak_in_flight == 3  # 12 jobs at once would have had up to 12 callbacks in flight


def test_the_outbound_limit_must_allow_a_request() -> None:
    with pytest.raises(ValueError, match="max_outbound_requests"):
        SimulatorConfig(max_outbound_requests=0)
