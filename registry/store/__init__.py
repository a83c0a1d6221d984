"""Stores of the registry and the one way to open or create them from a location string."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import StoreError
from ..i18n import gettext
from ..spatial import parse_date
from . import history
from .base import Author, Batch, BBox, FeatureColumns, LayerInfo, Reader, Snapshot, Store, per_revision
from .gpkg import GeoPackageStore
from .postgis import PostGISStore

DEFAULT_STORE = "registry.gpkg"

__all__ = ["Author", "Batch", "BBox", "FeatureColumns", "GeoPackageStore", "LayerInfo", "PostGISStore", "Reader",
           "Snapshot", "Store", "BACKENDS", "backend", "create_store", "is_database_url", "open_store", "per_revision",
           "read_store", "store_location"]


def store_location(location: str | None = None) -> str:
    """The store named by the caller, else ``REGISTRY_STORE``, else ``registry.gpkg`` here."""
    return location or os.environ.get("REGISTRY_STORE") or DEFAULT_STORE


# The kinds of store, by the scheme of the location's URL; a location without one is a GeoPackage file.
BACKENDS: dict[str, type[Store]] = {"postgresql": PostGISStore, "postgres": PostGISStore}


def backend(location: str) -> type[Store]:
    """The store class a location names: its URL scheme's entry in ``BACKENDS``, else a GeoPackage path."""
    scheme, sep, _ = str(location).partition("://")
    if not sep:
        return GeoPackageStore
    if scheme.lower() not in BACKENDS:
        raise StoreError(gettext("%(scheme)s:// names no kind of store; give a .gpkg path or a URL starting with "
                                 "%(schemes)s", scheme=scheme, schemes=" / ".join(f"{s}://" for s in BACKENDS)))
    return BACKENDS[scheme.lower()]


def is_database_url(location: str) -> bool:
    """Whether a store location names a database rather than a GeoPackage file."""
    return backend(location) is not GeoPackageStore


def open_store(location: str | None = None) -> Store:
    """Open an existing registry: a ``.gpkg`` path or a ``postgresql://`` URL (PostGIS)."""
    location = store_location(location)
    return backend(location)(location)


@contextmanager
def read_store(location: str | None = None, as_of: str | None = None) -> Iterator[Reader]:
    """One committed state of an existing registry, for a command that reads it several times: the latest,
    or the one recorded by the end of the day ``as_of`` (YYYY-MM-DD)."""
    with open_store(location).snapshot() as view:
        yield history.as_of(view, parse_date(as_of)) if as_of else view


def create_store(location: str | None = None, *, meta: dict[str, str] | None = None, overwrite: bool = False) -> Store:
    """Create an empty registry at a ``.gpkg`` path or in the schema a ``postgresql://`` URL names."""
    location = store_location(location)
    return backend(location).create(location, meta=meta, overwrite=overwrite)
