"""Validation of projects and features before they reach a store.

Every store calls these, so the rules (codes, types, geometry validity, CRS, plausible
coordinates, the limits on text length and vertices of ``registry.limits``) hold whichever store
is used. Errors name the project, column and what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pandas.api.internals import create_dataframe_from_blocks

from . import limits, model, script
from .errors import ValidationError
from .i18n import gettext
from .text import to_traditional_all

_ID_RE = re.compile(r"^(\d{4})-([A-Z]{3})-(\d{3})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Coordinates (EPSG:4490 lon/lat) a feature of the park can plausibly have: Suzhou and around.
PLAUSIBLE_LON = (120.3, 121.2)
PLAUSIBLE_LAT = (31.0, 31.7)
_TEXT_COLUMNS = ("name", "lead_department", "delay_reason", "tasks", "notes")
_CODED = {field: kind for kind, field in model.NAME_FIELDS.items()}  # columns of coded values (model.NAMES)
_STREET_SEPARATORS = re.compile(r"[,,、;;/\s]+")
WRITE_MODES = ("insert", "upsert")  # insert refuses projects that exist; upsert replaces them whole
_FEW = 8  # up to this many rows, a column's cells are converted one by one rather than each distinct value once


def _fail(message: str, param: str | None = None) -> None:
    raise ValidationError(message, param=param)


def _null(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return value != value  # NaN
    return isinstance(value, np.datetime64) and bool(np.isnat(value))


def check_mode(mode: str) -> None:
    """Refuse a write mode other than insert or upsert."""
    if mode not in WRITE_MODES:
        _fail(gettext("mode must be insert or upsert, got %(value)s", value=repr(mode)), "mode")


def check_projects(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the projects normalised to the ``projects`` table's columns and types, or raise.

    Checks run a column at a time (each distinct value converted once), and the error names the
    first failing row, as a row-by-row check would.
    """
    unknown = [c for c in frame.columns if c not in model.FIELD_BY_NAME]
    if unknown:
        _fail(gettext("unknown project column(s) %(columns)s; valid columns: %(valid)s",
                      columns=", ".join(map(str, unknown)), valid=", ".join(model.PROJECT_COLUMNS)), unknown[0])
    missing = [f.name for f in model.PROJECT_FIELDS if f.required and f.name not in frame.columns]
    if missing:
        _fail(gettext("missing required project column(s): %(columns)s", columns=", ".join(missing)), missing[0])
    rows = frame.reset_index(drop=True)
    given = rows.to_numpy(dtype=object)  # one array (a frame's column costs more than converting an edit's cell)
    at = {name: j for j, name in enumerate(rows.columns)}
    ids = given[:, at["project_id"]]
    converted = np.empty((len(rows), len(model.PROJECT_FIELDS)), dtype=object)
    for j, field in enumerate(model.PROJECT_FIELDS):
        converted[:, j] = _convert_column(field, rows, given[:, at[field.name]] if field.name in at else None, ids)
    out = pd.DataFrame(converted, columns=list(model.PROJECT_COLUMNS), dtype=object)
    dup = out["project_id"][out["project_id"].duplicated()]
    if len(dup):
        _fail(gettext("duplicate project_id %(id)s in the batch", id=dup.iloc[0]), "project_id")
    _check_rows(out)
    return typed_rows(converted, model.PROJECT_COLUMNS)


class _Invalid:
    """The result of converting a value that does not fit the field (never a real value)."""


_INVALID = _Invalid()


@dataclass(frozen=True)
class _TooLong:
    """A text value longer than its field allows (never a real value), kept as its length only."""

    length: int


