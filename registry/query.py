"""The one query of the registry: which projects, with which of their features, match a filter.

A query combines *where* (street office as of a date, bbox, polygon, distance from a geometry or a
named feature; predicate intersects or within), *what* (categories, years, status, lead department,
statement flag, investment range, name text), sorting and paging (which count projects). The
parameter names are the HTTP ones; the CLI maps its options to them, so both parse the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import crs, limits, model, spatial, streets
from .errors import ValidationError
from .store import Store
from .text import to_traditional

MAX_DISTANCE_M = limits.MAX_DISTANCE_M
# The query's parameters (HTTP names, which the CLI maps its options to) and what each takes.
PARAMETERS = {
    "street": "Street office: code or name (traditional or simplified).",
    "as_of": "Boundaries valid on this date, YYYY-MM-DD (default today).",
    "bbox": "minlon,minlat,maxlon,maxlat.", "bbox-crs": "EPSG:NNNN of bbox (x = east first; default EPSG:4490).",
    "polygon": "A polygon as WKT or GeoJSON.", "polygon-crs": "EPSG:NNNN of polygon (default EPSG:4490).",
    "near": "A feature name (e.g. 唐莊河) or WKT geometry.", "near-crs": "EPSG:NNNN of a WKT near.",
    "distance": "Metres from near.", "predicate": "Spatial predicate: intersects or within.",
    "category": "Category slugs, comma-separated.", "year": "2013 or 2013..2014.",
    "status": "Statuses, comma-separated.", "department": "Lead department.",
    "in_statement": "true/false: in the responsibility statement.", "investment_min": "Yuan.",
    "investment_max": "Yuan.", "q": "Text in the project name.", "sortby": "[-]field,...",
    "limit": "Projects per page.", "offset": "Projects to skip.",
}


@dataclass(frozen=True)
class Query:
    """A parsed filter. Geometries are EPSG:4490; ``None`` means "no condition"."""

    street: str | None = None
    as_of: str | None = None
    bbox: shapely.Geometry | None = None
    polygon: shapely.Geometry | None = None
    near: shapely.Geometry | None = None
    distance: float | None = None
    predicate: str = "intersects"
    categories: tuple[str, ...] = ()
    years: tuple[int, int] | None = None
    statuses: tuple[str, ...] = ()
    department: str | None = None
    in_statement: bool | None = None
    investment_min: int | None = None
    investment_max: int | None = None
    name: str | None = None
    sortby: tuple[tuple[str, bool], ...] = (("project_id", True),)  # (field, ascending)
    limit: int | None = None
    offset: int = 0
    layers: tuple[str, ...] = field(default=())  # feature layers to search; default from categories

    def feature_layers(self) -> tuple[str, ...]:
        """Layers holding the features of the selected categories (sluices go with polders)."""
        if self.layers:
            return self.layers
        chosen = self.categories or tuple(model.CATEGORY_BY_SLUG)
        return tuple(c for c in chosen) + (("sluices",) if "polders" in chosen else ())


@dataclass
class QueryResult:
    """The page of matching projects, their matching features, and how many projects match in all."""

    projects: pd.DataFrame
    features: gpd.GeoDataFrame  # layer, fid, project_id, feature_name, geometry + project attributes
    total: int


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in str(value).split(",") if v.strip()] if value not in (None, "") else []


def _int(params: Mapping[str, str], key: str, minimum: int | None = None) -> int | None:
    raw = params.get(key)
    return None if raw in (None, "") else limits.whole_number(raw, key, low=minimum)


def parse_query(params: Mapping[str, str], store: Store) -> Query:
    """Build a Query from HTTP-style parameters (the CLI uses the same names), checking each."""
    as_of = spatial.parse_date(params.get("as_of"))
    street = params.get("street") or None
    if street:
        street = str(streets.resolve_street(store, street, as_of)["code"])
    bbox = polygon = near = None
    if params.get("bbox"):
        bbox = spatial.parse_bbox(params["bbox"], crs.parse_epsg(params.get("bbox-crs"), "bbox-crs"))
    if params.get("polygon"):
        polygon = spatial.parse_geometry(params["polygon"], crs.parse_epsg(params.get("polygon-crs"),
                                                                                "polygon-crs"))
    distance = None
    if params.get("distance") not in (None, ""):
        try:
            distance = float(params["distance"])
        except ValueError:
            raise ValidationError(f"distance must be metres, got {params['distance']!r}", param="distance") from None
        if not 0 <= distance <= MAX_DISTANCE_M:
            raise ValidationError(f"distance must be between 0 and {MAX_DISTANCE_M} metres, got {distance:g}",
                                  param="distance")
    if params.get("near"):
        near = resolve_near(store, params["near"], crs.parse_epsg(params.get("near-crs"), "near-crs"))
        if distance is None:
            raise ValidationError("near needs a distance in metres", param="distance")
    elif distance is not None:
        raise ValidationError("distance needs near (a feature name or WKT)", param="near")
    predicate = params.get("predicate") or "intersects"
    if predicate not in ("intersects", "within"):
        raise ValidationError(f"predicate must be intersects or within, got {predicate!r}", param="predicate")
    categories = tuple(_split(params.get("category")))
    bad = [c for c in categories if c not in model.CATEGORY_BY_SLUG]
    if bad:
        raise ValidationError(f"unknown category {bad[0]!r}; valid: {', '.join(model.CATEGORY_BY_SLUG)}",
                              param="category")
    statuses = tuple(_split(params.get("status")))
    bad = [s for s in statuses if s not in model.STATUSES]
    if bad:
        raise ValidationError(f"unknown status {bad[0]!r}; valid: {', '.join(model.STATUSES)}", param="status")
    return Query(
        street=street, as_of=as_of, bbox=bbox, polygon=polygon, near=near, distance=distance,
        predicate=predicate, categories=categories, years=_years(params.get("year")), statuses=statuses,
        department=to_traditional(params["department"].strip()) if params.get("department") else None,
        in_statement=_bool(params.get("in_statement"), "in_statement"),
        investment_min=_int(params, "investment_min", 0), investment_max=_int(params, "investment_max", 0),
        name=to_traditional(params["q"].strip()) if params.get("q") else None,
        sortby=_sortby(params.get("sortby")), limit=_int(params, "limit", 0), offset=_int(params, "offset", 0) or 0,
    )


def _years(text: str | None) -> tuple[int, int] | None:
    if text in (None, ""):
        return None
    match = re.fullmatch(r"\s*([0-9]{4})\s*(?:\.\.\s*([0-9]{4})\s*)?", str(text))
    if not match:
        raise ValidationError(f"year must be 2013 or a range 2013..2014, got {text!r}", param="year")
    first, last = int(match.group(1)), int(match.group(2) or match.group(1))
    if first > last:
        raise ValidationError(f"year range {text} runs backwards", param="year")
    return first, last


def _bool(text: str | bool | None, param: str) -> bool | None:
    if text is None or text == "":
        return None
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValidationError(f"{param} must be true or false, got {text!r}", param=param)


def _sortby(text: str | None) -> tuple[tuple[str, bool], ...]:
    if not text:
        return (("project_id", True),)
    keys = []
    for part in _split(text):
        ascending = not part.startswith("-")
        name = part.lstrip("+-")
        if name not in model.FIELD_BY_NAME:
            raise ValidationError(f"cannot sort by {name!r}; sortable fields: {', '.join(model.PROJECT_COLUMNS)}",
                                  param="sortby")
        keys.append((name, ascending))
    if all(k != "project_id" for k, _ in keys):
        keys.append(("project_id", True))  # a total order, so pages are stable
    return tuple(keys)


def resolve_near(store: Store, text: str, epsg: int = model.STORAGE_EPSG) -> shapely.Geometry:
    """A geometry given as WKT/GeoJSON, or the union of the features named ``text``.

    Names match a feature's name, a project's name, or a reference feature (river, lake).
    """
    raw = str(text).strip()
    if raw[:1] == "{" or re.match(r"^(MULTI)?(POINT|LINESTRING|POLYGON)|^GEOMETRYCOLLECTION", raw, re.IGNORECASE):
        return spatial.parse_geometry(raw, epsg, param="near")
    name = to_traditional(raw)
    projects = store.projects()
    ids = set(projects.loc[projects["name"] == name, "project_id"])
    found = []
    for layer in model.LAYERS:
        frame = store.features(layer.name)
        hit = frame["name"] == name
        if layer.kind == "project" and ids:
            hit |= frame["project_id"].isin(ids)
        found.extend(frame.geometry.values[hit.to_numpy()])
    if not found:
        raise ValidationError(f"near: no feature or project is named {raw!r}", param="near")
    return shapely.union_all(found)


def _attribute_mask(projects: pd.DataFrame, query: Query) -> pd.Series:
    mask = pd.Series(True, index=projects.index)
    if query.categories:
        mask &= projects["category"].isin(query.categories)
    if query.years:
        mask &= projects["year"].between(*query.years)
    if query.statuses:
        mask &= projects["status"].isin(query.statuses)
    if query.department:
        mask &= projects["lead_department"] == query.department
    if query.in_statement is not None:
        mask &= projects["in_statement"] == query.in_statement
    if query.investment_min is not None:
        mask &= projects["investment_yuan"] >= query.investment_min
    if query.investment_max is not None:
        mask &= projects["investment_yuan"] <= query.investment_max
    if query.name:
        mask &= projects["name"].str.contains(query.name, regex=False)
    return mask


# How many metres a degree spans here, with margin: at least 95 km (of longitude at the park's latitude)
# and at most 111 km (of latitude, EPSG:4549's scale included). A distance in metres over the first is
# at least the same distance in degrees; over the second, at most.
_METRES_PER_DEGREE_MIN = 90_000
_METRES_PER_DEGREE_MAX = 111_500


@dataclass(frozen=True)
class _Condition:
    """One spatial condition, prepared once per query: kind street/plain/near, EPSG:4490 geometry."""

    kind: str
    geom: shapely.Geometry
    others: tuple[shapely.Geometry, ...] = ()  # streets before this one (boundary-point rule)
    metric: shapely.Geometry | None = None  # the near geometry in EPSG:4549


def _conditions(store: Store, query: Query) -> list[_Condition]:
    """The spatial conditions tested here; every one must hold. Street membership (predicate
    intersects) is not among them: the store answers it (``matching_features``)."""
    found = []
    if query.street and query.predicate == "within":
        area = streets.street_area(store, query.street, query.as_of)
        found.append(_Condition("street", area.boundary, area.before))
    for geom in (query.bbox, query.polygon):
        if geom is not None:
            found.append(_Condition("plain", geom))
    if query.near is not None:
        found.append(_Condition("near", query.near, metric=spatial.metric(np.array([query.near]))[0]))
    return [replace(condition, geom=spatial.prepared(condition.geom)) for condition in found]


def _spatial_mask(query: Query, condition: _Condition, geoms: np.ndarray) -> np.ndarray:
    region = condition.geom
    if condition.kind == "street":
        if query.predicate == "within":
            return shapely.covered_by(geoms, region)
        return spatial.membership(geoms, region, list(condition.others))
    if condition.kind == "near":
        # Measured in degrees first: only features in the ring where degrees cannot tell (between the
        # distance at the most and at the fewest metres a degree can be) are reprojected and measured.
        found = shapely.dwithin(geoms, region, query.distance / _METRES_PER_DEGREE_MIN)
        if query.predicate == "intersects":
            surely = np.zeros(len(geoms), dtype=bool)
            surely[found] = shapely.dwithin(geoms[found], region, query.distance / _METRES_PER_DEGREE_MAX)
            unsure = found & ~surely
            found[unsure] = shapely.dwithin(spatial.metric(geoms[unsure]), condition.metric, query.distance)
        else:
            found[found] = shapely.covered_by(spatial.metric(geoms[found]),
                                              shapely.buffer(condition.metric, query.distance, quad_segs=16))
        return found
    if query.predicate == "within":
        return shapely.within(geoms, region)
    return shapely.intersects(geoms, region)


def _prefilter_box(query: Query, conditions: list[_Condition]) -> tuple[float, float, float, float] | None:
    """An EPSG:4490 envelope every matching feature's envelope must meet (for the spatial index)."""
    boxes = []
    for condition in conditions:
        minx, miny, maxx, maxy = condition.geom.bounds
        pad = query.distance / _METRES_PER_DEGREE_MIN if condition.kind == "near" else 0.0
        boxes.append((minx - pad, miny - pad, maxx + pad, maxy + pad))
    if not boxes:
        return None
    arr = np.array(boxes)
    minx, miny = arr[:, 0].max(), arr[:, 1].max()
    maxx, maxy = arr[:, 2].min(), arr[:, 3].min()
    return (minx, miny, maxx, maxy) if minx <= maxx and miny <= maxy else (0.0, 0.0, 0.0, 0.0)


