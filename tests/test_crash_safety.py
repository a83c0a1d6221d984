"""SIGKILL of `registry import` at several moments of its write: the store is wholly before or wholly after it.

Each import runs as the real command in its own process and is killed when its write has begun (the
GeoPackage's rollback journal appears; the PostGIS writer holds its lock on registry_meta) and at two
moments after that. The store must then pass its integrity checks, open in GDAL's ogrinfo, and hold
exactly the content it held before the import or exactly what a completed import gives.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely

from registry import model
from registry.demo import build_demo
from registry.exchange import export, import_file
from registry.store import GeoPackageStore, Store, open_store

from .conftest import postgis_schema, schema_of

NEW_PROJECTS = 3000  # billboard projects the import adds, three points each
KILL_DELAYS_S = (0.0, 0.1, 0.3)  # after the write began
WRITE_BEGUN_WITHIN_S = 240


def content(store: Store) -> str:
    """Everything the registry holds: project rows, and each layer's attributes and geometry (in any fid order)."""
    projects = store.projects().sort_values("project_id").astype(object)
    layers = []
    for spec in model.LAYERS:
        frame = store.features(spec.name)
        attributes = frame.drop(columns="geometry").astype(str).to_numpy().tolist()
        layers.append(sorted(zip(map(tuple, attributes), shapely.to_wkb(frame.geometry.values))))
    rows = projects.where(projects.notna(), None).to_numpy().tolist()
    return hashlib.sha256(repr((rows, layers)).encode()).hexdigest()


@pytest.fixture(scope="module")
def sizeable_file(demo_path, tmp_path_factory) -> Path:
    """A GeoPackage of NEW_PROJECTS new billboard projects (points in the park), written as `registry export` does."""
    template = GeoPackageStore(demo_path).projects().query("category == 'billboards'").iloc[0]
    years = np.repeat(np.arange(1990, 2013), 999)[:NEW_PROJECTS]
    numbers = np.tile(np.arange(1, 1000), 23)[:NEW_PROJECTS]
    ids = [f"{year}-BBD-{number:03d}" for year, number in zip(years, numbers)]
    projects = pd.DataFrame([template.to_dict()] * NEW_PROJECTS)
    projects["project_id"], projects["year"], projects["name"] = ids, years, [f"廣告牌 {i}" for i in ids]
    projects["status"] = "completed"
    for column in ("planned_start", "planned_finish", "actual_start", "actual_finish"):
        projects[column] = None
    count = 3 * NEW_PROJECTS
    rng = np.random.default_rng(7)
    points = shapely.points(rng.uniform(120.66, 120.84, count), rng.uniform(31.27, 31.42, count))
    features = gpd.GeoDataFrame({"layer": "billboards", "fid": np.arange(1, count + 1), "project_id": np.repeat(ids, 3),
                                 "feature_name": [f"點 {k}" for k in range(count)]}, geometry=points,
                                crs=model.STORAGE_EPSG)
    return Path(export((projects, features), tmp_path_factory.mktemp("sizeable") / "new.gpkg").path)


