"""Feature collections as OGC API – Features serves them: one per layer.

A project layer's features carry their project's attributes and ``investment_share_yuan`` (the
project's investment apportioned over its features by length or area, points equally, in fen with
a largest-remainder rule), so summing that field in a desktop GIS gives the true total. Sluices are
part of their polder project and carry a share of 0.

Items are selected by the registry's one engine (``registry.select``: bbox through the spatial index,
street, datetime, CQL2, property equality), sorted, and paged by offset or by a keyset position (the
last fid), so paging stays exact while others edit. GeoJSON text of each feature is encoded once per
layer and store revision, so a large response is a join of ready fragments.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from . import limits, model, output, script
from .apportion import investment_shares
from .crs import CRS84, reproject
from .errors import NotFound
from .i18n import gettext
from .params import Query, parse
from .select import Selector
from .store import Reader

MAX_LIMIT = limits.MAX_PAGE
DEFAULT_LIMIT = 100


@dataclass
class LayerView:
    """A layer ready to serve: properties, geometry, and lazily encoded CRS84 GeoJSON fragments."""

    name: str
    frame: gpd.GeoDataFrame  # index: fid (ascending); columns: properties + geometry
    queryables: dict[str, str]
    extent: tuple[float, float, float, float] | None
    interval: tuple[str | None, str | None]
    _fragments: dict[str, Fragments] = field(default_factory=dict, repr=False)  # per script (labels differ)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def properties(self) -> list[str]:
        return [c for c in self.frame.columns if c != "geometry"]

    def fragments(self) -> Fragments:
        """GeoJSON Feature text of every row in CRS84 with all properties, encoded once per script."""
        chosen = script.current()
        with self._lock:
            if chosen not in self._fragments:
                self._fragments[chosen] = Fragments.of(
                    output.feature_texts(self.frame, self.properties, self.frame.geometry.values,
                                         self.frame.index.tolist()))
            return self._fragments[chosen]


@dataclass(frozen=True)
class Fragments:
    """Every row's Feature text in one buffer, comma-separated, with where each starts and ends: a run of
    consecutive rows is one slice of it, and taking rows touches no per-feature object, so server workers
    forked after it was made share its pages instead of copying them."""

    text: bytes
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, texts: Sequence[bytes]) -> Fragments:
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        ends = np.cumsum(lengths + 1) - 1  # each text is followed by a comma
        return cls(b",".join(texts), ends - lengths, ends)

    def join(self, rows: np.ndarray) -> bytes:
        """The texts of ``rows`` (positions), comma-separated: one slice of the buffer per run of consecutive rows."""
        if not len(rows):
            return b""
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        first, last = rows[np.r_[0, breaks]], rows[np.r_[breaks - 1, len(rows) - 1]]
        text = memoryview(self.text)
        return b",".join([text[a:b] for a, b in zip(self.starts[first].tolist(), self.ends[last].tolist())])


def encode_features(frame: pd.DataFrame, properties: Sequence[str], geoms: np.ndarray) -> np.ndarray:
    """One ``Feature`` JSON text per row (id = fid), as an object array of bytes for fancy indexing."""
    out = np.empty(len(frame), dtype=object)
    out[:] = output.feature_texts(frame, properties, geoms, frame.index.tolist())
    return out


def build_view(store: Reader, layer: str) -> LayerView:
    """The served form of a layer: project attributes joined to features, queryables, extents."""
    spec = model.LAYER_BY_NAME.get(layer)
    if spec is None:
        raise NotFound(gettext("collection %(value)s does not exist; collections: %(layers)s", value=repr(layer),
                               layers=", ".join(model.LAYER_BY_NAME)), param="collectionId")
    frame = store.features(layer).sort_index()
    queryables = model.queryables(spec)
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
    extent = tuple(float(v) for v in frame.total_bounds) if len(frame) else None
    return LayerView(layer, frame, queryables, extent, interval)


_VIEWS: dict[tuple[str, str], tuple[str, LayerView]] = {}
_VIEWS_LOCK = threading.Lock()


def view(store: Reader, layer: str) -> LayerView:
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
class Selection:
    """Rows (positions in the view's frame) of one page, and what paging needs."""

    rows: np.ndarray
    number_matched: int
    next_after: int | None
    next_offset: int | None
    prev_offset: int | None


def parse_items(view: Reader, layer: str, args: Mapping[str, str]) -> Query:
    """An items request's parameters (``registry.params``): a page counts features."""
    return parse(args, view, layer=layer, limit=(DEFAULT_LIMIT, MAX_LIMIT))


def select(view: Reader, layer_view: LayerView, query: Query) -> Selection:
    """The features the engine selects (``registry.select``), sorted, and one page of them (positions in
    the layer view's frame), by offset or after a keyset position (the last fid)."""
    frame = layer_view.frame
    chosen = Selector(view, query).features(layer_view.name, properties=frame)
    rows = frame.index.get_indexer(chosen.index)
    if query.sortby:
        keys = frame.iloc[rows][[n for n, _ in query.sortby]].reset_index(drop=True)
        order = keys.sort_values([n for n, _ in query.sortby], ascending=[a for _, a in query.sortby],
                                 kind="stable", na_position="last").index.to_numpy()
        rows = rows[order]
    matched = len(rows)
    limit = query.limit
    if query.after is not None:
        fids = frame.index.to_numpy()[rows]
        start = int(np.searchsorted(fids, query.after, side="right"))
        page = rows[start:start + limit]
        more = start + limit < matched
        next_after = int(frame.index[page[-1]]) if more and len(page) else None
        return Selection(page, matched, next_after, None, None)
    page = rows[query.offset:query.offset + limit]
    more = query.offset + limit < matched
    next_after = int(frame.index[page[-1]]) if more and len(page) and not query.sortby else None
    next_offset = query.offset + limit if more and query.sortby else None
    prev_offset = max(0, query.offset - limit) if query.offset > 0 else None
    return Selection(page, matched, next_after, next_offset, prev_offset)


def encode_page(layer_view: LayerView, rows: np.ndarray, query: Query, chunk: int = 5000) -> Iterator[bytes]:
    """The page's features as comma-separated JSON text, from the cache when CRS84 with all properties."""
    if query.crs == CRS84 and query.properties is None:
        fragments = layer_view.fragments()
        for start in range(0, len(rows), chunk):
            yield (b"," if start else b"") + fragments.join(rows[start:start + chunk])
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
        raise NotFound(gettext("feature %(value)s does not exist in %(layer)s (ids are integers)", value=repr(fid),
                               layer=layer_view.name), param="featureId") from None
    if key not in layer_view.frame.index:
        raise NotFound(gettext("feature %(value)s does not exist in %(layer)s", value=key, layer=layer_view.name),
                       param="featureId")
    row = layer_view.frame.loc[[key]]
    return encode_features(row, layer_view.properties, reproject(row.geometry.values, crs))[0]
