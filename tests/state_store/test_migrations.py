"""Migrations: idempotent, safe when several processes start at once, and in step with the schema."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ras_platform.db.engine import make_engine
from ras_platform.db.migrate import HEAD_REVISION, current_revision, head_revision, stored_revision
from ras_platform.db.schema import VERSION_TABLE, metadata
from ras_platform.state_store import StateStore

from .conftest import recording


def test_migrate_twice_is_harmless(database_url: str) -> None:
    store = StateStore(database_url)
    try:
        store.register_recording(recording())
        store.migrate()
        store.migrate()
        assert store.recording_exists("rec-001")
    finally:
        store.close()


def test_concurrent_startups_migrate_a_fresh_database_once(fresh_database_url: str) -> None:
    def start_process(_: int) -> None:
        StateStore(fresh_database_url).close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(start_process, range(4)))
    engine = make_engine(fresh_database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_migrations_match_the_schema_the_code_queries(fresh_database_url: str) -> None:
    StateStore(fresh_database_url).close()
    engine = make_engine(fresh_database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_head_constant_names_the_newest_migration() -> None:
    """Processes skip alembic when the stored revision is HEAD_REVISION: a new migration must bump it."""
    assert head_revision() == HEAD_REVISION


def test_stored_revision_is_read_without_alembic(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url)
    try:
        assert stored_revision(engine) is None
        StateStore(fresh_database_url).close()
        assert stored_revision(engine) == current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()
