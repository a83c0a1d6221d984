"""The store interface: the few questions every store (GeoPackage, PostGIS) answers.

It is shaped around questions (which projects, which features of a layer in a box or of some
projects) so that a database store can answer them in SQL rather than loading whole layers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import geopandas as gpd
import pandas as pd

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


class Store(ABC):
    """A registry store. Implementations: GeoPackageStore (embedded), PostGIS (multi-user)."""

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
        street: tuple[str, str] | None = None,
        project_ids: Sequence[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """Features of a layer whose envelope meets ``bbox``, that belong to the street office
        ``street`` = (code, valid_from of its boundary version) by the membership rule of
        ``registry.spatial``, and/or that belong to ``project_ids``; all given conditions hold.

        The result is indexed by fid, in EPSG:4490; the bbox test is on envelopes (a prefilter).
        """

    @abstractmethod
    def write(self, batch: Batch, *, mode: str = "upsert") -> None:
        """Write a batch in one transaction; ``mode`` insert refuses ids that already exist."""

    @abstractmethod
    def replace_reference(self, layer: str, frame: gpd.GeoDataFrame) -> None:
        """Replace the whole content of a reference layer (street boundaries, lakes...)."""

    @abstractmethod
    def delete(self, project_ids: Sequence[str]) -> None:
        """Delete projects and all their features in one transaction."""

    @abstractmethod
    def revision(self) -> str:
        """A token that changes whenever the stored data change (for caches and ETags)."""

    @abstractmethod
    def last_modified(self) -> datetime:
        """When the stored data last changed (UTC), for HTTP Last-Modified."""
