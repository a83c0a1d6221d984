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

import functools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geopandas.array import GeometryArray

from . import limits, model, output, script
from .apportion import investment_shares, project_positions
from .crs import CRS84, STORAGE_PYPROJ, reproject
from .errors import NotFound
from .i18n import gettext
from .params import Query, parse
from .select import Selector
from .store import Reader, Store, per_revision
from .store.base import Changes, FeatureColumns, Rows, typed_array
from .store.frames import Patched, positions_in

MAX_LIMIT = limits.MAX_PAGE
DEFAULT_LIMIT = 100


class LayerView:
    """A layer ready to serve: properties, geometry, and lazily encoded CRS84 GeoJSON fragments.

    After an edit of a few features (same fids), the frame is made only when first asked for: until then the view
    holds the frame it came from and the rows that replace some of its rows (``Patched``), and answers by fid,
    position and column from those, so that the first items request after an edit costs the changed rows.
    """

    def __init__(self, name: str, frame: gpd.GeoDataFrame | Patched, queryables: dict[str, str],
                 extent: tuple[float, float, float, float] | None, interval: tuple[str | None, str | None] | Planned
                 ) -> None:
        self.name, self.queryables, self.extent = name, queryables, extent
        self.planned = interval if isinstance(interval, Planned) else None  # a project layer's: the programme's
        self.interval = (interval.start, interval.finish) if isinstance(interval, Planned) else interval
        self._frame = Patched.of(frame)  # index: fid (ascending); columns: properties + geometry
        shape = self._frame.base
        self.fids: pd.Index = shape.index
        self.properties: list[str] = [c for c in shape.columns if c != "geometry"]
        self._fragments: dict[str, Fragments] = {}  # per script (labels differ)
        self._lock = threading.Lock()

    @functools.cached_property
    def dtypes(self) -> pd.Series:
        """The properties' and the geometry's dtypes (for sorting; not made by each edit's refresh)."""
        return self._frame.base.dtypes

    @property
    def frame(self) -> gpd.GeoDataFrame:
        """Every row's properties and geometry (made once, on first use, when rows were patched)."""
        return self._frame.whole()

    def values(self, column: str, rows: np.ndarray) -> np.ndarray:
        """A column's values (``geometry``: the geometries) at positions ``rows``, without making the frame."""
        return self._frame.values(column, rows)

    def columns(self, names: Sequence[str]) -> FeatureColumns:
        """Every row as a store's ``feature_columns`` gives the layer's (its columns ``names``; a project layer's
        ``name`` is served as ``feature_name``): what a selection without conditions for the store starts from."""
        every = np.arange(len(self.fids))
        served = {"name": "feature_name"} if "feature_name" in self.properties else {}
        return FeatureColumns(self.fids.to_numpy(dtype=np.int64),
                              {name: self.values(served.get(name, name), every) for name in names},
                              self.values("geometry", every))

    def fragments(self) -> Fragments:
        """GeoJSON Feature text of every row in CRS84 with all properties, encoded once per script."""
        chosen = script.current()
        with self._lock:
            known = self._fragments.get(chosen)
        if known is None:
            frame = self.frame
            with self._lock:
                if chosen not in self._fragments:
                    self._fragments[chosen] = Fragments.of(
                        encode_features(frame, self.properties, frame.geometry.values))
                known = self._fragments[chosen]
        return known


@dataclass(frozen=True)
class Places:
    """Where texts are: for each, which buffer holds it and where in that buffer it starts and ends."""

    buffer: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    def take(self, rows: np.ndarray) -> Places:
        return Places(self.buffer[rows], self.starts[rows], self.ends[rows])

    def copy(self) -> Places:
        return Places(self.buffer.copy(), self.starts.copy(), self.ends.copy())

    def put(self, rows: np.ndarray, places: Places) -> None:
        self.buffer[rows], self.starts[rows], self.ends[rows] = places.buffer, places.starts, places.ends


