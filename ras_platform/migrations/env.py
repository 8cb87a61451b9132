"""Alembic environment: always online, on the connection `ras_platform.db.migrate` hands over.

No logging.fileConfig here: migrations run inside the API, the daemon and runs, whose logging is theirs.
"""

from __future__ import annotations

from alembic import context

from ras_platform.db.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through StateStore.migrate(), which provides the connection")

context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
# The caller's transaction is already open (it holds the migration lock), so this joins it.
with context.begin_transaction():
    context.run_migrations()
