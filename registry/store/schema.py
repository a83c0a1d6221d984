"""Schema upgrades of both stores: Alembic runs ``migrations/versions`` on the store's own connection.

A registry records the migrations it has run in ``registry_migrations``; one written before migrations
existed (schema version 1, no such table) is recorded at the base revision first. Every migration that
runs commits in one transaction with the others, so an upgrade that fails leaves the registry as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Alembic and SQLAlchemy are imported when a schema is created or upgraded, not by every reader
    import sqlalchemy as sa
    from alembic.config import Config

_MIGRATIONS = Path(__file__).with_name("migrations")
BASE_REVISION = "0001"  # the schema ``Store.create`` builds itself
BASE_SCHEMA_VERSION = 1  # its registry_meta schema_version (each migration moves it on)
VERSION_TABLE = "registry_migrations"


def version_schema(connection: sa.Connection) -> str | None:
    """Where the version table lives: PostgreSQL's current schema, named, so that a registry further along the
    search_path (whose table PostgreSQL would also find) is never taken for this one; SQLite has one."""
    if connection.dialect.name == "sqlite":
        return None
    return connection.exec_driver_sql("SELECT current_schema()").scalar()


def _config(connection: sa.Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest migration's revision."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(_MIGRATIONS)).get_current_head()


def engine(dialect: str, connect: Callable[[], object]) -> sa.Engine:
    """An SQLAlchemy engine over one DBAPI connection the store makes (``sqlite`` or ``postgresql``).

    SQLite's Python driver would not wrap DDL in a transaction; the engine begins one itself (SQLAlchemy's
    documented recipe), immediate so that no other writer slips in between.
    """
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.pool import StaticPool

    url = "sqlite://" if dialect == "sqlite" else "postgresql+psycopg://"
    made = sa.create_engine(url, creator=connect, poolclass=StaticPool)
    if dialect == "sqlite":
        @event.listens_for(made, "begin")
        def _begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    return made


def current(connection: sa.Connection) -> str | None:
    """The revision a registry's schema is at (None: before migrations were recorded)."""
    from alembic.runtime.migration import MigrationContext

    opts = {"version_table": VERSION_TABLE, "version_table_schema": version_schema(connection)}
    return MigrationContext.configure(connection, opts=opts).get_current_revision()


def upgrade(made: sa.Engine, target: str = "heads") -> list[str]:
    """Run every migration the registry has not run, up to ``target``, in one transaction; the revisions run."""
    from alembic import command
    from alembic.script import ScriptDirectory

    with made.begin() as connection:
        before = current(connection)
        config = _config(connection)
        if before is None:
            command.stamp(config, BASE_REVISION)
            before = BASE_REVISION
        command.upgrade(config, target)
        after = current(connection)
    script = ScriptDirectory(str(_MIGRATIONS))
    return [r.revision for r in reversed(list(script.iterate_revisions(after, before)))] if after != before else []