@dataclass(frozen=True)
class Fragments:
    """Every row's Feature text, comma-separated in a few buffers (one made whole, then one per batch of rows
    made anew after edits), with each row's buffer and where its text starts and ends: a run of rows whose texts
    follow each other in one buffer is one slice of it, and taking rows touches no per-feature object, so
    server workers forked after a buffer was made share its pages instead of copying them.

    The places of rows replaced since the per-row places were made are kept apart (``edited``, ascending, and
    theirs), so that an edit costs its rows rather than a copy of every row's place; they are folded into the
    per-row places when they pass ``_EDITED_ROWS`` and a share of the rows.
    """

    buffers: tuple[bytes, ...]
    places: Places  # per row
    edited: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))
    edits: Places | None = None  # the places of the rows ``edited``

    @classmethod
    def of(cls, texts: Sequence[bytes]) -> Fragments:
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        ends = np.cumsum(lengths + 1) - 1  # each text is followed by a comma
        return cls((b",".join(texts),), Places(np.zeros(len(texts), np.int16), ends - lengths, ends))

    def __len__(self) -> int:
        return len(self.places.buffer)

    def at(self, rows: np.ndarray) -> Places:
        """The places of the texts of ``rows`` (positions)."""
        found = self.places.take(rows)
        if len(self.edited) and len(rows):
            at = np.minimum(np.searchsorted(self.edited, rows), len(self.edited) - 1)
            hit = self.edited[at] == rows
            if hit.any():
                found.put(np.flatnonzero(hit), self.edits.take(at[hit]))
        return found

    def folded(self) -> Fragments:
        """The same texts with every row's place in new per-row places (none kept apart)."""
        places = self.places.copy()
        if self.edits is not None:
            places.put(self.edited, self.edits)
        return Fragments(self.buffers, places)

    def spliced(self, sources: np.ndarray, texts: Sequence[bytes]) -> Fragments:
        """The fragments of rows that are this one's rows at ``sources`` (positions) or, where a source is -1,
        the next of ``texts`` (in order, kept in a buffer of their own)."""
        made = sources < 0
        added = Fragments.of(list(texts))
        places = Places(*(np.empty(len(sources), array.dtype) for array in
                          (self.places.buffer, self.places.starts, self.places.ends)))
        places.put(np.flatnonzero(~made), self.at(sources[~made]))
        places.put(np.flatnonzero(made), Places(np.full(int(made.sum()), len(self.buffers), np.int16),
                                                added.places.starts, added.places.ends))
        return Fragments((*self.buffers, *added.buffers), places).bounded()

    def replaced(self, rows: np.ndarray, texts: Sequence[bytes]) -> Fragments:
        """The fragments with the texts of the rows at positions ``rows`` (ascending) replaced by ``texts`` (in
        order, kept in a buffer of their own): ``spliced`` for an edit that keeps every row, at the cost of its
        rows (kept apart from the per-row places until they are many)."""
        added = Fragments.of(list(texts))
        new = Places(np.full(len(rows), len(self.buffers), np.int16), added.places.starts, added.places.ends)
        edited = np.union1d(self.edited, rows)
        edits = Places(*(np.empty(len(edited), array.dtype) for array in (new.buffer, new.starts, new.ends)))
        if len(self.edited):
            edits.put(np.searchsorted(edited, self.edited), self.edits)
        edits.put(np.searchsorted(edited, rows), new)
        fragments = Fragments((*self.buffers, *added.buffers), self.places, edited, edits)
        if len(edited) > max(_EDITED_ROWS, _EDITED_SHARE * len(self)):
            fragments = fragments.folded()
        return fragments.bounded()

    def bounded(self) -> Fragments:
        """The same texts in at most 8 buffers: past them, those made after edits are joined into one (the cost of
        the edited texts); all are made one only when those outweigh half of the first (the texts of rows edited
        since it are still in it, unused)."""
        if len(self.buffers) <= 8:
            return self
        edited = sum(map(len, self.buffers[1:]))
        return self.compacted() if 2 * edited > len(self.buffers[0]) else self.merged()

    def merged(self) -> Fragments:
        """The same texts, those outside the first buffer moved into one second buffer: the cost of those texts,
        and of a copy of every row's place only when some of them are among the per-row places."""
        apart = self.edits is not None and not len(
            np.setdiff1d(np.flatnonzero(self.places.buffer > 0), self.edited, assume_unique=True))
        places = self.edits.copy() if apart else self.folded().places
        moving = np.flatnonzero(places.buffer > 0)
        rows = self.edited[moving] if apart else moving
        lengths = places.ends[moving] - places.starts[moving]
        ends = np.cumsum(lengths + 1) - 1
        joined = self.join(rows)
        places.put(moving, Places(np.ones(len(rows), np.int16), ends - lengths, ends))
        if apart:
            return Fragments((self.buffers[0], joined), self.places, self.edited, places)
        return Fragments((self.buffers[0], joined), places)

    def compacted(self) -> Fragments:
        """The same texts in one buffer."""
        places = self.at(np.arange(len(self)))
        lengths = places.ends - places.starts
        ends = np.cumsum(lengths + 1) - 1
        return Fragments((self.join(np.arange(len(self))),), Places(np.zeros(len(self), np.int16), ends - lengths,
                                                                     ends))

    def join(self, rows: np.ndarray) -> bytes:
        """The texts of ``rows`` (positions), comma-separated: one slice of a buffer per run of rows whose texts
        follow each other there."""
        if not len(rows):
            return b""
        places = self.at(rows)
        buffer, starts, ends = places.buffer, places.starts, places.ends
        breaks = np.flatnonzero((buffer[1:] != buffer[:-1]) | (starts[1:] != ends[:-1] + 1)) + 1
        first, last = np.r_[0, breaks], np.r_[breaks - 1, len(rows) - 1]
        texts = [memoryview(text) for text in self.buffers]
        return b",".join([texts[b][s:e] for b, s, e in zip(buffer[first].tolist(), starts[first].tolist(),
                                                             ends[last].tolist())])


