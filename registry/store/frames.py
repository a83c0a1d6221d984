"""A registry's committed state held in memory as frames with spatial indexes, and the snapshot answering from it.

The GeoPackage store loads its file into one, and after its own writes derives the next state from the rows the
change log names (``State.changed``), so an edit to one project costs its rows, not whole layers; any store's state
as of a past date, rebuilt from its change log, is one too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geopandas.array import GeometryDtype
from pandas.api.internals import create_dataframe_from_blocks

from .. import spatial
from ..spatial import StreetArea
from .base import BBox, Changes, Column, FeatureColumns, LayerInfo, Near, Rows, Snapshot, layer_spec, typed_array


class LayerFrames:
    """A layer of a state: the frame loaded from the file (the base) with its spatial index, which the states derived
    from it share; which base rows are still current; and the rows changed since (the delta, small, in a tree of
    its own), so that deriving a state after an edit costs the changed rows, not a copy or a new tree of the layer.

    A position names a row of either: ``0 .. len(base) - 1`` the base's, ``len(base) + i`` the delta's i-th.
    The base rows no longer current are named by their positions (``gone``, ascending), not by a mask of every
    row: an edit then costs its rows, not a copy of a megabyte per million features.
    """

    def __init__(self, base: gpd.GeoDataFrame | _Base, gone: np.ndarray | None = None,
                 delta: Rows | None = None) -> None:
        self._base = base if isinstance(base, _Base) else _Base(base)  # shared by the layers derived from it
        self.base = self._base.frame
        self.gone = np.empty(0, dtype=np.intp) if gone is None else gone
        self._columns, self._fids = self._base.columns, self._base.columns["fid"]
        self.delta = delta if delta is not None and len(delta) else None
        self._tree = shapely.STRtree(self.delta.values("geometry")) if self.delta is not None else None

    def __len__(self) -> int:
        return len(self.base) - len(self.gone) + (0 if self.delta is None else len(self.delta))

    @property
    def changed_rows(self) -> int:
        """How many rows the delta holds (past a share of the layer, a whole load is cheaper to query)."""
        return 0 if self.delta is None else len(self.delta)

    def positions(self) -> np.ndarray:
        """Every current row's position, ascending."""
        base = np.delete(np.arange(len(self.base)), self.gone)
        if self.delta is None:
            return base
        return np.concatenate([base, len(self.base) + np.arange(len(self.delta))])

    def query(self, geometry: shapely.Geometry | np.ndarray) -> np.ndarray:
        """Positions (ascending, each once) of the current rows whose envelopes meet ``geometry``'s, or any of an
        array's."""
        hits = self._base.index.query(geometry)
        found = self._current(hits[-1] if hits.ndim == 2 else hits)
        if self._tree is not None:
            more = self._tree.query(geometry)
            found = np.concatenate([found, len(self.base) + (more[-1] if more.ndim == 2 else more)])
        return distinct(found, len(self.base) + self.changed_rows)

    def meet(self, positions: np.ndarray, bbox: BBox) -> np.ndarray:
        """Which of the rows at ``positions`` (ascending) have envelopes meeting ``bbox``, as the index tests them."""
        bounds = shapely.bounds(self.values("geometry", positions)).reshape(-1, 4)
        return ((bounds[:, 0] <= bbox[2]) & (bounds[:, 2] >= bbox[0]) & (bounds[:, 1] <= bbox[3])
                & (bounds[:, 3] >= bbox[1]))

    def values(self, column: str, positions: np.ndarray) -> np.ndarray:
        """A column's values (``geometry``: the geometries; ``fid``: the fids) at ``positions`` (ascending)."""
        if self.delta is None:
            return self._columns[column][positions]
        split = len(self.base)
        return np.concatenate([self._columns[column][positions[positions < split]],
                               self.delta.values(column)[positions[positions >= split] - split]])

    def columns(self, names: Sequence[str], positions: np.ndarray | None = None) -> FeatureColumns:
        """The rows at ``positions`` (None: every current row) as arrays of their fids, columns ``names`` and
        geometries, in fid order (as ``take`` gives them)."""
        positions = self.positions() if positions is None else positions
        found = FeatureColumns(self.values("fid", positions), {name: self.values(name, positions) for name in names},
                               self.values("geometry", positions))
        if self.delta is None or not (positions >= len(self.base)).any():
            return found
        order = np.argsort(found.fids, kind="stable")
        return FeatureColumns(found.fids[order], {name: found.values[name][order] for name in names},
                              found.geometry[order])

    def take(self, positions: np.ndarray | None = None) -> gpd.GeoDataFrame:
        """The rows at ``positions`` (None: every current row) as one frame in fid order, a new one: callers cannot
        change the shared frames."""
        if positions is None:
            if not len(self.gone) and self.delta is None:
                return self.base.copy(deep=False)
            positions = self.positions()
        split = len(self.base)
        if self.delta is None or not (positions >= split).any():
            return self.base.take(positions)
        parts = pd.concat([self.base.take(positions[positions < split]),
                           self.delta.take(positions[positions >= split] - split).frame()])
        return parts.sort_index(kind="stable")

    def at(self, fids: np.ndarray) -> np.ndarray:
        """Positions of the current rows with those fids (ascending fids; absent ones left out)."""
        found = positions_in(self._fids, fids)
        found = self._current(found[found >= 0])
        if self.delta is not None:
            more = positions_in(self.delta.values("fid"), fids)
            found = np.concatenate([found, len(self.base) + more[more >= 0]])
        return found

    def changed(self, fids: np.ndarray, rows: Rows) -> LayerFrames:
        """The layer after the features ``fids`` (ascending) were inserted, updated or deleted: ``rows`` are those of
        them that exist now."""
        gone = positions_in(self._fids, fids)
        gone = np.union1d(self.gone, gone[gone >= 0])
        delta = rows
        kept = np.empty(0, np.intp) if self.delta is None else np.flatnonzero(~np.isin(self.delta.values("fid"), fids))
        if len(kept):  # the delta's rows not changed now, and the rows changed, in fid order
            both = self.delta.then(rows)
            chosen = np.concatenate([kept, len(self.delta) + np.arange(len(rows))])
            delta = both.take(chosen[np.argsort(both.values("fid")[chosen], kind="stable")])
        return LayerFrames(self._base, gone, delta)

    def owned(self, project_ids: Sequence[str]) -> np.ndarray:
        """Positions (ascending) of the current rows of the projects ``project_ids``: the base's found through an
        index of its owners (made once per base), the delta's by a look at its few rows."""
        found = self._current(self._base.owners.positions(project_ids))
        if self.delta is not None:
            wanted = set(project_ids)
            more = np.flatnonzero([project_id in wanted for project_id in self.delta.values("project_id").tolist()])
            found = np.concatenate([found, len(self.base) + more])
        return found

    def members(self, positions: np.ndarray, street: StreetArea) -> np.ndarray:
        """A street's members in this layer, from those of a layer of the same base (``positions``, an earlier
        state's): the base rows still current, and the delta's rows the membership rule puts in the street."""
        split = len(self.base)
        own = self._current(positions[positions < split])
        if self.delta is None:
            return own
        inside = spatial.membership(self.delta.values("geometry"), street.boundary, list(street.before))
        return np.concatenate([own, split + np.flatnonzero(inside)])

    def _current(self, positions: np.ndarray) -> np.ndarray:
        """Those of base ``positions`` whose rows are still current (not ``gone``), in their order."""
        if not len(self.gone) or not len(positions):
            return positions
        return positions[positions_in(self.gone, positions) < 0]


