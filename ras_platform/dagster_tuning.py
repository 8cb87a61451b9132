"""A per-call cost of Dagster's SQL storage that the embedded platform's processes pay once instead.

Importing this module applies it: the run workers' forkserver can only import modules
(`ras_platform.code_server` preloads it), and `ras_platform.dagster_process` imports it before it
starts Dagster's webserver or daemon.

Each time one of Dagster's SQL storages checks its schema revision (every run worker building its
instance: runs, schedules, the event-log index; every new run's event-log shard, in the webserver,
the daemon and the worker), `alembic.script.ScriptDirectory.from_config` builds a new script
directory, which reads and executes every one of Dagster's migration scripts to find "head".
py-spy over the `throughput` benchmark (5 recordings, 2026-11-29) put it at 15% of the code server's
samples (its run workers included), 11% of the webserver's and 10% of the daemon's. The scripts are
files of the installed Dagster that no running process changes, so one script directory per
configuration (one per storage kind) per process gives the same answers.
"""

from __future__ import annotations

import threading

from alembic.config import Config
from alembic.script import ScriptDirectory

_UNCACHED_FROM_CONFIG = ScriptDirectory.from_config.__func__  # type: ignore[attr-defined]
_scripts: dict[tuple[type, str | None, str | None], ScriptDirectory] = {}
_lock = threading.Lock()


def _cached_from_config(cls: type[ScriptDirectory], config: Config) -> ScriptDirectory:
    # Keyed by the ini file and the script location: every option the directory is built from comes
    # from those two, and Dagster's storages share both.
    key = (cls, config.config_file_name, config.get_alembic_option("script_location"))
    with _lock:
        if key not in _scripts:
            _scripts[key] = _UNCACHED_FROM_CONFIG(cls, config)
        return _scripts[key]


def cached_script_directories() -> int:
    """How many script directories this process holds: one per storage kind that has checked."""
    return len(_scripts)


ScriptDirectory.from_config = classmethod(_cached_from_config)  # type: ignore[method-assign,assignment]
