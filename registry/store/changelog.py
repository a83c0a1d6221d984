"""The change log's shape, shared by the stores and the migrations: what one entry records and how SQL writes it.

Every write of a project or a project feature appends one entry to ``changes`` in the same transaction:
when (UTC), who, the department, the operation, the table and key, the row's version, its attributes
before and after (JSON), and its geometry after. The log is append-only; as-of answers and history come
from it. Triggers write it (SQLite: temporary ones on the registry's own write connection, told who
writes by a one-row temporary table; PostgreSQL: row triggers, told by transaction-local settings, which
also log edits made directly in the tables).
"""

from __future__ import annotations

from .. import model

OPERATIONS = ("baseline", "insert", "update", "delete")
LOGGED_TABLES = ("projects", *(layer.name for layer in model.PROJECT_LAYERS))


def attribute_columns(table: str) -> tuple[str, ...]:
    """The attributes an entry records for a row of ``table`` (not fid, version or geometry)."""
    if table == "projects":
        return model.PROJECT_COLUMNS
    return tuple(name for name, _ in model.LAYER_BY_NAME[table].columns)


def sqlite_json(row: str, table: str) -> str:
    """SQLite's JSON object of a row's attributes (``row`` is NEW, OLD or a table alias)."""
    pairs = ", ".join(f"'{c}', {row}.\"{c}\"" for c in attribute_columns(table))
    return f"json_object({pairs})"


def sqlite_log_triggers() -> list[str]:
    """Temporary triggers logging every row the registry's own write connection changes.

    They read who writes from ``temp.write_context`` (one row, set by the store's transaction), so a
    change is logged once, in the write's own transaction; they exist on that connection only.
    """
    statements = []
    for table in LOGGED_TABLES:
        feature = table != "projects"
        fid = "{row}.fid" if feature else "NULL"
        geom = "{row}.geom" if feature else "NULL"
        for op, when, row in (("insert", "AFTER INSERT", "NEW"), ("update", "AFTER UPDATE", "NEW"),
                              ("delete", "AFTER DELETE", "OLD")):
            before = sqlite_json("OLD", table) if op != "insert" else "NULL"
            after = sqlite_json("NEW", table) if op != "delete" else "NULL"
            guard = " WHEN OLD.version IS NOT NEW.version" if op == "update" else ""
            statements.append(
                f'CREATE TEMP TRIGGER "log_{table}_{op}" {when} ON main."{table}"{guard} BEGIN '
                "INSERT INTO changes (at, who, department, operation, layer, project_id, fid, version, "
                "conditional, reason, before, after, geom) "
                f"SELECT at, who, department, '{op}', '{table}', {row}.project_id, {fid.format(row=row)}, "
                f"{row}.version, conditional, reason, {before}, {after}, "
                f"{geom.format(row=row) if op != 'delete' else 'NULL'} FROM write_context; END")
    return statements
