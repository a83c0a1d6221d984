"""The store interface: the few questions every store (GeoPackage, PostGIS) answers.

It is shaped around questions (which projects, which features of a layer in a box or of some
projects) so that a database store can answer them in SQL rather than loading whole layers.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import geopandas as gpd
import pandas as pd

from .. import model, validate
from ..errors import StoreError, ValidationError
from ..spatial import StreetArea

T = TypeVar("T")
BBox = tuple[float, float, float, float]  # minx, miny, maxx, maxy in the store's CRS (EPSG:4490)


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

    @abstractmethod
    def features(
        self,
        layer: str,
        *,
        bbox: BBox | None = None,
        street: StreetArea | None = None,
        project_ids: Sequence[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """Features of a layer whose envelope meets ``bbox``, that belong to the street office
        ``street`` (a resolved boundary) by the membership rule of ``registry.spatial``, and/or that
        belong to ``project_ids``; all given conditions hold.

        The result is indexed by fid, in EPSG:4490; the bbox test is on envelopes (a prefilter).
        """

    @abstractmethod
    def revision(self) -> str:
        """A token that changes whenever the stored data change (for caches and ETags)."""

    @abstractmethod
    def last_modified(self) -> datetime:
        """When the stored data last changed (UTC), for HTTP Last-Modified."""


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
                 project_ids: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        with self.snapshot() as view:
            return view.features(layer, bbox=bbox, street=street, project_ids=project_ids)

    def revision(self) -> str:
        with self.snapshot() as view:
            return view.revision()

    def last_modified(self) -> datetime:
        with self.snapshot() as view:
            return view.last_modified()

    @classmethod
    @abstractmethod
    def create(cls, location: str, *, meta: dict[str, str] | None = None, overwrite: bool = False) -> Store:
        """Create an empty registry (every layer, projects, registry_meta) at ``location``; an existing
        registry there is replaced only if ``overwrite``."""

    def write(self, batch: Batch, *, mode: str = "upsert") -> None:
        """Write a batch in one transaction; ``mode`` insert refuses ids that already exist.

        The whole batch is validated first, here for every store, so a refused batch changes nothing.
        """
        validate.check_mode(mode)
        projects = validate.check_projects(batch.projects)
        categories = dict(zip(projects["project_id"], projects["category"]))
        features = {layer: validate.check_features(layer, frame, categories) for layer, frame in batch.features.items()}
        self._write(projects, features, mode)

    @abstractmethod
    def _write(self, projects: pd.DataFrame, features: dict[str, gpd.GeoDataFrame], mode: str) -> None:
        """Write validated projects and features in one transaction (replacing whole projects)."""

    def replace_reference(self, layer: str, frame: gpd.GeoDataFrame) -> None:
        """Replace the whole content of a reference layer (street boundaries, lakes...), validated first."""
        self._replace_reference(layer, validate.check_reference(layer, frame))

    @abstractmethod
    def _replace_reference(self, layer: str, frame: gpd.GeoDataFrame) -> None:
        """Replace a reference layer's content with validated features in one transaction."""

    @abstractmethod
    def delete(self, project_ids: Sequence[str]) -> None:
        """Delete projects and all their features in one transaction."""


# -- what every implementation shares ---------------------------------------------------------
def layer_spec(layer: str) -> model.Layer:
    """The model's layer of that name, or a StoreError listing the valid ones."""
    spec = model.LAYER_BY_NAME.get(layer)
    if spec is None:
        raise StoreError(f"unknown layer {layer!r}; valid: {', '.join(model.LAYER_BY_NAME)}")
    return spec


def check_schema_version(location: str, version: str | None) -> None:
    """Refuse a registry whose registry_meta has no schema_version, or one newer than this software reads."""
    if version is None or not (version.isascii() and version.isdigit()):
        raise StoreError(f"{location}: registry_meta has no valid schema_version")
    if int(version) > model.SCHEMA_VERSION:
        raise StoreError(f"{location}: written by a newer registry (schema version {version}; this "
                         f"one reads up to {model.SCHEMA_VERSION}); upgrade the registry software")


def insert_clash(project_id: str) -> ValidationError:
    """The error of an insert naming a project the store holds already."""
    return ValidationError(f"project {project_id} exists already (mode insert); use upsert to replace it",
                           param="project_id")


_KEPT: dict[tuple[str, str, object], object] = {}
_KEPT_LOCK = threading.Lock()
_KEPT_REVISIONS = 4  # revisions a store's answers are kept for (requests still on older snapshots)


def per_revision(view: Reader, key: object, build: Callable[[], T]) -> T:
    """``build()`` once per store revision and ``key``: for answers that are pure functions of the
    stored data (the valid street boundaries, the index of project ids), which a query would otherwise
    rebuild each time. The answer is shared by threads: callers must not change it."""
    full = (view.location, view.revision(), key)
    with _KEPT_LOCK:
        if full in _KEPT:
            return _KEPT[full]
    value = build()
    with _KEPT_LOCK:
        _KEPT[full] = value
        revisions = list(dict.fromkeys((loc, rev) for loc, rev, _ in _KEPT if loc == view.location))
        for old in revisions[:-_KEPT_REVISIONS]:
            for stale in [k for k in _KEPT if k[:2] == old]:
                del _KEPT[stale]
    return value


def change_stamp() -> str:
    """The UTC timestamp a write records as its last change; ``OGR_CURRENT_DATE`` fixes it, as it does for GDAL."""
    return os.environ.get("OGR_CURRENT_DATE") or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
