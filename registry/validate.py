"""Validation of projects and features before they reach a store.

Every store calls these, so the rules (codes, types, geometry validity, CRS, plausible
coordinates) hold whichever store is used. Errors name the project, column and what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import model
from .errors import ValidationError
from .text import to_traditional

_ID_RE = re.compile(r"^(\d{4})-([A-Z]{3})-(\d{3})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Coordinates (EPSG:4490 lon/lat) a feature of the park can plausibly have: Suzhou and around.
PLAUSIBLE_LON = (120.3, 121.2)
PLAUSIBLE_LAT = (31.0, 31.7)
_TEXT_COLUMNS = ("name", "lead_department", "delay_reason", "tasks", "notes")


def _fail(message: str, param: str | None = None) -> None:
    raise ValidationError(message, param=param)


def _null(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return value != value  # NaN
    return isinstance(value, np.datetime64) and bool(np.isnat(value))


def check_projects(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the projects normalised to the ``projects`` table's columns and types, or raise."""
    unknown = [c for c in frame.columns if c not in model.FIELD_BY_NAME]
    if unknown:
        _fail(f"unknown project column(s) {', '.join(map(str, unknown))}; "
              f"valid columns: {', '.join(model.PROJECT_COLUMNS)}", unknown[0])
    missing = [f.name for f in model.PROJECT_FIELDS if f.required and f.name not in frame.columns]
    if missing:
        _fail(f"missing required project column(s): {', '.join(missing)}", missing[0])
    out = pd.DataFrame(index=range(len(frame)))
    rows = frame.reset_index(drop=True)
    ids = rows["project_id"].tolist()
    for field in model.PROJECT_FIELDS:
        values = rows[field.name] if field.name in rows.columns else pd.Series([None] * len(rows))
        out[field.name] = pd.Series([_convert(field, v, pid) for v, pid in zip(values, ids)], dtype=object)
    dup = out["project_id"][out["project_id"].duplicated()]
    if len(dup):
        _fail(f"duplicate project_id {dup.iloc[0]} in the batch", "project_id")
    for row in out.itertuples(index=False):
        _check_row(row)
    for column in ("year", "investment_yuan"):
        out[column] = out[column].astype("int64")
    for column in ("stalls", "parking_spaces"):
        out[column] = out[column].astype("Int64")
    for column in ("length_m", "area_m2", "dredged_m3"):
        out[column] = out[column].astype("float64")
    for column in ("in_statement", "beyond_statement"):
        out[column] = out[column].astype(bool)
    return out


def _convert(field: model.Field, value: object, pid: object) -> object:
    """One cell to the field's Python type; None for empty optional cells."""
    if _null(value) or (isinstance(value, str) and not value.strip()):
        if field.required:
            _fail(f"project {pid}: {field.name} is required", field.name)
        return None
    try:
        if field.kind == "text":
            text = str(value).strip()
            return to_traditional(text) if field.name in _TEXT_COLUMNS else text
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
    except (TypeError, ValueError):
        kind = {"date": "an ISO date YYYY-MM-DD", "bool": "true or false"}.get(field.kind, field.kind)
        _fail(f"project {pid}: {field.name} must be {kind}, got {value!r}", field.name)
    raise AssertionError(field.kind)


def _check_row(row: object) -> None:
    pid = row.project_id
    match = _ID_RE.match(pid)
    if not match:
        _fail(f"project_id {pid!r} is not of the form YEAR-CAT-NNN (e.g. 2013-RIV-004)", "project_id")
    if row.category not in model.CATEGORY_BY_SLUG:
        _fail(f"project {pid}: unknown category {row.category!r}; valid: "
              f"{', '.join(model.CATEGORY_BY_SLUG)}", "category")
    if match.group(2) != model.CATEGORY_BY_SLUG[row.category].code or int(match.group(1)) != row.year:
        _fail(f"project {pid}: id does not match year {row.year} and category {row.category} "
              f"({row.year}-{model.CATEGORY_BY_SLUG[row.category].code}-NNN)", "project_id")
    if not 1990 <= row.year <= 2100:
        _fail(f"project {pid}: year {row.year} is out of range", "year")
    if row.investment_yuan < 0:
        _fail(f"project {pid}: investment_yuan must be >= 0, got {row.investment_yuan}",
              "investment_yuan")
    if row.status not in model.STATUSES:
        _fail(f"project {pid}: unknown status {row.status!r}; valid: {', '.join(model.STATUSES)}",
              "status")
    if row.status == "delayed" and not row.delay_reason:
        _fail(f"project {pid}: a delayed project needs a delay_reason", "delay_reason")
    codes = row.street_codes.split(",")
    bad = [c for c in codes if c not in model.STREETS]
    if bad:
        _fail(f"project {pid}: unknown street code {bad[0]!r}; valid: {', '.join(model.STREETS)}",
              "street_codes")
    if row.site_type is not None and row.site_type not in model.SITE_TYPES:
        _fail(f"project {pid}: unknown site_type {row.site_type!r}; valid: "
              f"{', '.join(model.SITE_TYPES)}", "site_type")
    if row.billboard_action is not None and row.billboard_action not in model.BILLBOARD_ACTIONS:
        _fail(f"project {pid}: unknown billboard_action {row.billboard_action!r}; valid: "
              f"{', '.join(model.BILLBOARD_ACTIONS)}", "billboard_action")
    for column in ("length_m", "area_m2", "stalls", "parking_spaces", "dredged_m3"):
        value = getattr(row, column)
        if value is not None and value < 0:
            _fail(f"project {pid}: {column} must be >= 0, got {value}", column)