def import_and_kill(location: str, file: Path, write_begun: Callable[[], bool], delay: float) -> bool:
    """Run `registry import FILE --store LOCATION` and SIGKILL it ``delay`` s after ``write_begun()`` holds.

    Returns whether its write was still under way (``write_begun()`` still true) at the kill.
    """
    proc = subprocess.Popen([sys.executable, "-m", "registry", "import", str(file), "--store", location],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + WRITE_BEGUN_WITHIN_S
    try:
        while not write_begun():
            assert proc.poll() is None, f"the import ended before its write began: {proc.stderr.read()!r}"
            assert time.monotonic() < deadline, "the import's write did not begin"
            time.sleep(0.001)
        time.sleep(delay)
        under_way = write_begun()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    return under_way


def kill_at_each_moment(locations: list[str], file: Path, write_begun: Callable[[str], Callable[[], bool]]) -> list:
    """One import per location, all at once, each killed at its own moment of KILL_DELAYS_S."""
    outcomes: list = [None] * len(locations)

    def run(at: int) -> None:
        try:
            outcomes[at] = import_and_kill(locations[at], file, write_begun(locations[at]), KILL_DELAYS_S[at])
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcomes[at] = exc

    threads = [threading.Thread(target=run, args=(at,)) for at in range(len(locations))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes


def ogrinfo_count(source: str, layer: str) -> int:
    """The feature count GDAL's ogrinfo reports for a layer (it must open the store to say)."""
    done = subprocess.run(["ogrinfo", "-ro", "-so", source, layer], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "ERROR" not in done.stderr, done.stderr
    return int(next(line for line in done.stdout.splitlines() if line.startswith("Feature Count:")).split(":")[1])


def test_a_killed_import_leaves_a_geopackage_wholly_before_or_after(demo_path, sizeable_file, tmp_path):
    before = content(GeoPackageStore(demo_path))
    finished = tmp_path / "finished.gpkg"
    shutil.copy(demo_path, finished)
    assert import_file(GeoPackageStore(finished), sizeable_file).written
    after = content(GeoPackageStore(finished))
    copies = [tmp_path / f"killed-{at}.gpkg" for at in range(len(KILL_DELAYS_S))]
    for copy in copies:
        shutil.copy(demo_path, copy)

    def journal_exists(location: str) -> Callable[[], bool]:
        return Path(f"{location}-journal").exists

    under_way = kill_at_each_moment([str(c) for c in copies], sizeable_file, journal_exists)
    assert under_way[0], "the first kill came after the write had ended"
    for copy in copies:
        with sqlite3.connect(copy) as con:  # rolls back the journal the killed import left, as any reader would
            assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        held = content(GeoPackageStore(copy))
        assert held in (before, after), f"{copy.name} holds neither the state before nor after the import"
        assert ogrinfo_count(str(copy), "billboards") == len(GeoPackageStore(copy).features("billboards"))


def test_a_killed_import_leaves_a_postgis_store_wholly_before_or_after(postgis_server, sizeable_file):
    with postgis_schema(postgis_server) as finished, postgis_schema(postgis_server) as first, \
            postgis_schema(postgis_server) as second, postgis_schema(postgis_server) as third:
        urls = [first, second, third]
        for url in [finished, *urls]:
            build_demo(url)
        before = content(open_store(first))
        assert import_file(open_store(finished), sizeable_file).written
        after = content(open_store(finished))
        watchers: list[psycopg.Connection] = []

        def lock_held(url: str) -> Callable[[], bool]:
            """Whether a writer holds the store's write lock (SHARE ROW EXCLUSIVE on its registry_meta)."""
            con = psycopg.connect(postgis_server.url, autocommit=True)
            watchers.append(con)
            table = f"{schema_of(url)[1]}.registry_meta"
            return lambda: con.execute("SELECT count(*) FROM pg_locks WHERE relation = to_regclass(%s) "
                                       "AND mode = 'ShareRowExclusiveLock' AND granted", (table,)).fetchone()[0] > 0

        try:
            under_way = kill_at_each_moment(urls, sizeable_file, lock_held)
            assert under_way[0], "the first kill came after the write had ended"
            for url, held_lock in zip(urls, [lock_held(u) for u in urls]):
                deadline = time.monotonic() + 60
                while held_lock():  # the server ends the killed client's transaction when it sees the socket close
                    assert time.monotonic() < deadline, "the killed import's transaction was never ended"
                    time.sleep(0.05)
                assert content(open_store(url)) in (before, after)
                params, schema = schema_of(url)
                source = " ".join(f"{k}={v}" for k, v in params.items())
                assert ogrinfo_count(f"PG:{source} schemas={schema}", "billboards") == \
                    len(open_store(url).features("billboards"))
        finally:
            for con in watchers:
                con.close()
