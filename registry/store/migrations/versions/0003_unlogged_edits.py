"""Schema version 3: a GeoPackage notes edits that bypass the registry (QGIS, GDAL, sqlite3 on the file).

Triggers on the projects table and every layer set ``registry_meta.unlogged`` to 1 on any row changed; the
registry's own writes set it back to 0 as they commit, so a reader holding an earlier state can tell whether the
change log covers everything since (then it reads only the rows the log names) or must load the file again.
PostgreSQL answers every read in SQL and needs no such mark; its schema version moves on alone.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from registry import model

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UNLOGGED = "unlogged"  # registry_meta's key; the store's writes read and reset it (registry/store/gpkg.py)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"INSERT OR REPLACE INTO registry_meta (key, value) VALUES ('{UNLOGGED}', '1')")
        mark = (f"WHEN (SELECT value FROM registry_meta WHERE key = '{UNLOGGED}') = '0' BEGIN "
                f"UPDATE registry_meta SET value = '1' WHERE key = '{UNLOGGED}'; END")
        for table in ("projects", *(layer.name for layer in model.LAYERS)):
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f'CREATE TRIGGER "registry_{event.lower()}_{table}_marks" AFTER {event} ON "{table}" '
                           f"{mark}")
    op.execute("UPDATE registry_meta SET value = '3' WHERE key = 'schema_version'")
