"""Backups a clerk can trust: taken while others write, they restore to a state the store really held."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from registry.backup import backup, restore
from registry.demo import build_demo
from registry.errors import StoreError
from registry.store import Batch, GeoPackageStore, Store, open_store

from .conftest import postgis_schema, run_cli

STORM_PROJECT = "2013-BBD-010"  # the 105 billboards removed beyond the statement


def fingerprint(projects: pd.DataFrame, counts: dict[str, int]) -> str:
    """Which state a registry is in: its project rows and its feature count per layer."""
    rows = projects.drop(columns=["version"]).sort_values("project_id").astype(object)
    rows = rows.where(rows.notna(), None).to_numpy().tolist()
    return hashlib.sha256(repr((rows, sorted(counts.items()))).encode()).hexdigest()


def state_of(store: Store) -> str:
    return fingerprint(store.projects(), {info.name: info.count for info in store.layers()})


class Storm:
    """A thread upserting one project again and again through ``store.write``: write ``i`` gives it the notes
    ``storm i`` and its first 1 + i % 105 billboards, so every committed state is known from ``i`` alone."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.base_projects = store.projects()
        self.base_counts = {info.name: info.count for info in store.layers()}
        self.billboards = store.features("billboards", project_ids=[STORM_PROJECT]).reset_index(drop=True)
        self.committed = 0
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _batch(self, i: int) -> Batch:
        row = self.base_projects[self.base_projects["project_id"] == STORM_PROJECT].copy()
        row["notes"] = f"storm {i}"
        features = self.billboards.iloc[:1 + i % len(self.billboards)][["project_id", "name", "geometry"]]
        return Batch(row.reset_index(drop=True), {"billboards": features})

    def state(self, i: int) -> str:
        """The fingerprint of the registry after write ``i`` (0: before the storm), computed, not read."""
        if i == 0:
            return fingerprint(self.base_projects, self.base_counts)
        projects = self.base_projects.copy()
        projects.loc[projects["project_id"] == STORM_PROJECT, "notes"] = f"storm {i}"
        counts = dict(self.base_counts)
        counts["billboards"] += 1 + i % len(self.billboards) - len(self.billboards)
        return fingerprint(projects, counts)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.store.write(self._batch(self.committed + 1))
                self.committed += 1
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.failure = exc

    def __enter__(self) -> Storm:
        self._thread.start()
        while self.committed < 3 and self._thread.is_alive():
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(60)
        assert self.failure is None, f"the writer failed: {self.failure!r}"


def back_up_during_a_storm(store: Store, location: str, target: Path) -> tuple[Storm, int, int]:
    """Run ``registry backup`` (another process) while a storm writes; the writes committed before and after it."""
    with Storm(store) as storm:
        before = storm.committed
        done = run_cli("backup", "--store", location, "--to", str(target))
        after = storm.committed
    assert done.returncode == 0, done.stderr
    assert after > before, "no write committed while the backup ran"
    assert str(target) in done.stdout and ("修訂號" in done.stdout or "修订号" in done.stdout)
    return storm, before, after


def committed_write(storm: Storm, restored: Store, before: int, after: int) -> int:
    """Which of the storm's writes the restored registry holds; it must equal that state exactly."""
    notes = restored.projects([STORM_PROJECT])["notes"].iloc[0]
    i = int(notes.split()[1]) if str(notes).startswith("storm ") else 0
    assert state_of(restored) == storm.state(i)
    assert before <= i <= after, f"the backup holds write {i}, not one committed while it ran ({before}..{after})"
    return i


def test_a_geopackage_backup_taken_during_writes_restores_a_committed_state(demo_copy, tmp_path):
    store = GeoPackageStore(demo_copy)
    storm, before, after = back_up_during_a_storm(store, str(demo_copy), tmp_path / "backup.gpkg")
    report = restore(tmp_path / "backup.gpkg", str(tmp_path / "restored.gpkg"))
    with sqlite3.connect(tmp_path / "restored.gpkg") as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    committed_write(storm, GeoPackageStore(tmp_path / "restored.gpkg"), before, after)
    assert report.projects == 180