def _short(value: object) -> str:
    """A value as a message quotes it: its repr, cut to 60 characters (a cell may hold megabytes)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:56] + "...'"


def _convert_column(field: model.Field, rows: pd.DataFrame, values: np.ndarray | None, ids: np.ndarray) -> np.ndarray:
    """A column (``values``, the cells of ``rows``' column) in the field's Python types (None for empty cells), or
    raise naming the first bad row."""
    if values is None:
        converted = np.full(len(ids), None, dtype=object)
    elif len(values) <= _FEW:  # an edit's row or two: converting each cell costs less than finding the distinct ones
        converted = np.empty(len(values), dtype=object)
        converted[:] = _convert_values(field, values.tolist())
    else:
        codes, uniques = pd.factorize(rows[field.name], use_na_sentinel=True)
        table = np.empty(len(uniques) + 1, dtype=object)  # [missing, each distinct value converted]
        table[1:] = _convert_values(field, list(uniques))
        converted = table[codes + 1]
    invalid = np.fromiter((v is _INVALID or isinstance(v, _TooLong) for v in converted), bool, len(converted))
    bad = invalid | (np.equal(converted, None) if field.required else False)
    if bad.any():
        at = int(np.argmax(bad))
        if not invalid[at]:
            _fail(gettext("project %(id)s: %(field)s is required", id=ids[at], field=field.name), field.name)
        if isinstance(converted[at], _TooLong):
            _fail(gettext("project %(id)s: %(field)s has %(count)s characters, more than the %(limit)s allowed; "
                          "shorten it", id=_short(ids[at]), field=field.name, count=converted[at].length,
                          limit=limits.text_limit(field.name)), field.name)
        kind = {"date": gettext("an ISO date YYYY-MM-DD"), "bool": gettext("true or false"),
                "integer": gettext("an integer"), "real": gettext("a number")}.get(field.kind, field.kind)
        _fail(gettext("project %(id)s: %(field)s must be %(kind)s, got %(value)s", id=ids[at], field=field.name,
                      kind=kind, value=_short(rows[field.name].iloc[at])), field.name)
    return converted


def _convert_values(field: model.Field, values: list[object]) -> list[object]:
    """Distinct cells converted: the field's Python type, None for empty cells, _INVALID for misfits."""
    converted = []
    for value in values:
        try:
            converted.append(_convert(field, value))
        except (TypeError, ValueError):
            converted.append(_INVALID)
    if field.kind == "text":  # before OpenCC, which would convert a megabyte only to refuse it
        limit = limits.text_limit(field.name)
        converted = [_TooLong(len(v)) if isinstance(v, str) and len(v) > limit else v for v in converted]
    if field.name in _TEXT_COLUMNS:
        texts = [i for i, v in enumerate(converted) if isinstance(v, str)]
        for i, text in zip(texts, to_traditional_all([converted[i] for i in texts])):
            converted[i] = text
    if field.name in _CODED:
        converted = [_resolved(_CODED[field.name], v) if isinstance(v, str) else v for v in converted]
    return converted


def _resolved(kind: str, value: str) -> str:
    """A coded value given by code or name (either script, or an alias) as stored; an unknown one as given,
    for the rules to refuse (a lead department the model does not name is kept: the column is free text)."""
    if kind == "street":  # comma-separated codes, written also as names separated by 、 or ;
        return ",".join(model.resolve_name(kind, part) or part for part in _STREET_SEPARATORS.split(value) if part)
    return model.resolve_name(kind, value) or value


def _convert(field: model.Field, value: object) -> object:
    """One cell to the field's Python type; None for empty cells; TypeError or ValueError if it does not fit."""
    if _null(value) or (isinstance(value, str) and not value.strip()):
        return None
    if field.kind == "text":
        return str(value).strip()
    if field.kind == "integer":
        number = float(value)
        if number != int(number):
            raise ValueError
        return int(number)
    if field.kind == "real":
        return float(value)
    if field.kind == "bool":
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "t", "是"):
            return True
        if text in ("0", "false", "no", "f", "否"):
            return False
        raise ValueError
    if field.kind == "date":
        text = str(value)[:10] if not isinstance(value, str) else value.strip()
        if not _DATE_RE.match(text):
            raise ValueError
        pd.Timestamp(text)  # rejects 2013-02-30
        return text
    raise AssertionError(field.kind)


