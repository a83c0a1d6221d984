"""Feature collections as OGC API – Features serves them: one per layer.

A project layer's features carry their project's attributes and ``investment_share_yuan`` (the
project's investment apportioned over its features by length or area, points equally, in fen with
a largest-remainder rule), so summing that field in a desktop GIS gives the true total. Sluices are
part of their polder project and carry a share of 0.

Items are selected with vectorised masks (bbox through the spatial index, datetime, CQL2, property
equality), sorted, and paged by offset or by a keyset position (the last fid), so paging stays
exact while others edit. GeoJSON text of each feature is encoded once per layer and store revision,
so a large response is a join of ready fragments.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import cql, limits, model, output, spatial, streets
from .apportion import investment_shares
from .crs import CRS84, CRS_URIS, crs_uri, lat_first, reproject
from .errors import NotFound, ValidationError
from .store import Store

MAX_LIMIT = limits.MAX_PAGE
DEFAULT_LIMIT = 100
_KINDS = {"TEXT": "text", "DATE": "date", "INTEGER": "integer", "REAL": "real"}


@dataclass
class LayerView:
    """A layer ready to serve: properties, geometry, and lazily encoded CRS84 GeoJSON fragments."""

    name: str
    frame: gpd.GeoDataFrame  # index: fid (ascending); columns: properties + geometry
    queryables: dict[str, str]
    extent: tuple[float, float, float, float] | None
    interval: tuple[str | None, str | None]
    _fragments: np.ndarray | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def properties(self) -> list[str]:
        return [c for c in self.frame.columns if c != "geometry"]

    def fragments(self) -> np.ndarray:
        """GeoJSON Feature text of every row in CRS84 with all properties, encoded once."""
        with self._lock:
            if self._fragments is None:
                self._fragments = encode_features(self.frame, self.properties, self.frame.geometry.values)
            return self._fragments


def encode_features(frame: pd.DataFrame, properties: Sequence[str], geoms: np.ndarray) -> np.ndarray:
    """One ``Feature`` JSON text per row (id = fid), as an object array of bytes for fancy indexing."""
    out = np.empty(len(frame), dtype=object)
    out[:] = output.feature_texts(frame, properties, geoms, frame.index.tolist())
    return out


def queryables_for(layer: model.Layer) -> dict[str, str]:
    """A layer's served properties (name → kind): project attributes for project layers."""
    if layer.kind == "project":
        return {"feature_name": "text", "project_id": "text",
                **{f.name: f.kind for f in model.PROJECT_FIELDS if f.name != "project_id"},
                "investment_share_yuan": "real"}
    return {name: _KINDS[kind] for name, kind in layer.columns}


def build_view(store: Store, layer: str) -> LayerView:
    """The served form of a layer: project attributes joined to features, queryables, extents."""
    spec = model.LAYER_BY_NAME.get(layer)
    if spec is None:
        raise NotFound(f"collection {layer!r} does not exist; collections: {', '.join(model.LAYER_BY_NAME)}",
                       param="collectionId")
    frame = store.features(layer).sort_index()
    queryables = queryables_for(spec)
    interval: tuple[str | None, str | None] = (None, None)
    if spec.kind == "project":
        projects = store.projects()
        joined = frame[["project_id", "name"]].rename(columns={"name": "feature_name"}).reset_index().merge(
            projects, on="project_id", how="left").set_index("fid")
        joined = joined[["feature_name", "project_id", *[c for c in model.PROJECT_COLUMNS if c != "project_id"]]]
        joined["investment_share_yuan"] = investment_shares(frame, projects, layer)
        frame = gpd.GeoDataFrame(joined, geometry=frame.geometry.values, crs=model.STORAGE_EPSG)
        starts, ends = projects["planned_start"].dropna(), projects["planned_finish"].dropna()
        interval = (min(starts) if len(starts) else None, max(ends) if len(ends) else None)
    elif "valid_from" in frame.columns:
        starts = frame["valid_from"].dropna()
        interval = (min(starts) if len(starts) else None, None)
    queryables["geometry"] = "geometry"
    extent = tuple(float(v) for v in frame.total_bounds) if len(frame) else None
    return LayerView(layer, frame, queryables, extent, interval)


_VIEWS: dict[tuple[str, str], tuple[str, LayerView]] = {}
_VIEWS_LOCK = threading.Lock()


def view(store: Store, layer: str) -> LayerView:
    """The cached LayerView of a layer for the store's current revision."""
    revision = store.revision()
    key = (store.location, layer)  # not id(store): a new store object may reuse a freed one's id
    with _VIEWS_LOCK:
        hit = _VIEWS.get(key)
    if hit and hit[0] == revision:
        return hit[1]
    built = build_view(store, layer)
    with _VIEWS_LOCK:
        _VIEWS[key] = (revision, built)
    return built


