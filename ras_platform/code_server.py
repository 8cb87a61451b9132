"""`python -m ras_platform.code_server api grpc -m MODULE ...`: Dagster's code server whose run
workers fork from a warm process instead of starting a fresh interpreter.

Dagster's code server starts every run in a `spawn`ed process (`DagsterApiServer` takes
`multiprocessing.get_context("spawn")`), which imports Dagster and the code location again before the
run does anything: the largest share of a short run's CPU on the embedded platform, where runs are
many and light. A `forkserver` context imports them once, in a single-threaded helper process, and
forks each run worker from it; the worker still receives the run's arguments pickled, as with spawn.
Python 3.14 makes forkserver the default on Linux for the same reasons.

Only the embedded stack (`ras_platform.stack`) runs this; the production image keeps Dagster's own
code server and its run launcher starts each run in its own task. Everything else is Dagster's
`api grpc` command, arguments included.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence

# Imported by the forkserver before it forks anything: Dagster's run entry point and the modules a
# run executes with. The code location's own module is added from the command line.
#
# A module first imported inside a run worker is imported again by every run: profiled on the
# embedded stack (py-spy over the code server and its workers, 5 recordings), such imports were 29%
# of the workers' samples. The instance's storages (Dagster imports them when a worker builds its
# instance), the import path (polars, pyarrow and jsonschema behind `ras_core.importers`) and the HTTP
# client of the EMA trigger are imported here once; forked workers share their pages. The code
# location keeps importing them lazily, so processes that never run an import stay light.
RUN_WORKER_PRELOAD = (
    "ras_platform.dagster_tuning",  # applied on import: each worker's storage checks, answered once
    "dagster._grpc.impl",
    "dagster._core.execution.api",
    "dagster._core.storage.base_storage",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
    "dagster_postgres",
    "ras_core.importers",
    "pyarrow.dataset",
    "pandas",
    "httpx",
    "upath",
    "ras_platform.aws_preload",  # boto3 and the S3/EventBridge models of the production profile
)


def code_location_module(argv: Sequence[str]) -> str | None:
    """The `-m/--module-name` argument of `dagster api grpc`, if given."""
    for flag in ("-m", "--module-name"):
        if flag in argv[:-1]:
            return argv[list(argv).index(flag) + 1]
    return None


def forkserver_context(preload: Sequence[str]) -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    return context


def use_forked_run_workers(preload: Sequence[str]) -> None:
    """Make every Dagster code server created in this process start runs from a forkserver."""
    from dagster._grpc.server import DagsterApiServer

    context = forkserver_context(preload)
    original_init = DagsterApiServer.__init__

    def __init__(self: DagsterApiServer, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)  # type: ignore[arg-type]
        self._mp_ctx = context  # Dagster reads it only to start run workers (StartRun)

    DagsterApiServer.__init__ = __init__  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    module = code_location_module(args)
    import ras_platform.dagster_tuning  # noqa: F401  (applied on import, for the server's own storage)

    use_forked_run_workers([*RUN_WORKER_PRELOAD, *([module] if module else [])])
    from dagster._cli import main as dagster_main

    sys.argv = ["dagster", *args]
    return dagster_main()


if __name__ == "__main__":
    sys.exit(main())
