"""Benchmark (not a test): GET player-tracking for 10-s windows, next to a naive handler reading raw CSV.

A synthetic match is generated and its tracking imported into processed parquet, then the API runs as the
stack runs it (`python -m ras_api`: uvicorn, one worker per CPU) on a free loopback port and httpx clients
measure it: latency with one client (p50/p95) and throughput with 16 concurrent clients, on distinct
windows (every request computed) and on repeated windows (served from the application cache), in the
default JSON without compression and in the columnar JSON, Arrow and brotli-compressed representations.
The naive handler, in a second uvicorn process, reads and filters the raw CSV on every request: what the
processed path exists to avoid.

`python -m bench.delivery --size full` prints the rows; `run(size)` returns them for a bench harness.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from fastapi import FastAPI, Response

from bench.throughput import CpuSampler

if TYPE_CHECKING:
    from ras_platform.state_store import StateStore

SIZES = {"small": 600.0, "full": 5760.0}  # match duration in seconds, at 25 fps
FPS = 25.0
WINDOW_S = 10.0
TARGET_P95_MS = 15.0  # issue 18: one client, a cold 10-s window
TARGET_RPS = 200.0
LATENCY_REQUESTS = 200
THROUGHPUT_SECONDS = 8.0
NAIVE_REQUESTS = 8  # each reads the whole raw CSV: a handful is enough to know its cost
CLIENTS = 16
# Uncompressed by default, as the figures before compression was offered: on loopback compression
# only costs CPU. The `_br` rows measure what a client asking for it gets.
IDENTITY = {"Accept-Encoding": "identity"}
COLUMNAR = {"Accept": "application/vnd.ras.columnar+json"}
ARROW = {"Accept": "application/vnd.apache.arrow.stream"}
BROTLI = {"Accept-Encoding": "br"}


def _recording(size: str) -> Any:
    from ema_simulator.synthetic import two_half_recording

    return two_half_recording(f"rec-{size}", FPS, SIZES[size])


def prepare(size: str, root: Path) -> dict[str, Path]:
    """Raw tracking CSVs, processed parquet in the object store, and the recording registered."""
    from ema_simulator.synthetic import synthetic_match, write_raw_output
    from ras_core.catalogue import processed_output, raw_output
    from ras_core.importers import run_import
    from ras_platform.state_store import StateStore

    recording = _recording(size)
    objects = root / "objects"
    match = synthetic_match(recording)
    raw = {
        name: objects / raw_output(name).key(recording.recording_id, 1)
        for name in ("player-tracking", "ball-tracking")
    }
    for name, path in raw.items():
        write_raw_output(match, name, path)
    processed = objects / processed_output("player_tracking").key(recording.recording_id)
    processed.parent.mkdir(parents=True, exist_ok=True)
    result = run_import("player_tracking", raw, recording, processed)
    assert result.passed, result.failure_reason()
    store = StateStore(f"sqlite:///{root / 'ras.sqlite'}")
    store.register_recording(recording)
    _complete(store, objects, recording.recording_id, "player-tracking")  # data is served once completed
    store.close()
    return {"player_csv": raw["player-tracking"], "ball_csv": raw["ball-tracking"], "processed": processed}


def _complete(store: StateStore, objects: Path, recording_id: str, job: str) -> None:
    from ras_core.lifecycle import JobRef, RetryPolicy
    from ras_core.states import JobState, Source
    from ras_platform.lifecycle import Lifecycle
    from ras_platform.object_store import LocalObjectStore

    lifecycle = Lifecycle(
        store, LocalObjectStore(objects, base_url="http://127.0.0.1:9", signing_key="k"), RetryPolicy()
    )
    store.transition(recording_id, job, JobState.SCHEDULED, source=Source.DISPATCH)
    lifecycle.trigger_answered(JobRef(recording_id, job, 1), f"ema-{recording_id}")
    for state, source in ((JobState.RUNNING, Source.CALLBACK), (JobState.SUCCEEDED, Source.CALLBACK)):
        store.transition(recording_id, job, state, source=source)
    store.transition(recording_id, job, JobState.COMPLETED, source=Source.IMPORT)


# --- the naive handler: raw CSV per request ------------------------------------------------------

naive_app = FastAPI()


@naive_app.get("/naive/player-tracking")
def naive_player_tracking(start: float, end: float) -> Response:
    """What a handler without processed data does: read both raw CSVs, filter, normalise, group."""
    players = pa_csv.read_csv(os.environ["BENCH_PLAYER_CSV"])
    ball = pa_csv.read_csv(os.environ["BENCH_BALL_CSV"])
    t = players.column("timestamp_in_seconds")
    window = players.filter(pc.and_(pc.greater_equal(t, start), pc.less(t, end))).to_pylist()
    bt = ball.column("timestamp_in_seconds")
    balls = {
        round(row["timestamp_in_seconds"] * FPS): row
        for row in ball.filter(pc.and_(pc.greater_equal(bt, start), pc.less(bt, end))).to_pylist()
    }
    frames: dict[int, dict[str, Any]] = {}
    for row in window:
        index = round(row["timestamp_in_seconds"] * FPS)
        seen = balls.get(index)
        frame = frames.setdefault(
            index,
            {
                "frame": index,
                "t": row["timestamp_in_seconds"],
                "period": row["period"],
                "ball": None if seen is None else {"x": (seen["x"] + 52.5) / 105, "y": (34 - seen["y"]) / 68},
                "players": [],
            },
        )
        frame["players"].append(
            {
                "track_id": row["track_id"],
                "team_side": row["team_side"],
                "jersey_number": row["jersey_number"],
                "x": (row["x"] + 52.5) / 105,
                "y": (34 - row["y"]) / 68,
                "speed_mps": row["speed_mps"],
            }
        )
    return Response(json.dumps({"frames": list(frames.values())}), media_type="application/json")


# --- processes and clients -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    base: str
    pid: int  # the process whose CPU (its workers' included) a request costs


@contextmanager
def uvicorn(app: str, env: dict[str, str]) -> Iterator[Server]:
    """`app` under uvicorn in one process: the naive handler."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    with _serving([*command, "--log-level", "warning"], port, env) as base:
        yield base