def matching_features(store: Store, query: Query, project_ids: pd.Index | None = None) -> gpd.GeoDataFrame:
    """Every feature, in the query's layers, of ``project_ids`` that meets the spatial conditions."""
    conditions = _conditions(store, query)
    # The store answers street membership itself (it may index it); other conditions are tested here.
    street = None
    if query.street and query.predicate == "intersects":
        street = streets.street_area(store, query.street, query.as_of)
    bbox = _prefilter_box(query, conditions)
    wanted = None if project_ids is None else pd.Index(np.asarray(project_ids, dtype=object))
    parts = {"layer": [], "fid": [], "project_id": [], "feature_name": [], "geometry": []}
    for layer in query.feature_layers():
        frame = store.features(layer, bbox=bbox, street=street)
        if wanted is None:
            keep = np.ones(len(frame), dtype=bool)
        else:
            keep = frame["project_id"].isin(wanted).to_numpy(copy=True)
        geoms = np.asarray(frame.geometry.array)
        for condition in conditions:
            if keep.any():
                keep[keep] = _spatial_mask(query, condition, geoms[keep])
        if not keep.any():
            continue
        parts["layer"].append(np.full(int(keep.sum()), layer, dtype=object))
        parts["fid"].append(frame.index.to_numpy()[keep])
        parts["project_id"].append(frame["project_id"].to_numpy()[keep])
        parts["feature_name"].append(frame["name"].to_numpy()[keep])
        parts["geometry"].append(geoms[keep])
    # object dtype, not pandas' inferred Arrow strings: later isin() calls stay vectorised
    columns = {k: pd.Series(np.concatenate(v) if v else np.array([], dtype=object), dtype=object)
               for k, v in parts.items() if k != "geometry"}
    columns["fid"] = columns["fid"].astype("int64")
    geometry = np.concatenate(parts["geometry"]) if parts["geometry"] else np.array([], dtype=object)
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(geometry, crs=model.STORAGE_EPSG))


