"""Build the demo registry from the readable tables in ``geodata/``.

The demo reproduces the seed document's programme (180 projects, 36.33 億元). Its geometry is
illustrative. The build is deterministic: the same files give a byte-identical GeoPackage.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from . import model
from .errors import StoreError
from .i18n import gettext
from .report import SUMMARY_TEXT_KEY
from .store import Author, Batch, GeoPackageStore, Store, backend, is_database_url
from .store.edits import Records
from .store.history import day_start_utc

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


PLAN_DATE = "2013-05-20"  # the three-year plan drawn up: every project registered, planned
DEMO_AUTHOR = "演示"  # who the demo's history names
_DELAY_NOTED = "2013-12-20"  # when 蠡塘圩's quicksand was reported and its finish moved


def _fill(store: Store, geodata: Path) -> None:
    """Write the demo's reference layers and programme into an empty store, with a backdated history: every
    project registered when the plan was drawn up, each status change on its actual date, and the state the
    source document describes on the data date (so as-of answers show the programme as it stood each day)."""
    for layer in model.REFERENCE_LAYERS:
        store.replace_reference(layer.name, read_geojson(geodata / "reference" / f"{layer.name}.geojson"))
    batch = demo_batch(geodata)
    final = batch.projects
    registered = final.copy()
    registered["status"] = "planned"
    for column in ("actual_start", "actual_finish", "delay_reason"):
        registered[column] = ""
    delayed = final["status"] == "delayed"
    registered.loc[delayed, "planned_finish"] = final.loc[delayed, "year"] + "-12-31"  # the first planned finish
    store.write(Batch(registered, batch.features), mode="insert", author=_author(PLAN_DATE))
    for day, moves in sorted(_moves(final).items()):
        store.edit(list(moves), lambda before, moves=moves: _moved(before, moves), _author(day))
    store.write(batch, mode="upsert", author=_author(DATA_DATE))


def _author(day: str) -> Author:
    return Author(DEMO_AUTHOR, role="admin", at=day_start_utc(day))


def _moves(final: pd.DataFrame) -> dict[str, dict[str, dict[str, str]]]:
    """Day → project → the fields it changed that day, from the final state's dates: started, finished, handed
    over to long-term management the next day, delayed."""
    moves: dict[str, dict[str, dict[str, str]]] = {}
    for row in final.itertuples():
        if row.actual_start:
            moves.setdefault(row.actual_start, {})[row.project_id] = {"status": "in_progress",
                                                                      "actual_start": row.actual_start}
        if row.actual_finish:
            moves.setdefault(row.actual_finish, {})[row.project_id] = {"status": "completed",
                                                                       "actual_finish": row.actual_finish}
        if row.status == "long_term_management":
            handed = (date.fromisoformat(row.actual_finish) + timedelta(days=1)).isoformat()
            moves.setdefault(handed, {})[row.project_id] = {"status": "long_term_management"}
        if row.status == "delayed":
            moves.setdefault(_DELAY_NOTED, {})[row.project_id] = {
                "status": "delayed", "delay_reason": row.delay_reason, "planned_finish": row.planned_finish}
    return moves


def _moved(before: Records, moves: dict[str, dict[str, str]]) -> Records:
    projects = before.projects.copy()
    for project_id, values in moves.items():
        at = projects.index[projects["project_id"] == project_id]
        for column, value in values.items():
            projects.loc[at, column] = value
    return Records(projects, before.features)


def build_demo(location: str | os.PathLike[str], geodata: Path = GEODATA, *, overwrite: bool = False) -> Store:
    """Write the demo registry to a ``.gpkg`` path (replacing a file only once the new one is complete)
    or into the schema a ``postgresql://`` URL names; an existing registry is replaced only if ``overwrite``."""
    meta = {"data_date": DATA_DATE, "title": "蘇州工業園區城市環境綜合整治專案登記簿(演示)",
            "script": "zh-Hant",  # the demo reproduces the source document, so it shows Traditional by default
            # the work summary's narrative (organisation, next year's measures), as the source document has it
            SUMMARY_TEXT_KEY: (geodata / "report_summary.md").read_text(encoding="utf-8")}
    if is_database_url(str(location)):  # one transaction a layer, in the database's own schema
        store = backend(str(location)).create(str(location), meta=meta, overwrite=overwrite)
        _fill(store, geodata)
        return store
    path = Path(location)
    if path.exists() and not overwrite:
        raise StoreError(gettext("%(path)s: file exists already; use --force to replace it with the demo", path=path))
    tmp = path.with_name(f".{path.stem}.building.gpkg")
    with _fixed_clock(f"{DATA_DATE}T00:00:00Z"):
        try:
            _fill(GeoPackageStore.create(tmp, meta=meta, overwrite=True), geodata)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return GeoPackageStore(path)
