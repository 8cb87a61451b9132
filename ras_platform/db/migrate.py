"""Apply the alembic revisions shipped in `ras_platform/migrations`, from any process, any number of times.

Every process calls this at startup, so it must be idempotent and safe when several run at once:
on PostgreSQL a transaction-scoped advisory lock serialises them; on SQLite the migration runs in one
`BEGIN IMMEDIATE` transaction, so SQLite's file lock does. A loser then finds the schema at head and
does nothing; an "already exists" error (a database created by other means racing us) is retried.

Every Dagster run is a new process, so the common case (schema already at head) is a single read of
the version table: no write lock, and no import of alembic (about 0.2 s of start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, column, func, select, table
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from ras_platform.db.engine import is_postgresql, read_transaction, write_transaction
from ras_platform.db.schema import VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = "ras_platform:migrations"
# The newest revision in ras_platform/migrations/versions; a test keeps the two in step.
HEAD_REVISION = "0005_validation_requests"
# Arbitrary but fixed: every process of the platform must take the same advisory lock.
_ADVISORY_LOCK_KEY = 0x5241_5331  # "RAS1"
_ATTEMPTS = 3


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration without an alembic.ini: the script location is package data."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> None:
    if stored_revision(engine) == HEAD_REVISION:
        return
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            _upgrade_to_head(engine)
            return
        except (OperationalError, ProgrammingError) as exc:
            if "already exists" not in str(exc) or attempt == _ATTEMPTS:
                raise


def stored_revision(engine: Engine) -> str | None:
    """The revision in the version table, read with plain SQL; None before the first migration."""
    version = table(VERSION_TABLE, column("version_num"))
    try:
        with read_transaction(engine) as conn:
            return conn.execute(select(version.c.version_num)).scalar_one_or_none()
    except DBAPIError:
        return None  # no version table yet


def _upgrade_to_head(engine: Engine) -> None:
    from alembic import command

    with write_transaction(engine) as conn:
        if is_postgresql(conn):
            conn.execute(select(func.pg_advisory_xact_lock(_ADVISORY_LOCK_KEY)))
        command.upgrade(alembic_config(conn), "head")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with read_transaction(engine) as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
