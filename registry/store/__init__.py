"""Stores of the registry and the one way to open them from a location string."""

from __future__ import annotations

import os

from ..errors import StoreError
from .base import Batch, BBox, LayerInfo, Store
from .gpkg import GeoPackageStore

DEFAULT_STORE = "registry.gpkg"

__all__ = ["Batch", "BBox", "GeoPackageStore", "LayerInfo", "Store", "open_store", "store_location"]


def store_location(location: str | None = None) -> str:
    """The store named by the caller, else ``REGISTRY_STORE``, else ``registry.gpkg`` here."""
    return location or os.environ.get("REGISTRY_STORE") or DEFAULT_STORE


def open_store(location: str | None = None) -> Store:
    """Open an existing registry: a ``.gpkg`` path (or, later, a ``postgresql://`` URL)."""
    location = store_location(location)
    if location.startswith(("postgresql://", "postgres://")):
        raise StoreError(f"{location}: the PostGIS store is not available in this version; "
                         "use a .gpkg file")
    return GeoPackageStore(location)
