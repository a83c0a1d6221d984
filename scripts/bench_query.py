"""Benchmark opening a registry and its queries on synthetic registries of growing size.

    python scripts/bench_query.py [--sizes 10000,100000,1000000] [--repeat 20] [--workdir DIR] [--profile]

Registries are made with ``scripts/make_synthetic.py`` (seed 1) into ``--workdir`` as
``synthetic-SIZE.gpkg``, or reused when already there (upgraded to this version's schema first). Each
size is measured in its own Python process, so the peak RSS (``ru_maxrss``) is that of one size:

- open: ``open_store`` plus the first load of the projects and of every layer (a warm store);
- street+category, whole street, bbox (about 100 features) and near (200 m of a main river), each a
  ``registry.query.find`` and its features (``feature_rows``, as ``/projects`` answers); the feature count is the
  number of features found. Near is also shown with the project attributes joined to each feature (``features``,
  as GeoJSON output, exports and maps ask for them). The first run of each
  is shown on its own row: it pays for what the store builds on demand (a layer's street membership);
- the peer baseline of shared/benchmarks.md: plain GeoPandas ``gdf.sindex.query(geom,
  predicate="intersects")`` and ``gdf.iloc[idx]`` on the same loaded layers, for the street and
  bbox queries; ``ratio`` is the registry's median over the baseline's.

Times are the median and 95th percentile of ``--repeat`` runs after one discarded warm-up run (the
open is repeated ``--open-repeat`` times; its discarded first run, which pays the process's one-time
costs as a server start does, is shown on its own). ``--profile`` prints, to stderr, the cProfile functions
of one run of each registry operation that misses its target.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from registry import model
from registry.params import parse
from registry.query import find
from registry.store import GeoPackageStore, Store, open_store
from registry.streets import streets_as_of

SCRIPTS = Path(__file__).resolve().parent
STREET = "LF"  # 婁葑: about 8% of the park's land
CATEGORY = "construction_sites"  # 12% of the synthetic features: LF + this is about 1% of all
RIVER = "婁江"  # a main river crossing the whole park
NEAR_METRES = "200"
BBOX_FEATURES = 100
# Targets for 1M features (issue 12, item 6): a query with a GeoPandas baseline within PEER_FACTOR times its
# time or PEER_SLACK_MS more, whichever is larger; the others within these times; the peak RSS under this.
PEER_FACTOR, PEER_SLACK_MS = 2.0, 1.0
TARGETS_MS = {"open": 3_200.0, "near": 150.0}
TARGET_RSS_MB = 1_400.0


def registry_path(workdir: Path, size: int) -> Path:
    return workdir / f"synthetic-{size}.gpkg"


def ensure_registry(path: Path, size: int) -> None:
    """Make the synthetic registry of ``size`` features at ``path`` unless it is there already."""
    if path.exists():
        ran = GeoPackageStore.upgrade(path)  # one made by an older version is brought to this schema
        print(f"reusing {path}" + (f" (upgraded: {', '.join(ran)})" if ran else ""), file=sys.stderr)
        return
    print(f"making {path}", file=sys.stderr)
    subprocess.run([sys.executable, str(SCRIPTS / "make_synthetic.py"), "--features", str(size),
                    "--out", str(path)], check=True)


# -- the measuring process ------------------------------------------------------------------------

def timings(run: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of ``repeat`` runs of ``run``, after one discarded warm-up run."""
    run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(operation: str, features: int, times: list[float], baseline: str | None = None) -> dict:
    return {"operation": operation, "features": features, "median_ms": float(np.median(times)),
            "p95_ms": float(np.percentile(times, 95)), "baseline": baseline}


