"""Benchmark the exchange formats against ogr2ogr on one 100k-feature layer.

    python scripts/bench_exchange.py [--features 100000] [--workdir DIR] [--repeat 3]

The registry is made from the demo, once, into ``--workdir``: its reference layers, and the demo's
river segments repeated and shifted (within the park's surroundings) into ``--features`` features of
the ``rivers`` layer, ten per project, the projects' attributes copied from the demo's river projects.
It is written through ``GeoPackageStore.write`` so it passes the registry's validation.

For each export format the registry's ``export`` of the query result (every river feature with its
project's attributes) is timed beside Debian's ``ogr2ogr`` converting the same rows — the layer
joined to the ``projects`` table in SQL, so both files carry the same columns; for XLSX the projects
table with Chinese headers — from the store's GeoPackage to the same format (Shapefile as
``.shp.zip``, XLSX with GDAL's XLSX driver). The query itself (``registry.query.find``) is timed
once and reported apart. Imports of a GeoPackage and a zipped Shapefile of the same layer into an
empty registry (with full validation, through ``store.write``) are reported as features per second,
beside ``store.write`` alone on the same batch; making the empty target registry is not timed. The
GeoPackage is also imported with ``--mode upsert`` over the registry it made (every project
replaced), for information. Times are the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from registry import model
from registry.demo import GEODATA, demo_batch, read_geojson
from registry.exchange import export, import_file
from registry.query import find
from registry.store import Batch, GeoPackageStore

PER_PROJECT = 10
SHIFT_DEGREES = 0.02  # the demo rivers lie well inside the plausible range; this keeps them there
EXPORT_TARGET = 1.2  # registry time / ogr2ogr time
IMPORT_TARGET = 50_000  # features per second
# format, file name, ogr2ogr arguments after the destination (the driver and its options)
PEERS: tuple[tuple[str, str, list[str]], ...] = (
    ("geojson", "out.geojson", ["-f", "GeoJSON", "-lco", "RFC7946=YES"]),
    ("shapefile", "out.shp.zip", ["-f", "ESRI Shapefile", "-lco", "ENCODING=UTF-8"]),
    ("gpkg", "out.gpkg", ["-f", "GPKG"]),
    ("flatgeobuf", "out.fgb", ["-f", "FlatGeobuf"]),
    ("csv", "out.csv", ["-f", "CSV", "-lco", "GEOMETRY=AS_WKT", "-lco", "WRITE_BOM=YES"]),
    ("xlsx", "out.xlsx", ["-f", "XLSX"]),
)


def fresh_registry(path: Path) -> GeoPackageStore:
    """An empty registry holding the demo's reference layers (street offices, park, lakes, rivers)."""
    store = GeoPackageStore.create(path, overwrite=True)
    for layer in model.REFERENCE_LAYERS:
        store.replace_reference(layer.name, read_geojson(GEODATA / "reference" / f"{layer.name}.geojson"))
    return store


