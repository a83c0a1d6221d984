"""Rows between pandas and SQL, shared by the stores: parameters a driver takes, the typed projects frame.

Both stores keep the same ``projects`` table (columns, types, constraints) and hand the registry the
same frames, so these helpers live once, here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import model
from ..errors import ValidationError
from ..i18n import gettext
from ..validate import typed_rows

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
