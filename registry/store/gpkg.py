"""The embedded store: one GeoPackage file that QGIS and GDAL open as ordinary layers.

Layers are created by GDAL (through fiona, which takes a typed schema) so the file carries the
GeoPackage metadata, EPSG:4490 and R-tree spatial indexes GDAL expects. Writes go through SQLite
directly so that a batch across layers is one transaction. Reads use the same SQLite (never GDAL's own
copy in this process, whose locks would not see ours): the whole registry is read in one read
transaction into frames with spatial indexes (a large registry's project layers by GDAL's columnar reader in a
child process, ``columnar``); after the registry's own writes, the next state is derived from
the rows the change log names, and after anyone else's the file is read whole again.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import fiona
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from .. import model
from ..crs import STORAGE_PYPROJ
from ..errors import StoreError, StoreUnavailable
from ..i18n import gettext
from ..validate import typed_columns
from . import changelog, columnar, edits, gpkgblob, gpkgrtree, schema
from .base import USER_COLUMNS, LayerInfo, Store, Writer, change_stamp, check_schema_version
from .edits import VERSION, Author, Plan, Records
from .frames import FrameSnapshot, LayerFrames, Rows, State, layer_extent
from .history import LOG_COLUMNS, entries, log_filter, utc_text
from .rows import iso_dates, project_column_sql, sql_rows, sql_values, typed_rows

_FIONA_TYPES = {"TEXT": "str", "DATE": "date", "INTEGER": "int64", "REAL": "float"}
GEOMETRY_COLUMN = "geom"
# registry_meta keys: 1 once a row is changed by anything but the registry's writes (schema 3's triggers set it,
# those writes clear it), and the last revision whose changes the log does not cover (see ``_refreshed``).
_UNLOGGED, _RELOAD_AT = "unlogged", "reload_at"
# Past this share of a layer and this many of its rows changed since its tree was built, a whole load is cheaper.
_REFRESH_SHARE, _REFRESH_ROWS = 0.05, 1000
# A write of more rows than this lets its connection's page cache go; a smaller one keeps it (the pages of indexes
# and the log an edit reads again: read from the file each time, they cost an edit more than its own rows).
_SHRINK_AFTER = 1000
_BOXES_READ = 1000  # rows of a layer whose R-tree boxes a write reads one by one to keep its extent (else: a scan)


def _projects_ddl() -> str:
    columns = ['"fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL']
    columns += [project_column_sql(field, model.SQL_TYPES[field.kind],
                                   f"{field.name} IN (0, 1)" if field.kind == "bool" else None)  # SQLite's booleans
                for field in model.PROJECT_FIELDS if field.since == 1]  # later ones arrive by migration
    return f'CREATE TABLE "projects" ({", ".join(columns)})'


class GeoPackageStore(Store):
    """A registry kept in one GeoPackage file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self._check_file()
        self._current: State | None = None
        self._load_lock = threading.Lock()
        self._own_revision: str | None = None  # the revision this object's last write committed
        self._local = threading.local()

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike[str], *, meta: dict[str, str] | None = None,
               overwrite: bool = False) -> GeoPackageStore:
        """Create an empty registry file: every layer, the projects table and registry_meta.

        The file is built beside the target and moved into place, so a failure leaves nothing.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise StoreError(gettext("%(path)s: file exists already; remove it or choose another path", path=path))
        if path.suffix.lower() != ".gpkg":
            raise StoreError(gettext("%(path)s: a GeoPackage store's file name must end in .gpkg", path=path))
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise StoreError(gettext("%(path)s: folder %(folder)s does not exist", path=path, folder=folder))
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
            cls._upgrade(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return cls(path)

    @classmethod
    def upgrade(cls, path: str | os.PathLike[str]) -> list[str]:
        """Run the schema migrations the file has not run, in one transaction; the revisions run."""
        cls._check_registry(Path(path), upgrading=True)
        return cls._upgrade(path)

    @staticmethod
    def _upgrade(path: str | os.PathLike[str]) -> list[str]:
        try:
            return schema.upgrade(schema.engine("sqlite", lambda: _connect(path)))
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(gettext("%(path)s: cannot be upgraded now (%(error)s); try again", path=path,
                                           error=exc)) from None

    # -- checks ----------------------------------------------------------------------------
    def _check_file(self) -> None:
        self._check_registry(self.path)

    @staticmethod
    def _check_registry(path: Path, upgrading: bool = False) -> None:
        """Refuse a path that is not a registry of a schema this software reads (or, ``upgrading``, upgrades).

        Only SQLite reads the file (never Python's own open/close): closing any other descriptor of
        the file would drop the POSIX locks SQLite holds on it for this process.
        """
        if not path.exists():
            raise StoreError(gettext("%(path)s: no such file; create a registry with `registry init` or "
                                     "`registry demo`", path=path))
        if path.is_dir():
            raise StoreError(gettext("%(path)s: is a folder, not a GeoPackage file", path=path))
        con = sqlite3.connect(path, timeout=10)
        try:
            try:
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            except sqlite3.DatabaseError:
                raise StoreError(gettext("%(path)s: not a GeoPackage (not an SQLite database file)",
                                         path=path)) from None
            if "gpkg_contents" not in tables:
                raise StoreError(gettext("%(path)s: an SQLite file but not a GeoPackage (no gpkg_contents)",
                                         path=path))
            missing = [n for n in ("projects", "registry_meta", *model.LAYER_BY_NAME) if n not in tables]
            if missing:
                raise StoreError(gettext("%(path)s: a GeoPackage but not a registry; missing layers: %(layers)s "
                                         "(create one with `registry init`)", path=path, layers=", ".join(missing)))
            version = dict(con.execute("SELECT key, value FROM registry_meta")).get("schema_version")
        except sqlite3.DatabaseError as exc:
            raise StoreError(gettext("%(path)s: cannot be read as a GeoPackage (%(error)s)", path=path,
                                     error=exc)) from None
        finally:
            con.close()
        check_schema_version(str(path), version, upgrading)

    # -- reads -----------------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[FrameSnapshot]:
        yield FrameSnapshot(self.location, self._state(), self._log)

    def _log(self, *, project_id: str | None = None, until: str | None = None, latest: bool = False,
             layer: str | None = None) -> pd.DataFrame:
        """The change log (see ``Reader.log``), read by this thread's own connection."""
        where, params = log_filter(project_id, until, "?", layer=layer)
        columns = ", ".join(LOG_COLUMNS)
        if latest:
            statement = (f"SELECT {columns}, {_WKB} FROM (SELECT *, row_number() OVER (PARTITION BY layer, "
                         "CASE WHEN layer = 'projects' THEN project_id ELSE fid END ORDER BY at DESC, change_id DESC) "
                         f"AS nth FROM changes WHERE {where}) WHERE nth = 1 ORDER BY change_id")
        else:
            statement = f"SELECT {columns} FROM changes WHERE {where} ORDER BY at, change_id"
        try:
            rows = self._reader().execute(statement, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(_unreadable(self.path, exc)) from None
        frame = entries([row[:len(LOG_COLUMNS)] for row in rows])
        if latest:
            frame["wkb"] = [row[-1] for row in rows]
        return frame

    def _state(self) -> State:
        """The latest committed state: derived from the one held when only the registry's own writes changed
        the file since, else loaded whole, each in one read transaction.

        One thread loads while the others wait for it (a whole load costs a second or more on large layers);
        requests already answering keep the state they began with.
        """
        current = self._current
        if current is not None and current.revision == self._peek_revision():
            return current
        with self._load_lock:
            current = self._current
            if current is not None and current.revision == self._peek_revision():
                return current
            self._current = (current and self._refreshed(current)) or _load_state(self.path)
            return self._current

    def _refreshed(self, state: State) -> State | None:
        """The state after the registry's own writes since ``state``: the rows the change log names since, read in
        one read transaction of this thread's connection, merged into it (``State.changed``). None when a whole
        load is needed: the file was replaced, upgraded or changed by another program, a write changed what the log
        does not cover (reference layers), or so much changed that the layers' trees are better built anew."""
        held, held_inode = _counted(state.revision)
        if held is None or not state.last_change:
            return None
        con = self._reader()
        try:
            con.execute("BEGIN")
            revision = _revision(con, self.path)
            meta = dict(con.execute("SELECT key, value FROM registry_meta"))
            counter, inode = _counted(revision)
            if (counter is None or inode != held_inode or counter <= held or meta.get(_UNLOGGED) != "0"
                    or int(meta.get(_RELOAD_AT) or 0) > held):
                return None
            changes = con.execute("SELECT change_id, layer, project_id, fid FROM changes WHERE change_id > ?",
                                  (state.last_change,)).fetchall()
            names = {layer.name: layer for layer in model.PROJECT_LAYERS}
            fids: dict[str, set[int]] = {}
            for _, layer, _, fid in changes:
                if layer != "projects":
                    fids.setdefault(layer, set()).add(fid)
            if any(name not in names or len(found) + state.layers[name].changed_rows >
                   max(_REFRESH_SHARE * len(state.layers[name]), _REFRESH_ROWS) for name, found in fids.items()):
                return None
            project_ids = sorted({pid for _, layer, pid, _ in changes if layer == "projects"})
            projects = _read_projects(con, project_ids) if project_ids else None
            found = {name: np.array(sorted(f), dtype=np.int64) for name, f in fids.items()}
            rows = {name: _read_rows(con, names[name], {}, f) for name, f in found.items()}
            last_change = max((c[0] for c in changes), default=state.last_change)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(_unreadable(self.path, exc)) from None
        finally:
            if con.in_transaction:
                con.execute("ROLLBACK")
        modified = datetime.fromtimestamp(os.stat(self.path).st_mtime, tz=UTC)
        return state.changed(revision=revision, modified=modified, meta=meta, last_change=last_change,
                             project_ids=project_ids, projects=projects, fids=found, rows=rows,
                             touched=sorted({pid for _, _, pid, _ in changes if pid}))

    def _peek_revision(self) -> str:
        """The file's revision now, read outside any transaction (only to tell whether to reload)."""
        try:
            return _revision(self._reader(), self.path)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(_unreadable(self.path, exc)) from None

    def _reader(self) -> sqlite3.Connection:
        """This thread's own connection for cheap revision checks (connections are not shared by threads)."""
        return self._held("reader", _connect)

    def _writer(self) -> sqlite3.Connection:
        """This thread's connection for writes, kept open with the change log's temporary triggers (made once: a
        new connection parses the file's schema and the 42 triggers, which cost an edit more than its own rows)."""
        return self._held("writer", _write_connection)

    def _held(self, kind: str, connect: Callable[[Path], sqlite3.Connection]) -> sqlite3.Connection:
        """This thread's connection of a kind, made by ``connect`` on first use and again when the path names
        another file (a registry restored by replacing the file)."""
        inode = os.stat(self.path).st_ino
        held = getattr(self._local, kind, None)
        if held is None or held[0] != inode:
            if held is not None:
                held[1].close()
            held = (inode, connect(self.path))
            setattr(self._local, kind, held)
        return held[1]

    def revision(self) -> str:
        return self._peek_revision()  # no need to load a state to name it

    def commit_watch(self) -> Callable[[], bool]:
        """Whether another writer committed: SQLite's ``data_version`` of the calling thread's own connection
        changes when another connection, in any process, commits (a few microseconds' check), and a new connection
        (``_held``: the file was replaced by a restore) counts as a change; this object's own last write is not
        reported (its worker brings that forward at its next read, not while it answers the write). Polled by a
        server worker's follower."""
        seen: list = [None, None]  # the connection asked last, and the data_version it gave

        def committed() -> bool:
            try:
                con = self._held("watch", _connect)
                version = con.execute("PRAGMA data_version").fetchone()[0]
                changed = con is not seen[0] or version != seen[1]
                seen[:] = [con, version]
                return changed and (self._own_revision is None or self._peek_revision() != self._own_revision)
            except (OSError, sqlite3.Error, StoreUnavailable):  # gone or unreadable: the next read says what is wrong
                return False

        committed()
        return committed


    def meta(self) -> dict[str, str]:
        """The registry_meta entries as last committed, read alone: a write request needs them (the default
        script) but not a state, which after another write would be brought forward for nothing."""
        try:
            return dict(self._reader().execute("SELECT key, value FROM registry_meta"))
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(_unreadable(self.path, exc)) from None

    def release(self) -> None:
        for kind in ("reader", "writer"):
            held = getattr(self._local, kind, None)
            if held is not None:
                held[1].close()
                setattr(self._local, kind, None)

    # -- writes ----------------------------------------------------------------------------
    @contextmanager
    def _transaction(self, logged: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction that counts the revision up. Unless the change log covers all it changes
        (``logged``) and nothing else changed rows since the registry's last write, it names its revision as
        one readers holding an older state must load whole. It runs on this thread's write connection
        (``_writer``); one that fails to roll back is closed, and the next write opens another."""
        con = self._writer()
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(gettext("%(path)s: busy, another edit is being written (%(error)s); try again",
                                           path=self.path, error=exc)) from None
        try:
            marked = dict(con.execute("SELECT key, value FROM registry_meta WHERE key = ?", (_UNLOGGED,)))
            written = con.total_changes
            yield con
            _bump_revision(con)
            if not logged or marked.get(_UNLOGGED) != "0":
                con.execute("INSERT OR REPLACE INTO registry_meta (key, value) "
                            "SELECT ?, value FROM registry_meta WHERE key = 'revision'", (_RELOAD_AT,))
            con.execute("UPDATE registry_meta SET value = '0' WHERE key = ?", (_UNLOGGED,))
            con.execute("COMMIT")
            self._own_revision = _revision(con, self.path)
            if con.total_changes - written > _SHRINK_AFTER:
                con.execute("PRAGMA shrink_memory")  # a kept connection keeps no large batch's pages
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except sqlite3.Error:
                self._local.writer = None
                con.close()
            raise

    @contextmanager
    def _writing(self, author: Author) -> Iterator[_Writer]:
        """A write transaction whose temporary triggers log each row changed, in the author's name. One that
        writes no row (an edit to what is stored already) is rolled back: the revision stays, as on PostGIS, and
        no worker refreshes for it."""
        try:
            with self._transaction() as con:
                con.execute("INSERT INTO write_context VALUES (?, ?, ?, ?, ?)",
                            (utc_text(author.at or change_stamp()), author.name, author.department,
                             int(author.conditional), author.reason))
                # no other program changed rows (and extents) since the registry's last write
                exact = dict(con.execute("SELECT key, value FROM registry_meta WHERE key = ?", (_UNLOGGED,))) \
                    .get(_UNLOGGED) == "0"
                logged = con.execute("SELECT max(change_id) FROM changes").fetchone()[0] or 0
                writer = _Writer(con)
                yield writer
                if not writer.touched:
                    raise _NothingWritten
                # Counts grow by the rows written, where counting a whole table costs an edit milliseconds: the
                # log's always (it is only appended to), the projects' when no other program changed rows.
                grown = {"changes": con.execute("SELECT count(*) FROM changes WHERE change_id > ?",
                                                (logged,)).fetchone()[0], **(writer.added if exact else {})}
                _refresh_contents(con, writer.touched | {"changes"}, writer.boxes if exact else None, grown)
                con.execute("DELETE FROM write_context")  # the connection's other writes log nothing
        except _NothingWritten:
            pass

    def _replace_reference(self, layer: str, frame: gpd.GeoDataFrame) -> None:
        with self._transaction(logged=False) as con:  # reference layers are not in the change log
            con.execute(f'DELETE FROM "{layer}"')
            _insert_features(con, layer, frame)
            _refresh_contents(con, {layer})

    def set_meta(self, values: dict[str, str]) -> None:
        """Set registry_meta entries (data date, notice) in one transaction."""
        with self._transaction() as con:
            con.executemany("INSERT OR REPLACE INTO registry_meta (key, value) VALUES (?, ?)",
                            list(values.items()))

    # -- accounts --------------------------------------------------------------------------
    def users(self) -> pd.DataFrame:
        try:
            rows = self._reader().execute(f"SELECT {', '.join(USER_COLUMNS)} FROM users ORDER BY name").fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(_unreadable(self.path, exc)) from None
        frame = pd.DataFrame(rows, columns=list(USER_COLUMNS), dtype=object)  # missing stays None
        frame["disabled"] = frame["disabled"].astype(bool)
        return frame

    def save_user(self, row: dict) -> None:
        values = [row.get(c) for c in USER_COLUMNS]
        values[USER_COLUMNS.index("disabled")] = int(bool(row.get("disabled")))
        with self._transaction() as con:
            con.execute(f"INSERT OR REPLACE INTO users ({', '.join(USER_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(USER_COLUMNS))})", values)


class _Writer(Writer):
    """The GeoPackage's open write transaction (see ``Writer``)."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con
        self.touched: set[str] = set()
        self.added = {"projects": 0}  # rows of the projects table added, less those deleted
        self._loaded: tuple[list[str], dict[str, gpd.GeoDataFrame]] | None = None  # the last load's ids, features
        self.boxes = _Boxes()

    def _ids(self, project_ids: Sequence[str]) -> None:
        self.con.execute("CREATE TEMP TABLE IF NOT EXISTS batch_ids (project_id TEXT PRIMARY KEY)")
        self.con.execute("DELETE FROM batch_ids")
        self.con.executemany("INSERT OR IGNORE INTO batch_ids VALUES (?)", [(str(i),) for i in project_ids])

    def load(self, project_ids: Sequence[str]) -> Records:
        """(See ``Writer.load``.) The features of the same projects loaded again when no feature was written since
        (an edit of attributes, read back after it) are those loaded before: not read and built again."""
        ids = [str(i) for i in project_ids]
        projects = _read_projects(self.con, ids)
        if self._loaded is not None and self._loaded[0] == ids and self.touched <= {"projects"}:
            return Records(projects, dict(self._loaded[1]))
        self._ids(ids)
        selects = " UNION ALL ".join(
            f"SELECT '{layer.name}', fid, project_id, name, version, {_WKB} FROM \"{layer.name}\" "
            "WHERE project_id IN (SELECT project_id FROM batch_ids)" for layer in model.PROJECT_LAYERS)
        features = edits.layer_rows(self.con.execute(f"{selects} ORDER BY 1, 2").fetchall())
        self._loaded = (ids, features)
        return Records(projects, dict(features))

    def categories(self, project_ids: Sequence[str]) -> dict[str, str]:
        self._ids(project_ids)
        return dict(self.con.execute("SELECT project_id, category FROM projects "
                                     "WHERE project_id IN (SELECT project_id FROM batch_ids)"))

    def apply(self, changes: Plan) -> None:
        con = self.con
        if changes.delete_projects:
            self._ids(changes.delete_projects)
            deleted = con.execute("DELETE FROM projects WHERE project_id IN (SELECT project_id FROM batch_ids)")
            self.added["projects"] -= deleted.rowcount
            self.touched.add("projects")
        if len(changes.insert_projects):
            _insert_rows(con, "projects", changes.insert_projects[list(model.PROJECT_COLUMNS)])
            self.added["projects"] += len(changes.insert_projects)
            self.touched.add("projects")
        if len(changes.update_projects):
            columns = list(model.PROJECT_COLUMNS[1:])
            assignments = ", ".join(f'"{c}" = ?' for c in columns)
            rows = sql_rows(changes.update_projects[[*columns, "project_id"]])
            con.executemany(f'UPDATE projects SET {assignments}, version = version + 1 WHERE project_id = ?', rows)
            self.touched.add("projects")
        for layer, fids in changes.delete_features.items():
            if fids:
                self.boxes.gone(con, layer, fids)
                _delete_features(con, layer, fids)
                self.touched.add(layer)
        for layer, frame in changes.update_features.items():
            if len(frame):
                self.boxes.gone(con, layer, frame.index.tolist())
                blobs = gpkgblob.encode(frame.geometry.values, model.STORAGE_EPSG)
                con.executemany(f'UPDATE "{layer}" SET project_id = ?, name = ?, geom = ?, version = version + 1 '
                                'WHERE fid = ?', zip(sql_values(frame["project_id"]), sql_values(frame["name"]),
                                                     blobs, frame.index.tolist()))
                self.boxes.written(con, layer, frame.index.tolist())
                self.touched.add(layer)
        for layer, frame in changes.insert_features.items():
            if len(frame):
                self.boxes.written(con, layer, _insert_features(con, layer, frame).tolist())
                self.touched.add(layer)


class _Boxes:
    """The R-tree boxes of the features a write changes, per layer: of the rows it replaces or deletes (read before)
    and of those it writes (read after), so that the layer's extent in gpkg_contents is widened by them instead of
    read from the whole R-tree (40 ms on 100k features, per edit). Past ``_BOXES_READ`` rows a layer is scanned."""

    def __init__(self) -> None:
        self.old: dict[str, list[tuple]] = {}
        self.new: dict[str, list[tuple]] = {}
        self.scan: set[str] = set()

    def gone(self, con: sqlite3.Connection, layer: str, fids: Sequence[int]) -> None:
        self._read(con, layer, fids, self.old)

    def written(self, con: sqlite3.Connection, layer: str, fids: Sequence[int]) -> None:
        self._read(con, layer, fids, self.new)

    def _read(self, con: sqlite3.Connection, layer: str, fids: Sequence[int], into: dict[str, list[tuple]]) -> None:
        if layer in self.scan or len(fids) + len(self.old.get(layer, ())) + len(self.new.get(layer, ())) > _BOXES_READ:
            self.scan.add(layer)
            return
        rtree = f"rtree_{layer}_{GEOMETRY_COLUMN}"
        found = into.setdefault(layer, [])
        for fid in fids:  # by id, one at a time: an R-tree answers id = ? from its rowid, not id IN (...)
            found += con.execute(f'SELECT minx, miny, maxx, maxy FROM "{rtree}" WHERE id = ?', (int(fid),)).fetchall()

    def extent(self, con: sqlite3.Connection, layer: str) -> tuple | None:
        """The layer's extent after the write, from the one gpkg_contents holds and the boxes, or None when the
        R-tree must be read: the held extent is unknown, or a box replaced or deleted reached its edge."""
        if layer in self.scan:
            return None
        held = con.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
                           (layer,)).fetchone()
        if held is None or None in held:
            return None
        for minx, miny, maxx, maxy in self.old.get(layer, ()):
            if minx <= held[0] or miny <= held[1] or maxx >= held[2] or maxy >= held[3]:
                return None
        boxes = [held, *self.new.get(layer, ())]
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _unreadable(path: Path, exc: Exception) -> str:
    """The message of a file that cannot be read now (locked past the timeout, or the disk failed)."""
    return gettext("%(path)s: cannot be read now (%(error)s); try again", path=path, error=exc)


def _revision(con: sqlite3.Connection, path: Path) -> str:
    """The revision the registry's own writes count, with the file's mtime and size for edits by others
    (GDAL, QGIS) that do not count it. Read inside a read transaction, it names that transaction's state."""
    counted = con.execute("SELECT value FROM registry_meta WHERE key = 'revision'").fetchone()
    stat = os.stat(path)
    return f"{counted[0] if counted else 0}-{stat.st_mtime_ns}-{stat.st_size}-{stat.st_ino}"


def _load_state(path: Path) -> State:
    """Every table of the registry read in one committed state, in one read transaction; in a large registry the
    project layers are read column by column by GDAL in a child process (``columnar``) meanwhile, and kept if that
    transaction finds the revision the projects were read at (else they are read again in it).

    The collector is paused meanwhile (the rows read are millions of new objects: it would walk them again and
    again), and what is loaded is then frozen out of its walks for good (a query need not pay for them).
    """
    con = _connect(path)
    collecting = gc.isenabled()
    gc.disable()
    try:
        early = _read_columnar(con, path) if _feature_rows(con) >= _COLUMNAR_ROWS else None
        con.execute("BEGIN")
        revision = _revision(con, path)  # the SELECT takes SQLite's shared lock: no commit until COMMIT
        modified = datetime.fromtimestamp(os.stat(path).st_mtime, tz=UTC)
        meta = dict(con.execute("SELECT key, value FROM registry_meta"))
        if early is not None and early[0] == revision:
            projects, layers = early[1:]
            texts: dict[str, str] = {}  # what is left to read, the reference layers, holds no project ids
        else:  # small, or a commit came while the child read: all here
            projects, layers = _read_projects(con), {}
            texts = _shared_ids(projects)
        layers = {layer.name: layers[layer.name] if layer.name in layers else _held(_read_layer(con, layer, texts))
                  for layer in model.LAYERS}
        infos = _layer_infos(con, {name: extent for name, (_, extent) in layers.items()})
        last_change = con.execute("SELECT coalesce(max(change_id), 0) FROM changes").fetchone()[0]
        con.execute("COMMIT")
    except sqlite3.OperationalError as exc:  # locked past the timeout, or the disk failed: a fault, not the request's
        raise StoreUnavailable(_unreadable(path, exc)) from None
    finally:
        con.close()
        if collecting:
            gc.enable()
    gc.freeze()
    return State(revision, modified, meta, infos, projects, {name: frames for name, (frames, _) in layers.items()},
                 last_change=last_change)


def _held(frame: gpd.GeoDataFrame) -> tuple[LayerFrames, tuple[float, float, float, float] | None]:
    """A layer read whole, as a state holds it (with its spatial index), and its extent: made as soon as the layer
    is read, which in a large registry is while GDAL reads the next one."""
    return LayerFrames(frame), layer_extent(np.asarray(frame.geometry.array)) if len(frame) else None


# From this many features in the project layers a whole load has GDAL read them in a child process: the child
# needs about 0.3 s to start, and then reads a million features in one, where rows through sqlite3 take four.
_COLUMNAR_ROWS = 400_000


def _feature_rows(con: sqlite3.Connection) -> int:
    """The features of the project layers, as the GeoPackage counts them (0 if it does not)."""
    names = [layer.name for layer in model.PROJECT_LAYERS]
    counted = con.execute("SELECT sum(feature_count) FROM gpkg_ogr_contents WHERE table_name IN "
                          f"({', '.join('?' * len(names))})", names).fetchone()[0]
    return int(counted or 0)


def _shared_ids(projects: pd.DataFrame) -> dict[str, str]:
    """The projects' ids as the texts a state's layers share: a feature's project_id is its project's own string
    (look-ups compare identity first)."""
    ids = projects["project_id"].tolist()
    return dict(zip(ids, ids))


def _read_columnar(con: sqlite3.Connection, path: Path
                   ) -> tuple[str, pd.DataFrame, dict[str, tuple[LayerFrames, tuple | None]]] | None:
    """The projects and the project layers read by GDAL in a child process, with the revision before the read: the
    caller keeps them only if it finds the same one after. None if the child failed (the caller reads the rows
    itself, and says why if the file cannot be read)."""
    revision = _revision(con, path)
    columns = [*model.PROJECT_COLUMNS, VERSION]
    texts: dict[str, str] = {}  # the projects' ids, once read
    layers = {}
    try:
        with columnar.Tables(path, ["projects", *(layer.name for layer in model.PROJECT_LAYERS)]) as tables:
            for name, table in tables:
                if name != "projects":
                    layers[name] = _held(_columns_frame(table, model.LAYER_BY_NAME[name], texts))
                    continue
                # in project_id order, as a state keeps them: Arrow sorts the ids' bytes several times faster than
                # pandas sorts their objects (a registry's later projects come after its first ones by fid, not id)
                order = pc.sort_indices(table.column("project_id")).to_numpy()
                projects = _by_id(typed_columns([columnar.column_values(table.column(column), order=order)
                                                 for column in columns], columns))
                texts = _shared_ids(projects)
    except columnar.ChildFailed as exc:
        logging.getLogger(__name__).warning("%s: GDAL could not read the layers (%s); reading rows instead", path, exc)
        return None
    return revision, projects, layers


def _columns_frame(table: pa.Table, layer: model.Layer, texts: dict[str, str]) -> gpd.GeoDataFrame:
    """A project layer read by GDAL as Arrow columns, as ``_read_layer`` gives it."""
    fids = table.column("fid").to_numpy()
    if not (fids[1:] > fids[:-1]).all():  # GDAL reads a table in its fids' order, as _read_layer does; if not:
        order = np.argsort(fids, kind="stable")
        table, fids = table.take(order), fids[order]
    # a feature's project_id is its project's own string (compared by identity); other equal texts are one
    # object within the layer
    data = {name: columnar.text_objects(table.column(name), texts if name == "project_id" else None)
            for name in (*(name for name, _ in layer.columns), VERSION)}
    geometry = shapely.from_wkb(table.column("geom").to_numpy(zero_copy_only=False))
    return _layer_frame(fids, data, geometry)


def _counted(revision: str) -> tuple[int | None, str]:
    """The write counter and the file's inode a revision names (``_revision``)."""
    parts = revision.split("-")
    return (int(parts[0]) if parts[0].isdigit() else None), parts[-1]


def _read_projects(con: sqlite3.Connection, project_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The projects table's rows (all, or those ids: passed as one JSON array, so any number fits) by project_id,
    typed as every reader gets them."""
    columns = ", ".join(f'"{c}"' for c in (*model.PROJECT_COLUMNS, VERSION))
    where, params = ("", ()) if project_ids is None else \
        ('WHERE "project_id" IN (SELECT value FROM json_each(?))', (json.dumps(list(project_ids)),))
    # Read in the table's own order and sorted here: SQLite would visit the rows in the order of the project_id
    # index, one seek each (three times the read on 100,000 projects).
    return _by_id(typed_rows(con.execute(f'SELECT {columns} FROM "projects" {where}', params).fetchall(),
                             [*model.PROJECT_COLUMNS, VERSION]))


def _by_id(projects: pd.DataFrame) -> pd.DataFrame:
    """The projects table typed (``typed_rows``) as every reader gets it: its version an integer, by project_id."""
    projects[VERSION] = projects[VERSION].astype(np.int64)  # integers, as pandas reads a column of them
    if projects["project_id"].is_monotonic_increasing:  # as written by the registry, usually
        return projects
    return projects.sort_values("project_id", kind="stable", ignore_index=True)


def _objects(values: Sequence[object]) -> np.ndarray:
    """Values as a one-dimensional object array (``np.array`` would make a 2-D one of equal-length tuples)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


# The length of a GeoPackage blob's header: 8 bytes, then an envelope of 0, 32, 48, 48 or 64 bytes as
# the flags byte's bits 1-3 say (GeoPackage 1.3, §2.1.3.1.1); SQL cuts it off so shapely reads plain WKB.
_ENVELOPE = "(instr('0123456789ABCDEF', substr(hex(substr(geom, 4, 1)), 2, 1)) - 1) / 2"
_WKB = f"substr(geom, 9 + CASE {_ENVELOPE} WHEN 1 THEN 32 WHEN 2 THEN 48 WHEN 3 THEN 48 WHEN 4 THEN 64 ELSE 0 END)"


def _read_layer(con: sqlite3.Connection, layer: model.Layer, texts: dict[str, str]) -> gpd.GeoDataFrame:
    """A layer as a GeoDataFrame indexed by fid.

    Equal text values are one string object, ``texts``'s (shared by the layers of a state): names repeat
    across features, and a million copies of them cost memory and cache misses in every take.
    """
    rows = _read_rows(con, layer, texts)
    return _layer_frame(rows.values("fid"), {name: values for name, values in rows.arrays.items()
                                             if name != "geometry"}, rows.values("geometry"))


def _read_rows(con: sqlite3.Connection, layer: model.Layer, texts: dict[str, str],
               fids: np.ndarray | None = None) -> Rows:
    """A layer's rows (or those of its features ``fids``) in fid order, as arrays (``_read_layer``'s columns)."""
    columns_read = (*layer.columns, (VERSION, "INTEGER")) if layer.kind == "project" else layer.columns
    names = [name for name, _ in columns_read]
    selected = ", ".join(f'"{n}"' for n in names)
    where = "" if fids is None else f"WHERE fid IN ({', '.join(str(int(f)) for f in fids)})"
    rows = con.execute(f'SELECT fid, {selected}, {_WKB} FROM "{layer.name}" {where} ORDER BY fid').fetchall()
    columns = list(zip(*rows)) if rows else [()] * (len(names) + 2)
    del rows
    data = {}
    for (name, kind), values in zip(columns_read, columns[1:-1]):
        if kind == "DATE":
            data[name] = iso_dates(pd.Series(_objects(values))).to_numpy(dtype=object)
        else:
            data[name] = _objects([texts.setdefault(v, v) if isinstance(v, str) else v for v in values])
    data["geometry"] = gpd.array.GeometryArray(shapely.from_wkb(_objects(columns[-1])), crs=STORAGE_PYPROJ)
    return Rows(pd.Index(np.fromiter(columns[0], dtype=np.int64, count=len(columns[0])), name="fid"), data)


def _layer_frame(fids: np.ndarray, data: dict[str, np.ndarray], geometry: np.ndarray) -> gpd.GeoDataFrame:
    """A layer's columns as the GeoDataFrame a state holds: object columns, indexed by fid (its spatial index is
    the state's: ``LayerFrames``)."""
    index = pd.Index(fids, name="fid")
    frame = pd.DataFrame(data, index=index, columns=pd.Index(list(data), dtype=object), dtype=object)
    frame["geometry"] = gpd.array.GeometryArray(geometry, crs=STORAGE_PYPROJ)
    frame = gpd.GeoDataFrame(frame, geometry="geometry", copy=False)
    # Build a lazily made structure now, once, rather than racing for it in several threads later: pandas builds an
    # index's hash table on its first look-up.
    index.get_indexer(index[:1])
    return frame


def _layer_infos(con: sqlite3.Connection, loaded: dict[str, tuple | None]) -> list[LayerInfo]:
    """Every layer's count, extent and CRS, as the GeoPackage's tables record them; a layer ``loaded`` has its
    extent from its geometries, as its R*Tree holds them (cheaper than a scan of the tree)."""
    rows = con.execute(
        "SELECT c.table_name, c.data_type, g.geometry_type_name, g.srs_id, o.feature_count "
        "FROM gpkg_contents c LEFT JOIN gpkg_geometry_columns g USING (table_name) "
        "LEFT JOIN gpkg_ogr_contents o USING (table_name)").fetchall()
    infos = {}
    for name, data_type, gtype, srs, count in rows:
        if name in ("registry_meta", "changes"):  # bookkeeping, not layers of the registry
            continue
        if count is None:
            count = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        extent = None
        if name in loaded:
            extent = loaded[name] if count else None
        elif data_type == "features" and count:
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
    order = ["projects", *model.LAYER_BY_NAME]
    return sorted(infos.values(), key=lambda i: order.index(i.name) if i.name in order else 99)


def _connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None, timeout=10)
    con.execute("PRAGMA cache_size = -131072")  # 128 MiB: a large batch's pages stay in memory until commit
    gpkgblob.register_functions(con)
    return con


def _write_connection(path: Path) -> sqlite3.Connection:
    """A connection for the registry's writes: the change log's temporary triggers and the one-row table that
    tells them who writes (filled for each write by ``_writing``)."""
    con = _connect(path)
    con.execute("CREATE TEMP TABLE write_context (at TEXT, who TEXT, department TEXT, conditional BOOLEAN, "
                "reason TEXT)")
    for statement in changelog.sqlite_log_triggers():
        con.execute(statement)
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
    values = {"schema_version": str(schema.BASE_SCHEMA_VERSION), "revision": "0",
              "notice": model.ILLUSTRATIVE_NOTICE, **meta}
    con.executemany("INSERT INTO registry_meta (key, value) VALUES (?, ?)", list(values.items()))


class _NothingWritten(Exception):  # noqa: N818 - not an error: how a write of no rows rolls back
    """A write transaction wrote no row."""


def _bump_revision(con: sqlite3.Connection) -> None:
    con.execute("UPDATE registry_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")


def _delete_features(con: sqlite3.Connection, layer: str, fids: Sequence[int]) -> None:
    """Delete features by fid; when that is most of the layer, R-tree in bulk.

    SQLite takes an entry out of an R*Tree in about 10 µs; when at least half the layer goes, the
    tree is rebuilt from the entries that stay instead (GDAL's delete triggers set aside meanwhile).
    """
    con.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (fid INTEGER PRIMARY KEY)")
    con.execute("DELETE FROM doomed")
    con.executemany("INSERT OR IGNORE INTO doomed VALUES (?)", [(int(f),) for f in fids])
    where = "fid IN (SELECT fid FROM doomed)"
    doomed = np.asarray(fids, dtype=np.int64)
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


def _insert_features(con: sqlite3.Connection, layer: str, frame: gpd.GeoDataFrame) -> np.ndarray:
    """Insert features with new fids (version 1), and their R-tree entries in bulk.

    GDAL's R-tree insert trigger would call the Python ST_ functions four times per row, and its
    feature-count trigger would update gpkg_ogr_contents per row; inside the transaction both are set
    aside, the envelopes go in through ``_index``, the count is set by ``_refresh_contents``, and the
    triggers are put back unchanged (a rollback restores them too). A batch at least as large as the
    layer already is also sets the project_id index aside and builds it again afterwards: sorting once
    is cheaper than adding row by row.
    """
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
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
    return fids


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


def _refresh_contents(con: sqlite3.Connection, tables: set[str], boxes: _Boxes | None = None,
                      grown: dict[str, int] | None = None) -> None:
    """Keep gpkg_contents (extent, last_change) and GDAL's feature counts true after a write; a layer's extent
    from the write's ``boxes`` when they tell it, else from its whole R-tree; a table's count from how many rows
    it ``grown`` by when given (and a count is held), else counted."""
    now = change_stamp()
    for table in sorted(tables):
        if grown is not None and table in grown:
            con.execute(f'UPDATE gpkg_ogr_contents SET feature_count = CASE WHEN feature_count IS NULL THEN (SELECT '
                        f'count(*) FROM "{table}") ELSE feature_count + ? END WHERE table_name = ?',
                        (grown[table], table))
        else:
            con.execute("UPDATE gpkg_ogr_contents SET feature_count = (SELECT count(*) FROM "
                        f'"{table}") WHERE table_name = ?', (table,))
        if table in model.LAYER_BY_NAME:
            extent = (boxes and boxes.extent(con, table)) or con.execute(
                f'SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "rtree_{table}_geom"').fetchone()
            con.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ?, "
                        "last_change = ? WHERE table_name = ?", (*extent, now, table))
        else:
            con.execute("UPDATE gpkg_contents SET last_change = ? WHERE table_name = ?", (now, table))