class _Base:
    """A loaded layer's frame and what is made of it once and shared by the layers derived from it: its columns,
    fids and geometries as arrays (through the frame each look-up costs tens of microseconds, per query), its
    spatial index (shapely's own, which leaves empty geometries out itself; geopandas' copies the geometries and
    tests each for that first), and its rows by project."""

    def __init__(self, frame: gpd.GeoDataFrame) -> None:
        self.frame = frame
        self.columns = {name: frame_column(frame, name) for name in (*frame.columns, "fid")}
        self.index = shapely.STRtree(self.columns["geometry"])
        self.owners = _Owners(frame)


class _Owners:
    """A base frame's rows by project: each project's positions, found without a look at every row."""

    def __init__(self, base: gpd.GeoDataFrame) -> None:
        self._base = base
        self._made: tuple[dict[str, int], np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    def positions(self, project_ids: Sequence[str]) -> np.ndarray:
        if "project_id" not in self._base.columns:
            return np.empty(0, dtype=np.intp)
        with self._lock:
            if self._made is None:
                codes, uniques = pd.factorize(self._base["project_id"].to_numpy(dtype=object))
                order = np.argsort(codes, kind="stable")  # positions grouped by project, ascending within each
                bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
                # by a dict: an edit asks for a few projects, and pandas' look-up of a few costs ~0.1 ms
                self._made = (dict(zip(uniques.tolist(), range(len(uniques)))), order, bounds)
            projects, order, bounds = self._made
        at = [i for i in map(projects.get, project_ids) if i is not None]
        if not at:
            return np.empty(0, dtype=np.intp)
        return np.sort(np.concatenate([order[bounds[i]:bounds[i + 1]] for i in at]))


def frame_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A frame's column as an array (``fid``: its index; ``geometry``: its geometries)."""
    if name == "fid":
        return frame.index.to_numpy(dtype=np.int64)
    if name == "geometry":
        return np.asarray(frame.geometry.array)
    return frame[name].to_numpy()


class Patched:
    """A table (``base``) with its rows at positions ``rows`` (ascending) replaced by ``fresh``'s (same index
    values), made into one table only when a caller needs the whole (then once): after an edit of a few rows,
    answers by position and column cost those rows, not a copy of every column."""

    def __init__(self, base: pd.DataFrame, rows: np.ndarray, fresh: Rows,
                 arrays: dict[str, Column] | None = None) -> None:
        self.base, self.rows, self.fresh = base, rows, fresh
        self._made: pd.DataFrame | None = None
        self._lock = threading.Lock()
        # The base's columns as arrays, looked up once for the tables patched after it (per column, not per row)
        self._arrays = arrays if arrays is not None else {name: typed_array(column) for name, column in base.items()}

    @classmethod
    def of(cls, table: pd.DataFrame | Patched) -> Patched:
        """A table as one with no patches yet (its columns' arrays looked up once, for the rows asked later)."""
        return table if isinstance(table, Patched) else cls(table, np.empty(0, dtype=np.intp), Rows.of(table.iloc[:0]))

    def __len__(self) -> int:
        return len(self.base)

    def whole(self) -> pd.DataFrame:
        """Every row, as one table (shared: callers copy before changing it)."""
        with self._lock:
            if self._made is None:
                self._made = _set_rows(self.base, self.rows, self.fresh) if len(self.rows) else self.base
            return self._made

    def values(self, column: str, positions: np.ndarray) -> np.ndarray:
        """A column's values (``geometry``: the geometries; ``fid``: the index) at ``positions``."""
        out = (self.base.index.to_numpy() if column == "fid" else np.asarray(self._arrays[column]))[positions]
        at, patched = self._patched(positions)
        if patched.any():
            out[patched] = self.fresh.values(column)[at[patched]]
        return out

    def take(self, positions: np.ndarray) -> pd.DataFrame:
        """The rows at ``positions`` as a new table."""
        at, patched = self._patched(positions)
        if patched.all():  # the rows edited (a refresh asks for those): no look at the base
            return self.fresh.take(at).frame()
        out = self.base.take(positions)
        return _set_rows(out, np.flatnonzero(patched), self.fresh.take(at[patched])) if patched.any() else out

    def columns(self, positions: np.ndarray) -> Rows:
        """The rows at ``positions`` as arrays by column, without a frame."""
        at, patched = self._patched(positions)
        if patched.all():
            return self.fresh.take(at)
        arrays = {name: values.take(positions) for name, values in self._arrays.items()}
        if patched.any():
            for name, values in arrays.items():
                values[patched] = self.fresh[name].take(at[patched])
        return Rows(self.base.index.take(positions), arrays)

    def patched(self, rows: np.ndarray, fresh: Rows) -> Patched | pd.DataFrame:
        """These patches and more (rows at positions ``rows`` replaced by ``fresh``'s; the later win), made into
        one table when they are many (past ``_PATCH_SHARE`` of the rows and ``_PATCH_ROWS``)."""
        kept = ~np.isin(self.rows, rows)
        if not kept.any():  # the same rows edited again (or more): these patches are replaced
            return Patched(self.base, rows, fresh, self._arrays)
        order = np.argsort(np.concatenate([self.rows[kept], rows]), kind="stable")
        more = Patched(self.base, np.concatenate([self.rows[kept], rows])[order],
                       self.fresh.take(np.flatnonzero(kept)).then(fresh).take(order), self._arrays)
        return more.whole() if len(more.rows) > max(_PATCH_SHARE * len(self.base), _PATCH_ROWS) else more

    def _patched(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each of ``positions``: where its row is among the patches, and whether it is one."""
        if not len(self.rows):
            return np.zeros(len(positions), dtype=np.intp), np.zeros(len(positions), dtype=bool)
        at = np.minimum(np.searchsorted(self.rows, positions), len(self.rows) - 1)
        return at, self.rows[at] == positions


_PATCH_SHARE, _PATCH_ROWS = 0.05, 1000  # past both this share and this many rows patched, a table is made whole


def _set_rows(base: pd.DataFrame, rows: np.ndarray, fresh: Rows) -> pd.DataFrame:
    """A new table: ``base`` with its rows at ``rows`` replaced by ``fresh``'s, column by column as arrays (setting
    rows through pandas' indexers costs a millisecond a column); through them when a column's dtype differs."""
    if list(fresh.arrays) != list(base.columns) or any(values.dtype != base.dtypes[name]
                                                        for name, values in fresh.arrays.items()):
        out = base.copy()
        for at, column in enumerate(out.columns):
            out.iloc[rows, at] = fresh.arrays[column]
        return out
    blocks = []
    for at, name in enumerate(base.columns):
        values, given = typed_array(base[name]), fresh.arrays[name]
        if isinstance(values.dtype, GeometryDtype) or not _equal(values[rows], given):
            values = values.copy()
            values[rows] = given
        # else: a column the patches leave as it was (most, after an edit of a few fields) is the base's own
        # array, shared, not copied: every table here is read only (callers get copy-on-write copies)
        blocks.append((values[None, :] if isinstance(values, np.ndarray) else values, np.array([at])))
    out = create_dataframe_from_blocks(blocks, index=base.index, columns=base.columns)
    # Made a GeoDataFrame by naming its geometry column (which keeps its CRS): a third of building one directly.
    return gpd.GeoDataFrame(out, geometry=base.geometry.name, copy=False) if isinstance(base, gpd.GeoDataFrame) \
        else out


def _equal(a: np.ndarray | pd.api.extensions.ExtensionArray, b: np.ndarray | pd.api.extensions.ExtensionArray) -> bool:
    """Whether two arrays hold the same values (missing ones alike)."""
    if isinstance(a, np.ndarray):
        missing = pd.isna(a)
        return bool((missing == pd.isna(b)).all() and (a[~missing] == b[~missing]).all())
    return bool(a.equals(b))


def with_projects(table: Patched, project_ids: Sequence[str], rows: pd.DataFrame | None) -> Patched:
    """The projects ``table`` (in project_id order) after the projects ``project_ids`` changed: ``rows`` are
    those of them that exist now. Rows that replace rows in place (an edit of attributes) are patched in (the
    table made whole only when asked for); otherwise the table is cut and joined again."""
    base = table.base
    at = project_rows(base, project_ids)
    if rows is not None and len(rows) == len(at) == len(set(project_ids)) and rows.columns.equals(base.columns) \
            and (rows.dtypes == base.dtypes).all():
        rows = rows.sort_values("project_id", kind="stable").set_axis(base.index[at])  # labelled as the rows replaced
        if (base["project_id"].to_numpy(dtype=object)[at] == rows["project_id"].to_numpy(dtype=object)).all():
            return Patched.of(table.patched(at, Rows.of(rows)))
    whole = table.whole()
    kept = whole.take(np.setdiff1d(np.arange(len(whole)), at, assume_unique=True)).reset_index(drop=True)
    return Patched.of(_inserted(kept, rows) if rows is not None and len(rows) else kept)


def project_table(table: Patched, project_ids: Sequence[str] | None) -> pd.DataFrame:
    """The rows of the projects ``project_ids`` (None: every project) of a projects table held as ``with_projects``
    gives it, as a new frame (copy-on-write: callers cannot change the shared table)."""
    if project_ids is None:
        return table.whole().copy(deep=False)
    return table.take(project_rows(table.base, project_ids))


def project_columns(table: Patched, project_ids: Sequence[str]) -> Rows:
    """``project_table``'s rows as arrays by column (``Reader.project_columns``)."""
    return table.columns(project_rows(table.base, project_ids))


def project_rows(table: pd.DataFrame, project_ids: Sequence[str]) -> np.ndarray:
    """Positions (ascending) of the projects ``project_ids`` in the projects ``table`` (in project_id order), by
    binary search: a look-up of a few ids costs no look at every id."""
    wanted = np.sort(np.asarray([str(i) for i in project_ids], dtype=object))
    found = positions_in(table["project_id"].to_numpy(dtype=object), wanted)
    return np.unique(found[found >= 0])


def _inserted(table: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The projects ``table`` (in project_id order) with ``rows`` (a few, not in it) put in their places: each one's
    place found by a binary search, where sorting the whole table again costs a comparison of every id."""
    rows = rows.sort_values("project_id", kind="stable")
    places = np.searchsorted(table["project_id"].to_numpy(dtype=object), rows["project_id"].to_numpy(dtype=object))
    places = places + np.arange(len(rows))  # where each new row ends up
    added = np.zeros(len(table) + len(rows), dtype=bool)
    added[places] = True
    order = np.empty(len(added), dtype=np.int64)
    order[~added] = np.arange(len(table))
    order[added] = len(table) + np.arange(len(rows))
    return pd.concat([table, rows], ignore_index=True).take(order).reset_index(drop=True)


def distinct(positions: np.ndarray, size: int) -> np.ndarray:
    """The distinct ``positions`` (each below ``size``) in ascending order: by a mask of ``size`` unless they are
    few (a near query's index hits overlap: 20,000 of 77,000 rows are marked in 0.1 ms and sorted in 2.7)."""
    if 256 * len(positions) < size:
        return np.unique(positions)
    seen = np.zeros(size, dtype=bool)
    seen[positions] = True
    return np.flatnonzero(seen)


def positions_in(ordered: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions of ``values`` in the ascending array ``ordered`` (-1 where absent), by binary search: for a few
    values, a fraction of a hash look-up's fixed cost."""
    at = np.searchsorted(ordered, values)
    inside = at < len(ordered)
    hit = np.zeros(len(values), dtype=bool)
    hit[inside] = ordered[at[inside]] == values[inside]
    return np.where(hit, at, -1)


# SQLite's R*Tree keeps 32-bit floats rounded outwards (rtreeValueDown/Up in its rtree.c); a layer's extent as the
# GeoPackage's index gives it is computed the same way here, so a derived state reports what a load would.
_TOWARDS, _AWAY = 1.0 - 1.0 / 8388608.0, 1.0 + 1.0 / 8388608.0


def _rtree_bounds(geoms: np.ndarray) -> np.ndarray:
    """Each geometry's (minx, miny, maxx, maxy) as SQLite's R*Tree stores it."""
    return _rounded(shapely.bounds(geoms).reshape(-1, 4))


def _rounded(exact: np.ndarray) -> np.ndarray:
    """Boxes (minx, miny, maxx, maxy rows) as SQLite's R*Tree stores them: in single precision, rounded outwards."""
    single = exact.astype(np.float32).astype(np.float64)
    low, high = exact[:, :2], exact[:, 2:]
    down = np.where(single[:, :2] > low, (low * np.where(low < 0, _AWAY, _TOWARDS)).astype(np.float32), single[:, :2])
    up = np.where(single[:, 2:] < high, (high * np.where(high < 0, _TOWARDS, _AWAY)).astype(np.float32),
                  single[:, 2:])
    return np.hstack([down, up])


def _extent_after(extent: tuple | None, old: LayerFrames, fids: np.ndarray, new: LayerFrames,
                  rows: Rows) -> tuple | None:
    """A layer's extent after a change: the old one widened by the rows written, unless a changed row reached
    its edge (then computed over the whole layer)."""
    if not len(new):
        return None
    at = old.at(fids)
    gone = old.values("geometry", at)
    if len(gone) == len(rows) and extent is not None:  # the same features: unmoved ones leave the extent as it was
        before = old.values("fid", at)
        order = np.argsort(before, kind="stable")
        if np.array_equal(before[order], rows.values("fid")) and \
                shapely.equals_exact(gone[order], rows.values("geometry"), 0).all():
            return extent
    before = _rtree_bounds(gone)
    if extent is None or (before[:, :2] <= np.asarray(extent[:2])).any() or \
            (before[:, 2:] >= np.asarray(extent[2:])).any():
        return layer_extent(new.values("geometry", new.positions()))
    return _enclosing(np.vstack([np.asarray(extent, dtype=np.float64), _rtree_bounds(rows.values("geometry"))]))


def layer_extent(geoms: np.ndarray) -> tuple | None:
    """A layer's extent as its GeoPackage R*Tree gives it (empty geometries, which it leaves out, left out).

    The tree rounds each box outwards by less than a millionth of a coordinate, so only the boxes that close to
    an edge of the exact extent can hold the rounded one's: those are rounded, not every feature's."""
    bounds = shapely.bounds(geoms).reshape(-1, 4)
    if not len(bounds):
        return None
    # fmin and fmax pass over the NaN bounds of empty geometries, and the comparisons leave them out, without a
    # copy of the bounds (a million features' are 32 MB)
    edges = np.array([np.fmin.reduce(bounds[:, 0]), np.fmin.reduce(bounds[:, 1]), np.fmax.reduce(bounds[:, 2]),
                      np.fmax.reduce(bounds[:, 3])])
    if np.isnan(edges).any():  # every geometry empty
        return None
    reach = 1e-6 * np.maximum(np.abs(edges), 1.0)
    close = ((bounds[:, 0] <= edges[0] + reach[0]) | (bounds[:, 1] <= edges[1] + reach[1])
             | (bounds[:, 2] >= edges[2] - reach[2]) | (bounds[:, 3] >= edges[3] - reach[3]))
    return _enclosing(_rounded(bounds[close]))


def _enclosing(bounds: np.ndarray) -> tuple | None:
    bounds = bounds[~np.isnan(bounds).any(axis=1)]
    if not len(bounds):
        return None
    return (float(bounds[:, 0].min()), float(bounds[:, 1].min()), float(bounds[:, 2].max()), float(bounds[:, 3].max()))


_LINEAGE = 16  # earlier states a state remembers the changes since


@dataclass
class State:
    """One committed state of the file, as frames: what every read of a snapshot answers from.

    Never changed once made, except for the street-membership answers it keeps (each a pure function of the
    state's own layers, kept with the street they answer for), so threads share it freely. ``layers`` may be
    given as frames (sorted by fid, spatial index built); they are held as ``LayerFrames``. ``last_change`` is
    the change log's last entry the state holds (0: not known; such a state is never derived from).
    """

    revision: str
    modified: datetime
    meta: dict[str, str]
    infos: list[LayerInfo]
    projects: Patched  # in project_id order (may be given as a frame: held as a Patched with no patches)
    layers: dict[str, LayerFrames]
    members: dict[tuple[str, str], tuple[StreetArea, np.ndarray]] = field(default_factory=dict)
    # Street memberships of an earlier state whose layer changed since: brought forward when first asked for
    # (``LayerFrames.members``), not by every edit
    inherited: dict[tuple[str, str], tuple[StreetArea, np.ndarray]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_change: int = 0
    lineage: tuple[tuple[str, Changes], ...] = ()  # (an earlier state's revision, what changed since), nearest first

    def __post_init__(self) -> None:
        self.projects = Patched.of(self.projects)
        self.layers = {name: frames if isinstance(frames, LayerFrames) else LayerFrames(frames)
                       for name, frames in self.layers.items()}

    def changed(self, *, revision: str, modified: datetime, meta: dict[str, str], last_change: int,
                project_ids: Sequence[str], projects: pd.DataFrame | None, fids: dict[str, np.ndarray],
                rows: dict[str, Rows], touched: Sequence[str] = ()) -> State:
        """The state after the projects ``project_ids`` and, per layer, the features ``fids`` (ascending) changed:
        ``projects`` and ``rows`` are those of them that exist now (read in the transaction that named them);
        ``touched`` names every project a changed row belongs to. Unchanged layers and their street memberships
        are shared with this state; what changed since it and its forebears is kept (``lineage``), so answers
        built on them (served layers) can be brought forward rather than made anew."""
        step = Changes(frozenset(project_ids) | frozenset(touched),
                       {layer: frozenset(found.tolist()) for layer, found in fids.items()})
        lineage = ((self.revision, step),) + tuple((rev, earlier | step)
                                                   for rev, earlier in self.lineage[:_LINEAGE - 1])
        merged = with_projects(self.projects, project_ids, projects) if len(project_ids) else self.projects
        layers, members, inherited = dict(self.layers), dict(self.members), dict(self.inherited)
        infos = {info.name: info for info in self.infos}
        infos["projects"] = replace(infos["projects"], count=len(merged))
        for layer, changed in fids.items():
            old = self.layers[layer]
            layers[layer] = new = old.changed(changed, rows[layer])
            infos[layer] = replace(infos[layer], count=len(new),
                                   extent=_extent_after(infos[layer].extent, old, changed, new, rows[layer]))
            for key in [key for key in members if key[0] == layer]:
                inherited[key] = members.pop(key)
        return State(revision, modified, meta, list(infos.values()), merged, layers, members, inherited,
                     last_change=last_change, lineage=lineage)


class FrameSnapshot(Snapshot):
    """A registry as one committed state held in memory (see ``State``): a GeoPackage's, or any store's as of a
    past date."""

    def __init__(self, location: str, state: State, log: Callable[..., pd.DataFrame]) -> None:
        self.location = location
        self._state = state
        self._log = log

    def log(self, *, project_id: str | None = None, until: str | None = None, latest: bool = False,
            layer: str | None = None) -> pd.DataFrame:
        return self._log(project_id=project_id, until=until, latest=latest, layer=layer)

    def meta(self) -> dict[str, str]:
        return dict(self._state.meta)

    def revision(self) -> str:
        return self._state.revision

    def changes_since(self, revision: str) -> Changes | None:
        return next((changes for rev, changes in self._state.lineage if rev == revision), None)

    def last_modified(self) -> datetime:
        return self._state.modified

    def layers(self) -> list[LayerInfo]:
        return list(self._state.infos)

    def projects(self, project_ids: Sequence[str] | None = None) -> pd.DataFrame:
        return project_table(self._state.projects, project_ids)

    def project_columns(self, project_ids: Sequence[str]) -> Rows:
        return project_columns(self._state.projects, project_ids)

    def features(self, layer: str, *, bbox: BBox | None = None, street: StreetArea | None = None,
                 project_ids: Sequence[str] | None = None, near: Near | None = None,
                 fids: Sequence[int] | None = None) -> gpd.GeoDataFrame:
        return self._state.layers[layer].take(self._rows(layer, bbox, street, project_ids, near, fids))

    def feature_columns(self, layer: str, columns: Sequence[str], *, bbox: BBox | None = None,
                        street: StreetArea | None = None, project_ids: Sequence[str] | None = None,
                        near: Near | None = None, fids: Sequence[int] | None = None) -> FeatureColumns:
        return self._state.layers[layer].columns(columns, self._rows(layer, bbox, street, project_ids, near, fids))

    def _rows(self, layer: str, bbox: BBox | None, street: StreetArea | None, project_ids: Sequence[str] | None,
              near: Near | None, fids: Sequence[int] | None) -> np.ndarray | None:
        """Positions (ascending) of the layer's rows meeting ``features``' conditions; None: every current row."""
        spec = layer_spec(layer)
        frames = self._state.layers[layer]
        rows = None if fids is None else frames.at(np.unique(np.asarray(fids, dtype=np.int64)))
        if street is not None:
            members = self._street_members(layer, street)
            rows = members if rows is None else np.intersect1d(rows, members, assume_unique=True)
        if near is not None:
            hits = _near_rows(frames, *near)
            rows = hits if rows is None else np.intersect1d(rows, hits, assume_unique=True)
        if bbox is not None:  # rows already found are tested by envelope: a query of the tree may find far more
            rows = frames.query(shapely.box(*bbox)) if rows is None else rows[frames.meet(rows, bbox)]
        if project_ids is not None and spec.kind == "project":
            owned = frames.owned(project_ids)
            rows = owned if rows is None else np.intersect1d(rows, owned, assume_unique=True)
        return rows

    def _street_members(self, layer: str, street: StreetArea) -> np.ndarray:
        """Positions of a layer's features in a street office, kept with the state per boundary version:
        a street query then costs a take, not a geometry test."""
        key = (layer, street.key)
        with self._state.lock:
            hit = self._state.members.get(key)
        if hit is not None:
            return hit[1]
        frames = self._state.layers[layer]
        earlier = self._state.inherited.get(key)
        if earlier is not None:
            found = frames.members(earlier[1], street)
        else:
            candidates = frames.query(street.boundary)
            geoms = frames.values("geometry", candidates)
            found = candidates[spatial.membership(geoms, street.boundary, list(street.before))]
        with self._state.lock:
            self._state.members[key] = (street, found)
        return found


def _near_rows(frames: LayerFrames, geom: shapely.Geometry, distance: float) -> np.ndarray:
    """Positions (ascending) of the features whose envelope comes within ``distance`` of a piece of ``geom``'s."""
    return frames.query(_near_boxes(geom, distance))


@lru_cache(maxsize=16)  # a query asks every layer with the same geometry: its pieces are cut once
def _near_boxes(geom: shapely.Geometry, distance: float) -> np.ndarray:
    """The envelopes of small pieces of ``geom``, grown by ``distance``, to ask the index with: one long river's
    envelope is most of the park. Lines are cut into runs of at most twice the distance along them (and not under
    0.001°, about 100 m, so that a short distance does not make thousands); points and polygons stay whole (a
    feature inside a polygon is near no segment of it).
    """
    parts = spatial.simple_parts(geom)
    lines = np.isin(shapely.get_type_id(parts), (1, 2))
    run = max(2 * distance, 1e-3)
    segments, owner = spatial.edges(shapely.segmentize(parts[lines], run))
    starts, ends = segments[:, 0], segments[:, 1]
    lengths = np.hypot(*(ends - starts).T)
    # a run: a line's segments that start within one stretch of ``run`` along it (a near geometry measured in
    # metres comes in pieces of 100 m: a box each would ask the index four times as often)
    run_of = np.floor((np.cumsum(lengths) - lengths) / run).astype(np.int64)
    first = np.flatnonzero(np.r_[True, (run_of[1:] != run_of[:-1]) | (owner[1:] != owner[:-1])][:len(starts)])
    low, high = (np.minimum.reduceat(np.minimum(starts, ends), first), np.maximum.reduceat(np.maximum(starts, ends),
                 first)) if len(first) else (np.empty((0, 2)), np.empty((0, 2)))
    bounds = np.concatenate([shapely.bounds(parts[~lines]), np.hstack([low, high])])
    return shapely.box(bounds[:, 0] - distance, bounds[:, 1] - distance, bounds[:, 2] + distance,
                       bounds[:, 3] + distance)