_EDITED_ROWS, _EDITED_SHARE = 4096, 0.01  # past both, the places of rows replaced are folded into the per-row ones


def encode_features(frame: pd.DataFrame | Rows, properties: Sequence[str], geoms: np.ndarray) -> np.ndarray:
    """One ``Feature`` JSON text per row (id = fid), as an object array of bytes for fancy indexing."""
    out = np.empty(len(frame), dtype=object)
    table = frame.arrays if isinstance(frame, Rows) else frame
    out[:] = output.feature_texts(table, properties, geoms, frame.index.tolist())
    return out


def build_view(store: Reader, layer: str) -> LayerView:
    """The served form of a layer: project attributes joined to features, queryables, extents."""
    spec = model.LAYER_BY_NAME.get(layer)
    if spec is None:
        raise NotFound(gettext("collection %(value)s does not exist; collections: %(layers)s", value=repr(layer),
                               layers=", ".join(model.LAYER_BY_NAME)), param="collectionId")
    queryables = model.queryables(spec)
    interval: tuple[str | None, str | None] | Planned = (None, None)
    if spec.kind == "project":
        projects = store.projects()
        frame = _served(store.feature_columns(layer, _FEATURE_COLUMNS), Rows.of(projects), layer).frame()
        interval = per_revision(store, "planned", lambda: Planned.of(projects))  # alike for every project layer
    else:
        frame = store.features(layer).sort_index()
        if "valid_from" in frame.columns:
            starts = frame["valid_from"].dropna()
            interval = (min(starts) if len(starts) else None, None)
    return LayerView(layer, frame, queryables, _extent(frame), interval)


_FEATURE_COLUMNS = ("project_id", "name")  # what a project layer's served rows take from its features


