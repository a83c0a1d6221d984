"""Statistics grouped by street office, category, year, status and lead department.

A project is counted once per group. Grouped by street, a project that crosses street offices is
counted in every street it belongs to (the membership rule of ``spatial``), and its investment,
declared length, area, stalls and parking spaces are apportioned by the share of its length (lines),
area (polygons) or points inside each street, so the streets add up exactly to the park total:
money is split in integer fen with a largest-remainder rule, shares are rounded to 1e-9 first so the
result does not hang on the GEOS version. A share outside every street goes to an ``outside`` row;
a project with no feature to ``unlocated``. Under a street filter every grouping (by category, year, ...)
shows that street's shares, so its rows add up to that street's row when grouped by street.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import model, spatial
from .apportion import largest_remainder
from .errors import ValidationError
from .i18n import gettext
from .params import Query, parse
from .query import find
from .store import Store, per_revision
from .streets import streets_as_of as streets_of

GROUP_KEYS = {"street": "street", "category": "category", "year": "year", "status": "status",
              "department": "lead_department", "lead_department": "lead_department"}
OUTSIDE, UNLOCATED = "outside", "unlocated"
_SHARE_DIGITS = 9
_RESIDUE = 1e-6
_MEASURES = ("length_m", "area_m2")
_COUNTS = ("stalls", "parking_spaces")


@dataclass
class Stats:
    """Grouped figures: ``rows`` hold the group keys and figures; money in fen (integers)."""

    by: list[str]
    rows: pd.DataFrame
    totals: dict[str, object]

    def to_json(self) -> dict:
        """The ``{"by", "rows", "totals"}`` shape, investment as yuan strings with two decimals."""
        return {"by": self.by, "rows": [_json_row(r) for r in self.rows.to_dict("records")],
                "totals": _json_row(self.totals)}


def _yuan(fen: int) -> str:
    return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _json_row(row: Mapping[str, object]) -> dict:
    out = {}
    for key, value in row.items():
        if key == "investment_fen":
            out["investment_yuan"] = _yuan(int(value))
        elif isinstance(value, (np.integer, int)) and not isinstance(value, bool):
            out[key] = int(value)
        elif isinstance(value, (np.floating, float)):
            out[key] = round(float(value), 2)
        else:
            out[key] = value
    return out


def parse_by(text: str | Sequence[str] | None) -> list[str]:
    """Group keys from ``street,category``; department is an alias of lead_department."""
    keys = [k.strip() for k in (text.split(",") if isinstance(text, str) else text or []) if k.strip()]
    bad = [k for k in keys if k not in GROUP_KEYS]
    if bad or not keys:
        valid = ", ".join(k for k in GROUP_KEYS if k != "department")
        if bad:
            raise ValidationError(gettext("by must list some of %(keys)s; unknown %(value)s", keys=valid,
                                          value=repr(bad[0])), param="by")
        raise ValidationError(gettext("by must list some of %(keys)s", keys=valid), param="by")
    return list(dict.fromkeys(GROUP_KEYS[k] for k in keys))


def street_shares(store: Store, projects: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """(project_id, street, share) for each project and street it belongs to, shares summing to 1.

    Lines by length, polygons by area (both in EPSG:4549), points by count, over the features of the
    project's category layer; the rest of 1 is ``outside``, a project without features ``unlocated``.
    Rows come by project_id, then street code. Each layer's measures in each street are kept per revision and
    boundary version (``_layer_measures``), so another selection costs sums over arrays, not geometry.
    """
    streets = streets_of(store, as_of)
    codes = np.array(streets["code"], dtype=object)
    ids = projects["project_id"].to_numpy(dtype=object)
    rank = np.empty(len(ids), dtype=np.int64)  # each project's place in project_id order, the rows' order
    rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    n_streets = len(codes)
    selected = pd.Index(ids, dtype=object)  # object, as the layers' ids: no conversion to Arrow text per look-up
    inside_keys, inside_measures, totals, counts = [], [], np.zeros(len(ids)), np.zeros(len(ids), dtype=np.int64)
    version = tuple(f"{c}@{f}" for c, f in zip(streets["code"], streets["valid_from"]))  # the boundaries' version
    for category in pd.unique(projects["category"]):
        layer = _layer_measures(store, category, streets, version)
        at = selected.get_indexer(layer.project_ids)  # each feature's project among the selected (-1: none)
        chosen = at >= 0
        totals += np.bincount(at[chosen], weights=layer.totals[chosen], minlength=len(ids))
        counts += np.bincount(at[chosen], minlength=len(ids))
        mine = at[layer.piece_features]
        keep = mine >= 0
        inside_keys.append(mine[keep] * n_streets + layer.piece_streets[keep])
        inside_measures.append(layer.piece_measures[keep])
    keys = np.concatenate(inside_keys) if inside_keys else np.array([], dtype=np.int64)
    pairs, where = np.unique(keys, return_inverse=True)
    measure = np.bincount(where, weights=np.concatenate(inside_measures) if inside_measures else None,
                          minlength=len(pairs)) if len(pairs) else np.array([])
    positive = measure > 0
    pairs, measure = pairs[positive], measure[positive]
    at, street = pairs // n_streets, pairs % n_streets
    share = np.minimum(np.round(measure / totals[at], _SHARE_DIGITS), 1.0)
    # Rows by project_id, then street code (ties of the largest share below go to the first such row).
    order = np.lexsort((np.argsort(np.argsort(codes, kind="stable"), kind="stable")[street], rank[at]))
    at, street, share = at[order], street[order], share[order]
    located = counts > 0
    # Rounded shares of a project lying wholly in streets may miss 1 by a few 1e-9: that residue goes
    # to its largest share, so "outside" holds only real parts outside (more than 1 ppm).
    residual = np.round(1.0 - np.bincount(at, weights=share, minlength=len(ids)), _SHARE_DIGITS)
    tiny = located & (np.abs(residual) <= _RESIDUE)
    if len(at):
        by_share = np.lexsort((-share, at))  # per project, its largest share first (stable: the first row)
        first = by_share[np.r_[True, at[by_share][1:] != at[by_share][:-1]]]
        first = first[tiny[at[first]]]
        share[first] += residual[at[first]]
    outside = np.flatnonzero(located & (residual > _RESIDUE))
    outside = outside[np.argsort(rank[outside], kind="stable")]
    unlocated = np.flatnonzero(~located)
    return pd.DataFrame({
        "project_id": np.concatenate([ids[at], ids[outside], ids[unlocated]]),
        "street": np.concatenate([codes[street], np.full(len(outside), OUTSIDE, dtype=object),
                                  np.full(len(unlocated), UNLOCATED, dtype=object)]),
        "share": np.concatenate([share, residual[outside], np.ones(len(unlocated))])})


@dataclass(frozen=True)
class _LayerMeasures:
    """A category layer's features by street: each feature's project and whole measure, and the pieces
    (feature, street, measure inside) of the features that lie in a street."""

    project_ids: np.ndarray
    totals: np.ndarray
    piece_features: np.ndarray
    piece_streets: np.ndarray
    piece_measures: np.ndarray


def _layer_measures(store: Store, category: str, streets: gpd.GeoDataFrame, version: tuple[str, ...]) -> _LayerMeasures:
    """The measures of ``category``'s layer in ``streets`` (valid on one day, ``version`` naming them), kept per
    revision and boundary version: a pure function of the stored layers, which every statistic by street reads."""
    return per_revision(store, ("street_measures", category, version),
                        lambda: _measure_layer(store.features(category), streets.geometry.values,
                                               model.CATEGORY_BY_SLUG[category].geometry_type))


def _measure_layer(frame: gpd.GeoDataFrame, street_geoms: np.ndarray, geometry_type: str) -> _LayerMeasures:
    """Lines by length, polygons by area in EPSG:4549, points by count (the membership rule); a feature wholly
    inside a street lies there by its whole measure, and only those crossing a boundary are cut (on 100,000
    features about 6 % cross)."""
    geoms = np.asarray(frame.geometry.array)  # shapely's functions on a GeometryArray go through pandas, 10x slower
    pids = frame["project_id"].to_numpy(dtype=object)
    features, where, measures = [], [], []
    if geometry_type == "Point":
        totals = np.ones(len(geoms))
        for i in range(len(street_geoms)):
            inside = np.flatnonzero(spatial.membership(geoms, street_geoms[i], list(street_geoms[:i])))
            features.append(inside)
            where.append(np.full(len(inside), i))
            measures.append(np.ones(len(inside)))
    else:
        measure = shapely.length if "Line" in geometry_type else shapely.area
        metric = np.asarray(spatial.metric(geoms))
        totals = measure(metric)
        bounds = shapely.bounds(metric)
        for i, street in enumerate(np.asarray(spatial.metric(street_geoms))):
            x0, y0, x1, y1 = street.bounds
            near = np.flatnonzero((bounds[:, 0] <= x1) & (bounds[:, 2] >= x0) & (bounds[:, 1] <= y1)
                                  & (bounds[:, 3] >= y0))
            street = spatial.prepared(street)
            whole = shapely.contains_properly(street, metric[near])
            cut = near[~whole][shapely.intersects(street, metric[near[~whole]])]
            features += [near[whole], cut]
            where.append(np.full(len(near[whole]) + len(cut), i))
            measures += [totals[near[whole]], measure(shapely.intersection(metric[cut], street))]
    empty = np.array([], dtype=np.int64)
    return _LayerMeasures(pids, totals, np.concatenate(features) if features else empty,
                          np.concatenate(where) if where else empty,
                          np.concatenate(measures) if measures else np.array([]))


def _apportion(groups: np.ndarray, wholes: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Each row's part of its project's integer ``wholes`` (one per row) for its share, summing exactly."""
    return largest_remainder(groups, np.nan_to_num(wholes).astype("int64"), shares)


