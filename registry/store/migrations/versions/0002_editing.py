"""Schema version 2: editing. Versions on every project row and feature, the workflow's new fields,
the append-only ``changes`` log (with a baseline entry for every row at the data date) and ``users``.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from alembic import op

from registry import model
from registry.store.changelog import LOGGED_TABLES, sqlite_json

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_NEW_FIELDS = {  # name: (SQLite, PostgreSQL, CHECK)
    "progress_pct": ("REAL", "double precision", "progress_pct BETWEEN 0 AND 100"),
    "investment_completed_yuan": ("INTEGER", "bigint", "investment_completed_yuan >= 0"),
    "planned_finish_original": ("DATE", "date", None),
}
_ROLES = ", ".join(f"'{r}'" for r in model.ROLES)
_APPEND_ONLY = "the change log is append-only: entries are never changed or deleted"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, (sqlite_type, pg_type, check) in _NEW_FIELDS.items():
        kind = sqlite_type if dialect == "sqlite" else pg_type
        op.execute(f'ALTER TABLE "projects" ADD COLUMN "{name}" {kind}' + (f" CHECK ({check})" if check else ""))
    op.execute('UPDATE "projects" SET "planned_finish_original" = "planned_finish"')
    for table in LOGGED_TABLES:
        op.execute(f'ALTER TABLE "{table}" ADD COLUMN "version" INTEGER NOT NULL DEFAULT 1')
    if dialect == "sqlite":
        _sqlite()
    else:
        _postgresql()
    op.execute("UPDATE registry_meta SET value = '2' WHERE key = 'schema_version'")


def _baseline_at() -> str:
    """The baseline entries' time: the start of the data date in Asia/Shanghai (now, without one), in UTC."""
    row = op.get_bind().exec_driver_sql("SELECT value FROM registry_meta WHERE key = 'data_date'").fetchone()
    if not row or not row[0]:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    start = datetime.fromisoformat(row[0][:10]) - timedelta(hours=8)
    return start.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _baseline(attributes: Callable[[str], str]) -> None:
    """A baseline log entry for every project and feature there is, at the data date; ``attributes`` gives the
    dialect's JSON of a row ``t``'s attributes."""
    at = _baseline_at()
    for table in LOGGED_TABLES:
        feature = table != "projects"
        op.execute(
            "INSERT INTO changes (at, who, operation, layer, project_id, fid, version, after, geom) "
            f"SELECT '{at}', 'baseline', 'baseline', '{table}', project_id, {'fid' if feature else 'NULL'}, "
            f'version, {attributes(table)}, {"geom" if feature else "NULL"} FROM "{table}" AS t ORDER BY fid')


def _sqlite() -> None:
    op.execute("""CREATE TABLE "changes" (
        "change_id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "at" TEXT NOT NULL, "who" TEXT NOT NULL,
        "department" TEXT, "operation" TEXT NOT NULL CHECK ("operation" IN ('baseline', 'insert', 'update', 'delete')),
        "layer" TEXT NOT NULL, "project_id" TEXT, "fid" INTEGER, "version" INTEGER,
        "conditional" BOOLEAN NOT NULL DEFAULT 0 CHECK ("conditional" IN (0, 1)), "reason" TEXT,
        "before" TEXT, "after" TEXT, "geom" BLOB)""")
    for trigger, event in (("changes_no_update", "UPDATE"), ("changes_no_delete", "DELETE")):
        op.execute(f'CREATE TRIGGER "{trigger}" BEFORE {event} ON "changes" BEGIN '
                   f"SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END")
    op.execute(f"""CREATE TABLE "users" (
        "name" TEXT PRIMARY KEY NOT NULL, "role" TEXT NOT NULL CHECK ("role" IN ({_ROLES})), "department" TEXT,
        "password_hash" TEXT, "token_hash" TEXT UNIQUE, "disabled" BOOLEAN NOT NULL DEFAULT 0,
        "created_at" TEXT NOT NULL, "script" TEXT)""")
    # GDAL and QGIS list the log as a table of the GeoPackage; users stay out of their listings.
    op.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
               "VALUES ('changes', 'attributes', 'changes', '變更記錄', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))")
    op.execute("INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES ('changes', 0)")
    _baseline(lambda table: sqlite_json("t", table))
    op.execute("UPDATE gpkg_ogr_contents SET feature_count = (SELECT count(*) FROM changes) "
               "WHERE table_name = 'changes'")
    op.execute("CREATE INDEX changes_project ON changes (project_id, change_id)")
    op.execute("CREATE INDEX changes_at ON changes (at)")
    op.execute("CREATE INDEX changes_row ON changes (layer, fid, change_id)")
    op.execute("UPDATE registry_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")


