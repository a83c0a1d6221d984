"""The store interface: the few questions every store (GeoPackage, PostGIS) answers.

It is shaped around questions (which projects, which features of a layer in a box or of some
projects) so that a database store can answer them in SQL rather than loading whole layers.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pandas.api.internals import create_dataframe_from_blocks

from .. import model, validate
from ..errors import StoreError
from ..i18n import gettext
from ..spatial import StreetArea
from . import edits
from .edits import Author, Records, insert_clash  # noqa: F401  (insert_clash: the stores' shared error)

VERSION = model.VERSION_COLUMN
# The columns of the ``users`` table (schema version 2): accounts, their role and their hashed secrets.
USER_COLUMNS = ("name", "role", "department", "password_hash", "token_hash", "disabled", "created_at", "script")

T = TypeVar("T")
BBox = tuple[float, float, float, float]  # minx, miny, maxx, maxy in the store's CRS (EPSG:4490)
Near = tuple[shapely.Geometry, float]  # a geometry in EPSG:4490 and a distance from it in degrees


@dataclass(frozen=True)
class LayerInfo:
    """What a store holds in one layer: geometry type, row count, extent and CRS."""

    name: str
    kind: str  # "project", "reference" or "attributes"
    geometry_type: str | None
    count: int
    extent: BBox | None
    epsg: int | None


@dataclass
class Batch:
    """Projects and their features, written together or not at all.

    ``features`` maps a layer name to a GeoDataFrame with ``project_id``, ``name`` and geometry.
    Writing a batch replaces every feature of the batch's projects (an upsert of whole projects).
    """

    projects: pd.DataFrame
    features: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class Changes:
    """What changed between two states: the projects whose attributes or features changed, and per layer the
    features (fids) written, created or deleted."""

    projects: frozenset[str]
    fids: dict[str, frozenset[int]]

    def __or__(self, later: Changes) -> Changes:
        layers = self.fids.keys() | later.fids.keys()
        return Changes(self.projects | later.projects,
                       {layer: self.fids.get(layer, frozenset()) | later.fids.get(layer, frozenset())
                        for layer in layers})


@dataclass(frozen=True)
class FeatureColumns:
    """Some columns of a layer's features as arrays, in fid order: what a selection looks at, without the cost of
    a frame (a few hundred microseconds a layer, most of a small query's time)."""

    fids: np.ndarray
    values: dict[str, np.ndarray]
    geometry: np.ndarray


Column = np.ndarray | pd.api.extensions.ExtensionArray  # a column's values, as a frame holds them


@dataclass(frozen=True)
class Rows:
    """Rows of a table as arrays by column, in the table's column order (``index``: their labels): what an edit's
    refresh reads, makes and patches in (``Patched``), without a frame's fixed cost, which for a few rows of many
    columns is most of the refresh."""

    index: pd.Index
    arrays: dict[str, Column]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Rows:
        return cls(frame.index, {name: typed_array(column) for name, column in frame.items()})

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, column: str) -> Column:
        return self.arrays[column]

    def values(self, column: str) -> np.ndarray:
        """A column as a frame's ``to_numpy()`` gives it (``fid``: the index; ``geometry``: the geometries)."""
        return self.index.to_numpy(dtype=np.int64) if column == "fid" else np.asarray(self.arrays[column])

    def take(self, positions: np.ndarray) -> Rows:
        return Rows(self.index.take(positions), {name: values.take(positions) for name, values in self.arrays.items()})

    def then(self, more: Rows) -> Rows:
        """These rows followed by ``more``'s (the same columns)."""
        return Rows(self.index.append(more.index), {name: _joined_arrays(values, more.arrays[name])
                                                    for name, values in self.arrays.items()})

    def frame(self) -> pd.DataFrame:
        """The rows as a frame (a GeoDataFrame when they have geometries), made of its columns' arrays as they are
        (a block each: a tenth of the cost of making a Series of each)."""
        blocks = [(values[None, :] if isinstance(values, np.ndarray) else values, np.array([at]))
                  for at, values in enumerate(self.arrays.values())]
        frame = create_dataframe_from_blocks(blocks, index=self.index,
                                             columns=pd.Index(list(self.arrays), dtype=object))
        return gpd.GeoDataFrame(frame, geometry="geometry", copy=False) if "geometry" in self.arrays else frame


def typed_array(column: pd.Series) -> Column:
    """A column's values: NumPy's own array for a NumPy dtype, else its extension array (nullable integers,
    geometries)."""
    return column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array


def _joined_arrays(first: Column, second: Column) -> Column:
    """Two arrays of one type, one after the other."""
    if isinstance(first, np.ndarray):
        return np.concatenate([first, second])
    return type(first)._concat_same_type([first, second])  # the extension array interface's own concatenation