@contextmanager
def api(env: dict[str, str], port: int | None = None) -> Iterator[Server]:
    """The API as the stack runs it: `python -m ras_api`, one worker per CPU."""
    port = port or _free_port()
    command = [sys.executable, "-m", "ras_api", "--host", "127.0.0.1", "--port", str(port)]
    with _serving([*command, "--log-level", "warning"], port, env) as base:
        yield base


@contextmanager
def _serving(command: list[str], port: int, env: dict[str, str]) -> Iterator[Server]:
    repo = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=repo, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield Server(base, process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the API's workers too
        process.wait(timeout=30)


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}")
        try:
            httpx.get(f"{base}/docs", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("uvicorn did not start within 60 s")


def _windows(duration_s: float, count: int, seed: int) -> list[float]:
    # Distinct, unaligned starts: every request misses the application cache.
    rng = random.Random(seed)
    return [round(rng.uniform(0, duration_s - WINDOW_S), 3) for _ in range(count)]


def latencies_ms(url: str, starts: list[float], headers: dict[str, str] | None = None) -> list[float]:
    times = []
    with httpx.Client(timeout=120, headers={**IDENTITY, **(headers or {})}) as client:
        for start in starts:
            began = time.perf_counter()
            response = client.get(url, params={"start": start, "end": start + WINDOW_S})
            response.raise_for_status()
            times.append((time.perf_counter() - began) * 1000)
    return times


Fetch = Callable[[float], Awaitable[None]]  # GET the window starting at the given second


async def _throughput(
    url: str, starts: list[float], seconds: float, clients: int, headers: dict[str, str], *, lean: bool = True
) -> tuple[int, float]:
    """`clients` concurrent clients, one connection each, requesting the windows of `starts` in turn
    for `seconds`; returns the requests answered and the time taken."""
    done = 0
    deadline = time.perf_counter() + seconds
    connect = _lean_connection if lean else _httpx_connection

    async def worker(offset: int) -> None:
        nonlocal done
        async with connect(url, {**IDENTITY, **headers}) as fetch:
            i = offset
            while time.perf_counter() < deadline:
                await fetch(starts[i % len(starts)])
                done += 1
                i += clients

    began = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(clients)))
    return done, time.perf_counter() - began


@asynccontextmanager
async def _httpx_connection(url: str, headers: dict[str, str]) -> AsyncIterator[Fetch]:
    async with httpx.AsyncClient(timeout=120, headers=headers) as client:

        async def fetch(start: float) -> None:
            response = await client.get(url, params={"start": start, "end": start + WINDOW_S})
            response.raise_for_status()

        yield fetch