def _served(features: FeatureColumns, projects: Rows, layer: str,
            earlier: tuple[np.ndarray, np.ndarray] | None = None) -> Rows:
    """A project layer's features (every feature of their projects, in fid order) as items serve them: with their
    project's attributes and their share of its investment, each attribute column taken from the projects by
    position (a merge, or pandas' reindex of every column, costs most of an edit's refresh).

    ``earlier``: the features' investments and shares as served before, when they and their geometries were the
    same then; the shares are kept if the investments are too (the shares are a function of those alone)."""
    ids = np.asarray(features.values["project_id"], dtype=object)
    attributes = [c for c in model.PROJECT_COLUMNS if c != "project_id"]
    at = project_positions(projects, ids)
    if (at < 0).any():  # features of a project not in the table (edited past the registry): missing values
        taken = projects.frame().set_index("project_id")[attributes].reindex(pd.Index(ids, dtype=object))
        columns = {name: typed_array(taken[name]) for name in attributes}
    else:
        columns = {name: projects[name].take(at) for name in attributes}
    geoms = GeometryArray(features.geometry, crs=STORAGE_PYPROJ)
    return Rows(pd.Index(features.fids, name="fid"),
                {"feature_name": np.asarray(features.values["name"], dtype=object), "project_id": ids, **columns,
                 "investment_share_yuan": earlier[1] if earlier is not None and
                 np.array_equal(earlier[0], columns["investment_yuan"]) else
                 investment_shares(ids, features.geometry, projects, layer, at),
                 "geometry": geoms})


@dataclass(frozen=True)
class Planned:
    """The programme's planned interval: the earliest planned start and the latest planned finish (ISO dates; None
    when no project has one), with the projects at either end, so that an edit of other projects moves it by their
    rows alone, without a look at every project."""

    start: str | None
    finish: str | None
    at_start: frozenset[str]
    at_finish: frozenset[str]

    @classmethod
    def of(cls, projects: pd.DataFrame | Rows) -> Planned:
        ids = np.asarray(projects["project_id"], dtype=object).tolist()
        ends = []
        for column, pick in (("planned_start", min), ("planned_finish", max)):
            dates = np.asarray(projects[column], dtype=object).tolist()
            dated = [(d, i) for d, i in zip(dates, ids) if isinstance(d, str)]
            end = pick(d for d, _ in dated) if dated else None
            ends.append((end, frozenset(i for d, i in dated if d == end)))
        return cls(ends[0][0], ends[1][0], ends[0][1], ends[1][1])

    def after(self, changed: frozenset[str], rows: pd.DataFrame | Rows, whole: Callable[[], pd.DataFrame]) -> Planned:
        """The interval after the projects ``changed`` changed (``rows``: those of them that exist now); over
        ``whole()`` (every project) when one of them was at an end."""
        if changed & (self.at_start | self.at_finish):
            return Planned.of(whole())
        new = Planned.of(rows)
        start = min((d for d in (self.start, new.start) if d is not None), default=None)
        finish = max((d for d in (self.finish, new.finish) if d is not None), default=None)
        return Planned(start, finish, (self.at_start if self.start == start else frozenset())
                       | (new.at_start if new.start == start else frozenset()),
                       (self.at_finish if self.finish == finish else frozenset())
                       | (new.at_finish if new.finish == finish else frozenset()))


def _extent(geoms: gpd.GeoDataFrame | np.ndarray) -> tuple[float, float, float, float] | None:
    """The envelope of a frame's (or an array's) geometries."""
    if isinstance(geoms, pd.DataFrame):
        geoms = np.asarray(geoms.geometry.array)
    if not len(geoms):
        return None
    bounds = shapely.bounds(geoms).reshape(-1, 4)
    return (float(np.nanmin(bounds[:, 0])), float(np.nanmin(bounds[:, 1])), float(np.nanmax(bounds[:, 2])),
            float(np.nanmax(bounds[:, 3])))


