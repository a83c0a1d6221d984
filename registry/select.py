"""The one selection engine: which projects and which features of a layer a ``Query`` selects.

Every road asks it: the projects road (``query.find``: the CLI, ``/projects``, statistics, maps,
exports) and collection items (``features.select``). A ``Selector`` prepares a query once against
one snapshot: the projects its attribute conditions keep, its spatial conditions prepared, the street
boundary the store answers membership for, and an envelope for the spatial index; then it selects
each layer's features. Change a rule here and every road follows (as-of and push-down to PostGIS
belong here too).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, partial

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import cql, limits, model, spatial, streets
from .errors import ValidationError
from .i18n import gettext
from .params import Query
from .store import FeatureColumns, Reader, per_revision
from .store.base import Changes
from .text import fold, fold_all, to_script_all

# Fewer metres than a degree spans anywhere south of 36°N (the park is at 31.3°N): how far around a near
# geometry to look for the scale of degrees there (``spatial.degree_scale``).
_METRES_PER_DEGREE_LEAST = 90_000
_DETAILED_VERTICES = 32  # a near geometry with more is measured from through its index (``_near``)
# The conditions on a project's attributes (they do not apply to reference layers): Query field → parameter.
_PROJECT_CONDITIONS = {"categories": "category", "years": "year", "statuses": "status", "department": "department",
                       "in_statement": "in_statement", "investment_min": "investment_min",
                       "investment_max": "investment_max", "name": "q", "project_filter": "filter"}


def project_mask(view: Reader, projects: pd.DataFrame, query: Query) -> np.ndarray | None:
    """Which projects (``view``'s whole table) meet the query's conditions on their attributes; ``None`` when
    it sets none."""
    if not _selects_projects(query):
        return None
    mask = np.ones(len(projects), dtype=bool)
    if query.categories:
        mask &= _coded_isin(view, projects, "category", query.categories)
    if query.years:
        mask &= projects["year"].between(*query.years).to_numpy()
    if query.statuses:
        mask &= _coded_isin(view, projects, "status", query.statuses)
    if query.department:
        mask &= (projects["lead_department"] == query.department).to_numpy()
    if query.in_statement is not None:
        mask &= (projects["in_statement"] == query.in_statement).to_numpy()
    if query.investment_min is not None:
        mask &= (projects["investment_yuan"] >= query.investment_min).to_numpy()
    if query.investment_max is not None:
        mask &= (projects["investment_yuan"] <= query.investment_max).to_numpy()
    if query.name:  # script-blind: as stored (folded) or as a Simplified reader sees it (專案 shown as 项目)
        codes, names = pd.factorize(projects["name"])
        wanted, names = fold(query.name), list(names)
        found = [wanted in a or wanted in b for a, b in zip(fold_all(names), to_script_all(names, "zh-Hans"))]
        mask &= np.array([*found, False])[codes]  # a missing name (code -1) matches nothing
    if query.datetime is not None:  # the planned start–finish interval meets the datetime's
        mask &= _overlaps(projects, "planned_start", "planned_finish", query.datetime)
    if query.project_filter is not None:
        mask &= cql.filter_mask(projects, query.project_filter, model.PROJECT_KINDS, query.filter_crs)
    return mask


def _coded_isin(view: Reader, projects: pd.DataFrame, column: str, values: tuple[str, ...]) -> np.ndarray:
    """``projects[column].isin(values)`` for a column of a few codes, by the column's codes made once per
    revision (an isin of strings hashes the whole table's column each time)."""
    def unchanged(changes: Changes, kept: tuple[np.ndarray, np.ndarray]) -> bool:
        """Whether the projects that changed kept their places (none added or gone) and this column's values."""
        codes, uniques = kept
        at = _places(changes, projects, project_index(view, projects))
        if at is None or len(codes) != len(projects):
            return False
        now = projects[column].to_numpy(dtype=object)[at]
        before = np.array([*uniques, None], dtype=object)[codes[at]]  # a missing value (code -1) was None
        return all(a == b or (pd.isna(a) and pd.isna(b)) for a, b in zip(now.tolist(), before.tolist()))

    codes, uniques = per_revision(view, ("project_codes", column), lambda: pd.factorize(projects[column].to_numpy()),
                                  unchanged)
    return np.isin(codes, [at for at, value in enumerate(uniques) if value in values])


def _selects_projects(query: Query) -> bool:
    """Whether the query keeps only some projects: by their attributes or by their planned dates."""
    return bool(_project_conditions(query)) or query.datetime is not None


def _project_conditions(query: Query) -> list[str]:
    """The parameters of the conditions on projects' attributes that the query sets."""
    return [param for name, param in _PROJECT_CONDITIONS.items() if getattr(query, name) not in (None, (), "")]


def _overlaps(columns: Mapping[str, object], first: str, last: str,
              interval: tuple[str | None, str | None]) -> np.ndarray:
    """Which rows' dates (ISO text in columns ``first`` and ``last``, a frame's or arrays) overlap ``interval``; a
    missing date is open-ended."""
    start, end = interval
    firsts, lasts = np.asarray(columns[first], dtype=object), np.asarray(columns[last], dtype=object)
    mask = np.ones(len(firsts), dtype=bool)
    if end is not None:
        mask &= np.where(pd.isna(firsts), "0000-01-01", firsts) <= end
    if start is not None:
        mask &= np.where(pd.isna(lasts), "9999-12-31", lasts) >= start
    return mask


@dataclass(frozen=True)
class _Condition:
    """One spatial condition, prepared once per query: kind street/plain/near, EPSG:4490 geometry."""

    kind: str
    geom: shapely.Geometry
    others: tuple[shapely.Geometry, ...] = ()  # streets before this one (boundary-point rule)
    metric: shapely.Geometry | None = None  # the near geometry in EPSG:4549
    # near: the distance in degrees within which every feature is near, and beyond which none is
    degrees: tuple[float, float] = (0.0, 0.0)
    detailed: bool = False  # near: a geometry of many vertices (measured from through its index)
    edges: spatial.Edges | None = None  # near: a few lines and points, measured from edge by edge
    zone: shapely.Geometry | None = None  # predicate within: its buffer by the distance, computed once per query

    def private(self) -> _Condition:
        """The same condition with copies of its own of the prepared geometries, for another thread (plain ones
        are only read, and shared)."""
        def own(geom: shapely.Geometry | None) -> shapely.Geometry | None:
            return spatial.prepared(geom) if geom is not None and shapely.is_prepared(geom) else geom

        return replace(self, geom=own(self.geom), metric=own(self.metric), zone=own(self.zone))


@dataclass(frozen=True)
class Matches:
    """A layer's candidate features (the store's answer, as arrays in fid order), which of them a query selects,
    and where each candidate's project is in the projects table when the query's conditions on projects needed
    it."""

    candidates: FeatureColumns
    keep: np.ndarray
    positions: np.ndarray | None


class Selector:
    """A query prepared against one snapshot, to select the features of one layer after another."""

    def __init__(self, view: Reader, query: Query) -> None:
        self.view = view
        self.query = query
        self.conditions = _conditions(view, query)
        # The store answers street membership itself (it may keep it); the other conditions are tested here.
        self.street = (streets.street_area(view, query.street, query.as_of)
                       if query.street and query.predicate == "intersects" else None)
        self.box = _prefilter_box(self.conditions)
        # The store finds what lies within the distance in degrees (a prefilter); metres are measured here.
        self.near = next(((query.near, c.degrees[1]) for c in self.conditions if c.kind == "near"), None)
        self.mask = project_mask(view, self.projects, query) if _selects_projects(query) else None

    @cached_property
    def projects(self) -> pd.DataFrame:
        """The view's projects table (read when a condition or a caller needs it: a bbox alone does not)."""
        return self.view.projects()

    @cached_property
    def index(self) -> pd.Index:
        return project_index(self.view, self.projects)

    def project_positions(self, project_ids: np.ndarray) -> np.ndarray:
        """Where projects are in the projects table, by id (-1: not there)."""
        return self.index.get_indexer(pd.Index(project_ids, dtype=object))  # not Arrow strings: no cast

    def matches(self, layer: str, properties: gpd.GeoDataFrame | None = None,
                every: Callable[[Sequence[str]], FeatureColumns] | None = None) -> Matches:
        """The store's candidate features of a layer (their fids, attributes and geometries) and which of them
        the query selects.

        ``properties`` (indexed by fid) holds what the query's ``filter`` and equality conditions name: an items
        request's served properties. ``every(columns)`` gives every feature of the layer in this snapshot, as
        the store would, when the caller holds them (a served layer): a query with no condition for the store
        then starts from those instead of asking it for the whole layer (a database reads every row for that).
        """
        spec = model.LAYER_BY_NAME[layer]
        query = self.query
        if spec.kind != "project":
            _check_reference(layer, spec, query)
        names = [name for name, _ in spec.columns]
        if every is not None and self.box is None and self.street is None and self.near is None:
            candidates = every(names)
        else:
            candidates = self.view.feature_columns(layer, names, bbox=self.box, street=self.street, near=self.near)
        keep = np.ones(len(candidates.fids), dtype=bool)
        positions = None
        if self.mask is not None and spec.kind == "project":
            positions = self.project_positions(candidates.values["project_id"])
            keep = (positions >= 0) & self.mask[positions]
        if spec.kind != "project" and query.datetime is not None:
            keep &= _overlaps(candidates.values, "valid_from", "valid_to", query.datetime)
        for condition in self.conditions:
            if keep.any():
                keep[keep] = spatial.across_cores(partial(_spatial_mask, query, condition), candidates.geometry[keep],
                                                  lambda c=condition: partial(_spatial_mask, query, c.private()))
        if (query.equals or query.filter is not None) and keep.any():
            if properties is None:
                raise ValidationError(gettext("filter and equality conditions apply to collection items"),
                                      param="filter")
            rows = properties.iloc[properties.index.get_indexer(candidates.fids[keep])]
            queryables = model.queryables(spec)
            found = np.ones(len(rows), dtype=bool)
            for name, raw in query.equals:
                found &= _equals_mask(rows, name, queryables[name], raw)
            if query.filter is not None:
                found &= cql.filter_mask(rows, query.filter, queryables, query.filter_crs)
            keep[keep] = found
        return Matches(candidates, keep, positions)


def project_index(view: Reader, projects: pd.DataFrame) -> pd.Index:
    """The projects table's ids as an index (positions by id), built once per revision, hash table included."""
    def build() -> pd.Index:
        index = pd.Index(projects["project_id"].to_numpy(), dtype=object)  # not Arrow strings: no conversions
        index.get_indexer(index[:1]), index.is_monotonic_increasing  # noqa: B018 - build lazily made parts now
        return index

    return per_revision(view, "project_index", build,
                        lambda changes, index: _places(changes, projects, index) is not None)


def _places(changes: Changes, projects: pd.DataFrame, index: pd.Index) -> np.ndarray | None:
    """Where the projects that changed are in ``projects``, if ``index`` (the ids of a table, an earlier one's or
    this one's) has each of them at that place and as many ids: edits in place, no project added or gone; else
    None."""
    at = index.get_indexer(pd.Index(sorted(changes.projects), dtype=object))
    ids = projects["project_id"].to_numpy(dtype=object)
    if len(ids) != len(index) or (at < 0).any() or (ids[at] != index.to_numpy()[at]).any():
        return None
    return at


def _check_reference(layer: str, spec: model.Layer, query: Query) -> None:
    """Refuse conditions a reference layer cannot meet: on projects' attributes, or dates it does not have."""
    if conditions := _project_conditions(query):
        param = conditions[0]
        raise ValidationError(gettext("%(layer)s is a reference layer: %(param)s is a condition on projects and does "
                                      "not apply to it", layer=layer, param=param), param=param)
    if query.datetime is not None and "valid_from" not in dict(spec.columns):
        raise ValidationError(gettext("collection %(layer)s has no dates to match datetime", layer=layer),
                              param="datetime")


def _conditions(view: Reader, query: Query) -> list[_Condition]:
    """The spatial conditions tested here, each on a private prepared copy; every one must hold.
    Street membership (predicate intersects) is not among them: the store answers it."""
    found = []
    if query.street and query.predicate == "within":
        area = streets.street_area(view, query.street, query.as_of)
        found.append(_Condition("street", spatial.prepared(area.boundary), area.before))
    for geom in (query.bbox, query.polygon):
        if geom is not None:
            found.append(_Condition("plain", spatial.prepared(geom)))
    if query.near is not None:
        metric = spatial.metric(np.array([query.near]))[0]
        detailed = shapely.get_num_coordinates(query.near) > _DETAILED_VERTICES
        zone = (spatial.prepared(shapely.buffer(metric, query.distance, quad_segs=16))
                if query.predicate == "within" else None)
        # Metres are measured from the near geometry's edges as they run in EPSG:4549, straight there; degrees
        # measure from them as they run in degrees, up to ``bend`` metres away (10 m for a 29 km edge)
        bend = spatial.metric_bend(query.near)
        widest = (query.distance + bend) / _METRES_PER_DEGREE_LEAST
        minx, miny, maxx, maxy = query.near.bounds
        fewest, most = spatial.degree_scale((minx - widest, miny - widest, maxx + widest, maxy + widest))
        # prepared only when the tests use what is prepared (``_near``): else it costs them 4 %
        found.append(_Condition("near", spatial.prepared(query.near) if detailed else query.near, zone=zone,
                                detailed=detailed, metric=spatial.prepared(metric) if detailed else metric,
                                edges=None if detailed else spatial.Edges.of(query.near),
                                degrees=(max(query.distance - bend, 0) / most, (query.distance + bend) / fewest)))
    return found


def _spatial_mask(query: Query, condition: _Condition, geoms: np.ndarray) -> np.ndarray:
    """Which of ``geoms`` meet the condition. The prepared geometry comes first in each test: GEOS uses what it
    prepared (its index of segments) only then; a street's ``covers`` is four times faster so than ``covered_by``."""
    region = condition.geom
    if condition.kind == "street":
        return shapely.covers(region, geoms)  # predicate within; intersects is membership, the store's
    if condition.kind == "near":
        # Measured in degrees first: only features in the ring where degrees cannot tell (between the
        # distance at the most and at the fewest metres a degree can be) are reprojected and measured.
        if query.predicate == "intersects":  # most are surely near: those are measured once
            if condition.edges is not None:
                found, wider = condition.edges.within(geoms, condition.degrees)
                unsure = wider & ~found
            else:
                found = _near(condition, region, geoms, condition.degrees[0])
                unsure = ~found
                unsure[unsure] = _near(condition, region, geoms[unsure], condition.degrees[1])
            found[unsure] = _near(condition, condition.metric, np.asarray(spatial.metric(geoms[unsure])),
                                  query.distance)
            return found
        found = (condition.edges.within(geoms, condition.degrees[1:])[0] if condition.edges is not None
                 else _near(condition, region, geoms, condition.degrees[1]))
        found[found] = shapely.covers(condition.zone, np.asarray(spatial.metric(geoms[found])))
        return found
    if query.predicate == "within":
        return shapely.contains(region, geoms)
    return shapely.intersects(region, geoms)


def _near(condition: _Condition, near: shapely.Geometry, geoms: np.ndarray, distance: float) -> np.ndarray:
    """Which of ``geoms`` lie within ``distance`` of the prepared ``near``. Given first, a prepared geometry is
    measured from through its index, which costs more than it saves for a few vertices (a river's 6: 2.5 µs a
    feature against 1.2 given second; 300 vertices: 6 µs against 21). The index finds no shortcut for features
    that are near wherever they lie, as GEOS's plain measure does: a feature is near when no two points of it and
    of ``near`` lie farther apart than the distance, which their envelopes tell."""
    if not condition.detailed:
        return shapely.dwithin(geoms, near, distance)
    found = np.zeros(len(geoms), dtype=bool)
    minx, miny, maxx, maxy = near.bounds
    if math.hypot(maxx - minx, maxy - miny) <= distance:
        bounds = shapely.bounds(geoms)
        found = np.hypot(np.maximum(bounds[:, 2], maxx) - np.minimum(bounds[:, 0], minx),
                         np.maximum(bounds[:, 3], maxy) - np.minimum(bounds[:, 1], miny)) <= distance
    found[~found] = shapely.dwithin(near, geoms[~found], distance)
    return found


def _prefilter_box(conditions: list[_Condition]) -> tuple[float, float, float, float] | None:
    """An EPSG:4490 envelope every matching feature's envelope must meet (for the spatial index). A near
    condition adds none: the store's near prefilter is tighter than its envelope (most of the park for a river)."""
    boxes = [condition.geom.bounds for condition in conditions if condition.kind != "near"]
    if not boxes:
        return None
    arr = np.array(boxes)
    minx, miny = arr[:, 0].max(), arr[:, 1].max()
    maxx, maxy = arr[:, 2].min(), arr[:, 3].min()
    return (minx, miny, maxx, maxy) if minx <= maxx and miny <= maxy else (0.0, 0.0, 0.0, 0.0)


def _equals_mask(frame: pd.DataFrame, name: str, kind: str, raw: str) -> np.ndarray:
    """Rows whose property equals one of the comma-separated values, compared as the property's kind."""
    values = [v.strip() for v in str(raw).split(",")]
    try:
        if kind == "integer":
            wanted = [limits.whole_number(v, name) for v in values]
        elif kind == "real":
            wanted = [float(v) for v in values]
        elif kind == "bool":
            wanted = [v.lower() in ("true", "1") for v in values]
        else:
            wanted = values
    except ValueError:
        raise ValidationError(gettext("%(param)s must be %(kind)s, got %(value)s", param=name, kind=kind,
                                      value=repr(raw[:40])), param=name) from None
    return frame[name].isin(wanted).to_numpy(dtype=bool)