@asynccontextmanager
async def _lean_connection(url: str, headers: dict[str, str]) -> AsyncIterator[Fetch]:
    """A client that costs next to no CPU: HTTP/1.1 keep-alive over asyncio streams, a request
    written from a template and the response read by its length, unparsed. On one machine the
    clients share the server's cores; httpx's ~5x higher cost per request would be charged to the
    server's throughput."""
    parts = httpx.URL(url)
    host, path = parts.host, parts.raw_path.decode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    reader, writer = await asyncio.open_connection(host, parts.port or 80)

    async def fetch(start: float) -> None:
        target = f"{path}?start={start}&end={start + WINDOW_S}"
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
        await _read_response(reader)

    try:
        yield fetch
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader) -> None:
    """Read one response off a keep-alive connection; anything but a 200 is an error."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
    if not head.startswith("http/1.1 200"):
        raise RuntimeError(f"unexpected response: {head.splitlines()[0]}")
    if "transfer-encoding: chunked" in head:
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
        return
    [length] = [line.split(":", 1)[1] for line in head.splitlines() if line.startswith("content-length:")]
    await reader.readexactly(int(length))


@dataclass(frozen=True)
class Load:
    requests_per_s: float
    server_cpu_ms: float  # per request: what bounds req/s on an idle machine (cores * 1000 / this)
    client_cpu_ms: float  # per request, of the 16 clients in this process, on the same cores


def load(
    server: Server,
    url: str,
    starts: list[float],
    seconds: float = THROUGHPUT_SECONDS,
    headers: dict[str, str] | None = None,
    *,
    lean: bool = True,
) -> Load:
    """16 clients for `seconds` (the lean client, or httpx's), with the server's CPU measured from
    /proc while they run: on a shared machine req/s follows the neighbours' load, CPU per request
    much less so."""
    sampler = CpuSampler({server.pid: "server"})
    sampler.start()
    client_began = time.process_time()
    done, elapsed = asyncio.run(_throughput(url, starts, seconds, CLIENTS, headers or {}, lean=lean))
    client_s = time.process_time() - client_began
    cpu_s = sampler.stop().get("server", 0.0)
    return Load(done / elapsed, cpu_s * 1000 / max(done, 1), client_s * 1000 / max(done, 1))


def _p(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
    )


def _row(metric: str, value: float, unit: str, reference: float | None, target: float | None, size: str,
         higher_is_better: bool = False) -> dict[str, Any]:  # fmt: skip
    met = None if target is None else (value >= target if higher_is_better else value <= target)
    ratio = None if not reference else round(value / reference, 4)
    reference = None if reference is None else round(reference, 2)
    return {"metric": metric, "value": round(value, 2), "unit": unit, "reference": reference,
            "ratio": ratio, "target": target, "met": met, "size": size}  # fmt: skip


def measure(size: str, root: Path) -> list[dict[str, Any]]:
    paths = prepare(size, root)
    duration = SIZES[size]
    env = {"RAS_DATA_DIR": str(root), "BENCH_PLAYER_CSV": str(paths["player_csv"]),
           "BENCH_BALL_CSV": str(paths["ball_csv"])}  # fmt: skip
    with api(env) as server, uvicorn("bench.delivery:naive_app", env) as naive_server:
        url = f"{server.base}/recordings/rec-{size}/player-tracking"
        naive_url = f"{naive_server.base}/naive/player-tracking"
        latencies_ms(url, _windows(duration, 10, seed=0))  # warm-up: imports, file cache
        cold = latencies_ms(url, _windows(duration, LATENCY_REQUESTS, seed=1))
        cold_arrow = latencies_ms(url, _windows(duration, LATENCY_REQUESTS, seed=11), ARROW)
        repeated = _windows(duration, 20, seed=2)
        latencies_ms(url, repeated)  # fill the application cache
        cached = latencies_ms(url, repeated * (LATENCY_REQUESTS // len(repeated)))
        cold_load = load(server, url, _windows(duration, 20_000, seed=3))
        httpx_load = load(server, url, _windows(duration, 20_000, seed=9), lean=False)
        cached_load = load(server, url, repeated)
        format_loads = {
            name: load(server, url, _windows(duration, 20_000, seed=seed), headers=headers)
            for name, seed, headers in (("columnar", 6, COLUMNAR), ("arrow", 7, ARROW), ("br", 8, BROTLI))
        }
        naive_times = latencies_ms(naive_url, _windows(duration, NAIVE_REQUESTS, seed=4))
        naive_load = load(naive_server, naive_url, _windows(duration, 64, seed=5))
    naive_p50, naive_p95 = _p(naive_times, 50), _p(naive_times, 95)
    naive_rps = naive_load.requests_per_s
    workers = _api_workers(env)
    rows = [
        _row("delivery.window_p50_ms", _p(cold, 50), "ms", naive_p50, None, size),
        _row("delivery.window_p95_ms", _p(cold, 95), "ms", naive_p95, TARGET_P95_MS, size),
        _row("delivery.window_p95_ms_arrow", _p(cold_arrow, 95), "ms", naive_p95, TARGET_P95_MS, size),
        _row("delivery.window_p95_ms_cached", _p(cached, 95), "ms", naive_p95, TARGET_P95_MS, size),
        _row("delivery.rps_16", cold_load.requests_per_s, "req/s", naive_rps, TARGET_RPS, size, True),
        _row("delivery.rps_16_httpx", httpx_load.requests_per_s, "req/s", naive_rps, TARGET_RPS, size, True),
        _row(
            "delivery.rps_16_cached", cached_load.requests_per_s, "req/s", naive_rps, TARGET_RPS, size, True
        ),
        *(
            _row(
                f"delivery.rps_16_{name}", measured.requests_per_s, "req/s", naive_rps, TARGET_RPS, size, True
            )
            for name, measured in format_loads.items()
        ),
        _row(
            "delivery.server_cpu_ms", cold_load.server_cpu_ms, "cpu-ms", naive_load.server_cpu_ms, None, size
        ),
        *(
            _row(
                f"delivery.server_cpu_ms_{name}",
                measured.server_cpu_ms,
                "cpu-ms",
                cold_load.server_cpu_ms,
                None,
                size,
            )
            for name, measured in (("cached", cached_load), *format_loads.items())
        ),
        _row("delivery.naive_csv_p95_ms", naive_p95, "ms", None, None, size),
    ]
    cpu_bound = workers * 1000 / cold_load.server_cpu_ms if cold_load.server_cpu_ms else float("nan")
    both = cold_load.server_cpu_ms + cold_load.client_cpu_ms
    shared_bound = (os.cpu_count() or 1) * 1000 / both if both else float("nan")
    notes = {
        "delivery.window_p50_ms": "distinct 10-s windows (every request computed), default JSON, identity "
        f"coding; the API as the stack runs it (python -m ras_api, {workers} worker(s))",
        "delivery.server_cpu_ms": "CPU of the API's processes per cold request (default JSON) during the "
        f"16-client run, from /proc; reference: the naive handler's. {workers} idle cores would serve "
        f"{cpu_bound:.0f} req/s at this cost",
        "delivery.server_cpu_ms_cached": "the other server_cpu_ms rows: reference = the cold default JSON's",
        "delivery.rps_16": f"16 lean clients (keep-alive HTTP/1.1 over asyncio streams, response "
        f"read by length) on the same machine: they took {cold_load.client_cpu_ms:.2f} CPU-ms per "
        f"request beside the server's {cold_load.server_cpu_ms:.1f}, so {os.cpu_count()} idle cores "
        f"would serve them at most {shared_bound:.0f} req/s. Where the server's CPU goes: "
        "bench/README.md, 'Where a cold window's CPU goes'",
        "delivery.rps_16_httpx": f"the same with 16 httpx clients (the figure before the lean client): "
        f"{httpx_load.client_cpu_ms:.1f} client CPU-ms per request beside the server's "
        f"{httpx_load.server_cpu_ms:.1f}",
        "delivery.rps_16_columnar": "Accept: application/vnd.ras.columnar+json, distinct windows",
        "delivery.rps_16_arrow": "Accept: application/vnd.apache.arrow.stream, distinct windows",
        "delivery.rps_16_br": "default JSON, Accept-Encoding: br (quality 1), distinct windows (the "
        "lean client reads the compressed body without decoding it)",
    }
    for row in rows:
        if row["metric"] in notes:
            row["note"] = notes[row["metric"]]
    return rows


def _api_workers(env: dict[str, str]) -> int:
    from ras_platform.settings import Settings

    merged = {**os.environ, **env}
    return Settings(**{k[4:].lower(): v for k, v in merged.items() if k.startswith("RAS_")}).api_worker_count


def run(size: str = "small") -> list[dict[str, Any]]:
    """Result rows for the bench harness; `reference` is the naive raw-CSV handler in the same run."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}")
    with tempfile.TemporaryDirectory(prefix="ras-bench-delivery-") as root:
        return measure(size, Path(root))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=tuple(SIZES), default="small")
    for row in run(parser.parse_args(argv).size):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