@dataclass
class ItemsQuery:
    """The parameters of an items request, parsed."""

    bbox: shapely.Geometry | None = None
    street: spatial.StreetArea | None = None
    datetime: tuple[str | None, str | None] | None = None
    filter: object | None = None  # a pygeofilter AST
    filter_crs: int = 4326
    equals: dict[str, str] = field(default_factory=dict)
    sortby: list[tuple[str, bool]] = field(default_factory=list)
    properties: list[str] | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    after: int | None = None
    crs: str = CRS84


def parse_datetime(text: str | None) -> tuple[str | None, str | None] | None:
    """``2014-01-01``, ``2013-01-01/2014-12-31``, ``../2014-01-01`` or RFC 3339 timestamps → (start, end)."""
    if not text:
        return None
    parts = str(text).split("/")
    if len(parts) > 2:
        raise ValidationError(f"datetime must be an instant or an interval a/b, got {text!r}", param="datetime")
    bounds = []
    for part in parts:
        part = part.strip()
        if part in ("", ".."):
            bounds.append(None)
            continue
        try:
            bounds.append(pd.Timestamp(part).strftime("%Y-%m-%d"))
        except ValueError:
            raise ValidationError(f"datetime: {part!r} is not an RFC 3339 date or timestamp",
                                  param="datetime") from None
    start, end = (bounds[0], bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
    if start and end and start > end:
        raise ValidationError(f"datetime interval {text} runs backwards", param="datetime")
    return start, end


def parse_items_query(store: Store, layer_view: LayerView, args: dict[str, str]) -> ItemsQuery:
    """An ItemsQuery from request arguments, checking each and naming the one at fault.

    Besides OGC parameters, ``street`` (and ``as_of``) select features by the street membership rule.
    """
    query = ItemsQuery()
    if args.get("street"):
        query.street = streets.street_area(store, args["street"], spatial.parse_date(args.get("as_of")))
    crs = crs_uri(args.get("crs"))
    query.crs = crs
    if args.get("bbox"):
        bbox_crs = crs_uri(args.get("bbox-crs"), "bbox-crs")
        values = str(args["bbox"]).split(",")
        if lat_first(bbox_crs) and len(values) == 4:  # (lat, lon) or (northing, easting) → x first
            values = [values[1], values[0], values[3], values[2]]
        elif lat_first(bbox_crs) and len(values) == 6:
            values = [values[1], values[0], values[2], values[4], values[3], values[5]]
        query.bbox = spatial.parse_bbox(values, 4490 if bbox_crs == CRS84 else CRS_URIS[bbox_crs])
    query.datetime = parse_datetime(args.get("datetime"))
    if args.get("filter"):
        lang = args.get("filter-lang")
        node = cql.parse_filter(args["filter"], lang)
        query.filter = node
        filter_crs = crs_uri(args.get("filter-crs"), "filter-crs")
        query.filter_crs = 4326 if filter_crs == CRS84 else CRS_URIS[filter_crs]
    for name, kind in layer_view.queryables.items():
        if name in args and kind != "geometry" and name not in ("bbox", "datetime", "filter", "limit", "offset"):
            query.equals[name] = args[name]
    if args.get("sortby"):
        for part in str(args["sortby"]).split(","):
            part = part.strip()
            name = part.lstrip("+-")
            if name not in layer_view.queryables or name == "geometry":
                raise ValidationError(f"cannot sort by {name!r}; sortable: "
                                      f"{', '.join(q for q in layer_view.queryables if q != 'geometry')}",
                                      param="sortby")
            query.sortby.append((name, not part.startswith("-")))
    if args.get("properties") is not None:
        wanted = [p.strip() for p in str(args["properties"]).split(",") if p.strip()]
        unknown = [p for p in wanted if p not in layer_view.properties]
        if unknown:
            raise ValidationError(f"unknown property {unknown[0]!r}; properties: {', '.join(layer_view.properties)}",
                                  param="properties")
        query.properties = wanted
    query.limit = _bounded_int(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    query.offset = _bounded_int(args, "offset", 0, 0, None)
    if args.get("after") not in (None, ""):
        query.after = _bounded_int(args, "after", 0, 0, None)
        if query.sortby:
            raise ValidationError("after (keyset paging) works with the default fid order only; use offset",
                                  param="after")
    return query


def _bounded_int(args: dict[str, str], key: str, default: int, low: int, high: int | None) -> int:
    raw = args.get(key)
    return default if raw in (None, "") else limits.whole_number(raw, key, low, high)


def _equals_mask(frame: pd.DataFrame, name: str, kind: str, raw: str) -> np.ndarray:
    values = [v.strip() for v in str(raw).split(",")]
    column = frame[name]
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
        raise ValidationError(f"{name} must be {kind}, got {raw!r}", param=name) from None
    return column.isin(wanted).to_numpy(dtype=bool)


@dataclass
class Selection:
    """Rows (positions in the view's frame) of one page, and what paging needs."""

    rows: np.ndarray
    number_matched: int
    next_after: int | None
    next_offset: int | None
    prev_offset: int | None


def select(layer_view: LayerView, query: ItemsQuery) -> Selection:
    """Apply bbox, datetime, filter and equality conditions; sort; cut one page."""
    frame = layer_view.frame
    if query.bbox is not None:
        candidates = np.sort(frame.sindex.query(query.bbox, predicate="intersects"))
    else:
        candidates = np.arange(len(frame))
    mask = np.ones(len(candidates), dtype=bool)
    part = frame.iloc[candidates] if query.bbox is not None else frame
    if query.datetime is not None:
        start, end = query.datetime
        first, last = ("planned_start", "planned_finish") if "planned_start" in frame.columns else (
            ("valid_from", "valid_to") if "valid_from" in frame.columns else (None, None))
        if first is None:
            raise ValidationError(f"collection {layer_view.name} has no dates to match datetime", param="datetime")
        begins = part[first].fillna("0000-01-01").to_numpy(dtype=object)
        ends = part[last].fillna("9999-12-31").to_numpy(dtype=object)
        if end is not None:
            mask &= begins <= end
        if start is not None:
            mask &= ends >= start
    for name, raw in query.equals.items():
        mask &= _equals_mask(part, name, layer_view.queryables[name], raw)
    if query.street is not None and mask.any():
        mask[mask] = spatial.membership(part.geometry.values[mask], query.street.boundary, list(query.street.before))
    if query.filter is not None:
        mask &= cql.filter_mask(part, query.filter, layer_view.queryables, query.filter_crs)
    rows = candidates[mask]
    if query.sortby:
        keys = frame.iloc[rows][[n for n, _ in query.sortby]].reset_index(drop=True)
        order = keys.sort_values([n for n, _ in query.sortby], ascending=[a for _, a in query.sortby],
                                 kind="stable", na_position="last").index.to_numpy()
        rows = rows[order]
    matched = len(rows)
    if query.after is not None:
        fids = frame.index.to_numpy()[rows]
        start = int(np.searchsorted(fids, query.after, side="right"))
        page = rows[start:start + query.limit]
        more = start + query.limit < matched
        next_after = int(frame.index[page[-1]]) if more and len(page) else None
        return Selection(page, matched, next_after, None, None)
    page = rows[query.offset:query.offset + query.limit]
    more = query.offset + query.limit < matched
    next_after = int(frame.index[page[-1]]) if more and len(page) and not query.sortby else None
    next_offset = query.offset + query.limit if more and query.sortby else None
    prev_offset = max(0, query.offset - query.limit) if query.offset > 0 else None
    return Selection(page, matched, next_after, next_offset, prev_offset)


def encode_page(layer_view: LayerView, rows: np.ndarray, query: ItemsQuery, chunk: int = 5000) -> Iterator[bytes]:
    """The page's features as comma-separated JSON text, from the cache when CRS84 with all properties."""
    if query.crs == CRS84 and query.properties is None:
        fragments = layer_view.fragments()
        for start in range(0, len(rows), chunk):
            yield (b"," if start else b"") + b",".join(fragments[rows[start:start + chunk]])
        return
    properties = query.properties if query.properties is not None else layer_view.properties
    for start in range(0, len(rows), chunk):
        part = layer_view.frame.iloc[rows[start:start + chunk]]
        geoms = reproject(part.geometry.values, query.crs)
        yield (b"," if start else b"") + b",".join(encode_features(part, properties, geoms))


def feature(layer_view: LayerView, fid: str, crs: str) -> bytes:
    """One feature's JSON text, or NotFound."""
    try:
        key = int(fid)
    except ValueError:
        raise NotFound(f"feature {fid!r} does not exist in {layer_view.name} (ids are integers)",
                       param="featureId") from None
    if key not in layer_view.frame.index:
        raise NotFound(f"feature {key} does not exist in {layer_view.name}", param="featureId")
    row = layer_view.frame.loc[[key]]
    return encode_features(row, layer_view.properties, reproject(row.geometry.values, crs))[0]
