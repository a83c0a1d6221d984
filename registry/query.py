"""The projects road: which projects, with which of their features, a query selects, one page of them.

A query combines *where* (street office as of a date, bbox, polygon, distance from a geometry or a
named feature; predicate intersects or within), *what* (categories, years, status, lead department,
statement flag, investment range, name text, planned dates, a CQL2 filter on project attributes),
sorting and paging (which count projects). Its parameters are parsed by ``registry.params`` and the
features are selected by ``registry.select``, the same engine collection items use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from . import model
from .params import Query, parse
from .select import Selector
from .store import Reader


@dataclass
class QueryResult:
    """The page of matching projects, their matching features, and how many projects match in all."""

    projects: pd.DataFrame
    features: gpd.GeoDataFrame  # layer, fid, project_id, feature_name, geometry + project attributes
    total: int


def matching_features(selector: Selector) -> gpd.GeoDataFrame:
    """Every feature, in the query's layers, that the query selects: layer, fid, project_id, feature_name."""
    parts = {"layer": [], "fid": [], "project_id": [], "feature_name": [], "geometry": []}
    for layer in selector.query.feature_layers():
        frame = selector.features(layer)
        if frame.empty:
            continue
        parts["layer"].append(np.full(len(frame), layer, dtype=object))
        parts["fid"].append(frame.index.to_numpy())
        parts["project_id"].append(frame["project_id"].to_numpy())
        parts["feature_name"].append(frame["name"].to_numpy())
        parts["geometry"].append(np.asarray(frame.geometry.array))
    # object dtype, not pandas' inferred Arrow strings: later isin() calls stay vectorised
    columns = {k: pd.Series(np.concatenate(v) if v else np.array([], dtype=object), dtype=object)
               for k, v in parts.items() if k != "geometry"}
    columns["fid"] = columns["fid"].astype("int64")
    geometry = np.concatenate(parts["geometry"]) if parts["geometry"] else np.array([], dtype=object)
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(geometry, crs=model.STORAGE_EPSG))


def _sorted(projects: pd.DataFrame, sortby) -> pd.DataFrame:
    keys = [k for k, _ in sortby]
    return projects.sort_values(keys, ascending=[a for _, a in sortby], kind="stable", na_position="last")


def find(view: Reader, query: Query | Mapping[str, str]) -> QueryResult:
    """Run a query: the page of matching projects (sorted), their matching features, the total."""
    if not isinstance(query, Query):
        query = parse(query, view)
    selector = Selector(view, query)
    projects = selector.projects if selector.mask is None else selector.projects[selector.mask]
    features = matching_features(selector)
    if query.spatial:
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
