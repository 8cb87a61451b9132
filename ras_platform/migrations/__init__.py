"""Alembic environment and revisions of the state store, applied by `StateStore.migrate()`."""
