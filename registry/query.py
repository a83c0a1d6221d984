"""The projects road: which projects, with which of their features, a query selects, one page of them.

A query combines *where* (street office as of a date, bbox, polygon, distance from a geometry or a
named feature; predicate intersects or within), *what* (categories, years, status, lead department,
statement flag, investment range, name text, planned dates, a CQL2 filter on project attributes),
sorting and paging (which count projects). Its parameters are parsed by ``registry.params`` and the
features are selected by ``registry.select``, the same engine collection items use.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
from geopandas.array import GeometryArray
from pandas.api.internals import create_dataframe_from_blocks

from .crs import STORAGE_PYPROJ
from .params import Query, parse
from .select import Selector
from .store import FeatureColumns, Reader, Store, per_revision
from .store.frames import distinct


class QueryResult:
    """The page of matching projects, their matching features, and how many projects match in all.

    ``feature_rows`` are the features alone (what ``/projects`` shows of them); ``features`` carry their project's
    attributes too (GeoJSON, exports, maps), joined when first asked for: for the 40,000 features of a near query
    on a million, the join costs about an eighth of the query."""

    def __init__(self, projects: pd.DataFrame, total: int, matches: _Matches, on_page: np.ndarray,
                 attributes: _Blocks, names: pd.Index) -> None:
        self.projects = projects
        self.total = total
        self._parts = (matches, on_page, attributes, names)

    @cached_property
    def feature_rows(self) -> gpd.GeoDataFrame:
        """layer, fid, project_id, feature_name, geometry."""
        matches, on_page, _, names = self._parts
        return _joined(matches, on_page, None, names[[*range(len(_FEATURE_COLUMNS)), len(names) - 1]])

    @cached_property
    def features(self) -> gpd.GeoDataFrame:
        """layer, fid, project_id, feature_name, then the project's attributes, geometry."""
        return _joined(*self._parts)


