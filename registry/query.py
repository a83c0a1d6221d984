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
from .store import Reader, per_revision


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
        frame, keep = selector.matches(layer)
        if not keep.any():
            continue
        parts["layer"].append(np.full(int(keep.sum()), layer, dtype=object))
        parts["fid"].append(frame.index.to_numpy()[keep])
        parts["project_id"].append(frame["project_id"].to_numpy()[keep])
        parts["feature_name"].append(frame["name"].to_numpy()[keep])
        parts["geometry"].append(np.asarray(frame.geometry.array)[keep])
    # object dtype, not pandas' inferred Arrow strings: later isin() calls stay vectorised
    columns = {k: pd.Series(np.concatenate(v) if v else np.array([], dtype=object), dtype=object)
               for k, v in parts.items() if k != "geometry"}
    columns["fid"] = columns["fid"].astype("int64")
    geometry = np.concatenate(parts["geometry"]) if parts["geometry"] else np.array([], dtype=object)
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(geometry, crs=model.STORAGE_EPSG))


def project_index(view: Reader, projects: pd.DataFrame) -> pd.Index:
    """The projects table's ids as an index (positions by id), built once per revision, hash table included."""
    def build() -> pd.Index:
        index = pd.Index(projects["project_id"].to_numpy(), dtype=object)  # not Arrow strings: no conversions
        index.get_indexer(index[:1]), index.is_monotonic_increasing  # noqa: B018 - build lazily made parts now
        return index

    return per_revision(view, "project_index", build)


def find(view: Reader, query: Query | Mapping[str, str]) -> QueryResult:
    """Run a query: the page of matching projects (sorted), their matching features, the total.

    Projects are handled by position in the projects table (kept in project_id order) until the page is
    cut, so a query costs what its matches cost, not what the whole table does.
    """
    if not isinstance(query, Query):
        query = parse(query, view)
    selector = Selector(view, query)
    projects = selector.projects
    features = matching_features(selector)
    index = project_index(view, projects)
    if query.spatial:  # the projects of the features found (only allowed projects' features are found)
        chosen = index.get_indexer(pd.unique(features["project_id"].to_numpy()))
        chosen = np.sort(chosen[chosen >= 0])
    else:
        chosen = np.arange(len(projects)) if selector.mask is None else np.flatnonzero(selector.mask)
    if query.sortby != (("project_id", True),) or not index.is_monotonic_increasing:
        keys = [k for k, _ in query.sortby]
        order = projects.iloc[chosen][keys].reset_index(drop=True).sort_values(
            keys, ascending=[a for _, a in query.sortby], kind="stable", na_position="last").index.to_numpy()
        chosen = chosen[order]
    total = len(chosen)
    end = None if query.limit is None else query.offset + query.limit
    on_page_rows = chosen[query.offset:end]
    page = projects.iloc[on_page_rows].reset_index(drop=True)
    # Features come per layer (in the query's layer order) and by fid; a stable sort by the project's
    # place on the page keeps that order within each project. Attributes are taken by position.
    rank = np.full(len(projects), -1, dtype=np.int64)
    rank[on_page_rows] = np.arange(len(on_page_rows))
    positions = index.get_indexer(features["project_id"].to_numpy())
    order = np.where(positions >= 0, rank[positions], -1)
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
