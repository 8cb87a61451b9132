"""`python -m ras_api`: one worker process per CPU, and /metrics that adds up every worker's figures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ras_platform.settings import Settings
from ras_platform.stack import free_port

REPO = Path(__file__).resolve().parents[2]


def test_worker_count_defaults_to_the_cpus_this_process_may_use() -> None:
    assert Settings().api_worker_count == len(os.sched_getaffinity(0))
    assert Settings(api_workers=3).api_worker_count == 3


def health_requests_counted(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ras_http_requests_total" and sample.labels.get("route") == "/health"
    )


def test_two_workers_serve_and_every_scrape_counts_both(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "RAS_DATA_DIR": str(tmp_path), "RAS_API_WORKERS": "2"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "ras_api", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, cwd=REPO, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/health", timeout=5).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        workers = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True)
        assert len(workers.stdout.split()) >= 2, "uvicorn should run two worker processes"
        before = health_requests_counted(base)
        for _ in range(30):  # new connections: the kernel spreads them over both workers
            httpx.get(f"{base}/health", timeout=30).raise_for_status()
        # Whichever worker answers the scrape, it reports the requests both answered.
        assert {health_requests_counted(base) - before for _ in range(6)} == {30.0}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