def _check_rows(out: pd.DataFrame) -> None:
    """The rules within a project (id form, codes, ranges), checked for all rows at once.

    Raises for the first row breaking any rule, and for that row the first rule in this order. ``out`` holds the
    converted cells (Python values, None for empty ones); the rules test its columns as NumPy arrays, which cost an
    edit's one row far less than pandas' operations.
    """
    cells = out.to_numpy(dtype=object)
    column = {name: cells[:, j] for j, name in enumerate(out.columns)}
    parts = [_ID_RE.search(v) if isinstance(v, str) else None for v in column["project_id"]]
    id_ok = np.array([p is not None for p in parts], dtype=bool)
    category = column["category"]
    known = _within(category, model.CATEGORY_BY_SLUG)
    years = column["year"].astype(np.int64)
    mismatch = np.array([ok and k and (p[2] != model.CATEGORY_BY_SLUG[c].code or int(p[1]) != y)
                         for ok, k, p, c, y in zip(id_ok, known, parts, category, years)], dtype=bool)
    status = column["status"]
    unknown_streets = _unknown_streets(column["street_codes"])
    street_bad = [unknown_streets[v] for v in column["street_codes"]]

    def unknown_code(name: str, valid: dict[str, str]) -> np.ndarray:
        return ~np.equal(column[name], None) & ~_within(column[name], valid)

    checks: list[tuple[np.ndarray, str, Callable[[pd.Series], str]]] = [
        (~id_ok, "project_id",
         lambda r: gettext("project_id %(value)s is not of the form YEAR-CAT-NNN (e.g. 2013-RIV-004)",
                           value=repr(r["project_id"]))),
        (~known, "category", lambda r: _unknown(r, "category", r["category"], "category")),
        (mismatch, "project_id",
         lambda r: gettext("project %(id)s: id does not match year %(year)s and category %(category)s (%(form)s)",
                           id=r["project_id"], year=r["year"], category=r["category"],
                           form=f"{r['year']}-{model.CATEGORY_BY_SLUG[r['category']].code}-NNN")),
        ((years < 1990) | (years > 2100), "year",
         lambda r: gettext("project %(id)s: year %(year)s is out of range", id=r["project_id"], year=r["year"])),
        (_numbers(column["investment_yuan"]) < 0, "investment_yuan", lambda r: _negative(r, "investment_yuan")),
        (~_within(status, model.STATUSES), "status", lambda r: _unknown(r, "status", r["status"], "status")),
        ((status == "delayed") & np.equal(column["delay_reason"], None), "delay_reason",
         lambda r: gettext("project %(id)s: a delayed project needs a delay_reason", id=r["project_id"])),
        (np.array([b is not None for b in street_bad], dtype=bool), "street_codes",
         lambda r: _unknown(r, "street_codes", street_bad[r.name], "street")),
        (unknown_code("site_type", model.SITE_TYPES), "site_type",
         lambda r: _unknown(r, "site_type", r["site_type"], "site_type")),
        (unknown_code("billboard_action", model.BILLBOARD_ACTIONS), "billboard_action",
         lambda r: _unknown(r, "billboard_action", r["billboard_action"], "billboard_action")),
    ]
    progress = _numbers(column["progress_pct"])
    checks.append(((progress < 0) | (progress > 100), "progress_pct",
                   lambda r: gettext("project %(id)s: progress_pct must be 0–100, got %(value)s", id=r["project_id"],
                                     value=r["progress_pct"])))
    for name in ("length_m", "area_m2", "stalls", "parking_spaces", "dredged_m3", "investment_completed_yuan"):
        checks.append((_numbers(column[name]) < 0, name, lambda r, c=name: _negative(r, c)))
    broken = np.column_stack([mask for mask, _, _ in checks])
    failing = broken.any(axis=1)
    if failing.any():
        at = int(np.argmax(failing))
        _, param, message = checks[int(np.argmax(broken[at]))]
        _fail(message(out.iloc[at]), param)


