"""Shared fixtures and builders: real registries in temporary folders, built by the library under test.

Test modules take what they share from here (and tests/pgserver.py), never from one another: the demo
registry and its query result, the in-process app and its test client for HTTP behaviour, a real gunicorn
for outside clients (GDAL, OWSLib, Chromium), PostGIS schemas, and small builders of projects and features.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyproj
import pytest
import requests
import shapely
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, sync_playwright
from psycopg.conninfo import conninfo_to_dict
from shapely import LineString, Point, Polygon

from api import create_app
from registry import accounts
from registry.accounts import Credentials
from registry.demo import build_demo
from registry.query import QueryResult, find
from registry.store import Batch, GeoPackageStore

from .pgserver import PostgresServer, free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's, installed by scripts/setup (Playwright's own download is not used)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE = ROOT / "api" / "web" / "node_modules" / "axe-core" / "axe.min.js"  # installed from npm by scripts/setup
# Screenshots the browser tests save for a reviewer to look at (not compared pixel by pixel).
SCREENSHOTS = Path(os.environ.get("REGISTRY_SCREENSHOTS", ROOT / "var" / "screenshots"))
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
STREET_ORDER = ["LF", "XT", "WT", "SP", "JJH"]  # the README's order: a point on a boundary goes to the first

# Small geometries inside the park (EPSG:4490) for hand-made projects.
LINE = LineString([(120.660, 31.300), (120.665, 31.302), (120.670, 31.301)])
POLYGON = Polygon([(120.70, 31.28), (120.71, 31.28), (120.71, 31.29), (120.70, 31.29)])
POINT = Point(120.75, 31.33)
SELF_CROSSING = Polygon([(120.70, 31.28), (120.71, 31.29), (120.71, 31.28), (120.70, 31.29)])

_TO_METRIC = pyproj.Transformer.from_crs(4490, 4549, always_xy=True)
_TO_GEO = pyproj.Transformer.from_crs(4549, 4490, always_xy=True)


# -- builders -------------------------------------------------------------------------------------------
def project(pid: str, kind: str, **extra) -> dict:
    """A valid project row of category ``kind`` (a river project's figures), with ``extra`` columns replaced."""
    row = {"project_id": pid, "name": "唐莊河整治", "category": kind, "year": int(pid[:4]),
           "investment_yuan": 1_250_000, "lead_department": "規劃建設局", "street_codes": "LF",
           "status": "planned", "in_statement": False, "beyond_statement": False}
    row.update(extra)
    return row


def features(pid: str, geom, name="第一段") -> gpd.GeoDataFrame:
    """One feature of project ``pid`` in EPSG:4490."""
    return gpd.GeoDataFrame({"project_id": [pid], "name": [name]}, geometry=[geom], crs=4490)


def river_batch(first: int, count: int, seed: int) -> Batch:
    """``count`` river projects numbered from ``first``, each with ten random lines in the park."""
    rng = np.random.default_rng(seed)
    ids = [f"2014-RIV-{first + i:03d}" for i in range(count)]
    starts = rng.uniform((120.62, 31.23), (120.86, 31.41), (count * 10, 2))
    ends = starts + rng.uniform(-0.005, 0.005, (count * 10, 2))
    lines = shapely.linestrings(np.stack([starts, ends], axis=1))
    frame = gpd.GeoDataFrame({"project_id": np.repeat(ids, 10)}, geometry=lines, crs=4490)
    return Batch(pd.DataFrame([project(pid, "rivers") for pid in ids]), {"rivers": frame})


def digest(path: Path) -> str:
    """A file's SHA-256: equal digests before and after mean a store was left byte for byte as it was."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def to_metric(geom: shapely.Geometry) -> shapely.Geometry:
    """``geom`` from EPSG:4490 to EPSG:4549 (metres), by pyproj alone, for brute-force distances and lengths."""
    return shapely.transform(geom, lambda xy: np.column_stack(_TO_METRIC.transform(xy[:, 0], xy[:, 1])))


def to_geo(geom: shapely.Geometry) -> shapely.Geometry:
    """``geom`` from EPSG:4549 back to EPSG:4490."""
    return shapely.transform(geom, lambda xy: np.column_stack(_TO_GEO.transform(xy[:, 0], xy[:, 1])))


def feature_count(path: Path, layer: str, where: str = "1") -> int:
    """Rows of ``layer`` in the GeoPackage at ``path`` matching ``where``, counted by SQLite itself."""
    con = sqlite3.connect(path)
    try:
        return con.execute(f'SELECT count(*) FROM "{layer}" WHERE {where}').fetchone()[0]
    finally:
        con.close()


def reference_only(path: Path) -> GeoPackageStore:
    """The registry at ``path`` with every project deleted: its reference layers (streets, park, lakes, rivers)."""
    store = GeoPackageStore(path)
    store.delete(store.projects()["project_id"].tolist())
    return store


def role_accounts(store) -> dict[str, Credentials]:
    """One account per role on ``store`` (the editor's department 城市管理局): role → its credentials, given once."""
    return {role: accounts.add(store, f"{role}1", role, "城市管理局" if role == "editor" else None)
            for role in accounts.ROLES}


def basic(name: str, secret: str) -> dict[str, str]:
    """An HTTP Basic Authorization header (QGIS's way of sending credentials)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory) -> Path:
    """A demo registry built once per test session; tests must not modify it."""
    path = tmp_path_factory.mktemp("demo") / "registry.gpkg"
    build_demo(path)
    return path


@pytest.fixture
def demo_copy(demo_path, tmp_path) -> Path:
    """A private copy of the demo registry that a test may change."""
    path = tmp_path / "registry.gpkg"
    path.write_bytes(demo_path.read_bytes())
    return path


@pytest.fixture
def empty_store(tmp_path) -> GeoPackageStore:
    """A new registry with every layer and nothing in them."""
    return GeoPackageStore.create(tmp_path / "empty.gpkg")


@pytest.fixture(scope="session")
def demo_result(demo_path) -> QueryResult:
    """Every project and feature of the demo, as a query returns them; tests must not modify it."""
    return find(GeoPackageStore(demo_path), {})


@pytest.fixture(scope="session")
def app(demo_path) -> Flask:
    """The API serving the demo registry in this process."""
    return create_app({"REGISTRY_STORE": str(demo_path)})


@pytest.fixture(scope="session")
def client(app) -> FlaskClient:
    """A test client of ``app``: HTTP behaviour (status, headers, bodies) without a server or a socket."""
    return app.test_client()


@pytest.fixture(scope="session")
def demo_server(demo_path) -> Iterator[str]:
    """The demo registry served by gunicorn, for outside clients (GDAL, OWSLib, Chromium); yields its URL."""
    with serve(str(demo_path)) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session's browser tests (each test opens its own page in it)."""
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def tab(browser) -> Iterator[Page]:
    """A fresh 1280×800 page whose console errors and uncaught exceptions collect in ``tab.errors``."""
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="zh-CN")
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical accessibility violations on the page as shown, one line each."""
    page.evaluate(AXE.read_text())  # evaluated, not added as a <script>: the pages' CSP admits only their own
    found = page.evaluate("async () => (await axe.run(document)).violations"
                          ".filter(v => ['serious', 'critical'].includes(v.impact))"
                          ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))")
    return list(found)


def screenshot(page: Page, name: str) -> Path:
    """Save the page at 1280×800 and at 390×844 (a phone) under SCREENSHOTS; returns the folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for label, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(size)
    return SCREENSHOTS


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``registry`` command as a user would."""
    return subprocess.run([sys.executable, "-m", "registry", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="session")
def postgis_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL + PostGIS server, started once per session (about a second) and stopped at the end."""
    server = PostgresServer.start()
    yield server
    server.stop()


@contextmanager
def postgis_schema(server: PostgresServer) -> Iterator[str]:
    """A URL to the test server whose search_path is a fresh schema (then public, for PostGIS), dropped after."""
    schema = f"t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{server.url}?options=-csearch_path%3D{schema},public"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")  # a connection the test left open fails the drop, not hangs it
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def schema_of(url: str) -> tuple[dict[str, str], str]:
    """A ``postgis_schema`` URL's connection parameters (without its search_path option) and its schema."""
    parts = conninfo_to_dict(url)
    return parts, parts.pop("options").split("=", 1)[1].split(",")[0]


@pytest.fixture
def postgis_url(postgis_server) -> Iterator[str]:
    """An empty schema of the test server for this test."""
    with postgis_schema(postgis_server) as url:
        yield url


def answering(url: str, seconds: float = 30) -> bool:
    """Whether a server answers at ``url`` within ``seconds`` (it is polled every tenth of a second)."""
    for _ in range(int(seconds * 10)):
        try:
            requests.get(url, timeout=5)
            return True
        except requests.RequestException:
            time.sleep(0.1)
    return False


@contextmanager
def serve(location: str, error_log: Path | None = None) -> Iterator[str]:
    """The production server (gunicorn, 2 workers of 4 threads, forked from a master that loaded the registry,
    as scripts/serve runs it) serving the registry at ``location``; yields its URL.

    Its error log goes to ``error_log`` (a temporary file if not given), never to an unread pipe that
    would stall the server once full.
    """
    port = free_port()
    env = {**os.environ, "REGISTRY_STORE": location}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with tempfile.TemporaryDirectory() as folder:
        log = error_log or Path(folder) / "error.log"
        proc = subprocess.Popen([str(gunicorn), "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{port}",
                                 "--error-logfile", str(log), "-c", "python:api.serving"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/"
        if not answering(url, 120):  # it listens once the registry is loaded: slow on a loaded machine
            proc.kill()
            raise RuntimeError(log.read_text() if log.exists() else "gunicorn did not start")
        try:
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)  # gunicorn lets its workers finish their requests first
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
