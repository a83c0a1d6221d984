"""The PostGIS store: the registry in a PostgreSQL database, for many users and more than one machine.

The same tables as the GeoPackage (every layer, ``projects``, ``registry_meta``), in the schema the
connection's search_path names first, geometry typed in EPSG:4490 with GiST indexes. Questions are
answered in SQL (envelopes, project ids, the candidates of a street office, whose boundary rule
``registry.spatial.membership`` then settles), and each write is one transaction that validates
first, holds a lock that queues other writers (readers are not blocked) and copies rows in bulk.
Triggers move the revision on whoever changes a table, so caches see edits made in QGIS too.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from geopandas.array import GeometryArray
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from .. import model, spatial
from ..crs import STORAGE_PYPROJ
from ..errors import StoreError, StoreUnavailable
from ..i18n import gettext
from ..spatial import StreetArea
from . import edits, schema
from .base import (
    USER_COLUMNS,
    BBox,
    Changes,
    FeatureColumns,
    LayerInfo,
    Near,
    Rows,
    Snapshot,
    Store,
    Writer,
    change_stamp,
    check_schema_version,
    layer_spec,
    per_revision,
)
from .changelog import LOGGED_TABLES
from .edits import VERSION, Author, Plan, Records
from .frames import Patched, project_columns, project_table, with_projects
from .history import LOG_COLUMNS, entries, log_filter
from .rows import iso_dates, project_column_sql, sql_values, typed_rows

_LAYER_TYPES = {"TEXT": "text", "DATE": "date", "INTEGER": "bigint", "REAL": "double precision"}
_PROJECT_TYPES = {"text": "text", "integer": "bigint", "real": "double precision", "date": "date", "bool": "boolean"}
_CHANNEL = "registry_changed"  # what the tables' notify trigger sends, the schema as payload (migration 0005)
_LISTEN_RETRY_S = 1.0  # how long a worker's commit watch waits before listening again after a lost connection
_LOCK_TIMEOUT = "10s"  # how long a write waits for another to finish before saying so
_POOL_SIZE = 8  # connections a process keeps (gunicorn's threads of one worker share them)
_POOL_TIMEOUT_S = 10


def _redacted(url: str) -> str:
    """The URL without its password, for messages and ``registry info``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _select(column: str, kind: str) -> str:
    """A column as the store returns it: dates as ISO text (as the GeoPackage keeps them)."""
    return f"to_char(\"{column}\", 'YYYY-MM-DD')" if kind in ("DATE", "date") else f'"{column}"'


