"""Shared fixtures: real registries in temporary folders, built by the library under test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from registry.demo import build_demo
from registry.store import GeoPackageStore

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