def test_a_postgis_backup_taken_during_writes_restores_a_committed_state(postgis_url, tmp_path):
    store = build_demo(postgis_url)
    storm, before, after = back_up_during_a_storm(store, postgis_url, tmp_path / "backup.dump")
    assert storm.committed > after  # the store moved on past the backup
    report = restore(tmp_path / "backup.dump", postgis_url, force=True)
    i = committed_write(storm, open_store(postgis_url), before, after)
    assert report.projects == 180 and i < storm.committed


def test_a_restored_postgis_registry_moves_its_revision_on_past_every_served_one(postgis_url, tmp_path):
    store = build_demo(postgis_url)
    backup(postgis_url, tmp_path / "backup.dump")
    store.delete([STORM_PROJECT])
    served = int(store.revision())
    restore(tmp_path / "backup.dump", postgis_url, force=True)
    assert int(open_store(postgis_url).revision()) > served
    assert STORM_PROJECT in set(open_store(postgis_url).projects()["project_id"])


def test_backup_refuses_to_replace_a_file_without_force_in_one_line(demo_path, tmp_path):
    target = tmp_path / "backup.gpkg"
    target.write_bytes(b"last week's backup")
    done = run_cli("backup", "--store", str(demo_path), "--to", str(target))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--force" in done.stderr
    assert target.read_bytes() == b"last week's backup"


def test_restore_refuses_to_replace_a_store_without_force(demo_path, demo_copy, tmp_path):
    backup(demo_path, tmp_path / "backup.gpkg")
    GeoPackageStore(demo_copy).delete([STORM_PROJECT])
    held = demo_copy.read_bytes()
    with pytest.raises(StoreError, match="--force"):
        restore(tmp_path / "backup.gpkg", str(demo_copy))
    assert demo_copy.read_bytes() == held
    restore(tmp_path / "backup.gpkg", str(demo_copy), force=True)
    assert STORM_PROJECT in set(GeoPackageStore(demo_copy).projects()["project_id"])


def test_restore_refuses_a_damaged_backup_and_leaves_the_store(demo_path, demo_copy, tmp_path):
    backup(demo_path, tmp_path / "backup.gpkg")
    damaged = bytearray((tmp_path / "backup.gpkg").read_bytes())
    damaged[len(damaged) // 2:len(damaged) // 2 + 4096] = b"\xff" * 4096  # a page of the data overwritten
    (tmp_path / "backup.gpkg").write_bytes(bytes(damaged))
    held = demo_copy.read_bytes()
    with pytest.raises(StoreError, match="完整性|malformed|GeoPackage"):
        restore(tmp_path / "backup.gpkg", str(demo_copy), force=True)
    assert demo_copy.read_bytes() == held
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial file left


def test_restore_refuses_a_registry_of_a_newer_schema_version(demo_path, demo_copy, tmp_path):
    backup(demo_path, tmp_path / "backup.gpkg")
    with sqlite3.connect(tmp_path / "backup.gpkg") as con:
        con.execute("UPDATE registry_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="較新版本"):
        restore(tmp_path / "backup.gpkg", str(demo_copy), force=True)


def test_a_postgis_dump_restores_only_into_the_schema_it_was_taken_from(postgis_url, postgis_server, tmp_path):
    build_demo(postgis_url)
    backup(postgis_url, tmp_path / "backup.dump")
    with postgis_schema(postgis_server) as other, pytest.raises(StoreError, match="search_path"):
        restore(tmp_path / "backup.dump", other)


def test_without_pg_dump_a_postgis_backup_is_a_registry_copy_that_restores(postgis_url, tmp_path, monkeypatch):
    store = build_demo(postgis_url)
    held = state_of(store)
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without PostgreSQL's client tools
    report = backup(postgis_url, tmp_path / "backup.dump")
    assert report.form.startswith("登記簿副本") and report.projects == 180
    assert state_of(GeoPackageStore(tmp_path / "backup.dump")) == held
    store.delete([STORM_PROJECT])
    served = int(store.revision())
    restore(tmp_path / "backup.dump", postgis_url, force=True)
    assert state_of(open_store(postgis_url)) == held
    assert int(open_store(postgis_url).revision()) > served