class _Matches:
    """Every feature a query selects in its layers: each layer's candidates (the store's columns) and which of them
    it keeps, left where they are until a page of them is taken (each column is then copied once, not once to
    keep, once to join the layers and once more for the page); and, for every feature in that order, its project's
    id and row in the projects table (-1: none)."""

    def __init__(self, layers: list[tuple[str, FeatureColumns, np.ndarray]], project_ids: np.ndarray,
                 positions: np.ndarray) -> None:
        self.layers = layers  # (layer, candidates, positions of the kept ones among them)
        self.project_ids = project_ids
        self.positions = positions

    def page(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The features at ``rows`` (in the order above): their layer, project_id and feature_name (the rows of one
        array), their fids and their geometries."""
        starts = np.cumsum([0, *(len(kept) for _, _, kept in self.layers)])
        owner = np.searchsorted(starts, rows, side="right") - 1  # which layer each row comes from
        local = rows - starts[owner]
        texts = np.empty((3, len(rows)), dtype=object)
        fids = np.empty(len(rows), dtype=np.int64)
        geometry = np.empty(len(rows), dtype=object)
        if len(rows):
            np.take(np.array([layer for layer, _, _ in self.layers], dtype=object), owner, out=texts[0])
        np.take(self.project_ids, rows, out=texts[1])
        for at, (_, candidates, kept) in enumerate(self.layers):
            here = np.flatnonzero(owner == at)
            if len(here):
                picked = kept[local[here]]
                fids[here] = candidates.fids[picked]
                texts[2, here] = candidates.values["name"][picked]
                geometry[here] = candidates.geometry[picked]
        return texts, fids, geometry


def matching_features(selector: Selector) -> _Matches:
    """Every feature, in the query's layers, that the query selects, and the row of its project."""
    layers, ids = [], []
    known = []  # positions the selector found already, per layer (None: not looked up)
    for layer in selector.query.feature_layers():
        found = selector.matches(layer)
        kept = np.flatnonzero(found.keep)
        if not len(kept):
            continue
        layers.append((layer, found.candidates, kept))
        ids.append(found.candidates.values["project_id"][kept])
        known.append(None if found.positions is None else found.positions[kept])
    project_ids = np.concatenate(ids) if ids else np.array([], dtype=object)
    if any(at is None for at in known):  # one look-up of every id, not one per layer
        positions = selector.project_positions(project_ids)
    else:
        positions = np.concatenate(known) if known else np.array([], dtype=np.intp)
    return _Matches(layers, project_ids, positions)


class _Blocks:
    """A frame's columns as arrays (NumPy's, or pandas' extension arrays), so that rows are taken with one array
    take per column and a frame is made of them without pandas re-inferring or copying each column. Built once per
    revision for the projects table, from the table's own arrays: no copy (after an edit, that is most of what a
    new revision's first query costs)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.columns = frame.columns
        self.arrays = [frame.iloc[:, at].to_numpy() if isinstance(dtype, np.dtype) else frame.iloc[:, at].array
                       for at, dtype in enumerate(frame.dtypes)]

    def take(self, rows: np.ndarray, shift: int = 0) -> list[tuple[object, np.ndarray]]:
        """Blocks (one a column) of the rows at positions ``rows``, placed ``shift`` columns on."""
        return [(values[rows][None, :] if isinstance(values, np.ndarray) else values.take(rows), np.array([at + shift]))
                for at, values in enumerate(self.arrays)]

    def frame(self, rows: np.ndarray) -> pd.DataFrame:
        """The rows at positions ``rows``, indexed 0..n-1: ``frame.iloc[rows].reset_index(drop=True)``."""
        return create_dataframe_from_blocks(self.take(rows), index=pd.RangeIndex(len(rows)), columns=self.columns)


def _project_blocks(view: Reader, projects: pd.DataFrame) -> tuple[_Blocks, _Blocks, pd.Index]:
    """The projects table in blocks, whole (for a page of projects) and without project_id (for the
    attributes joined to features, after the feature columns), and the joined frame's columns."""
    def build() -> tuple[_Blocks, _Blocks, pd.Index]:
        attributes = projects.drop(columns="project_id")
        names = [*_FEATURE_COLUMNS, *attributes.columns, "geometry"]
        return _Blocks(projects), _Blocks(attributes), pd.Index(names)

    return per_revision(view, "project_blocks", build)


_FEATURE_COLUMNS = ("layer", "fid", "project_id", "feature_name")
_TEXT_COLUMNS = np.array([0, 2, 3])  # where layer, project_id and feature_name go


def _joined(matches: _Matches, on_page: np.ndarray, attributes: _Blocks | None, names: pd.Index) -> gpd.GeoDataFrame:
    """The features at ``on_page`` with their projects' ``attributes`` (None: without): the feature columns, then
    the project's (but its id), then geometry; as one frame made of blocks (a column-by-column frame costs
    milliseconds)."""
    texts, fids, geometry = matches.page(on_page)
    joined = [] if attributes is None else attributes.take(matches.positions[on_page], shift=len(_FEATURE_COLUMNS))
    blocks = [(texts, _TEXT_COLUMNS), (fids[None, :], np.array([1])), *joined,
              (GeometryArray(geometry, crs=STORAGE_PYPROJ), np.array([len(names) - 1]))]
    frame = create_dataframe_from_blocks(blocks, index=pd.RangeIndex(len(on_page)), columns=names)
    return gpd.GeoDataFrame(frame, geometry="geometry", copy=False)


def find(view: Reader, query: Query | Mapping[str, str]) -> QueryResult:
    """Run a query: the page of matching projects (sorted), their matching features, the total.

    Projects are handled by position in the projects table (kept in project_id order) until the page is
    cut, so a query costs what its matches cost, not what the whole table does.
    """
    if isinstance(view, Store):  # one committed state for the whole answer (and one revision check)
        with view.snapshot() as snapshot:
            return find(snapshot, query)
    if not isinstance(query, Query):
        query = parse(query, view)
    selector = Selector(view, query)
    projects = selector.projects
    matches = matching_features(selector)
    if query.spatial:  # the projects of the features found (only allowed projects' features are found)
        chosen = distinct(matches.positions[matches.positions >= 0], len(projects))
    else:
        chosen = np.arange(len(projects)) if selector.mask is None else np.flatnonzero(selector.mask)
    if query.sortby != (("project_id", True),) or not selector.index.is_monotonic_increasing:
        keys = [k for k, _ in query.sortby]
        order = projects.iloc[chosen][keys].reset_index(drop=True).sort_values(
            keys, ascending=[a for _, a in query.sortby], kind="stable", na_position="last").index.to_numpy()
        chosen = chosen[order]
    total = len(chosen)
    end = None if query.limit is None else query.offset + query.limit
    on_page_rows = chosen[query.offset:end]
    whole, attributes, names = _project_blocks(view, projects)
    # Features come per layer (in the query's layer order) and by fid; a stable sort by the project's
    # place on the page keeps that order within each project. Attributes are taken by position.
    rank = np.full(len(projects), -1, dtype=np.int64)
    rank[on_page_rows] = np.arange(len(on_page_rows))
    positions = matches.positions
    order = np.where(positions >= 0, rank[positions], -1)
    on_page = np.flatnonzero(order >= 0)
    on_page = on_page[np.argsort(order[on_page], kind="stable")]
    return QueryResult(whole.frame(on_page_rows), total, matches, on_page, attributes, names)