def _within(values: np.ndarray, valid: Collection[str]) -> np.ndarray:
    """Whether each value is one of ``valid`` (None is not)."""
    return np.array([v in valid for v in values], dtype=bool)


def _numbers(values: np.ndarray) -> np.ndarray:
    """Converted numbers as floats, NaN for empty cells (which no comparison holds for)."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _unknown(row: pd.Series, field: str, value: object, kind: str) -> str:
    """A message refusing a coded value, listing the valid ones (codes with their names in the reader's script)."""
    return gettext("project %(id)s: unknown %(field)s %(value)s; valid: %(names)s", id=row["project_id"], field=field,
                   value=repr(value), names=model.accepted_names(kind, script.current()))


def _negative(row: pd.Series, field: str) -> str:
    return gettext("project %(id)s: %(field)s must be >= 0, got %(value)s", id=row["project_id"], field=field,
                   value=row[field])


def _unknown_streets(column: np.ndarray) -> dict[str, str | None]:
    """Each distinct street_codes value → its first code that names no street office (None if all do)."""
    return {value: next((c for c in value.split(",") if c not in model.STREETS), None) for value in set(column)}


def check_reference(layer: str, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A whole reference layer's new content (street boundaries, lakes...) checked as ``check_geometries`` does."""
    spec = model.LAYER_BY_NAME.get(layer)
    if spec is None or spec.kind != "reference":
        _fail(gettext("%(layer)s is not a reference layer; valid: %(layers)s", layer=repr(layer),
                      layers=", ".join(x.name for x in model.REFERENCE_LAYERS)), "layer")
    missing = [n for n, _ in spec.columns if n not in frame.columns]
    if missing:
        _fail(gettext("layer %(layer)s: missing column(s) %(columns)s", layer=layer, columns=", ".join(missing)),
              missing[0])
    for name, kind in spec.columns:
        if kind == "TEXT":
            _check_lengths(layer, frame, name, frame[name].to_numpy(dtype=object))
    return check_geometries(layer, frame)


def _check_lengths(layer: str, frame: pd.DataFrame, column: str, values: np.ndarray) -> None:
    """Refuse a text value of a layer's column longer than ``limits.MAX_SHORT_TEXT_CHARS``."""
    lengths = np.fromiter((len(v) if isinstance(v, str) else 0 for v in values), np.int64, len(values))
    if (lengths > limits.MAX_SHORT_TEXT_CHARS).any():
        i = int(np.argmax(lengths > limits.MAX_SHORT_TEXT_CHARS))
        _fail(gettext("layer %(layer)s: %(row)s: %(field)s has %(count)s characters, more than the %(limit)s allowed; "
                      "shorten it", layer=layer, row=_label(frame, i), field=column, count=lengths[i],
                      limit=limits.MAX_SHORT_TEXT_CHARS), column)


def check_geometries(layer: str, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``frame`` in EPSG:4490 with the layer's geometry type, or raise naming the row.

    Rejects a missing CRS, empty or invalid geometry, the wrong geometry type, coordinates outside
    the park's surroundings and swapped longitude/latitude.
    """
    spec = model.LAYER_BY_NAME.get(layer)
    if spec is None:
        _fail(gettext("unknown layer %(layer)s; valid: %(layers)s", layer=repr(layer),
                      layers=", ".join(model.LAYER_BY_NAME)), "layer")
    if frame.crs is None:
        _fail(gettext("layer %(layer)s: the data have no CRS; name one (e.g. EPSG:4490)", layer=layer), "crs")
    vertices = shapely.get_num_coordinates(frame.geometry.values)
    if (vertices > limits.MAX_VERTICES).any():
        i = int(np.argmax(vertices > limits.MAX_VERTICES))
        _fail(gettext("layer %(layer)s: %(row)s has %(count)s vertices, more than the %(limit)s allowed; simplify it "
                      "(QGIS: Vector > Geometry Tools > Simplify)", layer=layer, row=_label(frame, i),
                      count=vertices[i], limit=limits.MAX_VERTICES), "geometry")
    if frame.crs.to_epsg() != model.STORAGE_EPSG:
        frame = frame.to_crs(model.STORAGE_EPSG)
    geoms = frame.geometry.values
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        _fail(gettext("layer %(layer)s: %(row)s has no geometry", layer=layer, row=_label(frame, int(np.argmax(bad)))),
              "geometry")
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        i = int(np.argmax(invalid))
        _fail(gettext("layer %(layer)s: %(row)s has an invalid geometry (%(reason)s)", layer=layer,
                      row=_label(frame, i), reason=shapely.is_valid_reason(geoms[i])), "geometry")
    want = spec.geometry_type
    types = shapely.get_type_id(geoms)
    single = {"MultiLineString": 1, "MultiPolygon": 3, "Point": None}[want]
    multi = {"MultiLineString": 5, "MultiPolygon": 6, "Point": 0}[want]
    wrong = (types != multi) & (types != (single if single is not None else -1))
    if wrong.any():
        i = int(np.argmax(wrong))
        _fail(gettext("layer %(layer)s: %(row)s is a %(type)s, the layer holds %(want)s", layer=layer,
                      row=_label(frame, i), type=geoms[i].geom_type, want=want), "geometry")
    geoms = as_multi(geoms)
    _check_coordinates(layer, geoms, frame)
    out = frame.copy()
    out[frame.geometry.name] = geoms
    return out


def as_multi(geoms: np.ndarray) -> np.ndarray:
    """LineStrings and Polygons as one-part MultiLineStrings and MultiPolygons (the layers' types)."""
    types = shapely.get_type_id(geoms)
    out = geoms
    for single, build in ((1, shapely.multilinestrings), (3, shapely.multipolygons)):
        picked = types == single
        if picked.any():
            out = out.copy() if out is geoms else out
            out[picked] = build(geoms[picked], indices=np.arange(int(picked.sum())))
    return out


def _label(frame: gpd.GeoDataFrame, at: int) -> str:
    """How a message names row ``at``: ``feature 3 (project 2013-RIV-004)``."""
    if "project_id" in frame.columns:
        return gettext("feature %(number)s (project %(id)s)", number=at + 1, id=frame["project_id"].iloc[at])
    return gettext("feature %(number)s", number=at + 1)


def _check_coordinates(layer: str, geoms: np.ndarray, frame: gpd.GeoDataFrame) -> None:
    bounds = shapely.bounds(geoms)
    lon_ok = (bounds[:, 0] >= PLAUSIBLE_LON[0]) & (bounds[:, 2] <= PLAUSIBLE_LON[1])
    lat_ok = (bounds[:, 1] >= PLAUSIBLE_LAT[0]) & (bounds[:, 3] <= PLAUSIBLE_LAT[1])
    bad = ~(lon_ok & lat_ok)
    if not bad.any():
        return
    i = int(np.argmax(bad))
    swapped = (PLAUSIBLE_LAT[0] <= bounds[i, 0] <= PLAUSIBLE_LAT[1]
               and PLAUSIBLE_LON[0] <= bounds[i, 1] <= PLAUSIBLE_LON[1])
    if swapped:
        _fail(gettext("layer %(layer)s: %(row)s has latitude and longitude swapped (x=%(x).5f, y=%(y).5f); give "
                      "x=longitude, y=latitude", layer=layer, row=_label(frame, i), x=bounds[i, 0], y=bounds[i, 1]),
              "geometry")
    _fail(gettext("layer %(layer)s: %(row)s lies outside the park's surroundings (lon %(lon)s, lat %(lat)s, "
                  "EPSG:4490); check its CRS", layer=layer, row=_label(frame, i),
                  lon=f"{PLAUSIBLE_LON[0]}–{PLAUSIBLE_LON[1]}", lat=f"{PLAUSIBLE_LAT[0]}–{PLAUSIBLE_LAT[1]}"),
          "geometry")


def check_features(layer: str, frame: gpd.GeoDataFrame, categories: dict[str, str]) -> gpd.GeoDataFrame:
    """Validate one project layer's features of a batch; ``categories`` maps project_id → category."""
    spec = model.LAYER_BY_NAME.get(layer)
    if spec is None or spec.kind != "project":
        _fail(gettext("%(layer)s is not a project layer; valid: %(layers)s", layer=repr(layer),
                      layers=", ".join(x.name for x in model.PROJECT_LAYERS)), "layer")
    if "project_id" not in frame.columns:
        _fail(gettext("layer %(layer)s: features need a project_id column", layer=layer), "project_id")
    want = model.layer_category(layer)
    owners = frame["project_id"].map(categories).to_numpy(dtype=object)
    outside = pd.isna(owners)
    elsewhere = ~outside & (owners != want)
    if (outside | elsewhere).any():
        at = int(np.argmax(outside | elsewhere))
        pid = frame["project_id"].iloc[at]
        if outside[at]:
            _fail(gettext("layer %(layer)s: feature of project %(id)s, which is not in the batch", layer=layer, id=pid),
                  "project_id")
        _fail(gettext("layer %(layer)s: project %(id)s is of category %(category)s; its features belong in layer "
                      "%(category)s", layer=layer, id=pid, category=owners[at]), "project_id")
    frame = check_geometries(layer, frame)
    names = (frame["name"] if "name" in frame.columns else pd.Series(None, index=frame.index)).to_numpy(
        dtype=object, copy=True)
    given = ~pd.isna(names)
    names[given] = [str(n) for n in names[given]]
    _check_lengths(layer, frame, "name", names)
    names[given] = to_traditional_all(list(names[given]))
    return frame.assign(name=names)[["project_id", "name", frame.geometry.name]]


def typed_rows(rows: Sequence[tuple] | np.ndarray, columns: Sequence[str],
               index: pd.Index | None = None) -> pd.DataFrame:
    """Rows of the projects table (tuples in ``columns``' order, as a driver returns them) in the model's pandas
    types, as stores and ``check_projects`` give them; columns that are not project fields stay as read.

    Built in NumPy as pandas keeps a frame (one 2-D block per type, an array per nullable integer column) and made
    a frame of those blocks at once: an edit reads one project's row twice and checks it once, and a frame made
    column by column costs more than the row's SQL.
    """
    values = np.empty((len(rows), len(columns)), dtype=object)
    if len(rows):
        values[:] = rows
    return typed_columns([values[:, j] for j in range(len(columns))], columns, index)


def typed_columns(arrays: Sequence[np.ndarray], columns: Sequence[str], index: pd.Index | None = None) -> pd.DataFrame:
    """``typed_rows`` of the table's columns (``arrays``, in ``columns``' order): values as a driver gives them, or
    already typed (a column reader's numbers: then they are not made Python objects only to be typed again)."""
    index = pd.RangeIndex(len(arrays[0]) if len(arrays) else 0) if index is None else index
    blocks, groups = [], {}
    for j, name in enumerate(columns):
        field = model.FIELD_BY_NAME.get(name)
        kind = field.kind if field is not None else None
        if kind == "integer" and not field.required:
            blocks.append((pd.array(arrays[j], dtype="Int64"), np.array([j])))
        else:
            groups.setdefault({"bool": bool, "integer": np.int64, "real": np.float64}.get(kind, object), []).append(j)
    for kind, places in groups.items():
        block = np.empty((len(places), len(index)), dtype=kind)
        for row, j in enumerate(places):
            block[row] = arrays[j] if kind is object else np.asarray(arrays[j]).astype(kind, copy=False)
        if kind is object:
            block[pd.isna(block)] = None  # missing text is None (pandas would make strings of the rest)
        blocks.append((block, np.array(places)))
    return create_dataframe_from_blocks(blocks, index=index, columns=pd.Index(list(columns), dtype=object))