def _extent_after(extent: tuple[float, float, float, float] | None, gone: np.ndarray, fresh: np.ndarray,
                  whole: Callable[[], tuple[float, float, float, float] | None]) -> tuple | None:
    """A layer's extent after ``gone`` geometries were replaced by ``fresh`` ones: the old one widened, unless a
    geometry that went reached its edge or there was none (then ``whole()``, over the layer)."""
    if extent is None:
        return whole()
    before = shapely.bounds(gone).reshape(-1, 4)
    if (before[:, :2] <= np.asarray(extent[:2])).any() or (before[:, 2:] >= np.asarray(extent[2:])).any():
        return whole()
    bounds = np.vstack([np.asarray(extent), shapely.bounds(fresh).reshape(-1, 4)])
    return (float(bounds[:, 0].min()), float(bounds[:, 1].min()), float(bounds[:, 2].max()), float(bounds[:, 3].max()))


_DERIVE_SHARE, _DERIVE_ROWS = 0.05, 1000  # past both this share and this many rows changed, a layer is built anew


def derived_view(store: Reader, old: LayerView, changes: Changes) -> LayerView:
    """The served form of a project layer after ``changes`` (``Reader.changes_since``), from the one served
    before: the features of the projects that changed are joined, apportioned and encoded anew, the others kept
    with their GeoJSON text; built anew when more changed (``_DERIVE_SHARE``, ``_DERIVE_ROWS``). A reference
    layer is never among the changes (a write to one has every state loaded whole), so its served form is kept."""
    if model.LAYER_BY_NAME[old.name].kind != "project":
        return old
    fids = old.fids.to_numpy()
    written = positions_in(fids, np.array(sorted(changes.fids.get(old.name, ())), dtype=np.int64))
    written = written[written >= 0]
    # The rows to make anew: those written, and those of every project that changed or owned a row written
    # (its attributes or its investment's shares changed); a row of such a project not written itself still
    # belongs to it, so it is among the project's features now.
    affected = sorted(changes.projects | set(old.values("project_id", written)))
    current = store.feature_columns(old.name, _FEATURE_COLUMNS, project_ids=affected)
    if not len(current.fids) and not len(written):  # none of its rows changed: only the programme's interval may
        return _with_interval(old, _planned_after(store, old, affected, lambda: store.project_columns(affected)))
    if len(current.fids) + len(written) > max(_DERIVE_SHARE * len(old.fids), _DERIVE_ROWS):
        return build_view(store, old.name)
    still = positions_in(fids, current.fids)
    rows = np.union1d(written, still[still >= 0])
    projects = store.project_columns(affected)
    same = np.array_equal(fids[rows], current.fids)  # the same features: attribute or geometry edits
    moved = not same or not shapely.equals_exact(old.values("geometry", rows), current.geometry, 0).all()
    earlier = None if moved else (old.values("investment_yuan", rows), old.values("investment_share_yuan", rows))
    fresh = _served(current, projects, old.name, earlier)
    if same:
        new = old._frame.patched(rows, fresh)
        sources = None
    else:
        frame = old.frame
        kept = np.setdiff1d(np.arange(len(frame)), rows, assume_unique=True)
        new = pd.concat([frame.iloc[kept], fresh.frame()]).sort_index(kind="stable") if len(fresh) \
            else frame.iloc[kept]
        sources = np.full(len(new), -1, dtype=np.int64)  # each row's position in the old frame, -1 if made anew
        sources[new.index.get_indexer(frame.index[kept])] = kept
    new = Patched.of(new)

    def whole() -> tuple[float, float, float, float] | None:  # the extent over the layer, when the old one won't do
        return _extent(new.values("geometry", np.arange(len(new))))

    extent = _extent_after(old.extent, old.values("geometry", rows), current.geometry, whole) if moved \
        else old.extent
    interval = _planned_after(store, old, affected, lambda: projects)
    view = LayerView(old.name, new, old.queryables, extent, interval)
    with old._lock:
        encoded = dict(old._fragments)
    for chosen, fragments in encoded.items():
        with script.use(chosen):
            texts = encode_features(fresh, view.properties, current.geometry)
        view._fragments[chosen] = fragments.replaced(rows, texts) if sources is None else \
            fragments.spliced(sources, texts)
    return view