def build_registry(path: Path, features: int, seed: int = 1) -> None:
    """A registry whose ``rivers`` layer holds ``features`` shifted copies of the demo's rivers."""
    rng = np.random.default_rng(seed)
    batch = demo_batch()
    rivers = batch.features["rivers"]
    templates = batch.projects[batch.projects["category"] == "rivers"].reset_index(drop=True)
    n_projects = -(-features // PER_PROJECT)
    years = 1990 + np.arange(n_projects) // 999
    numbers = np.arange(n_projects) % 999 + 1
    projects = templates.iloc[np.arange(n_projects) % len(templates)].reset_index(drop=True)
    projects["project_id"] = [f"{y}-RIV-{k:03d}" for y, k in zip(years, numbers)]
    projects["year"] = years.astype(str)
    projects["name"] = [f"{name}{i + 1}" for i, name in enumerate(projects["name"])]
    for column in ("planned_start", "planned_finish", "actual_start", "actual_finish"):
        dated = projects[column] != ""
        projects.loc[dated, column] = [f"{y}{d[4:]}" for y, d in zip(years[dated], projects.loc[dated, column])]
    pick = rng.integers(0, len(rivers), features)
    shift = rng.uniform(-SHIFT_DEGREES, SHIFT_DEGREES, (features, 2))
    geoms = shapely.transform(rivers.geometry.values[pick], lambda xy: xy)  # copies
    offsets = np.repeat(shift, shapely.get_num_coordinates(geoms), axis=0)
    geoms = shapely.set_coordinates(geoms, shapely.get_coordinates(geoms) + offsets)
    owner = np.arange(features) // PER_PROJECT
    frame = rivers.iloc[pick].reset_index(drop=True)
    frame = frame.assign(project_id=projects["project_id"].to_numpy()[owner],
                         name=[f"{n}{i % PER_PROJECT + 1}段" for i, n in enumerate(frame["name"])])
    frame = frame.set_geometry(geoms, crs=model.STORAGE_EPSG)
    store = fresh_registry(path)
    step = 2_000  # projects per batch
    for start in range(0, n_projects, step):
        ids = projects["project_id"].iloc[start:start + step]
        store.write(Batch(projects.iloc[start:start + step], {"rivers": frame[frame["project_id"].isin(ids)]}),
                    mode="insert")


def best(run: Callable[[], object], repeat: int, setup: Callable[[], object] | None = None) -> float:
    """The shortest of ``repeat`` wall-clock times of ``run`` (each after an untimed ``setup``), in seconds."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def peer_sql(fmt: str) -> str:
    """The rows ogr2ogr converts: the rivers joined to their projects, or (XLSX) the projects with Chinese headers."""
    if fmt == "xlsx":
        columns = ", ".join(f'"{f.name}" AS "{f.zh}"' for f in model.PROJECT_FIELDS)
        return f"SELECT {columns} FROM projects WHERE category = 'rivers'"
    columns = ", ".join(f'p."{c}"' for c in model.PROJECT_COLUMNS if c != "project_id")
    return (f"SELECT 'rivers' AS layer, r.fid AS fid, r.project_id, r.name AS feature_name, {columns}, r.geom "
            f"FROM rivers r JOIN projects p ON p.project_id = r.project_id")


def ogr2ogr(store: Path, target: Path, fmt: str, arguments: list[str]) -> None:
    """Debian's ogr2ogr writing the same rows as the registry's export of the same format."""
    if target.exists():
        target.unlink()
    subprocess.run(["ogr2ogr", *arguments, str(target), str(store), "-sql", peer_sql(fmt), "-nln", "rivers"],
                   check=True, capture_output=True)


def store_write_floor(source: GeoPackageStore, workdir: Path) -> float:
    """Seconds ``store.write`` alone takes for the same projects and features (the floor of any import)."""
    target = workdir / "floor.gpkg"
    fresh_registry(target)
    batch = Batch(source.projects(), {"rivers": source.features("rivers").reset_index(drop=True)})
    started = time.perf_counter()
    GeoPackageStore(target).write(batch, mode="insert")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    store_path = args.workdir / f"bench-exchange-{args.features}.gpkg"
    if not store_path.exists():
        print(f"making {store_path}", file=sys.stderr)
        build_registry(store_path, args.features)
    store = GeoPackageStore(store_path)
    started = time.perf_counter()
    result = find(store, {"category": "rivers"})
    query_s = time.perf_counter() - started
    out = Path(tempfile.mkdtemp(prefix="bench-exchange-"))
    rows = []
    try:
        for fmt, name, arguments in PEERS:
            ours = best(lambda fmt=fmt, name=name: export(result, out / f"registry-{name}", fmt), args.repeat)
            peer = best(lambda fmt=fmt, name=name, arguments=arguments: ogr2ogr(store_path, out / f"ogr-{name}", fmt,
                                                                                arguments), args.repeat)
            rows.append((fmt, ours, peer))
        imports = []
        target = out / "import.gpkg"
        for fmt, name in (("gpkg", "registry-out.gpkg"), ("shapefile", "registry-out.shp.zip")):
            def load(name: str = name) -> None:
                import_file(GeoPackageStore(target), out / name, mode="insert")

            imports.append((fmt, best(load, args.repeat, setup=lambda: fresh_registry(target))))
        # the same GeoPackage again over what it wrote: every project replaced (a department's update)
        upsert = best(lambda: import_file(GeoPackageStore(target), out / "registry-out.gpkg", mode="upsert"),
                      args.repeat, setup=lambda: import_file(fresh_registry(target), out / "registry-out.gpkg",
                                                             mode="insert"))
        floor = store_write_floor(store, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"{args.features:,} features of one layer, {len(result.projects):,} projects; "
          f"os.cpu_count() = {os.cpu_count()}; query (find) {query_s:.2f} s, not included below")
    table = pd.DataFrame([(f, round(a, 2), round(b, 2), round(a / b, 2), "yes" if a / b <= EXPORT_TARGET else "NO")
                          for f, a, b in rows], columns=["format", "registry s", "ogr2ogr s", "ratio", "≤1.2×"])
    print(table.to_string(index=False))
    for fmt, seconds in imports:
        rate = args.features / seconds
        print(f"import {fmt}: {seconds:.2f} s, {rate:,.0f} features/s "
              f"({'meets' if rate >= IMPORT_TARGET else 'misses'} {IMPORT_TARGET:,}/s)")
    print(f"import gpkg with --mode upsert over the same projects: {upsert:.2f} s, "
          f"{args.features / upsert:,.0f} features/s")
    print(f"of which store.write (validation and the SQLite transaction) alone: {floor:.2f} s, "
          f"{args.features / floor:,.0f} features/s")


if __name__ == "__main__":
    main()
