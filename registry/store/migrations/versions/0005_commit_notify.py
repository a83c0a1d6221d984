"""Schema version 5: PostgreSQL tells listening server workers that a revision was committed.

Each statement that changes the projects table or a layer now also sends ``NOTIFY registry_changed`` with the
registry's schema as payload (PostgreSQL folds a transaction's equal notifications into one and delivers it at
commit). A server worker's follower listens (``PostGISStore.commit_watch``) and brings what it holds forward
before the next read asks, whoever committed: another worker, the CLI, or QGIS editing a table in place. A
GeoPackage's readers find commits by SQLite's ``data_version``; its schema version moves on alone.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from registry import model

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHANNEL = "registry_changed"  # what the store listens on (registry/store/postgis.py)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
        payload = schema.replace("'", "''")
        op.execute(f"""CREATE OR REPLACE FUNCTION "{schema}".registry_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '{payload}');
            RETURN NULL;
        END $$""")
        for table in ("projects", *(layer.name for layer in model.LAYERS)):
            op.execute(f'CREATE TRIGGER registry_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{table}" '
                       f'FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".registry_notify()')
    op.execute("UPDATE registry_meta SET value = '5' WHERE key = 'schema_version'")
