"""Database fixtures shared by every test folder (and nothing else: folders bring their own conftest).

`database_url` runs a test once on a SQLite file and once on PostgreSQL. PostgreSQL tests need the
server on 127.0.0.1:5432 (trust auth, user postgres; override with RAS_TEST_POSTGRES_URL). Without it
they are skipped locally and fail when the CI environment variable is set, so CI cannot go green by
silently not testing production's database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

POSTGRES_ADMIN_URL = os.environ.get(
    "RAS_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


def _admin_url() -> URL:
    url = make_url(POSTGRES_ADMIN_URL)
    return url.set(drivername="postgresql+psycopg2") if url.drivername == "postgresql" else url


def _postgres_unreachable(error: Exception) -> None:
    cause = str(getattr(error, "orig", error)).strip().splitlines()[0]
    message = (
        f"PostgreSQL is not reachable at {_admin_url().render_as_string(hide_password=True)} ({cause}). "
        "Start PostgreSQL 15 on 127.0.0.1:5432 with trust auth for user postgres (or set "
        "RAS_TEST_POSTGRES_URL), then run `.venv/bin/pytest -m postgres`."
    )
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class PostgresServer:
    """Creates and drops uniquely named databases on the test server."""

    def __init__(self) -> None:
        self._admin = create_engine(
            _admin_url(),
            isolation_level="AUTOCOMMIT",
            poolclass=NullPool,
            connect_args={"connect_timeout": 3},
        )
        self._created: list[str] = []

    def check(self) -> None:
        with self._admin.connect() as conn:
            conn.execute(text("SELECT 1"))

    def create_database(self) -> str:
        name = f"ras_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self._created.append(name)
        return _admin_url().set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        with self._admin.connect() as conn:
            # FORCE: engines of the code under test may still hold pooled connections.
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._created.remove(name)

    def close(self) -> None:
        for name in list(self._created):
            self.drop_database(_admin_url().set(database=name).render_as_string(hide_password=False))
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.check()
    except OperationalError as error:
        server.close()
        _postgres_unreachable(error)
    yield server
    server.close()


@pytest.fixture(scope="session")
def _postgres_session_database(postgres_server: PostgresServer) -> str:
    # Dropped by postgres_server.close() at the end of the session.
    return postgres_server.create_database()


def _empty_all_tables(url: str) -> None:
    """Give each test empty tables in the session's database; the schema (and its revision) stays."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            tables = conn.scalars(
                text(
                    "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename NOT LIKE '%alembic_version'"
                )
            ).all()
            if tables:
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a fresh SQLite file, or the session's PostgreSQL database with empty tables."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ras.sqlite'}"
    url: str = request.getfixturevalue("_postgres_session_database")
    _empty_all_tables(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, for tests of migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)
