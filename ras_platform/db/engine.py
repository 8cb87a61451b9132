"""Engines for the state store: SQLite files (embedded) and PostgreSQL (production).

Several processes write the same database: the API, the Dagster daemon's sensors and the runs. On
SQLite that needs WAL (readers never block the writer), a busy timeout (a writer waits for the lock
instead of failing) and `BEGIN IMMEDIATE` for write transactions: a deferred transaction that reads
and then writes can fail with "database is locked" when another writer got there in between, and no
busy timeout can save it. Read transactions stay deferred so they never queue behind writers.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
SQLITE_BUSY_TIMEOUT_S = 30.0
_WRITE = "ras_write_transaction"


def normalise_url(url: str) -> URL:
    """Parse `url`, pick the installed PostgreSQL driver and refuse what the store cannot share."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ValueError(f"state store supports {' and '.join(SUPPORTED_BACKENDS)} URLs, got {backend!r}")
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 defaults to psycopg (3); the platform ships psycopg2-binary.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ValueError("state store needs a SQLite file: several processes share it")
    return parsed


def make_engine(url: str) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    # Long-lived daemons outlive database restarts and idle-connection reapers.
    return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})


def _sqlite_engine(url: URL) -> Engine:
    assert url.database is not None
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy (see `_begin_sqlite_transaction`); the sqlite3 module's
    # legacy mode would otherwise autocommit DDL and start transactions lazily at the first write.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    _enable_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    # synchronous stays at its default FULL: a callback answered with 202 must survive power loss.
    cursor.close()


def _enable_wal(cursor: Any) -> None:
    """WAL is a property of the file, set once. Switching needs an exclusive lock that SQLite does
    not wait for (no busy handler), so processes starting together on a fresh file retry here."""
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _begin_sqlite_transaction(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: takes SQLite's write lock up front; commits on success."""
    with engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
        yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A consistent snapshot for reads; never blocks writers."""
    with engine.connect() as conn, conn.begin():
        yield conn


def is_postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"
