"""`ras serve` as a user runs it against a real EMA: the EMA simulator is a separate process here, as
a real EMA would be; a broadcast-like recording goes through to completed; SIGTERM stops every process
`ras serve` started, and it exits 0; started again on the same data directory, it serves what it had.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ras_platform.demo import ApiClient, demo_metadata, wait_until_done
from ras_platform.stack import free_port

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
RECORDING = "serve-broadcast"
EMA_KEY, EMA_TOKEN, ZOLA_TOKEN = "serve-ema-key", "serve-ema-token", "serve-zola-token"


@contextlib.contextmanager
def ema_simulator(port: int) -> Iterator[str]:
    process = subprocess.Popen(
        [
            str(BIN / "ema-simulator"),
            *(
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--api-key",
                EMA_KEY,
                "--callback-token",
                EMA_TOKEN,
            ),
            f"--broadcast-recordings={RECORDING}",
            "--job-duration-s=0.5",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _answers(f"{url}/health"), "the EMA simulator", 60)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise TimeoutError(f"gave up waiting for {what}")


def _serve(env: dict[str, str], output: Path) -> subprocess.Popen:
    # A new session, as a service manager starts it: the test's own signals do not reach it.
    return subprocess.Popen(
        [str(BIN / "ras"), "serve"],
        env=env,
        stdout=output.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _descendants(pid: int) -> dict[int, str]:
    """pid → start time (field 22 of /proc/pid/stat) of every live descendant, from /proc."""
    parents: dict[int, int] = {}
    started: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            child = int(stat.parent.name)
            parents[child], started[child] = int(fields[1]), fields[19]
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = started[child]
                frontier.append(child)
    return found


def _still_alive(processes: dict[int, str]) -> list[str]:
    alive = []
    for pid, started in processes.items():
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if fields[19] == started and fields[0] != "Z":  # the same process, not a reused pid
                alive.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
    return alive


def _stop(serve: subprocess.Popen) -> tuple[int, list[str]]:
    children = _descendants(serve.pid)
    assert children, "ras serve started no process"
    serve.send_signal(signal.SIGTERM)
    code = serve.wait(timeout=90)
    time.sleep(0.5)  # the last SIGKILLs are asynchronous
    return code, _still_alive(children)


def test_serve_processes_a_broadcast_recording_and_stops_every_process(tmp_path: Path) -> None:
    api_port, dagster_port = free_port(), free_port()
    with ema_simulator(free_port()) as ema_url:
        env = {
            **{name: value for name, value in os.environ.items() if not name.startswith("RAS_")},
            "RAS_DATA_DIR": str(tmp_path / "data"),
            "RAS_EMA_BASE_URL": ema_url,
            "RAS_EMA_API_KEY": EMA_KEY,
            "RAS_EMA_TOKEN": EMA_TOKEN,
            "RAS_ZOLA_TOKEN": ZOLA_TOKEN,
            "RAS_API_BASE_URL": f"http://127.0.0.1:{api_port}",
            "RAS_DAGSTER_URL": f"http://127.0.0.1:{dagster_port}",
        }
        first = tmp_path / "serve-1.log"
        serve = _serve(env, first)
        try:
            _wait_for(lambda: "ready;" in first.read_text(), "ras serve to be ready", 240)
            printed = first.read_text()
            assert (
                f"http://127.0.0.1:{api_port}/docs" in printed
                and f"http://127.0.0.1:{dagster_port}" in printed
            )
            assert ema_url in printed and str(tmp_path / "data" / "objects") in printed
            api = ApiClient(f"http://127.0.0.1:{api_port}", ZOLA_TOKEN)
            api.register(demo_metadata(RECORDING, 60.0, fps=10.0))
            api.start_jobs(RECORDING)
            final = wait_until_done(api, [RECORDING], timeout_s=300)[RECORDING]
            assert final["overall_state"] == "completed", final
            quality = {report["output"]: report for report in final["quality"]}
            coverage = next(c for c in quality["player_tracking"]["checks"] if c["check"] == "frame_coverage")
            assert 0.45 <= coverage["figures"]["share"] <= 0.75  # the camera's gaps, measured
            (tmp_path / "analytics.json").write_text(api.http.get(f"/recordings/{RECORDING}/analytics").text)
        finally:
            code, left = _stop(serve)
        assert code == 0, first.read_text()[-2000:]
        assert left == [], left
        assert first.read_text().rstrip().endswith("stopped")

        # Again on the same data directory: it comes up and serves what it had.
        second = tmp_path / "serve-2.log"
        serve = _serve(env, second)
        try:
            _wait_for(lambda: "ready;" in second.read_text(), "ras serve to be ready again", 240)
            answer = httpx.get(f"http://127.0.0.1:{api_port}/recordings/{RECORDING}/analytics", timeout=10)
            assert answer.json()["overall_state"] == "completed"
            window = httpx.get(
                f"http://127.0.0.1:{api_port}/recordings/{RECORDING}/player-tracking", timeout=30
            )
            assert window.status_code == 200
        finally:
            code, left = _stop(serve)
        assert code == 0 and left == [], second.read_text()[-2000:]