def check_geometries(layer: str, frame: gpd.GeoDataFrame, label: str = "feature") -> gpd.GeoDataFrame:
    """Return ``frame`` in EPSG:4490 with the layer's geometry type, or raise naming the row.

    Rejects a missing CRS, empty or invalid geometry, the wrong geometry type, coordinates outside
    the park's surroundings and swapped longitude/latitude.
    """
    spec = model.LAYER_BY_NAME.get(layer)
    if spec is None:
        _fail(f"unknown layer {layer!r}; valid: {', '.join(model.LAYER_BY_NAME)}", "layer")
    if frame.crs is None:
        _fail(f"layer {layer}: the data have no CRS; name one (e.g. EPSG:4490)", "crs")
    if frame.crs.to_epsg() != model.STORAGE_EPSG:
        frame = frame.to_crs(model.STORAGE_EPSG)
    geoms = frame.geometry.values
    labels = _labels(frame, label)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        _fail(f"layer {layer}: {labels[int(np.argmax(bad))]} has no geometry", "geometry")
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        i = int(np.argmax(invalid))
        _fail(f"layer {layer}: {labels[i]} has an invalid geometry "
              f"({shapely.is_valid_reason(geoms[i])})", "geometry")
    want = spec.geometry_type
    types = shapely.get_type_id(geoms)
    single = {"MultiLineString": 1, "MultiPolygon": 3, "Point": None}[want]
    multi = {"MultiLineString": 5, "MultiPolygon": 6, "Point": 0}[want]
    wrong = (types != multi) & (types != (single if single is not None else -1))
    if wrong.any():
        i = int(np.argmax(wrong))
        _fail(f"layer {layer}: {labels[i]} is a {geoms[i].geom_type}, the layer holds {want}",
              "geometry")
    if single is not None and (types == single).any():
        promote = np.asarray(types == single)
        geoms = geoms.copy()
        parts = [shapely.multilinestrings, shapely.multipolygons][single == 3]
        geoms[promote] = [parts([g]) for g in geoms[promote]]
    _check_coordinates(layer, geoms, labels)
    out = frame.copy()
    out[frame.geometry.name] = geoms
    return out


def _labels(frame: gpd.GeoDataFrame, label: str) -> list[str]:
    if "project_id" in frame.columns:
        return [f"{label} {i + 1} (project {p})" for i, p in enumerate(frame["project_id"])]
    return [f"{label} {i + 1}" for i in range(len(frame))]


def _check_coordinates(layer: str, geoms: np.ndarray, labels: list[str]) -> None:
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
        _fail(f"layer {layer}: {labels[i]} has latitude and longitude swapped "
              f"(x={bounds[i, 0]:.5f}, y={bounds[i, 1]:.5f}); give x=longitude, y=latitude",
              "geometry")
    _fail(f"layer {layer}: {labels[i]} lies outside the park's surroundings "
          f"(lon {PLAUSIBLE_LON[0]}–{PLAUSIBLE_LON[1]}, lat {PLAUSIBLE_LAT[0]}–{PLAUSIBLE_LAT[1]}, "
          f"EPSG:4490); check its CRS", "geometry")


def check_features(layer: str, frame: gpd.GeoDataFrame, categories: dict[str, str]) -> gpd.GeoDataFrame:
    """Validate one project layer's features of a batch; ``categories`` maps project_id → category."""
    spec = model.LAYER_BY_NAME.get(layer)
    if spec is None or spec.kind != "project":
        _fail(f"{layer!r} is not a project layer; valid: "
              f"{', '.join(x.name for x in model.PROJECT_LAYERS)}", "layer")
    if "project_id" not in frame.columns:
        _fail(f"layer {layer}: features need a project_id column", "project_id")
    want = "polders" if layer == "sluices" else layer
    for pid in _unique(frame["project_id"]):
        if pid not in categories:
            _fail(f"layer {layer}: feature of project {pid}, which is not in the batch", "project_id")
        if categories[pid] != want:
            _fail(f"layer {layer}: project {pid} is of category {categories[pid]}; its features "
                  f"belong in layer {categories[pid]}", "project_id")
    frame = check_geometries(layer, frame)
    if "name" not in frame.columns:
        frame = frame.assign(name=None)
    names = [None if _null(n) else to_traditional(str(n)) for n in frame["name"]]
    return frame.assign(name=names)[["project_id", "name", frame.geometry.name]]


def _unique(values: Iterable[object]) -> list[object]:
    return list(dict.fromkeys(values))