def statistics(store: Store, query: Query | Mapping[str, str], by: Sequence[str] | str,
               projects: pd.DataFrame | None = None) -> Stats:
    """Figures for the projects a query selects, grouped by ``by`` (see the module docstring).

    ``projects`` are the query's projects when the caller has them already (``find``'s, every page).
    """
    keys = parse_by(by)
    if not isinstance(query, Query):
        query = parse(query, store)
    if projects is None:
        projects = find(store, replace(query, limit=None, offset=0)).projects
    if "street" in keys or query.street:  # under a street filter every grouping shows that street's shares
        shares = street_shares(store, projects, query.as_of)
        at = pd.Index(projects["project_id"].to_numpy(dtype=object), dtype=object).get_indexer(
            shares["project_id"].to_numpy(dtype=object))  # each row's project
        rows = pd.concat([shares, projects.drop(columns="project_id").take(at).reset_index(drop=True)], axis=1)
        groups, share = shares["project_id"].to_numpy(), shares["share"].to_numpy()
        yuan = projects["investment_yuan"].to_numpy(dtype="float64", na_value=np.nan)[at]
        rows["investment_fen"] = _apportion(groups, yuan * 100, share)
        for column in _COUNTS:
            rows[column] = _apportion(groups, projects[column].to_numpy(dtype="float64", na_value=0)[at], share)
        for column in _MEASURES:
            rows[column] = rows[column].fillna(0.0) * rows["share"]
        if query.street:  # apportioned over all streets first, then only the asked street is shown
            rows = rows[rows["street"] == query.street]
    else:
        rows = projects.assign(investment_fen=projects["investment_yuan"] * 100)
        for column in _COUNTS + _MEASURES:
            rows[column] = rows[column].fillna(0)
    figures = {"projects": ("project_id", "nunique"), "investment_fen": ("investment_fen", "sum"),
               **{c: (c, "sum") for c in _MEASURES + _COUNTS}}
    grouped = rows.groupby(keys, as_index=False, dropna=False).agg(**figures) if len(rows) else \
        pd.DataFrame(columns=[*keys, *figures])
    if "street" in keys:
        order = {c: i for i, c in enumerate((*spatial.STREET_ORDER, OUTSIDE, UNLOCATED))}
        grouped = grouped.assign(_o=grouped["street"].map(order)).sort_values(
            ["_o", *[k for k in keys if k != "street"]], kind="stable").drop(columns="_o")
        grouped.insert(keys.index("street") + 1, "street_name",
                       grouped["street"].map(lambda c: model.STREETS.get(c, c)))
    totals = {"projects": int(rows["project_id"].nunique()) if len(rows) else 0,
              "investment_fen": int(rows["investment_fen"].sum()) if len(rows) else 0,
              **{c: rows[c].sum() if len(rows) else 0 for c in _MEASURES + _COUNTS}}
    return Stats(by=keys, rows=grouped.reset_index(drop=True), totals=totals)
