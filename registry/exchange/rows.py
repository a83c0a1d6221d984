"""Row-level work of an import: values people write turned into the model's codes, and which rows fail;
and the one rule that keeps spreadsheet cells from being run as formulas (on export) and undoes it (on import).

``registry.validate`` stops at the first bad row of a batch. An import must name every bad row, so
``failing_rows`` runs validate's own checks on halves of a failing group until each failure is one
row (the rules stay in validate.py; only groups that fail are split, so a clean file costs one call).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import model
from ..errors import ValidationError
from ..i18n import gettext, template
from ..text import to_traditional

CHUNK_ROWS = 4096  # a failing batch is searched in groups of this size first
_STREET_SPLIT = re.compile(r"[,,、;;/\s]+")
_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?$")
# Text a spreadsheet runs as a formula begins with = + - @ tab or CR (OWASP, CSV injection). Such text, and
# text that is quotes before one of them, is written with one more ' in front; reading removes one again,
# so every value comes back exactly (and a stored "'=x" is not mistaken for a neutralised "=x").
_FORMULA = r"^'*[=+\-@\t\r]"
_NEUTRALISED = r"^'+[=+\-@\t\r]"


def _codes(pairs: dict[str, str]) -> dict[str, str]:
    """Spellings → code: the code itself, its Chinese label (traditional), both compared case-blind."""
    table = {}
    for code, label in pairs.items():
        table[code.lower()] = code
        table[to_traditional(label).lower()] = code
    return table


_LAYER_CODES = _codes({layer.name: layer.title_zh for layer in model.LAYERS})
# Columns of coded values (model.NAMES: codes, names in either script, aliases), by the kind of name they hold.
_NAMED = {"category": "category", "status": "status", "site_type": "site_type",
          "billboard_action": "billboard_action", "lead_department": "lead_department"}


def map_values(values: pd.Series, convert: Callable[[object], object]) -> pd.Series:
    """``convert`` applied once per distinct value (not per row); missing values stay None."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    converted = np.array([None, *(convert(u) for u in uniques)], dtype=object)
    return pd.Series(converted[codes + 1], index=values.index, dtype=object)


def _layer(value: object) -> object:
    text = str(value).strip()
    return _LAYER_CODES.get(to_traditional(text).lower(), text)


def _named(kind: str) -> Callable[[object], object]:
    """A cell of a coded column as stored (``河道`` → ``rivers``); an unknown one as written, for validate to refuse."""
    def convert(value: object) -> object:
        text = str(value).strip()
        return model.resolve_name(kind, text) or text

    return convert


def _street_codes(value: object) -> object:
    parts = [p for p in _STREET_SPLIT.split(str(value).strip()) if p]
    return ",".join(model.resolve_name("street", p) or p for p in parts)


def _boolean(value: object) -> object:
    """Numbers (1, 0, 1.0) as booleans; text is left to validate, which reads true/false, T/F, 是/否."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return bool(value)
    return value


def _date(value: object) -> object:
    """Dates as ISO text: date and datetime values, and ``2013/9/1`` or ``2013-09-01 00:00:00`` text."""
    if isinstance(value, datetime):  # pandas' Timestamp too
        return value.strftime("%Y-%m-%d")
    if isinstance(value, date):  # how GDAL's DATE fields arrive
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    match = _DATE.match(str(value).strip())
    if match:
        year, month, day = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return value


def normalise_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Codes for what people write (中文 labels, category codes, street names), ISO dates, booleans."""
    out = frame.copy()
    for column in out.columns:
        spec = model.FIELD_BY_NAME.get(column)
        if column == "layer":
            out[column] = map_values(out[column], _layer)
        elif column in _NAMED:
            out[column] = map_values(out[column], _named(_NAMED[column]))
        elif column == "street_codes":
            out[column] = map_values(out[column], _street_codes)
        elif spec is not None and spec.kind == "bool":
            out[column] = map_values(out[column], _boolean)
        elif spec is not None and spec.kind == "date":
            out[column] = map_values(out[column], _date)
    return out


def reason(error: ValidationError) -> str:
    """validate's message for one row, without its position in the group it was checked in (validate names a
    feature ``feature 3 (project 2013-RIV-004)`` in the reader's script; the report says which row it is)."""
    label = re.escape(template("feature %(number)s (project %(id)s)"))
    label = label.replace(re.escape("%(number)s"), r"\d+").replace(re.escape("%(id)s"), r"(?P<id>[^)]*)")
    return re.sub(label, lambda found: gettext("feature of project %(id)s", id=found["id"]),
                  " ".join(error.message.split()))


def failing_rows(count: int, check: Callable[[np.ndarray], object]) -> list[tuple[int, ValidationError]]:
    """Positions (0..count-1) of the rows that ``check`` (given row positions) rejects, with its errors.

    ``check`` raises ValidationError for a group holding a bad row. The whole set is tried once; if it
    fails, groups of CHUNK_ROWS rows, then halves of failing groups, down to single rows. A group that
    fails while both its halves pass (a rule across rows) is reported at its first row.
    """
    def search(rows: np.ndarray, error: ValidationError | None) -> list[tuple[int, ValidationError]]:
        if error is None:
            try:
                check(rows)
                return []
            except ValidationError as exc:
                error = exc
        if len(rows) == 1:
            return [(int(rows[0]), error)]
        half = len(rows) // 2
        found = search(rows[:half], None) + search(rows[half:], None)
        return found or [(int(rows[0]), error)]

    everything = np.arange(count)
    try:
        check(everything)
        return []
    except ValidationError as exc:
        whole = exc
    found = []
    for start in range(0, count, CHUNK_ROWS):
        found.extend(search(everything[start:start + CHUNK_ROWS], None))
    return found or [(0, whole)]


def neutralise_cell(value: object) -> object:
    """A text cell for a spreadsheet: prefixed with ``'`` if it would run as a formula; numbers and the rest as is."""
    if isinstance(value, str) and re.match(_FORMULA, value):
        return "'" + value
    return value


def neutralise_column(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``neutralise_cell`` over an Arrow column of a CSV or XLSX export (columns other than text are left alone)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    return pc.if_else(pc.match_substring_regex(values, _FORMULA), pc.binary_join_element_wise("'", values, ""), values)


def restore_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Text read from a CSV or XLSX with the ``'`` that ``neutralise_cell`` put in front of it removed again."""
    out = frame.copy(deep=False)
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object:  # text among other values (dates, numbers) or missing ones
            marked = values.map(lambda v: isinstance(v, str) and re.match(_NEUTRALISED, v) is not None).astype(bool)
        elif pd.api.types.is_string_dtype(values):
            marked = values.str.contains(_NEUTRALISED, regex=True, na=False)
        else:
            continue
        if marked.any():
            out[column] = values.where(~marked, values[marked].str.slice(1))
    return out
