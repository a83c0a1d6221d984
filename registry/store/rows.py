"""Rows between pandas and SQL, shared by the stores: parameters a driver takes, the typed projects frame.

Both stores keep the same ``projects`` table (columns, types, constraints) and hand the registry the
same frames, so these helpers live once, here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import model
from ..errors import ValidationError
from ..i18n import gettext

# Constraints of the projects table in both stores (SQL both SQLite and PostgreSQL read).
_CHECKS = {
    "category": f"category IN ({', '.join(repr(c) for c in model.CATEGORY_BY_SLUG)})",
    "status": f"status IN ({', '.join(repr(s) for s in model.STATUSES)})",
    "investment_yuan": "investment_yuan >= 0",
}


def project_column_sql(field: model.Field, sql_type: str, check: str | None = None) -> str:
    """A column of the projects table: its type, NOT NULL when required, UNIQUE ids, and its CHECK."""
    sql = f'"{field.name}" {sql_type}'
    if field.required:
        sql += " NOT NULL"
    if field.name == "project_id":
        sql += " UNIQUE"
    check = check or _CHECKS.get(field.name)
    if check:
        sql += f" CHECK ({check})"
    return sql


def sql_values(series: pd.Series) -> list[object]:
    """Column values as SQL parameters: None for missing, plain ints/floats/strings."""
    values = series.to_numpy(dtype=object, na_value=None).tolist()
    if series.dtype != object:  # numpy's own types become Python's on the way to object
        return values
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def sql_rows(frame: pd.DataFrame) -> list[tuple]:
    """A frame's rows as SQL parameters, as ``sql_values`` gives each column (converted at once: cheaper for a
    few rows than a column at a time)."""
    return [tuple(v.item() if isinstance(v, np.generic) else v for v in row)
            for row in frame.to_numpy(dtype=object, na_value=None).tolist()]


def iso_dates(series: pd.Series) -> pd.Series:
    """Dates (as strings or timestamps) as ISO ``YYYY-MM-DD`` text, the form stores keep and return."""
    try:
        dates = pd.to_datetime(series, format="ISO8601")
    except (ValueError, TypeError):
        raise ValidationError(gettext("column %(field)s: dates must be YYYY-MM-DD", field=series.name),
                              param=series.name) from None
    return dates.dt.strftime("%Y-%m-%d").where(dates.notna(), None)


def typed_projects(frame: pd.DataFrame) -> pd.DataFrame:
    """Give the projects table's columns the model's pandas types (dates stay ISO strings; missing text is None)."""
    return typed_rows(frame.to_numpy(dtype=object), list(frame.columns), frame.index)


def typed_rows(rows: Sequence[tuple] | np.ndarray, columns: Sequence[str],
               index: pd.Index | None = None) -> pd.DataFrame:
    """Rows of the projects table (tuples in ``columns``' order, as a driver returns them) as ``typed_projects``
    gives them; columns that are not project fields stay as read.

    Built column by column in NumPy and made a frame once: an edit loads one project's row twice, and pandas'
    per-column conversions cost more than the row's SQL.
    """
    values = np.empty((len(rows), len(columns)), dtype=object)
    if len(rows):
        values[:] = rows
    index = pd.RangeIndex(len(rows)) if index is None else index  # one index object: no column is aligned to it
    data = {}
    for j, name in enumerate(columns):
        field, column = model.FIELD_BY_NAME.get(name), values[:, j]
        kind = field.kind if field is not None else None
        if kind == "bool":
            data[name] = column.astype(bool)
        elif kind == "integer":
            data[name] = np.asarray(column, dtype=np.int64) if field.required else pd.array(column, dtype="Int64")
        elif kind == "real":
            data[name] = np.asarray(column, dtype=np.float64)
        else:
            column = column.copy()
            column[pd.isna(column)] = None
            data[name] = pd.Series(column, index=index, dtype=object, copy=False)  # pandas would infer strings
    return pd.DataFrame(data, index=index, columns=pd.Index(list(columns), dtype=object), copy=False)