class Reader(ABC):
    """The read questions of a registry. A ``Store`` answers each from its latest committed state; a
    ``Snapshot`` answers all of them from one committed state, so an answer built of several reads is
    never torn by a writer committing in between."""

    location: str

    @abstractmethod
    def meta(self) -> dict[str, str]:
        """The ``registry_meta`` entries: schema_version, data_date, notice, revision."""

    @abstractmethod
    def layers(self) -> list[LayerInfo]:
        """Every layer and table of the registry with its count and extent."""

    @abstractmethod
    def projects(self, project_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Rows of the ``projects`` table (all, or those ids), columns as in ``model.PROJECT_FIELDS``."""

    def project_columns(self, project_ids: Sequence[str]) -> Rows:
        """``projects``' rows of those ids as arrays by column (a store holding its table in memory gives them
        without making a frame)."""
        return Rows.of(self.projects(project_ids))

    @abstractmethod
    def features(
        self,
        layer: str,
        *,
        bbox: BBox | None = None,
        street: StreetArea | None = None,
        project_ids: Sequence[str] | None = None,
        near: Near | None = None,
        fids: Sequence[int] | None = None,
    ) -> gpd.GeoDataFrame:
        """Features of a layer whose envelope meets ``bbox``, that belong to the street office
        ``street`` (a resolved boundary) by the membership rule of ``registry.spatial``, that belong to
        ``project_ids``, that lie within ``near``'s distance (in degrees) of its geometry, and/or whose fid is
        one of ``fids``; all given conditions hold.

        The result is indexed by fid, in EPSG:4490. The bbox and near tests are prefilters: every feature
        that meets them is there, and a few more may be (a store may test envelopes, or round up).
        """

    def feature_columns(self, layer: str, columns: Sequence[str], *, bbox: BBox | None = None,
                        street: StreetArea | None = None, project_ids: Sequence[str] | None = None,
                        near: Near | None = None, fids: Sequence[int] | None = None) -> FeatureColumns:
        """``features``' answer as arrays of its fids, ``columns`` and geometries (a store holding its layers in
        memory gives them without making the frame)."""
        frame = self.features(layer, bbox=bbox, street=street, project_ids=project_ids, near=near, fids=fids)
        return FeatureColumns(frame.index.to_numpy(dtype=np.int64), {c: frame[c].to_numpy() for c in columns},
                              np.asarray(frame.geometry.array))

    @abstractmethod
    def revision(self) -> str:
        """A token that changes whenever the stored data change (for caches and ETags)."""

    @abstractmethod
    def log(self, *, project_id: str | None = None, until: str | None = None, latest: bool = False,
            layer: str | None = None) -> pd.DataFrame:
        """Change-log entries (columns ``history.LOG_COLUMNS``), by time: all, or a project's, or one layer's
        (``projects`` for attributes), or those before ``until`` (UTC text); ``latest`` keeps each row's last entry
        only, with its geometry as WKB in ``wkb``."""

    @abstractmethod
    def last_modified(self) -> datetime:
        """When the stored data last changed (UTC), for HTTP Last-Modified."""

    def changes_since(self, revision: str) -> Changes | None:
        """What changed between the earlier ``revision`` and this view's, when the store knows it (a state it
        derived from that one); None: not known, and answers kept for that revision must be made anew."""
        return None


class Snapshot(Reader):
    """One committed state of a store: every read answers from it, whatever others commit meanwhile."""


class Store(Reader):
    """A registry store. Implementations: GeoPackageStore (embedded), PostGIS (multi-user).

    Its own read methods each take the latest committed state; a question needing several reads asks
    them of ``snapshot()``.
    """

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """A context giving one committed state to read from until the block ends."""

    def meta(self) -> dict[str, str]:
        with self.snapshot() as view:
            return view.meta()

    def layers(self) -> list[LayerInfo]:
        with self.snapshot() as view:
            return view.layers()

    def projects(self, project_ids: Sequence[str] | None = None) -> pd.DataFrame:
        with self.snapshot() as view:
            return view.projects(project_ids)

    def features(self, layer: str, *, bbox: BBox | None = None, street: StreetArea | None = None,
                 project_ids: Sequence[str] | None = None, near: Near | None = None,
                 fids: Sequence[int] | None = None) -> gpd.GeoDataFrame:
        with self.snapshot() as view:
            return view.features(layer, bbox=bbox, street=street, project_ids=project_ids, near=near, fids=fids)

    def revision(self) -> str:
        with self.snapshot() as view:
            return view.revision()

    def log(self, *, project_id: str | None = None, until: str | None = None, latest: bool = False,
            layer: str | None = None) -> pd.DataFrame:
        with self.snapshot() as view:
            return view.log(project_id=project_id, until=until, latest=latest, layer=layer)

    def last_modified(self) -> datetime:
        with self.snapshot() as view:
            return view.last_modified()

    def changes_since(self, revision: str) -> Changes | None:
        with self.snapshot() as view:
            return view.changes_since(revision)

    def commit_watch(self) -> Callable[[], bool] | None:
        """For one thread: a check, cheap enough to poll every few milliseconds, of whether anyone may have
        committed since it was last called (a server worker's follower polls it, then brings what it holds up to
        date); None when the store has none (its readers then find changes at their next read)."""
        return None

    @abstractmethod
    def release(self) -> None:
        """Close the connections this process holds (opened again on the next read): a server that loads the
        store before forking its workers calls it first, since a database connection must not cross a fork."""

    @classmethod
    @abstractmethod
    def create(cls, location: str, *, meta: dict[str, str] | None = None, overwrite: bool = False) -> Store:
        """Create an empty registry (every layer, projects, registry_meta) at ``location``; an existing
        registry there is replaced only if ``overwrite``."""

    def write(self, batch: Batch, *, mode: str = "upsert", author: Author | None = None) -> Records:
        """Write whole projects (an import) in one transaction; ``mode`` insert refuses ids that exist.

        The batch is validated first, so a refused batch changes nothing; features are matched to the stored
        ones by name, so a re-import changes (and logs) only what differs.
        """
        validate.check_mode(mode)
        projects = validate.check_projects(batch.projects.drop(columns=[VERSION], errors="ignore"))
        categories = dict(zip(projects["project_id"], projects["category"]))
        features = {layer: validate.check_features(layer, frame, categories) for layer, frame in batch.features.items()}
        return self.edit(projects["project_id"].tolist(),
                         lambda before: edits.merge_batch(before, projects, features, mode), author)

    def edit(self, project_ids: Sequence[str], change: Callable[[Records], Records],
             author: Author | None = None) -> Records:
        """Change some projects in one write transaction, atomically: ``change`` receives their stored records
        (attributes and features with fids and versions, read under the write lock) and returns the records
        after; these are validated, checked against the author's role and the workflow, and only rows that
        differ are written, each logged. What ``change`` raises (a Conflict for a stale If-Match, say) aborts
        the write. Returns the records as stored after it."""
        author = author or LOCAL
        with self._writing(author) as tx:
            before = tx.load(project_ids)
            after = change(before)
            after = _validated(before, after, tx)
            edits.check_workflow(author, before, after)
            changes = edits.plan(before, after)
            edits.check_author(author, before, after, changes)
            if not changes.empty():
                tx.apply(changes)
            return tx.load(after.projects["project_id"].tolist())

    def delete(self, project_ids: Sequence[str], author: Author | None = None) -> None:
        """Delete projects and all their features in one transaction (ids not stored are ignored)."""
        self.edit(project_ids, lambda before: edits.Records(before.projects.iloc[0:0], {
            layer: edits.empty_features(layer) for layer in before.features}), author)

    @abstractmethod
    def _writing(self, author: Author) -> AbstractContextManager[Writer]:
        """The store's write transaction (other writers wait), its log told who writes."""

    def replace_reference(self, layer: str, frame: gpd.GeoDataFrame) -> None:
        """Replace the whole content of a reference layer (street boundaries, lakes...), validated first."""
        self._replace_reference(layer, validate.check_reference(layer, frame))

    @abstractmethod
    def _replace_reference(self, layer: str, frame: gpd.GeoDataFrame) -> None:
        """Replace a reference layer's content with validated features in one transaction."""

    @abstractmethod
    def users(self) -> pd.DataFrame:
        """Every row of the ``users`` table (columns ``USER_COLUMNS``, hashes included), for ``registry.accounts``."""

    @abstractmethod
    def save_user(self, row: dict) -> None:
        """Insert or replace one ``users`` row (keyed by ``name``; missing columns are NULL) in its own
        transaction, which moves the revision on so that per-revision caches of accounts see it."""


