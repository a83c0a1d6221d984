"""Alembic's environment: run the registry's migrations on the connection ``registry.store.schema`` gives.

The caller owns the connection and its one transaction; every migration that runs and the move of the
registry's revision (so caches of every process reload) commit together or not at all.
"""

from alembic import context

from registry.store.schema import VERSION_TABLE, version_schema

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, version_table_schema=version_schema(connection),
                  transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