class PostGISStore(Store):
    """A registry kept in a PostGIS database (``postgresql://user@host:port/db``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.location = _redacted(url)  # the check's messages name it
        self.schema = self._check()
        self.location += f" (schema {self.schema})"
        self._writers: set[int] = set()  # the server processes (backend pids) this object's writes ran on
        self._pools: dict[int, ConnectionPool] = {}
        self._cache: dict[str, tuple[str, pd.DataFrame]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction: committed when the block ends, rolled back if it raises.

        The pool is made on first use in each process, so every forked server worker has its own. It checks
        a connection before handing it out (one lost while the server was down is replaced, not handed out)
        and stops retrying in the background after the wait a request has, so that the first request after
        the server returns grows the pool afresh instead of waiting out a long backoff.
        """
        with self._lock:
            pool = self._pools.get(os.getpid())
            if pool is None:
                pool = self._pools[os.getpid()] = ConnectionPool(
                    self.url, min_size=1, max_size=_POOL_SIZE, timeout=_POOL_TIMEOUT_S, open=True,
                    check=ConnectionPool.check_connection, reconnect_timeout=_POOL_TIMEOUT_S,
                    kwargs={"connect_timeout": _POOL_TIMEOUT_S}, name=self.location)
                weakref.finalize(self, pool.close)  # when the store goes, or at exit
        try:
            with pool.connection() as con, _refusals(self.url):
                yield con
        except PoolTimeout:
            raise StoreUnavailable(gettext("%(store)s: no connection to PostgreSQL within %(seconds)s s (is the "
                                           "server up, or all connections busy?)", store=self.location,
                                           seconds=_POOL_TIMEOUT_S)) from None

    def release(self) -> None:
        with self._lock:
            pool = self._pools.pop(os.getpid(), None)
        if pool is not None:
            pool.close()

    # -- creation ----------------------------------------------------------------------------
    @classmethod
    def create(cls, url: str, *, meta: dict[str, str] | None = None, overwrite: bool = False) -> PostGISStore:
        """Create the registry's tables in the connection's current schema (replacing them if ``overwrite``).

        Only that schema is looked at and changed: a registry in another schema of the search_path stays.
        """
        with _connection(url) as con:
            if con.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone() is None:
                try:
                    con.execute("CREATE EXTENSION postgis")
                except psycopg.Error:
                    raise StoreError(gettext("%(store)s: PostGIS is not installed in this database; a superuser "
                                             "must run CREATE EXTENSION postgis", store=_redacted(url))) from None
            schema_name = _current_schema(con, _redacted(url))
            present = _tables_in(con, schema_name, ["registry_meta", "projects", *model.LAYER_BY_NAME])
            if present and not overwrite:
                raise StoreError(gettext("%(store)s: schema %(schema)s holds a registry already; use --force to "
                                         "replace it", store=_redacted(url), schema=schema_name))
            replaced = _replaced_revision(con) if "registry_meta" in present else None
            kept = ["changes", "revisions", "users", "registry_migrations"]
            for name in [*present, *_tables_in(con, schema_name, kept)]:
                con.execute(sql.SQL("DROP TABLE {}.{} CASCADE").format(sql.Identifier(schema_name),
                                                                       sql.Identifier(name)))
            _create_tables(con, meta or {}, first_revision=replaced + 1 if replaced is not None else 0)
            con.commit()  # SQLAlchemy rolls back a connection it first meets; a failed upgrade can be run again
            _upgrade(con)
        return cls(url)

    @classmethod
    def upgrade(cls, url: str) -> list[str]:
        """Run the schema migrations the registry has not run, in one transaction; the revisions run."""
        with _connection(url) as con:
            schema_name = _current_schema(con, _redacted(url))
            _check_meta(con, schema_name, _redacted(url), upgrading=True)
            return _upgrade(con)

    def _check(self) -> str:
        """Refuse a database whose current schema holds no registry (or a newer one); return that schema's name.

        Only the current schema counts: a registry further along the search_path is not this store's.
        """
        with _connection(self.url) as con:
            schema_name = _current_schema(con, self.location)
            _check_meta(con, schema_name, self.location)
        return schema_name

    # -- reads -------------------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[PostGISSnapshot]:
        """A pooled connection in a read-only REPEATABLE READ transaction: every read of the block sees
        the one committed state its first statement saw."""
        with self._connect() as con:
            con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield PostGISSnapshot(self, con)

    def _cached_projects(self, view: PostGISSnapshot) -> Patched:
        """The projects table of the view's revision, made once per revision (any writer's commit moves it on):
        from the one made before and the rows of the projects written since, when the log names them."""
        revision = view.revision()
        with self._lock:
            hit = self._cache.get("projects")
        if hit is not None and hit[0] == revision:
            return hit[1]
        changes = view.changes_since(hit[0]) if hit is not None else None
        if changes is None:
            frame = Patched.of(view._load_projects())
        else:
            ids = sorted(changes.projects)
            frame = with_projects(hit[1], ids, view._load_projects(ids))
        with self._lock:
            self._cache["projects"] = (revision, frame)
        return frame

    def commit_watch(self) -> Callable[[], bool]:
        """Whether another writer committed: the tables' ``NOTIFY registry_changed`` (migration 0005), read without
        waiting from a listening connection of the caller's own; a new connection (the first, or one after the
        server was lost, tried again once a second) counts as a change, since notifications may have been missed.
        This object's own writes are not reported (its worker brings them forward at its next read, not while it
        answers the write). Polled by a server worker's follower."""
        listening: list[psycopg.Connection] = []
        retry_at = [0.0]  # after a lost connection: not before then (a poll every 2 ms must not storm the server)

        def committed() -> bool:
            try:
                if not listening:
                    if time.monotonic() < retry_at[0]:
                        return False
                    con = psycopg.connect(self.url, autocommit=True, connect_timeout=_POOL_TIMEOUT_S)
                    con.execute(f"LISTEN {_CHANNEL}")
                    listening.append(con)
                    return True
                told = list(listening[0].notifies(timeout=0))
                return any(n.payload == self.schema and n.pid not in self._writers for n in told)
            except psycopg.Error:  # lost: the next read says what is wrong
                for con in listening:
                    con.close()
                listening.clear()
                retry_at[0] = time.monotonic() + _LISTEN_RETRY_S
                return False

        committed()
        return committed

    # -- writes ------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """A write: other writers wait for it (readers do not). The tables' triggers move the revision on."""
        with self._connect() as con:
            con.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
            try:
                con.execute('LOCK TABLE "registry_meta" IN SHARE ROW EXCLUSIVE MODE')
            except psycopg.errors.LockNotAvailable:
                raise StoreUnavailable(gettext("%(store)s: busy, another edit is being written; try again",
                                               store=self.location)) from None
            self._writers.add(con.info.backend_pid)
            yield con

    @contextmanager
    def _writing(self, author: Author) -> Iterator[_Writer]:
        """A write transaction whose row triggers log each change in the author's name (settings local to it)."""
        with self._transaction() as con:
            settings = {"registry.who": author.name, "registry.department": author.department or "",
                        "registry.conditional": "on" if author.conditional else "off",
                        "registry.reason": author.reason or "", "registry.at": author.at or ""}
            for key, value in settings.items():
                con.execute("SELECT set_config(%s, %s, true)", (key, value))
            yield _Writer(con)

    def _replace_reference(self, layer: str, frame: gpd.GeoDataFrame) -> None:
        with self._transaction() as con:
            con.execute(f'DELETE FROM "{layer}"')
            _copy_features(con, layer, frame)

    def set_meta(self, values: dict[str, str]) -> None:
        """Set registry_meta entries (data date, notice) in one transaction."""
        with self._transaction() as con:
            for key, value in values.items():
                con.execute("INSERT INTO registry_meta (key, value) VALUES (%s, %s) "
                            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (key, value))

    # -- accounts ----------------------------------------------------------------------------
    def users(self) -> pd.DataFrame:
        with self._connect() as con:
            rows = con.execute(f"SELECT {', '.join(USER_COLUMNS)} FROM users ORDER BY name").fetchall()
        frame = pd.DataFrame(rows, columns=list(USER_COLUMNS), dtype=object)  # missing stays None
        frame["disabled"] = frame["disabled"].astype(bool)
        return frame

    def save_user(self, row: dict) -> None:
        """Insert or replace an account; the users table has no revision trigger, so the revision moves here."""
        values = [row.get(c) for c in USER_COLUMNS]
        values[USER_COLUMNS.index("disabled")] = bool(row.get("disabled"))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in USER_COLUMNS[1:])
        with self._transaction() as con:
            con.execute(f"INSERT INTO users ({', '.join(USER_COLUMNS)}) VALUES ({', '.join(['%s'] * len(values))}) "
                        f"ON CONFLICT (name) DO UPDATE SET {updates}", values)
            con.execute("UPDATE registry_meta SET value = (value::bigint + 1)::text WHERE key = 'revision'")


