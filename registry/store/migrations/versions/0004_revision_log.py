"""Schema version 4: PostgreSQL records what each revision changed, so a server's caches follow an edit by the
rows it changed instead of being built anew.

Each statement that changes the projects table or a layer moves the revision on (as before) and now records
the revision it made in ``revisions``, with the table, the operation and the transaction that made it; every
entry of ``changes`` records its transaction too. The entries of the transactions behind the revisions since
one a cache was made at are what changed (``PostGISSnapshot.changes_since``). The revision's row lock orders
the revisions as the commits, whoever writes (QGIS editing a layer in place too). A GeoPackage reader follows
its own writes already; its schema version moves on alone.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
        meta = f'"{schema}"."registry_meta"'
        op.execute('CREATE TABLE "revisions" ("revision" bigint PRIMARY KEY, "layer" text NOT NULL, '
                   '"operation" text NOT NULL, "xid" xid8 NOT NULL)')
        op.execute('ALTER TABLE "changes" ADD COLUMN "xid" xid8')  # earlier entries: none (no revision names them)
        op.execute('ALTER TABLE "changes" ALTER COLUMN "xid" SET DEFAULT pg_current_xact_id()')
        op.execute('CREATE INDEX changes_xid ON "changes" ("xid")')
        op.execute(f"""CREATE OR REPLACE FUNCTION "{schema}".registry_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE made bigint;
        BEGIN
            UPDATE {meta} SET value = (value::bigint + 1)::text WHERE key = 'revision'
                RETURNING value::bigint INTO made;
            UPDATE {meta} SET value = to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                              'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') WHERE key = 'last_change';
            INSERT INTO "{schema}"."revisions" VALUES (made, TG_TABLE_NAME, TG_OP, pg_current_xact_id());
            RETURN NULL;
        END $$""")
    op.execute("UPDATE registry_meta SET value = '4' WHERE key = 'schema_version'")
