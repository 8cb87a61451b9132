"""`python -m ema_simulator` as a real process on loopback, calling back a real receiving server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[str]]]:
    """A platform stand-in on its own port: records callback states, accepts uploads."""
    states: list[str] = []
    app = FastAPI()

    @app.post("/recordings/{recording_id}/jobs/callback")
    async def callback(recording_id: str, request: Request) -> Response:
        states.append((await request.json())["job_state"])
        return Response(status_code=202)

    @app.put("/upload/{name}")
    async def upload(name: str, request: Request) -> Response:
        states.append(f"upload:{name}:{len(await request.body())}")
        return Response(status_code=200)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}", states
    server.should_exit = True
    thread.join(5)


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else "exited"
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise TimeoutError("simulator did not start")


def test_simulator_process_runs_a_job_end_to_end(receiver: tuple[str, list[str]]) -> None:
    platform, states = receiver
    port = free_port()
    env = os.environ | {"EMA_SIM_API_KEY": "process-key", "EMA_SIM_JOB_DURATION_S": "0"}
    command = [
        sys.executable,
        "-m",
        "ema_simulator",
        "--port",
        str(port),
        "--duplicate-rate",
        "0",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    try:
        ema = f"http://127.0.0.1:{port}"
        wait_healthy(ema, process)
        body = {
            "kind": "ball-tracking",
            "recording": {
                "id": "rec-proc",
                "video_uris": ["s3://v.mp4"],
                "fps": 25.0,
                "duration_s": 30.0,
                "pitch": {"length_m": 105.0, "width_m": 68.0},
            },
            "results": [{"name": "ball-tracking", "format": "csv", "upload_url": f"{platform}/upload/ball"}],
            "callback": {"url": f"{platform}/recordings/rec-proc/jobs/callback"},
        }
        headers = {"X-Api-Key": "process-key", "Idempotency-Key": "rec-proc:ball-tracking:1"}
        assert httpx.post(f"{ema}/v3/jobs", json=body, headers=headers).status_code == 202
        deadline = time.monotonic() + 20
        while "succeeded" not in states and time.monotonic() < deadline:
            time.sleep(0.05)
        assert states[:3] == ["scheduled", "starting", "running"] and states[-1] == "succeeded"
        assert states[3].startswith("upload:ball:") and int(states[3].rsplit(":", 1)[1]) > 1000
        assert httpx.get(f"{ema}/stats").json()["uploads"] == 1
    finally:
        process.terminate()
        process.wait(10)
