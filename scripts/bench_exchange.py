"""Benchmark the exchange formats against ogr2ogr on one 100k-feature layer.

    python scripts/bench_exchange.py [--features 100000] [--workdir DIR] [--repeat 3]

The registry is made once into ``--workdir`` by ``scripts/make_synthetic.py``'s ``build`` with
``layers=["rivers"]``: the demo's reference layers and ``--features`` synthetic river lines, about ten
per project, every project attribute filled. It is written through ``GeoPackageStore.write`` so it
passes the registry's validation.

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

import pandas as pd
from make_synthetic import build, reference_registry  # scripts/ is on the path when this runs as a script

from registry import model
from registry.exchange import export, import_file
from registry.query import find
from registry.store import Batch, GeoPackageStore

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
    reference_registry(target)
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
    store_path = args.workdir / f"synthetic-rivers-{args.features}-seed1.gpkg"
    if not store_path.exists():
        print(f"making {store_path}", file=sys.stderr)
        build(args.features, store_path, layers=["rivers"])
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

            imports.append((fmt, best(load, args.repeat, setup=lambda: reference_registry(target))))
        # the same GeoPackage again over what it wrote: every project replaced (a department's update)
        upsert = best(lambda: import_file(GeoPackageStore(target), out / "registry-out.gpkg", mode="upsert"),
                      args.repeat, setup=lambda: import_file(reference_registry(target), out / "registry-out.gpkg",
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
