"""The embedded store: one GeoPackage file that QGIS and GDAL open as ordinary layers.

Layers are created by GDAL (through fiona, which takes a typed schema) so the file carries the
GeoPackage metadata, EPSG:4490 and R-tree spatial indexes GDAL expects. Writes go through SQLite
directly so that a batch across layers is one transaction. Reads use pyogrio (Arrow) and keep each
layer, with its spatial index, in memory until the file's revision changes.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import fiona
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from .. import model, spatial, validate
from ..errors import StoreError
from . import gpkgblob, gpkgrtree
from .base import Batch, BBox, LayerInfo, Store, change_stamp, check_schema_version, insert_clash, layer_spec
from .rows import iso_dates, project_column_sql, sql_values, typed_projects

_FIONA_TYPES = {"TEXT": "str", "DATE": "date", "INTEGER": "int64", "REAL": "float"}
_SQLITE_MAGIC = b"SQLite format 3\x00"
GEOMETRY_COLUMN = "geom"


def _projects_ddl() -> str:
    columns = ['"fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL']
    columns += [project_column_sql(field, model.SQL_TYPES[field.kind],
                                   f"{field.name} IN (0, 1)" if field.kind == "bool" else None)  # SQLite's booleans
                for field in model.PROJECT_FIELDS]
    return f'CREATE TABLE "projects" ({", ".join(columns)})'


class GeoPackageStore(Store):
    """A registry kept in one GeoPackage file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self._check_file()
        self._cache: dict[str, tuple[str, object]] = {}
        self._lock = threading.Lock()

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike[str], *, meta: dict[str, str] | None = None,
               overwrite: bool = False) -> GeoPackageStore:
        """Create an empty registry file: every layer, the projects table and registry_meta.

        The file is built beside the target and moved into place, so a failure leaves nothing.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise StoreError(f"{path}: file exists already; remove it or choose another path")
        if path.suffix.lower() != ".gpkg":
            raise StoreError(f"{path}: a GeoPackage store's file name must end in .gpkg")
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise StoreError(f"{path}: folder {folder} does not exist")
        handle, tmp = tempfile.mkstemp(suffix=".gpkg", dir=folder, prefix=f".{path.stem}-")
        os.close(handle)
        os.unlink(tmp)
        try:
            for layer in model.LAYERS:
                schema = {
                    "geometry": layer.geometry_type,
                    "properties": {name: _FIONA_TYPES[kind] for name, kind in layer.columns},
                }
                with fiona.open(tmp, "w", driver="GPKG", layer=layer.name,
                                crs=f"EPSG:{model.STORAGE_EPSG}", schema=schema):
                    pass
            con = _connect(tmp)
            try:
                with con:
                    _initialise_tables(con, meta or {})
            finally:
                con.close()
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return cls(path)

    # -- checks ----------------------------------------------------------------------------
    def _check_file(self) -> None:
        path = self.path
        if not path.exists():
            raise StoreError(f"{path}: no such file; create a registry with `registry init` "
                             "or `registry demo`")
        if path.is_dir():
            raise StoreError(f"{path}: is a folder, not a GeoPackage file")
        with open(path, "rb") as f:
            if f.read(16) != _SQLITE_MAGIC:
                raise StoreError(f"{path}: not a GeoPackage (not an SQLite database file)")
        con = _connect(path)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "gpkg_contents" not in tables:
                raise StoreError(f"{path}: an SQLite file but not a GeoPackage (no gpkg_contents)")
            missing = [n for n in ("projects", "registry_meta", *model.LAYER_BY_NAME) if n not in tables]
            if missing:
                raise StoreError(f"{path}: a GeoPackage but not a registry; missing layers: "
                                 f"{', '.join(missing)} (create one with `registry init`)")
            version = dict(con.execute("SELECT key, value FROM registry_meta")).get("schema_version")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot be read as a GeoPackage ({exc})") from None
        finally:
            con.close()
        check_schema_version(str(path), version)

    # -- reads -----------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        con = _connect(self.path)
        try:
            return dict(con.execute("SELECT key, value FROM registry_meta"))
        finally:
            con.close()

    def revision(self) -> str:
        # SQLite's file change counter (header bytes 24-27) moves on every commit in rollback-journal
        # mode, whoever writes; with the file's size and mtime it is a cheap and exact change token.
        with open(self.path, "rb") as f:
            header = f.read(28)
            stat = os.fstat(f.fileno())
        return f"{int.from_bytes(header[24:28], 'big')}-{stat.st_mtime_ns}-{stat.st_size}"

    def last_modified(self) -> datetime:
        return datetime.fromtimestamp(self.path.stat().st_mtime, tz=UTC)

    def layers(self) -> list[LayerInfo]:
        con = _connect(self.path)
        try:
            rows = con.execute(
                "SELECT c.table_name, c.data_type, g.geometry_type_name, g.srs_id, o.feature_count "
                "FROM gpkg_contents c LEFT JOIN gpkg_geometry_columns g USING (table_name) "
                "LEFT JOIN gpkg_ogr_contents o USING (table_name)"
            ).fetchall()
            infos = {}
            for name, data_type, gtype, srs, count in rows:
                if name == "registry_meta":
                    continue
                if count is None:
                    count = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                extent = None
                if data_type == "features" and count:
                    extent = con.execute(
                        f'SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "rtree_{name}_geom"'
                    ).fetchone()
                spec = model.LAYER_BY_NAME.get(name)
                infos[name] = LayerInfo(
                    name=name,
                    kind=spec.kind if spec else "attributes",
                    geometry_type=spec.geometry_type if spec else (gtype.title() if gtype else None),
                    count=int(count),
                    extent=tuple(extent) if extent else None,
                    epsg=srs if srs else None,
                )
        finally:
            con.close()
        order = ["projects", *model.LAYER_BY_NAME]
        return sorted(infos.values(), key=lambda i: order.index(i.name) if i.name in order else 99)

    def _cached(self, key: str, load):
        revision = self.revision()
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[0] == revision:
                return hit[1]
        value = load()
        with self._lock:
            self._cache[key] = (revision, value)
        return value

    def projects(self, project_ids: Sequence[str] | None = None) -> pd.DataFrame:
        frame = self._cached("projects", self._load_projects)
        if project_ids is not None:
            frame = frame[frame["project_id"].isin(list(project_ids))]
        return frame.copy(deep=False)  # copy-on-write: callers cannot change the cached table

    def _load_projects(self) -> pd.DataFrame:
        con = _connect(self.path)
        try:
            columns = ", ".join(f'"{c}"' for c in model.PROJECT_COLUMNS)
            frame = pd.read_sql_query(f'SELECT {columns} FROM "projects" ORDER BY "project_id"', con)
        finally:
            con.close()
        return typed_projects(frame)

    def features(self, layer: str, *, bbox: BBox | None = None, street: tuple[str, str] | None = None,
                 project_ids: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        spec = layer_spec(layer)
        frame = self._cached(f"layer:{layer}", lambda: self._load_layer(layer))
        rows = None
        if street is not None:  # (code, valid_from of a boundary version): one cache entry per version
            rows = self._cached(f"street:{layer}:{street[0]}:{street[1]}",
                                lambda: self._street_members(frame, *street))
        if bbox is not None:
            hits = frame.sindex.query(shapely.box(*bbox))
            rows = np.sort(hits) if rows is None else np.intersect1d(rows, hits)
        if rows is not None:
            frame = frame.iloc[rows]
        if project_ids is not None and spec.kind == "project":
            frame = frame[frame["project_id"].isin(list(project_ids))]
        return frame.copy(deep=False)  # copy-on-write: callers cannot change the cached layer

    def _street_members(self, frame: gpd.GeoDataFrame, code: str, as_of: str) -> np.ndarray:
        """Positions of a layer's features in a street office; kept per revision like the layer, since
        membership changes only with the data (a street query then costs a take, not a geometry test)."""
        _, boundary, before = spatial.street_with_predecessors(self, code, as_of)
        candidates = np.sort(frame.sindex.query(boundary))
        geoms = np.asarray(frame.geometry.array)[candidates]
        return candidates[spatial.membership(geoms, boundary, before)]

    def _load_layer(self, layer: str) -> gpd.GeoDataFrame:
        frame = pyogrio.read_dataframe(self.path, layer=layer, use_arrow=True, fid_as_index=True)
        frame.index.name = "fid"
        for name, kind in model.LAYER_BY_NAME[layer].columns:
            if kind == "DATE":
                frame[name] = iso_dates(frame[name]).astype(object)
            elif kind == "TEXT":  # plain objects: pandas' Arrow strings make isin() loop in Python over the values
                frame[name] = frame[name].astype(object)
        frame.sindex  # noqa: B018 - build the spatial index once, while loading
        return frame

    # -- writes ----------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        con = _connect(self.path)
        try:
            try:
                con.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{self.path}: busy, another edit is being written ({exc}); "
                                 "try again") from None
            try:
                yield con
                _bump_revision(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()

    def write(self, batch: Batch, *, mode: str = "upsert") -> None:
        validate.check_mode(mode)
        projects = validate.check_projects(batch.projects)
        categories = dict(zip(projects["project_id"], projects["category"]))
        ids = list(categories)
        with self._transaction() as con:
            con.execute("CREATE TEMP TABLE batch_ids (project_id TEXT PRIMARY KEY)")
            con.executemany("INSERT INTO batch_ids VALUES (?)", [(i,) for i in ids])
            if mode == "insert":
                clash = con.execute("SELECT project_id FROM projects WHERE project_id IN "
                                    "(SELECT project_id FROM batch_ids) LIMIT 1").fetchone()
                if clash:
                    raise insert_clash(clash[0])
            _delete_ids(con)
            _insert_rows(con, "projects", projects)
            touched = {layer.name for layer in model.PROJECT_LAYERS}
            for layer, frame in batch.features.items():
                checked = validate.check_features(layer, frame, categories)
                _insert_features(con, layer, checked)
            _refresh_contents(con, touched | {"projects"})

    def replace_reference(self, layer: str, frame: gpd.GeoDataFrame) -> None:
        checked = validate.check_reference(layer, frame)
        with self._transaction() as con:
            con.execute(f'DELETE FROM "{layer}"')
            _insert_features(con, layer, checked)
            _refresh_contents(con, {layer})

    def delete(self, project_ids: Sequence[str]) -> None:
        with self._transaction() as con:
            con.execute("CREATE TEMP TABLE batch_ids (project_id TEXT PRIMARY KEY)")
            con.executemany("INSERT OR IGNORE INTO batch_ids VALUES (?)", [(i,) for i in project_ids])
            _delete_ids(con)
            _refresh_contents(con, {x.name for x in model.PROJECT_LAYERS} | {"projects"})

    def set_meta(self, values: dict[str, str]) -> None:
        """Set registry_meta entries (data date, notice) in one transaction."""
        with self._transaction() as con:
            con.executemany("INSERT OR REPLACE INTO registry_meta (key, value) VALUES (?, ?)",
                            list(values.items()))


def _connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None, timeout=10)
    con.execute("PRAGMA cache_size = -131072")  # 128 MiB: a large batch's pages stay in memory until commit
    gpkgblob.register_functions(con)
    return con


def _initialise_tables(con: sqlite3.Connection, meta: dict[str, str]) -> None:
    """Add the projects and registry_meta tables, project_id indexes and zero feature counts."""
    con.execute(_projects_ddl())
    con.execute('CREATE TABLE "registry_meta" ("fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
                '"key" TEXT NOT NULL UNIQUE, "value" TEXT)')
    now = change_stamp()
    for table, title in (("projects", "專案"), ("registry_meta", "登記簿元數據")):
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
                    "last_change) VALUES (?, 'attributes', ?, ?, ?)", (table, table, title, now))
        con.execute("INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES (?, 0)",
                    (table,))
    for layer in model.LAYERS:
        con.execute("UPDATE gpkg_contents SET description = ? WHERE table_name = ?",
                    (layer.title_zh, layer.name))
        if layer.kind == "project":
            con.execute(f'CREATE INDEX "idx_{layer.name}_project_id" ON "{layer.name}" (project_id)')
    con.execute("UPDATE gpkg_ogr_contents SET feature_count = 0")
    values = {"schema_version": str(model.SCHEMA_VERSION), "revision": "0",
              "notice": model.ILLUSTRATIVE_NOTICE, **meta}
    con.executemany("INSERT INTO registry_meta (key, value) VALUES (?, ?)", list(values.items()))


def _bump_revision(con: sqlite3.Connection) -> None:
    con.execute("UPDATE registry_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")


def _delete_ids(con: sqlite3.Connection) -> None:
    """Delete the projects named in batch_ids, and their features."""
    for layer in model.PROJECT_LAYERS:
        _delete_features(con, layer.name)
    con.execute("DELETE FROM projects WHERE project_id IN (SELECT project_id FROM batch_ids)")


def _delete_features(con: sqlite3.Connection, layer: str) -> None:
    """Delete the features of the projects in batch_ids; when that is most of the layer, R-tree in bulk.

    SQLite takes an entry out of an R*Tree in about 10 µs; when at least half the layer goes, the
    tree is rebuilt from the entries that stay instead (GDAL's delete triggers set aside meanwhile).
    """
    where = "project_id IN (SELECT project_id FROM batch_ids)"
    doomed = np.array([row[0] for row in con.execute(f'SELECT fid FROM "{layer}" WHERE {where}')], dtype=np.int64)
    held = con.execute(f'SELECT count(*) FROM "{layer}"').fetchone()[0]
    rtree = f"rtree_{layer}_{GEOMETRY_COLUMN}"
    bulk = len(doomed) > 0 and 2 * len(doomed) >= held
    triggers = (f"{rtree}_delete", f"trigger_delete_feature_count_{layer}") if bulk else ()
    with _set_aside(con, *triggers) as aside:
        con.execute(f'DELETE FROM "{layer}" WHERE {where}')
        if f"{rtree}_delete" in aside:
            fids, bounds = gpkgrtree.entries(con, rtree)
            stay = ~np.isin(fids, doomed)
            gpkgrtree.load(con, rtree, fids[stay], bounds[stay])


@contextmanager
def _set_aside(con: sqlite3.Connection, *names: str) -> Iterator[list[str]]:
    """Drop these triggers and indexes (those that exist) for the block, then create them again as they were.

    Yields the names dropped. Within a transaction, a rollback restores them as well.
    """
    marks = ", ".join("?" for _ in names)
    aside = con.execute(f"SELECT type, name, sql FROM sqlite_master WHERE name IN ({marks})", names).fetchall()
    for kind, name, _ in aside:
        con.execute(f'DROP {kind} "{name}"')
    yield [name for _, name, _ in aside]
    for _, _, sql in aside:
        con.execute(sql)


def _insert_rows(con: sqlite3.Connection, table: str, frame: pd.DataFrame) -> None:
    columns = list(frame.columns)
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    rows = zip(*(sql_values(frame[c]) for c in columns))
    con.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)


def _insert_features(con: sqlite3.Connection, layer: str, frame: gpd.GeoDataFrame) -> None:
    """Insert features with new fids, and their R-tree entries in bulk.

    GDAL's R-tree insert trigger would call the Python ST_ functions four times per row, and its
    feature-count trigger would update gpkg_ogr_contents per row; inside the transaction both are set
    aside, the envelopes go in through ``_index``, the count is set by ``_refresh_contents``, and the
    triggers are put back unchanged (a rollback restores them too). A batch at least as large as the
    layer already is also sets the project_id index aside and builds it again afterwards: sorting once
    is cheaper than adding row by row.
    """
    if frame.empty:
        return
    spec = model.LAYER_BY_NAME[layer]
    columns = [name for name, _ in spec.columns]
    geoms = frame.geometry.values
    blobs = gpkgblob.encode(geoms, model.STORAGE_EPSG)
    last = con.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (layer,)).fetchone()
    top, held = con.execute(f'SELECT max(fid), count(*) FROM "{layer}"').fetchone()
    bulk = len(frame) >= held
    first = max(last[0] if last else 0, top or 0) + 1
    fids = np.arange(first, first + len(frame))
    names = ", ".join(f'"{c}"' for c in ["fid", *columns, GEOMETRY_COLUMN])
    marks = ", ".join("?" for _ in range(len(columns) + 2))
    values = [sql_values(iso_dates(frame[c]) if kind == "DATE" else frame[c]) for c, kind in spec.columns]
    rtree = f"rtree_{layer}_{GEOMETRY_COLUMN}"
    index = (f"idx_{layer}_project_id",) if bulk else ()
    with _set_aside(con, f"{rtree}_insert", f"trigger_insert_feature_count_{layer}", *index) as aside:
        con.executemany(f'INSERT INTO "{layer}" ({names}) VALUES ({marks})', zip(fids.tolist(), *values, blobs))
        if f"{rtree}_insert" in aside:
            _index(con, rtree, fids, shapely.bounds(geoms), bulk)


def _index(con: sqlite3.Connection, rtree: str, fids: np.ndarray, bounds: np.ndarray, bulk: bool) -> None:
    """Add features' envelopes to a layer's R-tree: one by one, or (``bulk``) by rebuilding it with them.

    Rebuilding costs about one insert per entry already there, so it pays when the batch is at least
    as large as what the index holds.
    """
    if bulk:
        old_fids, old_bounds = gpkgrtree.entries(con, rtree)
        gpkgrtree.load(con, rtree, np.concatenate([old_fids, fids]), np.concatenate([old_bounds, bounds]))
        return
    con.executemany(f'INSERT INTO "{rtree}" VALUES (?, ?, ?, ?, ?)',
                    zip(fids.tolist(), bounds[:, 0].tolist(), bounds[:, 2].tolist(), bounds[:, 1].tolist(),
                        bounds[:, 3].tolist()))


def _refresh_contents(con: sqlite3.Connection, tables: set[str]) -> None:
    """Keep gpkg_contents (extent, last_change) and GDAL's feature counts true after a write."""
    now = change_stamp()
    for table in sorted(tables):
        con.execute("UPDATE gpkg_ogr_contents SET feature_count = (SELECT count(*) FROM "
                    f'"{table}") WHERE table_name = ?', (table,))
        if table in model.LAYER_BY_NAME:
            extent = con.execute(f'SELECT min(minx), min(miny), max(maxx), max(maxy) FROM '
                                 f'"rtree_{table}_geom"').fetchone()
            con.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ?, "
                        "last_change = ? WHERE table_name = ?", (*extent, now, table))
        else:
            con.execute("UPDATE gpkg_contents SET last_change = ? WHERE table_name = ?", (now, table))