def profile(operation: str, run: Callable[[], object], top: int = 25) -> None:
    """Print the cProfile functions of one run of ``run`` to stderr, by cumulative then own time."""
    profiler = cProfile.Profile()
    profiler.runcall(run)
    for order in ("cumulative", "tottime"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(order).print_stats(top)
        print(f"\n== profile of {operation}, by {order} ==\n{text.getvalue()}", file=sys.stderr)


def open_warm(path: Path) -> Store:
    """Open the store and load the projects and every layer, as the first request would."""
    store = open_store(str(path))
    store.projects()
    for layer in model.LAYERS:
        store.features(layer.name)
    return store


def answer(store: Store, params: dict[str, str]) -> gpd.GeoDataFrame:
    """A query's answer as ``/projects`` gives it: the page of projects and their matching features."""
    return find(store, params).feature_rows


def joined(store: Store, params: dict[str, str]) -> gpd.GeoDataFrame:
    """The features with their projects' attributes, as GeoJSON output, exports and maps ask for them."""
    return find(store, params).features


def peer(frames: list[gpd.GeoDataFrame], region: shapely.Geometry) -> int:
    """The GeoPandas baseline: spatial-index query of ``region`` and row copy, on each frame."""
    found = 0
    for frame in frames:
        found += len(frame.iloc[frame.sindex.query(region, predicate="intersects")])
    return found


def bbox_around(store: Store, centre: shapely.Point, want: int) -> str:
    """A bbox around ``centre`` (EPSG:4490) whose query finds about ``want`` features (calibrated)."""
    half = 0.002
    text = ""
    for _ in range(12):
        text = f"{centre.x - half:.6f},{centre.y - half:.6f},{centre.x + half:.6f},{centre.y + half:.6f}"
        found = len(find(store, {"bbox": text}).features)
        if 0.8 * want <= found <= 1.25 * want:
            break
        half *= min(4.0, np.sqrt(want / max(found, 1)))
    return text


def measure(path: Path, repeat: int, open_repeat: int, with_profile: bool) -> dict:
    """Every measurement of one registry, with the process's peak RSS."""
    times = []
    store = None
    for _ in range(open_repeat + 1):
        store = None  # let the previous store go before loading the next
        gc.collect()
        started = time.perf_counter()
        store = open_warm(path)
        times.append((time.perf_counter() - started) * 1000)
    features = sum(len(store.features(layer.name)) for layer in model.PROJECT_LAYERS)
    rows = [summary("open, first in process", features, times[:1]), summary("open", features, times[1:])]
    runs: dict[str, Callable[[], object]] = {"open": lambda: open_warm(path)}

    streets = streets_as_of(store, date.today().isoformat())
    street = streets.geometry.values[list(streets["code"]).index(STREET)]
    queries = {
        "street+category": {"street": STREET, "category": CATEGORY},
        "whole street": {"street": STREET},
        "bbox": {"bbox": bbox_around(store, street.representative_point(), BBOX_FEATURES)},
        "near": {"near": RIVER, "distance": NEAR_METRES},
    }
    for operation, params in queries.items():
        runs[operation] = run = partial(answer, store, params)
        started = time.perf_counter()  # the first run also builds what the store indexes on demand
        found = len(run())
        rows.append(summary(f"{operation}, first", found, [(time.perf_counter() - started) * 1000]))
        rows.append(summary(operation, found, timings(run, repeat)))
        if operation == "near":  # the baseline covers the index queries only
            with_attributes = partial(joined, store, params)
            rows.append(summary(f"{operation}, with attributes", found, timings(with_attributes, repeat)))
            continue
        query = parse(params, store)
        frames = [store.features(layer) for layer in query.feature_layers()]
        baseline = partial(peer, frames, street if query.street else query.bbox)
        rows.append(summary(f"{operation}: geopandas", baseline(), timings(baseline, repeat), baseline=operation))

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before profiling loads more
    if with_profile:
        limits = target_limits(rows)
        for row in rows:
            if row["median_ms"] > limits.get(row["operation"], float("inf")):
                profile(row["operation"], runs[row["operation"]])
    return {"queries": queries, "rows": rows, "peak_rss_mb": peak_mb}


# -- the driver -----------------------------------------------------------------------------------

def run_size(path: Path, size: int, args: argparse.Namespace) -> dict:
    """Measure one registry in a fresh process and return its results."""
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", str(path),
               "--repeat", str(args.repeat), "--open-repeat", str(args.open_repeat)]
    if args.profile:
        command.append("--profile")
    print(f"measuring {size:,} features...", file=sys.stderr, flush=True)
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout)


def print_table(results: dict[int, dict]) -> None:
    header = (f"{'size':>10}  {'operation':<26}{'features':>9}  {'median ms':>10}  {'p95 ms':>9}  "
              f"{'peak RSS MB':>11}  {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for size, result in results.items():
        peers = {row["baseline"]: row["median_ms"] for row in result["rows"] if row["baseline"]}
        for row in result["rows"]:
            ratio = f"{row['median_ms'] / peers[row['operation']]:.1f}" if row["operation"] in peers else ""
            print(f"{size:>10,}  {row['operation']:<26}{row['features']:>9,}  {row['median_ms']:>10.1f}  "
                  f"{row['p95_ms']:>9.1f}  {result['peak_rss_mb']:>11.0f}  {ratio:>6}")


def target_limits(rows: list[dict]) -> dict[str, float]:
    """Each operation's target in ms: from its GeoPandas baseline when it has one (same run), else fixed."""
    limits = dict(TARGETS_MS)
    for row in rows:
        if row["baseline"]:
            limits[row["baseline"]] = max(PEER_FACTOR * row["median_ms"], row["median_ms"] + PEER_SLACK_MS)
    return limits


def print_targets(results: dict[int, dict]) -> None:
    print(f"\ntargets (set for 1,000,000 features; with a baseline: {PEER_FACTOR:g}x it or {PEER_SLACK_MS:g} ms "
          "more, whichever is larger):")
    for size, result in results.items():
        medians = {row["operation"]: row["median_ms"] for row in result["rows"]}
        checks = [f"{op} {medians[op]:.1f} < {limit:.1f} ms {'ok' if medians[op] < limit else 'MISSED'}"
                  for op, limit in target_limits(result["rows"]).items() if op in medians]
        rss = result["peak_rss_mb"]
        checks.append(f"peak RSS {rss:.0f} < {TARGET_RSS_MB:.0f} MB {'ok' if rss < TARGET_RSS_MB else 'MISSED'}")
        print(f"{size:>10,}: " + "; ".join(checks))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="feature counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per query (after one warm-up)")
    parser.add_argument("--open-repeat", type=int, default=3, help="timed opens (after one warm-up)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/registry-bench"),
                        help="where the synthetic registries are kept")
    parser.add_argument("--profile", action="store_true", help="profile operations that miss their target")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the per-size process
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.open_repeat < 1:
        parser.error("--repeat and --open-repeat must be at least 1")
    if args.measure:
        json.dump(measure(args.measure, args.repeat, args.open_repeat, args.profile), sys.stdout)
        return
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be whole numbers separated by commas, got {args.sizes!r}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = {}
    for size in sizes:
        path = registry_path(args.workdir, size)
        ensure_registry(path, size)
        results[size] = run_size(path, size, args)
    print(f"\nnproc {os.cpu_count()}; Python {sys.version.split()[0]}, geopandas {gpd.__version__}, "
          f"shapely {shapely.__version__}; {args.repeat} runs per query, {args.open_repeat} opens")
    for size, result in results.items():
        print(f"{size:,}: street+category {result['queries']['street+category']}; "
              f"bbox {result['queries']['bbox']['bbox']}")
    print()
    print_table(results)
    print_targets(results)


if __name__ == "__main__":
    main()