class Writer(ABC):
    """A store's open write transaction: the records of some projects, and the rows a plan changes."""

    @abstractmethod
    def load(self, project_ids: Sequence[str]) -> Records:
        """The stored records of these projects (ids not stored are left out), with the layers holding their
        features."""

    @abstractmethod
    def apply(self, changes: edits.Plan) -> None:
        """Write a plan's rows: deletes, inserts with new fids, updates counting versions up."""

    @abstractmethod
    def categories(self, project_ids: Sequence[str]) -> dict[str, str]:
        """The stored category of each of these projects (for features edited without their project)."""


LOCAL = Author("registry", role="admin")  # the command line's own writes: whoever may change the file


def _validated(before: Records, after: Records, tx: Writer) -> Records:
    """The records after a change, checked and normalised as an import is (a layer's frame the change kept as
    loaded is as stored, and passes as it is)."""
    versions = after.projects[VERSION].to_numpy() if VERSION in after.projects else None
    projects = validate.check_projects(after.projects.drop(columns=[VERSION], errors="ignore"))
    projects[VERSION] = versions if versions is not None else 1
    categories = dict(zip(projects["project_id"], projects["category"]))
    features = {}
    for layer, frame in after.features.items():
        if len(frame) and frame is not before.features.get(layer):
            missing = sorted(set(frame["project_id"]) - set(categories))
            categories.update(tx.categories(missing))
            frame = validate.check_features(layer, frame, categories)
        features[layer] = frame
    return Records(projects, features)


