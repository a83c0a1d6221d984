"""Backups a clerk can trust: a copy of one committed state, taken while the registry is served and written.

A GeoPackage store is copied with SQLite's online backup API inside one read transaction (writers wait
for the copy; readers do not). Only Python's sqlite3 opens the store here: a second SQLite in the process
(GDAL's) would drop SQLite's POSIX locks on the file when it closed it. A PostGIS store is written by
``pg_dump --format=custom`` of its schema, from a snapshot this module exports and counts from, so the
line it prints describes exactly what the dump holds; where pg_dump is missing or older than the server,
the backup is a registry copy instead: a GeoPackage registry written from one snapshot. Every backup is
written beside its target, checked, then renamed into place; a restore checks the backup before it
replaces anything, a GeoPackage in one rename, a PostGIS schema in one ``pg_restore`` transaction (a
GeoPackage put into PostGIS takes a few transactions; run it again if it is interrupted).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from . import model
from .errors import StoreError
from .i18n import gettext
from .store import Batch, GeoPackageStore, PostGISStore, Reader, is_database_url, open_store
from .store.base import change_stamp, check_schema_version
from .store.postgis import _connection, _current_schema, _redacted, _tables_in

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"  # the first bytes of pg_dump's custom format
BUSY_TIMEOUT_S = 30  # how long a backup waits for a writer's commit, and a restore for writers to finish
REGISTRY_TABLES = ("registry_meta", "projects", *model.LAYER_BY_NAME)
_TOC_META = re.compile(r"^\d+; \d+ \d+ TABLE DATA (\S+) registry_meta \S+$", re.MULTILINE)
_NOT_CARRIED = ("schema_version", "revision", "last_change", "unlogged", "reload_at")  # keys a store sets itself
_TOC_SCHEMA = re.compile(r"^\d+; \d+ \d+ (SCHEMA|COMMENT - SCHEMA|ACL - SCHEMA) ")


class _NoDump(Exception):
    """pg_dump cannot dump this server (missing, or older than the server): a registry copy is made instead."""


@dataclass(frozen=True)
class BackupReport:
    """What a backup or restore did: from where to where, in which form, and the state it carried."""

    action: str  # "backed up" or "restored", in the reader's script
    source: str
    target: str
    form: str  # "GeoPackage", "pg_dump" or "registry copy ..."

    projects: int
    revision: str

    def line(self) -> str:
        """One line for the clerk: what was copied where, and which state (projects, revision) it holds."""
        return gettext("%(action)s %(source)s to %(target)s (%(form)s): %(projects)s projects, revision %(revision)s",
                       action=self.action, source=self.source, target=self.target, form=self.form,
                       projects=self.projects, revision=self.revision)


def backup(location: str, target: str | os.PathLike[str], *, force: bool = False) -> BackupReport:
    """Copy the registry at ``location`` (a .gpkg path or postgresql:// URL) to the file ``target``.

    The copy is one committed state however busy the store is. ``target`` is replaced only if ``force``.
    """
    target = Path(target)
    if target.exists() and not force:
        raise StoreError(gettext("%(file)s: exists already; use --force to replace it, or choose another file",
                                 file=target))
    if target.is_dir():
        raise StoreError(gettext("%(file)s: is a folder; name the backup file", file=target))
    if is_database_url(location):
        try:
            with _beside(target) as tmp:
                schema, projects, revision = _dump_postgis(location, tmp)
        except _NoDump as why:
            with _beside(target, suffix=".gpkg") as tmp:
                label, projects, revision = _copy_registry(open_store(location), tmp)
            return BackupReport(gettext("backed up"), label, str(target), gettext("registry copy: %(why)s", why=why),
                                projects, revision)
        return BackupReport(gettext("backed up"), _in_schema(location, schema), str(target), "pg_dump", projects,
                            revision)
    path = Path(location)
    if target.exists() and target.resolve() == path.resolve():
        raise StoreError(gettext("%(file)s: is the store itself; back it up to another file", file=target))
    GeoPackageStore(path)  # refuse what is no registry (SQLite reads it, nothing else) before writing anything
    with _beside(target) as tmp:
        _copy_sqlite(path, tmp, str(path))
        projects, revision = _check_gpkg(tmp, gettext("%(file)s (copied)", file=path))
    return BackupReport(gettext("backed up"), str(path), str(target), "GeoPackage", projects, revision)


def restore(source: str | os.PathLike[str], location: str, *, force: bool = False) -> BackupReport:
    """Put the backup file ``source`` back as the registry at ``location``, after checking it.

    A GeoPackage backup must pass SQLite's integrity check and open as a registry this software reads; it
    replaces the store file in one rename, or fills a PostGIS store's schema (in a few transactions: run it
    again if it is interrupted). A pg_dump backup must be read by ``pg_restore --list`` and hold
    registry_meta; it replaces the schema's registry in one transaction. A registry there already is
    replaced only if ``force``.
    """
    source = Path(source)
    if not source.is_file():
        raise StoreError(gettext("%(file)s: no such backup file", file=source))
    with open(source, "rb") as f:  # read before SQLite opens it: closing this descriptor drops no lock of SQLite's
        head = f.read(len(SQLITE_MAGIC))
    if head != SQLITE_MAGIC and not head.startswith(PG_DUMP_MAGIC):
        raise StoreError(gettext("%(file)s: not a registry backup (neither a GeoPackage nor a pg_dump file)",
                                 file=source))
    if is_database_url(location) and head == SQLITE_MAGIC:
        schema, projects, revision = _load_postgis(source, location, force)
        return BackupReport(gettext("restored"), str(source), _in_schema(location, schema), gettext("registry copy"),
                            projects, revision)
    if is_database_url(location):
        schema, projects, revision = _restore_postgis(source, location, force)
        return BackupReport(gettext("restored"), str(source), _in_schema(location, schema), "pg_dump", projects,
                            revision)
    if head.startswith(PG_DUMP_MAGIC):
        raise StoreError(gettext("%(file)s: a pg_dump backup of a PostGIS store; restore it with --store "
                                 "postgresql://...", file=source))
    target = Path(location)
    if target.exists() and target.resolve() == source.resolve():
        raise StoreError(gettext("%(file)s: is the store itself; name the backup to restore", file=source))
    if target.exists() and not force:
        raise StoreError(gettext("%(file)s: exists already; use --force to replace it with the backup", file=target))
    projects, revision = _check_gpkg(source, str(source))
    with _beside(target, _replace_store_file) as tmp:
        _copy_sqlite(source, tmp, str(source))
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)  # whoever could use the store still can
    return BackupReport(gettext("restored"), str(source), str(target), "GeoPackage", projects, revision)


# -- files -------------------------------------------------------------------------------------
@contextmanager
def _beside(target: Path, install: Callable[[Path, Path], None] = os.replace, suffix: str = ".part") -> Iterator[Path]:
    """A new file (named with ``suffix``) in ``target``'s folder to write; put in place by ``install`` (a rename)
    if the block succeeds.

    A backup or restore that fails or is killed never leaves a partial file under the target's name.
    """
    folder = target.parent
    if not folder.is_dir():
        raise StoreError(gettext("%(file)s: folder %(folder)s does not exist", file=target, folder=folder))
    handle, name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}-", suffix=suffix)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        install(tmp, target)
    finally:
        for leftover in (tmp, Path(f"{tmp}-journal")):
            leftover.unlink(missing_ok=True)
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)  # the rename itself survives a power cut
    finally:
        os.close(handle)


def _in_schema(location: str, schema: str) -> str:
    """How a report names a PostGIS store: its URL without the password, and its schema."""
    return gettext("%(store)s (schema %(schema)s)", store=_redacted(location), schema=schema)


def _copy_sqlite(path: Path, tmp: Path, label: str) -> None:
    """Copy an SQLite file with the online backup API, in one read transaction: one committed state."""
    source = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    copy = sqlite3.connect(tmp, isolation_level=None)
    try:
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the read lock: writers commit after the copy
        source.backup(copy)
        source.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        raise StoreError(gettext("%(file)s: busy for %(seconds)s s or unreadable (%(reason)s); try again", file=label,
                                 seconds=BUSY_TIMEOUT_S, reason=exc)) from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(gettext("%(file)s: cannot be read as a GeoPackage (%(reason)s)", file=label,
                                 reason=exc)) from None
    finally:
        copy.close()
        source.close()


def _check_gpkg(path: Path, label: str) -> tuple[int, str]:
    """Refuse a file that fails SQLite's integrity check or is no registry this software reads.

    Returns its number of projects and its registry revision (registry_meta's, which every write moves on).
    """
    con = sqlite3.connect(path, isolation_level=None)
    try:
        problems = [row[0] for row in con.execute("PRAGMA integrity_check(5)")]
        if problems != ["ok"]:
            raise StoreError(gettext("%(file)s: fails SQLite's integrity check (%(problems)s)", file=label,
                                     problems="; ".join(problems)))
        try:
            GeoPackageStore(path)
        except StoreError as exc:
            raise StoreError(exc.message.replace(str(path), label)) from None
        projects = con.execute('SELECT count(*) FROM "projects"').fetchone()[0]
        revision = con.execute("SELECT value FROM registry_meta WHERE key = 'revision'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(gettext("%(file)s: not a GeoPackage registry (%(reason)s)", file=label, reason=exc)) from None
    finally:
        con.close()
    return projects, revision[0] if revision else "-"


def _replace_store_file(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` onto the GeoPackage ``target`` while holding the target's exclusive lock.

    Writes in progress finish first, and a journal left by a crashed writer is rolled back into the old
    file, never into the restored one. A file that is no database any more has nothing to wait for; its
    journal is stale and goes.
    """
    if not target.exists():
        os.replace(tmp, target)
        return
    if Path(f"{target}-wal").exists():
        raise StoreError(gettext("%(file)s: has a write-ahead log, so a program (QGIS?) has it open in WAL mode; close "
                                 "it and try again", file=target))
    con = sqlite3.connect(target, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    try:
        try:
            con.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            raise StoreError(gettext("%(file)s: busy for %(seconds)s s (%(reason)s); stop the writers and try again",
                                     file=target, seconds=BUSY_TIMEOUT_S, reason=exc)) from None
        except sqlite3.DatabaseError:
            Path(f"{target}-journal").unlink(missing_ok=True)
        os.replace(tmp, target)
    finally:
        con.close()


# -- PostGIS -----------------------------------------------------------------------------------
def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StoreError(gettext("%(tool)s not found; install the PostgreSQL client tools (Debian: postgresql-client, "
                                 "which scripts/setup installs)", tool=name))
    return found


def _pg_environment(url: str) -> tuple[str, dict[str, str]]:
    """The URL as a conninfo for PostgreSQL's tools without its password, which goes in their environment
    instead (not on a command line others can see)."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    return make_conninfo(**params), env


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise StoreError(gettext("%(what)s failed: %(reason)s", what=what, reason=" ".join(done.stderr.split())
                                 or gettext("exit code %(code)s", code=done.returncode)))
    return done.stdout


def _registry_state(con: psycopg.Connection, schema: str, location: str) -> tuple[int, str]:
    """Projects and revision of the registry in ``schema`` (refusing a schema without one, or a newer one)."""
    if not _tables_in(con, schema, ["registry_meta"]):
        raise StoreError(gettext("%(store)s: schema %(schema)s holds no registry", store=location, schema=schema))
    name = sql.Identifier(schema)
    meta = dict(con.execute(sql.SQL("SELECT key, value FROM {}.registry_meta").format(name)).fetchall())
    check_schema_version(location, meta.get("schema_version"))
    projects = con.execute(sql.SQL("SELECT count(*) FROM {}.projects").format(name)).fetchone()[0]
    return projects, meta.get("revision", "-")


def _dump_postgis(url: str, tmp: Path) -> tuple[str, int, str]:
    """pg_dump of the store's schema, in the snapshot of a transaction that counts the projects it holds.

    Returns the schema, and the projects and revision of the registry dumped.
    """
    location = _redacted(url)
    conninfo, env = _pg_environment(url)
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise _NoDump(gettext("pg_dump not found (Debian: postgresql-client)"))
    with _connection(url) as con:
        con.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        con.read_only = True
        snapshot = con.execute("SELECT pg_export_snapshot()").fetchone()[0]
        schema = _current_schema(con, location)
        projects, revision = _registry_state(con, schema, location)
        try:
            _run([pg_dump, "--format=custom", f"--schema={_exact(schema)}", f"--snapshot={snapshot}",
                  f"--file={tmp}", "--no-password", f"--dbname={conninfo}"], env, "pg_dump")
        except StoreError as exc:
            if "version mismatch" in exc.message:
                raise _NoDump(gettext("pg_dump is older than the server")) from None
            raise
    return schema, projects, revision


def _exact(name: str) -> str:
    """A pg_dump name pattern matching exactly ``name`` (quoted: no wildcards, case kept; pg_restore takes names)."""
    return '"' + name.replace('"', '""') + '"'


def _dump_meta(pg_restore: str, source: Path, schema: str, env: dict[str, str]) -> dict[str, str]:
    """The registry_meta rows a dump holds (COPY text: one ``key<TAB>value`` line each)."""
    text = _run([pg_restore, "--data-only", f"--schema={schema}", "--table=registry_meta", "--file=-",
                 str(source)], env, f"pg_restore {source.name}")
    lines = text.splitlines()
    start = next((at for at, line in enumerate(lines) if line.startswith("COPY ")), len(lines))
    rows = lines[start + 1:]
    rows = rows[:rows.index("\\.")] if "\\." in rows else rows
    return dict(line.split("\t", 1) for line in rows if "\t" in line)


def _restore_postgis(source: Path, url: str, force: bool) -> tuple[str, int, str]:
    """Check a dump (pg_restore reads its list; it holds registry_meta of a schema version this software reads),
    then replace the registry in the store's schema with it in one transaction.

    Returns the schema, and the projects and revision of the registry restored.
    """
    location = _redacted(url)
    conninfo, env = _pg_environment(url)
    pg_restore = _pg_tool("pg_restore")
    listing = _run([pg_restore, "--list", str(source)], env, f"pg_restore --list {source.name}")
    found = _TOC_META.search(listing)
    if found is None:
        raise StoreError(gettext("%(file)s: a PostgreSQL dump, but of no registry (it holds no registry_meta table)",
                                 file=source))
    dumped = found.group(1)
    meta = _dump_meta(pg_restore, source, dumped, env)
    check_schema_version(str(source), meta.get("schema_version"))
    with _connection(url) as con:
        schema = _current_schema(con, location)
        if schema != dumped:
            raise StoreError(gettext("%(file)s: holds schema %(dumped)s, but the store's schema is %(schema)s; restore "
                                     "into a URL whose search_path names %(dumped)s (%(option)s)", file=source,
                                     dumped=dumped, schema=schema,
                                     option=f"?options=-csearch_path%3D{dumped},public"))
        present = _tables_in(con, schema, list(REGISTRY_TABLES))
        if present and not force:
            raise StoreError(gettext("%(store)s: schema %(schema)s holds a registry already; use --force to replace it "
                                     "with the backup", store=location, schema=schema))
        before = _registry_state(con, schema, location)[1] if "registry_meta" in present else None
    with tempfile.NamedTemporaryFile("w", suffix=".list", prefix="registry-restore-") as entries:
        # the schema exists already (and may hold other things, or PostGIS itself): restore what is in it only
        entries.write("\n".join(line for line in listing.splitlines() if not _TOC_SCHEMA.match(line)) + "\n")
        entries.flush()
        _run([pg_restore, "--single-transaction", "--clean", "--if-exists", "--no-owner", f"--use-list={entries.name}",
              "--no-password", f"--dbname={conninfo}", str(source)], env, f"pg_restore {source.name}")
    return schema, _move_revision_on(url, schema, before), meta.get("revision", "-")


def _move_revision_on(url: str, schema: str, before: str | None) -> int:
    """After a restore: the revision past ``before`` (the last one served) and the last change now, since caches
    and ETags key on them and must not take the restored state for one served before. Returns the projects held."""
    with _connection(url) as con:
        name = sql.Identifier(schema)
        con.execute(sql.SQL("UPDATE {}.registry_meta SET value = (GREATEST(value::bigint, %s) + 1)::text "
                            "WHERE key = 'revision'").format(name), (int(before) if before not in (None, "-") else 0,))
        con.execute(sql.SQL("UPDATE {}.registry_meta SET value = %s WHERE key = 'last_change'").format(name),
                    (change_stamp(),))
        return con.execute(sql.SQL("SELECT count(*) FROM {}.projects").format(name)).fetchone()[0]


# -- registry copies: what pg_dump cannot do ---------------------------------------------------
def _registry(view: Reader) -> tuple[dict[str, str], Batch, dict[str, object]]:
    """From one snapshot: the meta entries a new store takes, the projects and features as one batch, and the
    reference layers."""
    features, references = {}, {}
    for spec in model.LAYERS:
        frame = view.features(spec.name).reset_index(drop=True)
        if spec.kind != "project":
            references[spec.name] = frame
        elif len(frame):
            features[spec.name] = frame[["project_id", "name", "geometry"]]
    meta = {key: value for key, value in view.meta().items() if key not in _NOT_CARRIED}
    return meta, Batch(view.projects().reset_index(drop=True), features), references


def _fill(store: GeoPackageStore | PostGISStore, batch: Batch, references: dict) -> None:
    for name, frame in references.items():
        if len(frame):
            store.replace_reference(name, frame)
    store.write(batch, mode="insert")


def _copy_registry(source: PostGISStore, tmp: Path) -> tuple[str, int, str]:
    """A GeoPackage registry holding one snapshot of ``source``; returns its label, projects and revision."""
    with source.snapshot() as view:
        revision = view.revision()
        meta, batch, references = _registry(view)
    _fill(GeoPackageStore.create(tmp, meta=meta, overwrite=True), batch, references)
    con = sqlite3.connect(tmp, isolation_level=None)
    try:  # the copy carries the revision it is a copy of, as a restore of it reports
        con.execute("UPDATE registry_meta SET value = ? WHERE key = 'revision'", (revision,))
    finally:
        con.close()
    _check_gpkg(tmp, gettext("%(file)s (copied)", file=source.location))
    return source.location, len(batch.projects), revision


def _load_postgis(source: Path, url: str, force: bool) -> tuple[str, int, str]:
    """A GeoPackage registry (a registry copy, or a GeoPackage store's backup) put into a PostGIS store's schema.

    Checked first like every GeoPackage backup; then the schema's registry is created afresh and filled, in a
    few transactions (run it again if it is interrupted: it starts afresh each time).
    """
    _, revision = _check_gpkg(source, str(source))
    with GeoPackageStore(source).snapshot() as view:
        meta, batch, references = _registry(view)
    location = _redacted(url)
    with _connection(url) as con:
        schema = _current_schema(con, location)
        present = _tables_in(con, schema, list(REGISTRY_TABLES))
        if present and not force:
            raise StoreError(gettext("%(store)s: schema %(schema)s holds a registry already; use --force to replace it "
                                     "with the backup", store=location, schema=schema))
        if "registry_meta" in present:
            _registry_state(con, schema, location)  # refuses to replace a registry of a newer schema version
    # created afresh, it counts its revisions on past the one it replaces (PostGISStore.create), as a restore must
    _fill(PostGISStore.create(url, meta=meta, overwrite=True), batch, references)
    return schema, len(batch.projects), revision
