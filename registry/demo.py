"""Build the demo registry from the readable tables in ``geodata/``.

The demo reproduces the seed document's programme (180 projects, 36.33 億元). Its geometry is
illustrative. The build is deterministic: the same files give a byte-identical GeoPackage.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from . import model
from .errors import StoreError
from .store import Batch, GeoPackageStore, Store, backend, is_database_url

GEODATA = Path(__file__).resolve().parent.parent / "geodata"
DATA_DATE = "2014-01-10"  # the seed's summary was written at the turn of 2013/2014


def read_geojson(path: Path) -> gpd.GeoDataFrame:
    """A geodata GeoJSON file; its lon/lat coordinates are CGCS2000 (EPSG:4490)."""
    frame = pyogrio.read_dataframe(path)
    return frame.set_crs(model.STORAGE_EPSG, allow_override=True)


def demo_batch(geodata: Path = GEODATA) -> Batch:
    """The demo programme's projects and features as one batch."""
    projects = pd.read_csv(geodata / "projects.csv", dtype=str, keep_default_na=False)
    features = {path.stem: read_geojson(path) for path in sorted((geodata / "features").glob("*.geojson"))}
    return Batch(projects=projects, features=features)


@contextmanager
def _fixed_clock(stamp: str):
    """Make GDAL's and the store's ``last_change`` stamps the data date, for reproducible files."""
    old = os.environ.get("OGR_CURRENT_DATE")
    os.environ["OGR_CURRENT_DATE"] = stamp
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OGR_CURRENT_DATE", None)
        else:
            os.environ["OGR_CURRENT_DATE"] = old


def _fill(store: Store, geodata: Path) -> None:
    """Write the demo's reference layers and programme into an empty store."""
    for layer in model.REFERENCE_LAYERS:
        store.replace_reference(layer.name, read_geojson(geodata / "reference" / f"{layer.name}.geojson"))
    store.write(demo_batch(geodata), mode="insert")


def build_demo(location: str | os.PathLike[str], geodata: Path = GEODATA, *, overwrite: bool = False) -> Store:
    """Write the demo registry to a ``.gpkg`` path (replacing a file only once the new one is complete)
    or into the schema a ``postgresql://`` URL names; an existing registry is replaced only if ``overwrite``."""
    meta = {"data_date": DATA_DATE, "title": "蘇州工業園區城市環境綜合整治專案登記簿(演示)",
            "script": "zh-Hant"}  # the demo reproduces the source document, so it shows Traditional by default
    if is_database_url(str(location)):  # one transaction a layer, in the database's own schema
        store = backend(str(location)).create(str(location), meta=meta, overwrite=overwrite)
        _fill(store, geodata)
        return store
    path = Path(location)
    if path.exists() and not overwrite:
        raise StoreError(f"{path}: file exists already; use --force to replace it with the demo")
    tmp = path.with_name(f".{path.stem}.building.gpkg")
    with _fixed_clock(f"{DATA_DATE}T00:00:00Z"):
        try:
            _fill(GeoPackageStore.create(tmp, meta=meta, overwrite=True), geodata)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return GeoPackageStore(path)
