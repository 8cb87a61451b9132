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

Dagster's schedule storage (sensor and schedule state, ticks) asks the database whether its tables
and secondary indexes exist before nearly every read and write: `has_instigators_table` and
`has_built_index` reflect the catalogue each time, and the event log asks `has_table` for every asset
event it stores. On SQLite that is a file read; on PostgreSQL a new connection and catalogue queries
(`dagster-postgres` keeps no pool). py-spy over the daemon under the production profile (20
recordings, 2026-11-30): a quarter of its samples. Here each storage remembers a table or index once
it has seen it: schema migrations add them, nothing the platform runs removes them, and an absent one
is asked for again (Dagster's PostgreSQL run storage already keeps such a cache of its own).

Dagster's PostgreSQL storages open a new connection for every statement group (`NullPool`): every
event a run stores, every sensor state the daemon reads. A PostgreSQL connection is a new server
process: ~5.7 ms here, most of it the server's CPU. py-spy under the production profile (20
recordings, 2026-11-30): connecting was 14% of the code server's samples (run workers included) and
30% of the daemon's. Here the storages of one process share one engine per database URL whose pool
keeps `PG_POOL_SIZE` connections open, checked before reuse (`pool_pre_ping`) so a restarted server
costs a reconnect, not an error; a burst beyond them opens and closes connections as before. A forked
child never reuses its parent's connections (`os.register_at_fork`).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sql_schedule_storage import SqlScheduleStorage
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


# Each storage's tables and indexes seen to exist, as (check, name): only presence is remembered.
_SEEN = "_ras_schema_seen"


def _remember_presence(check: Any, name_of: Any) -> Any:
    """`check` (a storage method answering whether a table or index exists), answered from the
    storage's memory once it has said yes."""

    def remembered(self: Any, *args: Any) -> bool:
        key = (check.__name__, name_of(*args))
        seen: set = self.__dict__.setdefault(_SEEN, set())
        if key in seen:
            return True
        present = check(self, *args)
        if present:
            seen.add(key)
        return present

    remembered.__name__ = check.__name__
    remembered.__wrapped__ = check  # type: ignore[attr-defined]
    return remembered


def _no_name(*_args: Any) -> None:
    return None  # a check of one fixed table (its argument, if any, is a connection)


def _table_name(name: str) -> str:
    return name


for _storage, _method, _name_of in (
    (SqlScheduleStorage, "has_instigators_table", _no_name),
    (SqlScheduleStorage, "_has_instigators_table", _no_name),
    (SqlScheduleStorage, "_has_asset_daemon_asset_evaluations_table", _no_name),
    (SqlScheduleStorage, "has_secondary_index_table", _no_name),
    (SqlScheduleStorage, "has_built_index", _table_name),
):
    setattr(_storage, _method, _remember_presence(getattr(_storage, _method), _name_of))


def _remember_event_log_tables() -> None:
    """The event log's `has_table`, remembered in each concrete storage that defines one."""
    from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import (
        ConsolidatedSqliteEventLogStorage,
    )

    storages: list[type[SqlEventLogStorage]] = [SqliteEventLogStorage, ConsolidatedSqliteEventLogStorage]
    try:
        from dagster_postgres.event_log.event_log import PostgresEventLogStorage

        storages.append(PostgresEventLogStorage)
    except ImportError:  # the local profile needs no dagster-postgres
        pass
    for storage in storages:
        if "has_table" in vars(storage):
            storage.has_table = _remember_presence(storage.has_table, _table_name)  # type: ignore[method-assign]


_remember_event_log_tables()


# Connections each process keeps open to Dagster's PostgreSQL database, and how many more it may open
# (and close again) in a burst. Per process: the daemon, the webserver, two code servers and up to six
# run workers keep ~20 in all, well inside PostgreSQL's default 100.
PG_POOL_SIZE = 2
PG_MAX_OVERFLOW = 10
_pg_engines: dict[tuple[str, tuple[tuple[str, Any], ...]], Engine] = {}


def _share_pg_engines() -> None:
    """Make Dagster's PostgreSQL storages in this process share pooled engines (see the docstring)."""
    try:
        import dagster_postgres.event_log.event_log as event_log
        import dagster_postgres.run_storage.run_storage as run_storage
        import dagster_postgres.schedule_storage.schedule_storage as schedule_storage
        from dagster_postgres.utils import create_pg_engine
    except ImportError:  # the local profile needs no dagster-postgres
        return

    def shared_pg_engine(postgres_url: str, token_provider: Any = None, **kwargs: Any) -> Engine:
        if kwargs.get("poolclass") is not NullPool or token_provider is not None:
            # The webserver's own pooled engines, or a token that expires: Dagster's way.
            return create_pg_engine(postgres_url, token_provider, **kwargs)
        options = {k: v for k, v in kwargs.items() if k != "poolclass"}
        key = (postgres_url, tuple(sorted(options.items())))
        with _engines_lock:
            engine = _pg_engines.get(key)
            if engine is None:
                engine = create_engine(
                    postgres_url,
                    pool_size=PG_POOL_SIZE,
                    max_overflow=PG_MAX_OVERFLOW,
                    pool_pre_ping=True,
                    **options,
                )
                _pg_engines[key] = engine
            return engine

    for module in (event_log, run_storage, schedule_storage):
        module.create_pg_engine = shared_pg_engine  # type: ignore[attr-defined]


def _forget_parent_connections() -> None:
    # SQLAlchemy's advice for a forked child: new pools, the parent's connections left to the parent.
    for engine in _pg_engines.values():
        engine.dispose(close=False)


_share_pg_engines()
os.register_at_fork(after_in_child=_forget_parent_connections)
