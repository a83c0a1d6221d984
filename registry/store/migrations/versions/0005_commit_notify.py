"""Schema version 5: PostgreSQL tells listening server workers that a revision was committed.

The revision trigger now also sends ``NOTIFY registry_changed`` with the registry's schema as payload (one per
transaction: PostgreSQL folds equal notifications of a transaction into one, and delivers them at commit). A
server worker's follower listens (``PostGISStore.commit_watch``) and brings what it holds forward before the next
read asks, whoever committed: another worker, the CLI, or QGIS editing a table in place. A GeoPackage's readers
find commits by SQLite's ``data_version``; its schema version moves on alone.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHANNEL = "registry_changed"  # what the store listens on (registry/store/postgis.py)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
        meta = f'"{schema}"."registry_meta"'
        payload = schema.replace("'", "''")
        op.execute(f"""CREATE OR REPLACE FUNCTION "{schema}".registry_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE made bigint;
        BEGIN
            UPDATE {meta} SET value = (value::bigint + 1)::text WHERE key = 'revision'
                RETURNING value::bigint INTO made;
            UPDATE {meta} SET value = to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                              'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') WHERE key = 'last_change';
            INSERT INTO "{schema}"."revisions" VALUES (made, TG_TABLE_NAME, TG_OP, pg_current_xact_id());
            PERFORM pg_notify('{CHANNEL}', '{payload}');
            RETURN NULL;
        END $$""")
    op.execute("UPDATE registry_meta SET value = '5' WHERE key = 'schema_version'")