def _postgresql() -> None:
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
    op.execute(f"""CREATE TABLE "changes" (
        "change_id" bigserial PRIMARY KEY, "at" timestamptz NOT NULL, "who" text NOT NULL, "department" text,
        "operation" text NOT NULL CHECK ("operation" IN ('baseline', 'insert', 'update', 'delete')),
        "layer" text NOT NULL, "project_id" text, "fid" bigint, "version" integer,
        "conditional" boolean NOT NULL DEFAULT false, "reason" text,
        "before" jsonb, "after" jsonb, "geom" geometry(Geometry, {model.STORAGE_EPSG}))""")
    op.execute(f"""CREATE OR REPLACE FUNCTION "{schema}".registry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$""")
    op.execute(f'CREATE TRIGGER changes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON "changes" '
               f'FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".registry_append_only()')
    op.execute(f"""CREATE TABLE "users" (
        "name" text PRIMARY KEY, "role" text NOT NULL CHECK ("role" IN ({_ROLES})), "department" text,
        "password_hash" text, "token_hash" text UNIQUE, "disabled" boolean NOT NULL DEFAULT false,
        "created_at" text NOT NULL, "script" text)""")
    _baseline(lambda table: "to_jsonb(t) - 'fid' - 'version' - 'geom'")
    op.execute("CREATE INDEX changes_project ON changes (project_id, change_id)")
    op.execute("CREATE INDEX changes_at ON changes (at)")
    op.execute("CREATE INDEX changes_row ON changes (layer, fid, change_id)")
    _postgresql_triggers(schema)
    op.execute("UPDATE registry_meta SET value = (value::bigint + 1)::text WHERE key = 'revision'")


def _postgresql_triggers(schema: str) -> None:
    """Row triggers that count versions and log every change, the registry's own and direct edits alike.

    The registry names its account, department, condition, reason and recorded time in transaction-local
    settings (``registry.*``); a direct edit has none, and is logged under the database role.
    """
    context = """
        who text := coalesce(nullif(current_setting('registry.who', true), ''), current_user);
        dept text := nullif(current_setting('registry.department', true), '');
        cond boolean := coalesce(nullif(current_setting('registry.conditional', true), ''), 'off')::boolean;
        why text := nullif(current_setting('registry.reason', true), '');
        at timestamptz := coalesce(nullif(current_setting('registry.at', true), '')::timestamptz, now());"""
    op.execute(f"""CREATE OR REPLACE FUNCTION "{schema}".registry_next_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $$""")
    for kind, fid, geom in (("project", "NULL", "NULL"), ("feature", "{row}.fid", "{row}.geom")):
        op.execute(f"""CREATE OR REPLACE FUNCTION "{schema}".registry_log_{kind}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE {context}
        BEGIN
            IF TG_OP = 'DELETE' THEN
                INSERT INTO "{schema}".changes (at, who, department, operation, layer, project_id, fid, version,
                    conditional, reason, before, after, geom)
                VALUES (at, who, dept, 'delete', TG_TABLE_NAME, OLD.project_id, {fid.format(row='OLD')},
                    OLD.version, cond, why, to_jsonb(OLD) - 'fid' - 'version' - 'geom', NULL, NULL);
                RETURN OLD;
            END IF;
            INSERT INTO "{schema}".changes (at, who, department, operation, layer, project_id, fid, version,
                conditional, reason, before, after, geom)
            VALUES (at, who, dept, lower(TG_OP), TG_TABLE_NAME, NEW.project_id, {fid.format(row='NEW')},
                NEW.version, cond, why,
                CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) - 'fid' - 'version' - 'geom' END,
                to_jsonb(NEW) - 'fid' - 'version' - 'geom', {geom.format(row='NEW')});
            RETURN NEW;
        END $$""")
    for table in LOGGED_TABLES:
        kind = "project" if table == "projects" else "feature"
        op.execute(f'CREATE TRIGGER registry_version BEFORE UPDATE ON "{table}" FOR EACH ROW '
                   f'WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION "{schema}".registry_next_version()')
        op.execute(f'CREATE TRIGGER registry_log AFTER INSERT OR DELETE ON "{table}" FOR EACH ROW '
                   f'EXECUTE FUNCTION "{schema}".registry_log_{kind}()')
        op.execute(f'CREATE TRIGGER registry_log_update AFTER UPDATE ON "{table}" FOR EACH ROW '
                   f"WHEN (OLD.version IS DISTINCT FROM NEW.version) "
                   f'EXECUTE FUNCTION "{schema}".registry_log_{kind}()')
