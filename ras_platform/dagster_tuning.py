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

Dagster's SQLite storages (the embedded instance's runs, schedules and event log) also build a new
SQLAlchemy engine for every connection, which is every event a run writes: an import run writes ~54,
each one to its run's shard and asset events again to the index shard. An engine is cheap to connect
but costly to build, and SQLAlchemy's cache of compiled statements lives on the engine, so every event
compiled its INSERT again. py-spy over the `throughput` benchmark (30 recordings, 2026-11-29): engine
building, disposal and statement compilation were ~11% of the code server's samples (run workers
included), beside ~40% of samples in threads waiting. Here each process keeps one engine per database
file (the most recently used `ENGINES_KEPT`). The engines keep `NullPool`, as Dagster's do: every
connection is still opened and closed around its transaction, never shared between threads, and none
is open when a process forks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

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


# Engines kept per process: one per database file. The event log has a file per run, so a long-lived
# webserver or daemon reading many runs keeps the most recently used ones.
ENGINES_KEPT = 64
_engines: OrderedDict[tuple[str, tuple[tuple[str, Any], ...]], Engine] = OrderedDict()
_engines_lock = threading.Lock()
engines_built = 0  # for tests: how many engines this process has built


def sqlite_engine(conn_string: str, **connect_args: Any) -> Engine:
    """The process's engine for one SQLite database, built as Dagster builds its own."""
    global engines_built
    key = (conn_string, tuple(sorted(connect_args.items())))
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None:
            _engines.move_to_end(key)
            return engine
        engine = create_engine(conn_string, poolclass=NullPool, connect_args=connect_args)
        engines_built += 1
        _engines[key] = engine
        while len(_engines) > ENGINES_KEPT:
            _engines.popitem(last=False)[1].dispose()
        return engine


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


# The three methods below are Dagster 1.13's own (sqlite_event_log.py, sqlite_run_storage.py,
# sqlite_schedule_storage.py), with `create_engine(...)` replaced by the process's engine for the file.
@contextmanager
def _event_log_connect(self: SqliteEventLogStorage, shard: str) -> Iterator[Connection]:
    with self._db_lock:
        engine = sqlite_engine(self.conn_string_for_shard(shard), timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        with _transaction(engine) as conn:
            yield conn


@contextmanager
def _run_storage_connect(self: SqliteRunStorage) -> Iterator[Connection]:
    with _transaction(sqlite_engine(self._conn_string)) as conn:
        yield conn


@contextmanager
def _schedule_storage_connect(self: SqliteScheduleStorage) -> Iterator[Connection]:
    with _transaction(sqlite_engine(self._conn_string)) as conn:
        yield conn


SqliteEventLogStorage._connect = _event_log_connect  # type: ignore[method-assign,assignment]
SqliteRunStorage.connect = _run_storage_connect  # type: ignore[method-assign,assignment]
SqliteScheduleStorage.connect = _schedule_storage_connect  # type: ignore[method-assign,assignment]