# -- what every implementation shares ---------------------------------------------------------
def layer_spec(layer: str) -> model.Layer:
    """The model's layer of that name, or a StoreError listing the valid ones."""
    spec = model.LAYER_BY_NAME.get(layer)
    if spec is None:
        raise StoreError(gettext("unknown layer %(layer)s; valid: %(layers)s", layer=repr(layer),
                                 layers=", ".join(model.LAYER_BY_NAME)))
    return spec


def check_schema_version(location: str, version: str | None, upgrading: bool = False) -> None:
    """Refuse a registry whose registry_meta has no schema_version, one newer than this software reads, or
    (unless ``upgrading``) one older, which ``registry upgrade`` brings up to date."""
    if version is None or not (version.isascii() and version.isdigit()):
        raise StoreError(gettext("%(location)s: registry_meta has no valid schema_version", location=location))
    if int(version) > model.SCHEMA_VERSION:
        raise StoreError(gettext("%(location)s: written by a newer registry (schema version %(version)s; this one "
                                 "reads up to %(supported)s); upgrade the registry software", location=location,
                                 version=version, supported=model.SCHEMA_VERSION))
    if int(version) < model.SCHEMA_VERSION and not upgrading:
        raise StoreError(gettext("%(location)s: schema version %(version)s is older than this software's "
                                 "%(supported)s; upgrade it first with `registry upgrade --store %(location)s`",
                                 location=location, version=version, supported=model.SCHEMA_VERSION))


# Answers by store location, by key (least recently used first), by revision (first kept first)
_KEPT: dict[str, OrderedDict[object, dict[str, object]]] = {}
_KEPT_LOCK = threading.Lock()
_KEPT_REVISIONS = 4  # answers kept per key: for requests still on older snapshots, and the latest to carry forward
_KEPT_KEYS = 32  # keys kept per store, the least recently used given up first


def per_revision(view: Reader, key: object, build: Callable[[], T],
                 carry: Callable[[Changes, T], bool] | None = None) -> T:
    """``build()`` once per store revision and ``key``: for answers that are pure functions of the
    stored data (the valid street boundaries, the index of project ids), which a query would otherwise
    rebuild each time. The answer is shared by threads: callers must not change it.

    With ``carry``, the latest answer kept for an earlier revision is taken on when the log names what changed
    since (``Reader.changes_since``) and ``carry(changes, answer)`` says those changes leave it true: an edit of
    one project then costs no rebuild of answers it does not touch (street boundaries, say).

    Answers are kept by key, and one is given up only when its key has newer ones or is long unused: a request
    then pays for releasing (a large answer holds a Python object per row) only what it replaces, never the
    answers of an old revision another kind of request built."""
    location, revision = view.location, view.revision()
    with _KEPT_LOCK:
        kept = _KEPT.setdefault(location, OrderedDict())
        answers = kept.get(key, {})
        if revision in answers:
            kept.move_to_end(key)
            return answers[revision]
        earlier = next(reversed(answers.items()), None) if carry is not None else None
    value = _carried(view, earlier, carry, build) if earlier is not None else build()
    with _KEPT_LOCK:
        kept = _KEPT.setdefault(location, OrderedDict())
        answers = kept.setdefault(key, {})
        answers[revision] = value
        kept.move_to_end(key)
        given_up = [answers.pop(next(iter(answers))) for _ in range(len(answers) - _KEPT_REVISIONS)]
        given_up += [kept.popitem(last=False) for _ in range(len(kept) - _KEPT_KEYS)]
    del given_up  # released here, outside the lock, so that other threads' look-ups do not wait for it
    return value


def _carried(view: Reader, earlier: tuple[str, T], carry: Callable[[Changes, T], bool], build: Callable[[], T]) -> T:
    """The answer kept for an earlier revision if what changed since leaves it true, else ``build()``."""
    changes = view.changes_since(earlier[0])
    return earlier[1] if changes is not None and carry(changes, earlier[1]) else build()


def change_stamp() -> str:
    """The UTC timestamp a write records as its last change; ``OGR_CURRENT_DATE`` fixes it, as it does for GDAL."""
    return os.environ.get("OGR_CURRENT_DATE") or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
