"""Shared fixtures: real registries in temporary folders, built by the library under test."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg.conninfo import conninfo_to_dict

from registry.demo import build_demo
from registry.store import GeoPackageStore

from .pgserver import PostgresServer, free_port

ROOT = Path(__file__).resolve().parent.parent


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
    return GeoPackageStore.create(tmp_path / "empty.gpkg")


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


@contextmanager
def serve(location: str, error_log: Path | None = None) -> Iterator[str]:
    """The production server (gunicorn, 2 workers) serving the registry at ``location``; yields its URL.

    Its error log goes to ``error_log`` (a temporary file if not given), never to an unread pipe that
    would stall the server once full.
    """
    port = free_port()
    env = {**os.environ, "REGISTRY_STORE": location}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with tempfile.TemporaryDirectory() as folder:
        log = error_log or Path(folder) / "error.log"
        proc = subprocess.Popen([str(gunicorn), "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{port}",
                                 "--error-logfile", str(log), "api:create_app()"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/"
        for _ in range(300):
            try:
                requests.get(url, timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            proc.kill()
            raise RuntimeError(log.read_text() if log.exists() else "gunicorn did not start")
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)