class _Writer(Writer):
    """The PostGIS store's open write transaction (see ``Writer``); its triggers count versions and log."""

    def __init__(self, con: psycopg.Connection) -> None:
        self.con = con

    def load(self, project_ids: Sequence[str]) -> Records:
        ids = [str(i) for i in project_ids]
        columns = ", ".join(f'{_select(f.name, f.kind)} AS "{f.name}"' for f in model.PROJECT_FIELDS)
        rows = self.con.execute(f'SELECT {columns}, version FROM projects WHERE project_id = ANY(%s) '
                                'ORDER BY project_id FOR UPDATE', (ids,)).fetchall()
        projects = typed_rows(rows, [*model.PROJECT_COLUMNS, VERSION])
        projects[VERSION] = projects[VERSION].astype("int64")
        rows = []  # one statement per layer: PostgreSQL locks no rows of a UNION
        for layer in model.PROJECT_LAYERS:
            rows += self.con.execute(f'SELECT %s, fid, project_id, name, version, ST_AsBinary(geom) FROM '
                                     f'"{layer.name}" WHERE project_id = ANY(%s) ORDER BY fid FOR UPDATE',
                                     (layer.name, ids)).fetchall()
        return Records(projects, edits.layer_rows(rows))

    def categories(self, project_ids: Sequence[str]) -> dict[str, str]:
        rows = self.con.execute("SELECT project_id, category FROM projects WHERE project_id = ANY(%s)",
                                ([str(i) for i in project_ids],))
        return dict(rows.fetchall())

    def apply(self, changes: Plan) -> None:
        con = self.con
        if changes.delete_projects:
            con.execute("DELETE FROM projects WHERE project_id = ANY(%s)", (changes.delete_projects,))
        if len(changes.insert_projects):
            _copy(con, "projects", changes.insert_projects, {f.name: f.kind for f in model.PROJECT_FIELDS})
        if len(changes.update_projects):
            columns = list(model.PROJECT_COLUMNS[1:])
            assignments = ", ".join(f'"{c}" = %s' for c in columns)
            frame = changes.update_projects
            values = [sql_values(iso_dates(frame[c]) if model.FIELD_BY_NAME[c].kind == "date" else frame[c])
                      for c in columns]
            with con.cursor() as cur:
                cur.executemany(f"UPDATE projects SET {assignments} WHERE project_id = %s",
                                list(zip(*values, frame["project_id"].tolist())))
        for layer, fids in changes.delete_features.items():
            if fids:
                con.execute(f'DELETE FROM "{layer}" WHERE fid = ANY(%s)', (fids,))
        for layer, frame in changes.update_features.items():
            if len(frame):
                ewkb = shapely.to_wkb(shapely.set_srid(frame.geometry.values, model.STORAGE_EPSG), hex=True,
                                      include_srid=True)
                with con.cursor() as cur:
                    cur.executemany(f'UPDATE "{layer}" SET project_id = %s, name = %s, geom = %s WHERE fid = %s',
                                    list(zip(sql_values(frame["project_id"]), sql_values(frame["name"]),
                                             ewkb.tolist(), frame.index.tolist())))
        for layer, frame in changes.insert_features.items():
            if len(frame):
                _copy_features(con, layer, frame)