def _sorted(projects: pd.DataFrame, sortby) -> pd.DataFrame:
    keys = [k for k, _ in sortby]
    return projects.sort_values(keys, ascending=[a for _, a in sortby], kind="stable", na_position="last")


def find(store: Store, query: Query | Mapping[str, str]) -> QueryResult:
    """Run a query: the page of matching projects (sorted), their matching features, the total."""
    if not isinstance(query, Query):
        query = parse_query(query, store)
    projects = store.projects()
    mask = _attribute_mask(projects, query)
    if not mask.all():
        projects = projects[mask]
    spatially = any(g is not None for g in (query.street, query.bbox, query.polygon, query.near))
    features = matching_features(store, query, None if mask.all() else projects["project_id"])
    if spatially:
        hit = pd.Index(projects["project_id"]).get_indexer(features["project_id"])
        keep = np.zeros(len(projects), dtype=bool)
        keep[hit[hit >= 0]] = True
        projects = projects[keep]
    projects = _sorted(projects, query.sortby)
    total = len(projects)
    end = None if query.limit is None else query.offset + query.limit
    page = projects.iloc[query.offset:end].reset_index(drop=True)
    # Features come per layer (in the query's layer order) and by fid; a stable sort by the project's
    # place on the page keeps that order within each project. Attributes are taken by position.
    order = pd.Index(page["project_id"]).get_indexer(features["project_id"])
    on_page = np.flatnonzero(order >= 0)
    on_page = on_page[np.argsort(order[on_page], kind="stable")]
    rows = order[on_page]
    columns = {c: features[c].to_numpy()[on_page] for c in ("layer", "fid", "project_id", "feature_name")}
    columns.update({c: page[c].to_numpy()[rows] for c in page.columns if c != "project_id"})
    # Series of the columns' own dtypes: no re-inference of strings, no per-column object checks.
    dtypes = dict(features.dtypes) | dict(page.dtypes)
    joined = gpd.GeoDataFrame({c: pd.Series(v, dtype=dtypes[c], copy=False) for c, v in columns.items()},
                              geometry=features.geometry.values[on_page], crs=model.STORAGE_EPSG)
    return QueryResult(projects=page, features=joined, total=total)