def _planned_after(store: Reader, old: LayerView, affected: list[str], projects: Callable[[], Rows]) -> Planned:
    """The programme's interval after the projects ``affected`` changed (``projects()``: their rows now), from the
    one ``old`` served: worked out once per revision, as every project layer asks for it."""
    return per_revision(store, "planned", lambda: old.planned.after(frozenset(affected), projects(), store.projects))


def _with_interval(old: LayerView, interval: Planned) -> LayerView:
    """A project layer's served form, its rows and GeoJSON shared with ``old``, with the programme's interval."""
    view = LayerView(old.name, old._frame, old.queryables, old.extent, interval)
    with old._lock:
        view._fragments.update(old._fragments)
    return view


# Per store location and layer: the served forms of its latest revisions, the latest last, and the lock of the one
# thread bringing them forward
_VIEWS: dict[tuple[str, str], dict[str, LayerView]] = {}
_BUILDING: dict[tuple[str, str], threading.Lock] = {}
_VIEWS_LOCK = threading.Lock()
_VIEWS_KEPT = 2  # revisions a layer's served form is kept for: requests still on the one before the latest edit


def view(store: Reader, layer: str) -> LayerView:
    """The cached LayerView of a layer for the store's revision: brought forward from the latest one held (or
    built) by one thread while the others asking for it wait, rather than each doing it again."""
    revision = store.revision()
    key = (store.location, layer)  # not id(store): a new store object may reuse a freed one's id
    with _VIEWS_LOCK:
        found = _VIEWS.get(key, {}).get(revision)
        building = _BUILDING.setdefault(key, threading.Lock())
    if found is not None:
        return found
    with building:
        with _VIEWS_LOCK:
            held = dict(_VIEWS.get(key, {}))
        if revision in held:  # brought forward by another thread meanwhile
            return held[revision]
        latest = next(reversed(held.items()), None)
        changes = store.changes_since(latest[0]) if latest else None
        built = build_view(store, layer) if changes is None else derived_view(store, latest[1], changes)
        with _VIEWS_LOCK:
            views = _VIEWS.setdefault(key, {})
            views[revision] = built
            given_up = [views.pop(next(iter(views))) for _ in range(len(views) - _VIEWS_KEPT)]
        del given_up  # released outside the lock
    return built


def follow(store: Store) -> None:
    """Bring the store's latest state and the served forms held for it forward to its latest revision, as the
    first read after an edit would: a server worker's follower calls it when the store says something was
    committed (``Store.commit_watch``), so that a read after another worker's edit finds them made."""
    with store.snapshot() as current:
        with _VIEWS_LOCK:
            layers = [layer for location, layer in _VIEWS if location == current.location]
        for layer in layers:
            view(current, layer)


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
    fids = layer_view.fids
    properties = layer_view.frame if query.equals or query.filter is not None else None  # what conditions name
    found = Selector(view, query).matches(layer_view.name, properties=properties, every=layer_view.columns)
    rows = fids.get_indexer(found.candidates.fids[found.keep])
    if query.sortby:
        keys = pd.DataFrame({name: pd.Series(layer_view.values(name, rows), dtype=layer_view.dtypes[name])
                             for name, _ in query.sortby})
        order = keys.sort_values([n for n, _ in query.sortby], ascending=[a for _, a in query.sortby],
                                 kind="stable", na_position="last").index.to_numpy()
        rows = rows[order]
    matched = len(rows)
    limit = query.limit
    if query.after is not None:
        start = int(np.searchsorted(fids.to_numpy()[rows], query.after, side="right"))
        page = rows[start:start + limit]
        more = start + limit < matched
        next_after = int(fids[page[-1]]) if more and len(page) else None
        return Selection(page, matched, next_after, None, None)
    page = rows[query.offset:query.offset + limit]
    more = query.offset + limit < matched
    next_after = int(fids[page[-1]]) if more and len(page) and not query.sortby else None
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