class PostGISSnapshot(Snapshot):
    """The registry as one transaction of a PostGIS store sees it (see ``PostGISStore.snapshot``)."""

    def __init__(self, store: PostGISStore, con: psycopg.Connection) -> None:
        self.location = store.location
        self._store = store
        self._con = con
        self._meta = dict(self._rows("SELECT key, value FROM registry_meta"))

    def _rows(self, statement: str, params: Sequence[object] = ()) -> list[tuple]:
        """A statement's rows; the database's errors become StoreUnavailable here, since a request's snapshot
        outlives the block that took it."""
        with _refusals(self._store.url):
            return self._con.execute(statement, params).fetchall()

    def meta(self) -> dict[str, str]:
        return dict(self._meta)

    def revision(self) -> str:
        return self._meta["revision"]

    def changes_since(self, revision: str) -> Changes | None:
        """What the revisions after ``revision`` changed, from the log entries of the transactions that made them
        (``revisions``); None if one of them is not a logged change of rows (a reference layer, a TRUNCATE, an
        account, a migration) or the revision is not an earlier one of this registry. Asked once per revision and
        earlier revision: every served layer and the projects table ask it after a write."""
        return per_revision(self, ("changes_since", revision), lambda: self._changes_since(revision))

    def _changes_since(self, revision: str) -> Changes | None:
        try:
            since, now = int(revision), int(self.revision())
        except ValueError:
            return None
        if since > now:
            return None
        made = self._rows("SELECT layer, operation, xid::text FROM revisions WHERE revision > %s AND revision <= %s",
                          (since, now))
        if len(made) != now - since or any(layer not in LOGGED_TABLES or operation == "TRUNCATE"
                                           for layer, operation, _ in made):
            return None
        rows = self._rows("SELECT DISTINCT layer, project_id, fid FROM changes WHERE xid = ANY(%s::xid8[])",
                          (sorted({xid for _, _, xid in made}),))
        fids: dict[str, set[int]] = {}
        for layer, _, fid in rows:
            if layer != "projects":
                fids.setdefault(layer, set()).add(int(fid))
        return Changes(frozenset(project for _, project, _ in rows if project is not None),
                       {layer: frozenset(found) for layer, found in fids.items()})

    def log(self, *, project_id: str | None = None, until: str | None = None, latest: bool = False,
            layer: str | None = None) -> pd.DataFrame:
        where, params = log_filter(project_id, until, "%s", "%s::timestamptz", layer)
        columns = ", ".join(LOG_COLUMNS)
        key = "layer, coalesce(fid::text, project_id)"
        if latest:
            statement = (f"SELECT DISTINCT ON ({key}) {columns}, ST_AsBinary(geom) FROM changes "
                         f"WHERE {where} ORDER BY {key}, at DESC, change_id DESC")
        else:
            statement = f"SELECT {columns} FROM changes WHERE {where} ORDER BY at, change_id"
        rows = self._rows(statement, params)
        frame = entries([row[:len(LOG_COLUMNS)] for row in rows])
        if latest:
            frame["wkb"] = [bytes(row[-1]) if row[-1] is not None else None for row in rows]
        return frame

    def last_modified(self) -> datetime:
        changed = self._meta.get("last_change")
        return datetime.fromisoformat(changed.replace("Z", "+00:00")) if changed else datetime.now(UTC)

    def layers(self) -> list[LayerInfo]:
        count = self._rows('SELECT count(*) FROM "projects"')[0][0]
        infos = [LayerInfo("projects", "attributes", None, count, None, None)]
        for spec in model.LAYERS:
            count, minx, miny, maxx, maxy = self._rows(
                f'SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) '
                f'FROM (SELECT count(*) AS n, ST_Extent(geom) AS e FROM "{spec.name}") s')[0]
            extent = (minx, miny, maxx, maxy) if count else None
            infos.append(LayerInfo(spec.name, spec.kind, spec.geometry_type, count, extent, model.STORAGE_EPSG))
        return infos

    def projects(self, project_ids: Sequence[str] | None = None) -> pd.DataFrame:
        return project_table(self._store._cached_projects(self), project_ids)

    def project_columns(self, project_ids: Sequence[str]) -> Rows:
        return project_columns(self._store._cached_projects(self), project_ids)

    def _load_projects(self, project_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """The projects table's rows (all, or those ids) by project_id."""
        columns = ", ".join(f'{_select(f.name, f.kind)} AS "{f.name}"' for f in model.PROJECT_FIELDS)
        where, params = ("", ()) if project_ids is None else ("WHERE project_id = ANY(%s)", (list(project_ids),))
        rows = self._rows(f'SELECT {columns}, version FROM "projects" {where} ORDER BY project_id', params)
        frame = typed_rows(rows, [*model.PROJECT_COLUMNS, VERSION])
        frame[VERSION] = frame[VERSION].astype("int64")
        return frame

    def features(self, layer: str, *, bbox: BBox | None = None, street: StreetArea | None = None,
                 project_ids: Sequence[str] | None = None, near: Near | None = None,
                 fids: Sequence[int] | None = None) -> gpd.GeoDataFrame:
        found = self._found(layer, bbox, street, project_ids, near, fids)
        frame = pd.DataFrame(found.values, index=pd.Index(found.fids, name="fid"), columns=list(found.values),
                             dtype=object)
        return gpd.GeoDataFrame(frame, geometry=GeometryArray(found.geometry, crs=STORAGE_PYPROJ), crs=STORAGE_PYPROJ)

    def feature_columns(self, layer: str, columns: Sequence[str], *, bbox: BBox | None = None,
                        street: StreetArea | None = None, project_ids: Sequence[str] | None = None,
                        near: Near | None = None, fids: Sequence[int] | None = None) -> FeatureColumns:
        found = self._found(layer, bbox, street, project_ids, near, fids)
        return FeatureColumns(found.fids, {name: found.values[name] for name in columns}, found.geometry)

    def _found(self, layer: str, bbox: BBox | None, street: StreetArea | None, project_ids: Sequence[str] | None,
               near: Near | None, fids: Sequence[int] | None) -> FeatureColumns:
        """The rows ``features`` answers with, as arrays (every column; a frame is made only when asked for)."""
        spec = layer_spec(layer)
        conditions, params = [], []
        if fids is not None:
            conditions.append("fid = ANY(%s)")
            params.append([int(f) for f in fids])
        if bbox is not None:
            conditions.append(f"geom && ST_MakeEnvelope(%s, %s, %s, %s, {model.STORAGE_EPSG})")
            params.extend(float(v) for v in bbox)
        if near is not None:  # in degrees, on the spatial index; rounded up, as a prefilter must not miss one
            conditions.append(f"ST_DWithin(geom, ST_GeomFromWKB(%s, {model.STORAGE_EPSG}), %s)")
            params.extend([shapely.to_wkb(near[0]), float(near[1]) * (1 + 1e-6)])
        if project_ids is not None and spec.kind == "project":
            conditions.append("project_id = ANY(%s)")
            params.append(list(project_ids))
        if street is not None:  # candidates in SQL; the boundary rule (which street a shared point is in) here
            conditions.append(f"ST_Intersects(geom, ST_GeomFromWKB(%s, {model.STORAGE_EPSG}))")
            params.append(shapely.to_wkb(street.boundary))
        stored = (*spec.columns, (VERSION, "INTEGER")) if spec.kind == "project" else spec.columns
        columns = ", ".join(f'{_select(name, kind)} AS "{name}"' for name, kind in stored)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._rows(f'SELECT fid, {columns}, ST_AsBinary(geom) FROM "{spec.name}" {where} ORDER BY fid', params)
        table = np.empty((len(rows), len(stored) + 2), dtype=object)
        if rows:
            table[:] = rows
        found = FeatureColumns(table[:, 0].astype(np.int64), {name: table[:, i + 1].copy()
                                                              for i, (name, _) in enumerate(stored)},
                               shapely.from_wkb(table[:, -1]) if rows else np.empty(0, dtype=object))
        if street is None:
            return found
        inside = spatial.membership(found.geometry, street.boundary, list(street.before))
        return FeatureColumns(found.fids[inside], {name: values[inside] for name, values in found.values.items()},
                              found.geometry[inside])


@contextmanager
def _connection(url: str) -> Iterator[psycopg.Connection]:
    """A connection of its own in a transaction (to create a registry or check one before pooling)."""
    try:
        con = psycopg.connect(url, connect_timeout=_POOL_TIMEOUT_S)
    except psycopg.Error as exc:
        raise StoreUnavailable(gettext("%(store)s: cannot connect to PostgreSQL (%(reason)s)", store=_redacted(url),
                                       reason=_one_line(exc))) from None
    with con, _refusals(url):
        yield con


@contextmanager
def _refusals(url: str) -> Iterator[None]:
    """The database's own errors as one-line StoreUnavailable errors that name the store (without its password).

    The registry checks its input before any statement, so a statement that fails is the store's fault
    (connection lost, server shutting down, permissions, a table dropped by hand), never the request's.
    """
    try:
        yield
    except psycopg.Error as exc:
        raise StoreUnavailable(gettext("%(store)s: the database refused (%(reason)s)", store=_redacted(url),
                                       reason=_one_line(exc))) from None


def _current_schema(con: psycopg.Connection, location: str) -> str:
    """The schema the connection creates tables in and the registry lives in: PostgreSQL's current_schema().

    Refuses when the search_path names first a schema that does not exist, since PostgreSQL would then
    fall through to the next one (often public, perhaps holding another registry).
    """
    first, current = con.execute(
        "SELECT (parse_ident(NULLIF(btrim(split_part(current_setting('search_path'), ',', 1)), '')))[1], "
        "current_schema()").fetchone()
    if first not in (None, "$user", current):
        raise StoreError(gettext("%(store)s: schema %(schema)s (first in the search_path) does not exist; create it "
                                 "(CREATE SCHEMA %(schema)s) or correct the URL's search_path", store=location,
                                 schema=first))
    if current is None:
        raise StoreError(gettext("%(store)s: the search_path names no schema that exists; correct the URL's options",
                                 store=location))
    return current


def _check_meta(con: psycopg.Connection, schema_name: str, location: str, upgrading: bool = False) -> None:
    """Refuse a schema holding no registry, or one of a schema version this software does not read."""
    if not _tables_in(con, schema_name, ["registry_meta"]):
        raise StoreError(gettext("%(store)s: schema %(schema)s holds no registry; create one with `registry init "
                                 "--store URL` or `registry demo --store URL`", store=location, schema=schema_name))
    version = dict(con.execute(sql.SQL("SELECT key, value FROM {}.registry_meta")
                               .format(sql.Identifier(schema_name))).fetchall()).get("schema_version")
    check_schema_version(location, version, upgrading)


def _upgrade(con: psycopg.Connection) -> list[str]:
    """The schema migrations run on this connection, inside its transaction."""
    return schema.upgrade(schema.engine("postgresql", lambda: con))


def _tables_in(con: psycopg.Connection, schema: str, names: list[str]) -> list[str]:
    """Which of ``names`` are tables in ``schema`` itself (not elsewhere on the search_path), in the order given."""
    found = {row[0] for row in con.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p')", (schema, names))}
    return [name for name in names if name in found]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _replaced_revision(con: psycopg.Connection) -> int | None:
    """The revision of the registry in the current schema, which a new one made in its place must count on from:
    servers still running key their answers and ETags on revisions, and must not take the new registry's for one
    they served of the old. The new one's first revision is logged by no statement in ``revisions``, so a state of
    the old registry is never brought forward past it (``changes_since`` finds a revision unaccounted for) but
    loaded anew. The row is locked until the new registry is committed: a write of the old one meanwhile can not
    move the revision past the one read here."""
    found = con.execute("SELECT value FROM registry_meta WHERE key = 'revision' FOR UPDATE").fetchone()
    return int(found[0]) if found and str(found[0]).isdigit() else None


def _create_tables(con: psycopg.Connection, meta: dict[str, str], first_revision: int = 0) -> None:
    """Every layer (typed geometry, GiST index, project_id index), the projects table and registry_meta (its
    revision counting from ``first_revision``)."""
    con.execute('CREATE TABLE "registry_meta" ("key" text PRIMARY KEY, "value" text)')
    columns = ['"fid" bigserial PRIMARY KEY',  # the fields of schema version 1: later ones arrive by migration
               *(project_column_sql(f, _PROJECT_TYPES[f.kind]) for f in model.PROJECT_FIELDS if f.since == 1)]
    con.execute(f'CREATE TABLE "projects" ({", ".join(columns)})')
    for spec in model.LAYERS:
        columns = ", ".join(f'"{name}" {_LAYER_TYPES[kind]}' for name, kind in spec.columns)
        con.execute(f'CREATE TABLE "{spec.name}" ("fid" bigserial PRIMARY KEY, {columns}, '
                    f'"geom" geometry({spec.geometry_type}, {model.STORAGE_EPSG}) NOT NULL)')
        con.execute(f'CREATE INDEX "{spec.name}_geom_idx" ON "{spec.name}" USING gist ("geom")')
        con.execute(f'COMMENT ON TABLE "{spec.name}" IS {_quote(spec.title_zh)}')
        if spec.kind == "project":
            con.execute(f'CREATE INDEX "{spec.name}_project_id_idx" ON "{spec.name}" ("project_id")')
    _track_changes(con, ["projects", *model.LAYER_BY_NAME])
    values = {"schema_version": str(schema.BASE_SCHEMA_VERSION), "revision": str(first_revision),
              "last_change": change_stamp(),
              "notice": model.ILLUSTRATIVE_NOTICE, **meta}
    with con.cursor() as cur:
        cur.executemany("INSERT INTO registry_meta (key, value) VALUES (%s, %s)", list(values.items()))


def _track_changes(con: psycopg.Connection, tables: list[str]) -> None:
    """Triggers that move the revision and last change on with every statement that changes a table.

    Whoever writes (the registry, or QGIS editing a layer in place), caches keyed by the revision see
    it. The function names registry_meta with its schema, as an editor's search_path may not hold it.
    """
    schema = con.execute("SELECT current_schema()").fetchone()[0]
    meta = f'"{schema}"."registry_meta"'
    con.execute(f"""CREATE OR REPLACE FUNCTION "{schema}".registry_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE {meta} SET value = (value::bigint + 1)::text WHERE key = 'revision';
            UPDATE {meta} SET value = to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                              'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') WHERE key = 'last_change';
            RETURN NULL;
        END $$""")
    for table in tables:
        con.execute(f'CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{table}" '
                    f'FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".registry_changed()')


def _quote(text: str) -> str:
    """An SQL string literal (COMMENT takes no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def _copy(con: psycopg.Connection, table: str, frame: pd.DataFrame, kinds: dict[str, str],
          geometry: np.ndarray | None = None) -> None:
    """COPY the frame's ``kinds`` columns (and hex EWKB ``geometry`` into geom) into ``table``."""
    names = list(kinds)
    values = [sql_values(iso_dates(frame[c]) if kinds[c] in ("DATE", "date") else frame[c]) for c in names]
    if geometry is not None:
        names.append("geom")
        values.append(geometry.tolist())
    columns = ", ".join(f'"{c}"' for c in names)
    with con.cursor() as cur, cur.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
        for row in zip(*values):
            copy.write_row(row)


def _copy_features(con: psycopg.Connection, layer: str, frame: gpd.GeoDataFrame) -> None:
    """COPY checked features into a layer, geometry as hex EWKB with SRID 4490."""
    if frame.empty:
        return
    geoms = shapely.set_srid(frame.geometry.values, model.STORAGE_EPSG)
    ewkb = shapely.to_wkb(geoms, hex=True, include_srid=True)
    _copy(con, layer, frame, dict(model.LAYER_BY_NAME[layer].columns), ewkb)
