"""`ras serve`: the platform on one machine, against the EMA its settings name.

The same processes as `ras demo` (API, code servers, Dagster webserver and daemon; `ras_platform/
stack.py`) without the simulator. Every `RAS_*` variable is passed through as set, so the settings
decide where EMA is, where data lives (SQLite and a local directory under `RAS_DATA_DIR` by default)
and which ports the API and the Dagster UI listen on (those of `RAS_API_BASE_URL` and
`RAS_DAGSTER_URL`). SIGTERM or SIGINT stops every process it started, by process group, with SIGKILL
for whatever is left after a timeout, and `ras serve` exits 0. Started again on the same data
directory, it picks up where it stopped.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO
from urllib.parse import urlsplit

from ras_platform.settings import Settings
from ras_platform.stack import Stack

_WATCH_INTERVAL_S = 2.0


class StopRequested(Exception):
    """SIGTERM or SIGINT arrived: stop every process and exit 0."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


def _port_of(url: str, default: int) -> int:
    return urlsplit(url).port or default


def serve_stack(settings: Settings, *, api_host: str, stop_timeout_s: float) -> Stack:
    """The processes `ras serve` runs: listening where the settings' URLs say, data in their dir."""
    data_dir = settings.data_dir.absolute()
    passed_through = {name: value for name, value in os.environ.items() if name.startswith("RAS_")}
    return Stack(
        home=data_dir,
        data_dir=data_dir,
        settings_env={**passed_through, "RAS_DATA_DIR": str(data_dir)},
        simulator=False,
        api_host=api_host,
        ports={
            "api": _port_of(settings.api_base_url, 8080),
            "dagster": _port_of(settings.dagster_url, 3000),
        },
        stop_timeout_s=stop_timeout_s,
    )


def where_everything_is(stack: Stack) -> str:
    """What a person needs to find the running platform, one line each."""
    settings = stack.settings
    objects = f"s3://{settings.s3_bucket}" if settings.object_store == "s3" else str(settings.objects_dir)
    events = (
        settings.events_file
        if settings.event_publisher == "file"
        else f"EventBridge {settings.event_bus_name}"
    )
    ema = f"{stack.ema_url}  (the bundled simulator)" if stack.simulator else settings.ema_base_url
    lines = [
        (
            "API",
            f"{stack.api_url}/docs  (listening on {stack.api_host}; EMA calls back {settings.api_base_url})",
        ),
        ("Dagster UI", f"{stack.dagster_url}  (assets, runs, sensors, checks)"),
        ("EMA", ema),
        ("state store", _hide_password(settings.resolved_database_url)),
        ("object store", objects),
        ("domain events", str(events)),
        ("Dagster home", str(stack.dagster_home)),
        ("logs", str(stack.home / "logs")),
        ("profile", settings.profile),
    ]
    return "\n".join(f"  {name:<14} {value}" for name, value in lines)


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise `StopRequested` in the main thread; once stopping, further ones are
    ignored so that the stop itself (which escalates to SIGKILL on its own) is not cut short."""

    def request_stop(signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise StopRequested(signum)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, request_stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_platform(
    stack: Stack,
    *,
    out: TextIO = sys.stdout,
    then: Callable[[Stack], int | None] | None = None,
) -> int:
    """Start the stack, say where everything is, run `then` (the demo's recordings), and keep the
    platform up until SIGTERM or SIGINT. `then` returning a code ends the run with it instead."""
    with stop_on_signals():
        try:
            print(f"starting the platform in {stack.home} ...", file=out, flush=True)
            stack.start()
            print(where_everything_is(stack), file=out, flush=True)
            code = then(stack) if then is not None else None
            if code is not None:
                return code
            print("ready; SIGTERM or Ctrl-C stops every process", file=out, flush=True)
            _watch(stack, out)
        except StopRequested as stop:
            print(f"\n{stop} received: stopping ...", file=out, flush=True)
        finally:
            stack.stop()
            print("stopped", file=out, flush=True)
    return 0


def _watch(stack: Stack, out: TextIO) -> None:
    """Until a signal: a process that died is started again (its log says why it died)."""
    while True:
        time.sleep(_WATCH_INTERVAL_S)
        for name, process in list(stack.processes.items()):
            if process.poll() is not None:
                print(f"{name} exited with {process.returncode}; restarting it", file=out, flush=True)
                stack.restart(name)


def run_serve(*, api_host: str, stop_timeout_s: float, out: TextIO = sys.stdout) -> int:
    settings = Settings()
    stack = serve_stack(settings, api_host=api_host, stop_timeout_s=stop_timeout_s)
    print(f"ras serve: the platform against EMA at {settings.ema_base_url}", file=out, flush=True)
    return run_platform(stack, out=out)
