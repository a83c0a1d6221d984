"""Benchmark the registry's OGC API – Features against pygeoapi 0.21.0 on one 100k-feature collection.

    .venv/bin/python scripts/bench_api.py [--features 100000] [--duration 20] [--connections 4]
                                          [--workdir /tmp/registry-bench-api] [--full-repeats 5]
                                          [--registry-threads 4] [--seed 1]

As shared/benchmarks.md says the peer was measured here, side by side in the same run:

- data: a registry GeoPackage whose ``rivers`` layer holds ``--features`` lines (3-10 vertices,
  100-800 m, EPSG:4490, about ten per project; the projects carry every attribute), made by
  ``scripts/make_synthetic.py``'s ``build`` with ``layers=["rivers"]`` once in ``--workdir`` and reused;
- pygeoapi 0.21.0 in its own venv (Debian's python3 with ``--system-site-packages`` for GDAL), the
  same GeoPackage layer served twice, by its ``OGR`` and its ``SQLiteGPKG`` provider,
  ``server.limits.max_items: 100000``, served by gunicorn with 2 sync workers;
- the registry's API (``api:create_app()``) with gunicorn, 2 sync workers (the headline) and, as an
  extra row, 2 workers x ``--registry-threads`` threads (the production setting of scripts/serve);
  each is warmed first (the first requests of a worker load and encode the layer);
- ``wrk`` (4 connections, ``--duration`` s per case, ``--latency`` and a Lua ``done()`` that prints
  p50/p95/p99) on: a bbox of about 100 features, a page of 1,000 features at offset 50,000 (for the
  registry also the same page by keyset, ``after=<fid>`` as its ``next`` links give it), and the
  whole collection (``limit=100000``) timed as ``--full-repeats`` sequential downloads per server.

Every response is checked first (status 200, numberReturned, the page's feature ids). The table's
ratio is the registry's throughput over the faster pygeoapi provider's (for the whole collection,
the faster provider's median time over the registry's); the issue's goal is 5x on each case and the
whole collection in under 0.92 s. Servers are stopped on exit, also on Ctrl-C and errors.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import make_synthetic  # scripts/ is on the path when this runs as a script
import numpy as np
import orjson
import shapely

from registry import model
from registry.store import GeoPackageStore

ROOT = Path(__file__).resolve().parent.parent
LAYER = "rivers"  # a MultiLineString project layer: the benchmark's one collection
PYGEOAPI_VERSION = "0.21.0"
APT_PACKAGES = {"python3-gdal": "/usr/lib/python3/dist-packages/osgeo", "libsqlite3-mod-spatialite": None,
                "wrk": "/usr/bin/wrk"}
BBOX_TARGET = 100
PAGE_LIMIT = 1_000
PAGE_OFFSET = 50_000
FULL_LIMIT = 100_000
GOAL_RATIO = 5.0
GOAL_FULL_SECONDS = 0.92
SERVER_TIMEOUT = 600  # gunicorn --timeout: pygeoapi-OGR takes over 20 s for the whole collection
WRK_TIMEOUT = "120s"  # wrk's default of 2 s would drop pygeoapi's slow answers as timeouts

WRK_LUA = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_SUMMARY {\\"requests\\": %d, \\"duration_us\\": %.0f, \\"bytes\\": %.0f, \\"connect\\": %d, " ..
    "\\"read\\": %d, \\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d, \\"p50\\": %.0f, \\"p75\\": %.0f, " ..
    "\\"p90\\": %.0f, \\"p95\\": %.0f, \\"p99\\": %.0f, \\"max\\": %.0f, \\"mean\\": %.1f}\\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean))
end
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- data: a registry whose one layer holds all the features ----------------------------------------

WRITE_BATCH = 25_000  # features per write transaction


def ensure_registry(workdir: Path, n_features: int, seed: int) -> Path:
    path = workdir / f"synthetic-{LAYER}-{n_features}-seed{seed}.gpkg"
    if path.exists():
        GeoPackageStore.upgrade(path)  # one made by an older schema is brought up to date (a no-op when current)
        counts = {info.name: info.count for info in GeoPackageStore(path).layers()}
        if counts.get(LAYER) == n_features:
            log(f"reusing {path} ({n_features:,} features in {LAYER})")
            return path
        log(f"{path} holds {counts.get(LAYER)} features, not {n_features}: making it again")
    log(f"making {path}: {n_features:,} lines in layer {LAYER}")
    make_synthetic.build(n_features, path, seed, WRITE_BATCH, layers=[LAYER])
    return path


@dataclass
class Expected:
    """What the checks compare responses with: fids in order, and the bbox's features."""

    fids: np.ndarray
    bbox: tuple[float, float, float, float]
    bbox_fids: set[int]


def expectations(path: Path) -> Expected:
    """The layer's fids and a bbox that holds about BBOX_TARGET features (exact intersects)."""
    frame = GeoPackageStore(path).features(LAYER).sort_index()
    fids = frame.index.to_numpy()
    centre = shapely.get_coordinates(frame.geometry.values[len(frame) // 2])[0]
    low, high = 1e-5, 0.2
    for _ in range(40):  # bisect the half-width of a square around the centre
        half = (low + high) / 2
        box = shapely.box(centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
        count = len(frame.sindex.query(box, predicate="intersects"))
        if count < BBOX_TARGET:
            low = half
        else:
            high = half
    half = high
    bbox = tuple(round(float(v), 6) for v in (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half))
    hits = frame.sindex.query(shapely.box(*bbox), predicate="intersects")
    return Expected(fids, bbox, {int(f) for f in fids[hits]})


# -- tools and pygeoapi -----------------------------------------------------------------------------

def ensure_debian_packages() -> None:
    missing = []
    for package, probe in APT_PACKAGES.items():
        if probe is not None:
            present = Path(probe).exists()
        else:
            present = subprocess.run(["dpkg", "-s", package], capture_output=True).returncode == 0
        if not present:
            missing.append(package)
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"missing Debian packages {', '.join(missing)}; install them as root "
                         f"(apt-get install -y {' '.join(missing)})")
    log(f"apt-get install -y {' '.join(missing)}")
    if subprocess.run(["apt-get", "install", "-y", *missing], stdout=subprocess.DEVNULL).returncode:
        log("apt-get install failed: apt-get update, then once more")
        subprocess.run(["apt-get", "update"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", *missing], check=True, stdout=subprocess.DEVNULL)


def ensure_pygeoapi(workdir: Path) -> Path:
    """A venv of Debian's python3 (with its GDAL bindings) holding pygeoapi 0.21.0 and gunicorn."""
    venv = workdir / "pygeoapi-venv"
    python = venv / "bin" / "python"
    probe = "import importlib.metadata as m, osgeo.ogr, gunicorn; print(m.version('pygeoapi'))"
    if python.exists():
        found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip() == PYGEOAPI_VERSION:
            return venv
    log(f"installing pygeoapi {PYGEOAPI_VERSION} into {venv}")
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"pygeoapi=={PYGEOAPI_VERSION}", "gunicorn"],
                   check=True)
    subprocess.run([str(python), "-c", probe], check=True, stdout=subprocess.DEVNULL)
    return venv


def pygeoapi_config(data: Path, port: int, extent: tuple[float, ...]) -> dict:
    """Two collections over the same GeoPackage layer: ``rivers_ogr`` (OGR) and ``rivers_sqlite``
    (SQLiteGPKG). No storage_crs: the lon/lat CGCS2000 data are served as CRS84 untransformed, as
    the registry serves them."""
    def collection(title: str, provider: dict) -> dict:
        return {
            "type": "collection",
            "title": title,
            "description": f"{model.LAYER_BY_NAME[LAYER].title_zh} ({LAYER}), synthetic",
            "keywords": ["rivers"],
            "extents": {"spatial": {"bbox": list(extent), "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
            "providers": [provider],
        }

    return {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": f"http://127.0.0.1:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "language": "en-US",
            "cors": False,
            "pretty_print": False,
            "limits": {"default_items": 10, "max_items": FULL_LIMIT},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "OpenStreetMap"},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {"title": "pygeoapi peer", "description": "benchmark peer", "keywords": ["bench"],
                               "keywords_type": "theme", "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                               "url": "http://127.0.0.1/"},
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "bench", "url": "http://127.0.0.1/"},
            "contact": {"name": "bench", "email": "bench@example.org", "url": "http://127.0.0.1/",
                        "role": "pointOfContact"},
        },
        "resources": {
            "rivers_ogr": collection("rivers (OGR provider)", {
                "type": "feature", "name": "OGR",
                "data": {"source_type": "GPKG", "source": str(data), "source_capabilities": {"paging": True}},
                "id_field": "fid", "layer": LAYER}),
            "rivers_sqlite": collection("rivers (SQLiteGPKG provider)", {
                "type": "feature", "name": "SQLiteGPKG", "data": str(data), "id_field": "fid", "table": LAYER}),
        },
    }


# -- servers ----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(name: str, command: list[str], env: dict[str, str], cwd: Path, logfile: Path,
           port: int) -> Iterator[subprocess.Popen]:
    """A server process (in its own session, so its whole group can be stopped) while the block runs."""
    log(f"starting {name} on 127.0.0.1:{port}")
    with open(logfile, "wb") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{name} exited with {process.returncode}; see {logfile}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not listen on port {port} within 120 s; see {logfile}") from None
                time.sleep(0.2)
        yield process
    finally:
        stop(process)


def group_memory_mb(pgid: int) -> tuple[float, float]:
    """The memory a process group (a gunicorn master and its workers) holds, in MB: summed RSS (pages shared
    by several processes counted in each) and summed PSS (each shared page split among its sharers, so the
    sum counts it once), from /proc/PID/smaps_rollup."""
    rss = pss = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            sizes = dict(line.split(":", 1) for line in (stat.parent / "smaps_rollup").read_text().splitlines()[1:])
        except (OSError, IndexError, ValueError):
            continue
        rss += int(sizes["Rss"].split()[0])
        pss += int(sizes["Pss"].split()[0])
    return rss / 1024, pss / 1024


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


REGISTRY_SERVING = "python:api.serving"  # the registry's gunicorn configuration, as scripts/serve uses it


def gunicorn(binary: Path, app: str, port: int, threads: int = 1) -> list[str]:
    """gunicorn's command line: 2 workers (of ``threads`` threads) serving ``app``, a WSGI app or, given as
    ``python:MODULE``, a configuration module that names it."""
    command = [str(binary), "--workers", "2", "--bind", f"127.0.0.1:{port}", "--timeout", str(SERVER_TIMEOUT),
               "--graceful-timeout", "5"]
    if threads > 1:
        command += ["--threads", str(threads)]
    return [*command, "-c", app] if app.startswith("python:") else [*command, app]


# -- HTTP and checks --------------------------------------------------------------------------------

@dataclass
class Target:
    """One server's collection: a display name, its base URL of items."""

    name: str
    port: int
    items: str  # path of the items endpoint
    headline: bool = True  # False for the threaded registry row
    registry: bool = False

    def path(self, **params: object) -> str:
        return f"{self.items}?{urlencode(params)}"

    def url(self, **params: object) -> str:
        return f"http://127.0.0.1:{self.port}{self.path(**params)}"


def fetch(target: Target, path: str, timeout: float = SERVER_TIMEOUT) -> tuple[int, bytes, float]:
    """(status, body, seconds to the last byte) of one GET on a fresh connection."""
    started = time.perf_counter()
    con = http.client.HTTPConnection("127.0.0.1", target.port, timeout=timeout)
    try:
        con.request("GET", path, headers={"Accept": "application/geo+json, application/json"})
        response = con.getresponse()
        body = response.read()
        return response.status, body, time.perf_counter() - started
    finally:
        con.close()


def fetch_json(target: Target, path: str) -> tuple[dict, int, float]:
    status, body, seconds = fetch(target, path)
    if status != 200:
        raise SystemExit(f"{target.name}: GET {path} answered {status}: {body[:300]!r}")
    return orjson.loads(body), len(body), seconds


def ids_of(doc: dict) -> list[int]:
    return [int(f["id"]) for f in doc["features"]]


def check(target: Target, doc: dict, expected_count: int, what: str, ids: list[int] | None = None) -> str:
    """Fail unless numberReturned (and, when given, the ids) are as expected; return a note."""
    returned = doc.get("numberReturned", len(doc["features"]))
    if returned != len(doc["features"]):
        raise SystemExit(f"{target.name} {what}: numberReturned {returned} but {len(doc['features'])} features")
    if returned != expected_count:
        raise SystemExit(f"{target.name} {what}: numberReturned {returned}, expected {expected_count}")
    if ids is not None and ids_of(doc) != ids:
        got = ids_of(doc)
        raise SystemExit(f"{target.name} {what}: feature ids {got[:3]}...{got[-3:]} differ from the expected "
                         f"{ids[:3]}...{ids[-3:]}")
    return ""


# -- measuring --------------------------------------------------------------------------------------

@dataclass
class Row:
    case: str
    server: str
    features: int
    bytes: int
    rps: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    seconds: list[float] = field(default_factory=list)  # whole-collection downloads
    headline: bool = True
    registry: bool = False


def run_wrk(url: str, duration: int, connections: int, lua: Path, logfile: Path) -> dict:
    threads = max(1, min(2, connections))
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", WRK_TIMEOUT, "--latency",
               "-H", "Accept: application/geo+json, application/json", "-s", str(lua), url]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    with open(logfile, "a") as out:
        out.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
    for line in done.stdout.splitlines():
        if line.startswith("WRK_SUMMARY "):
            return json.loads(line.removeprefix("WRK_SUMMARY "))
    raise SystemExit(f"wrk printed no summary for {url}:\n{done.stdout}{done.stderr}")


def drain(target: Target, connections: int) -> None:
    """Wait until the requests wrk left in flight (or queued) are answered: sync workers keep answering
    them after wrk has gone, which would load the machine during the next case. ``connections`` cheap
    requests at once queue behind them."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(lambda _: fetch(target, target.path(limit=1)), range(connections)))


def wrk_row(case: str, target: Target, path_params: dict, features: int, size: int, args, lua: Path,
            logfile: Path) -> Row:
    url = target.url(**path_params)
    log(f"  wrk {case} on {target.name}: {url}")
    summary = run_wrk(url, args.duration, args.connections, lua, logfile)
    drain(target, args.connections)
    errors = sum(summary[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Row(case, target.name, features, size, rps=summary["requests"] / (summary["duration_us"] / 1e6),
               p50_ms=summary["p50"] / 1e3, p95_ms=summary["p95"] / 1e3, p99_ms=summary["p99"] / 1e3,
               errors=errors, headline=target.headline, registry=target.registry)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))  # linear interpolation


def warm(requests: list[tuple[Target, str]], rounds: int = 2) -> dict[str, float]:
    """Send each request from 4 clients at once, ``rounds`` times, so both workers of each server
    have loaded (and, for the registry, encoded) the layer before anything is timed. Returns the
    seconds of each server's first round (cold workers)."""
    from concurrent.futures import ThreadPoolExecutor

    first: dict[str, float] = {}
    with ThreadPoolExecutor(4) as pool:
        for target, path in requests:
            for _ in range(rounds):
                started = time.perf_counter()
                statuses = list(pool.map(lambda args: fetch(*args)[0], [(target, path)] * 4))
                if any(s != 200 for s in statuses):
                    raise SystemExit(f"{target.name}: GET {path} answered {statuses} while warming")
                first.setdefault(target.name, time.perf_counter() - started)
                log(f"  warming {target.name} with {path}: {time.perf_counter() - started:.2f} s")
    return first


# -- the report -------------------------------------------------------------------------------------

def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def report(rows: list[Row], args, expected: Expected, registry_threads: int, cold: dict[str, float],
           memory: dict[str, tuple[float, float]]) -> bool:
    peers = [r for r in rows if not r.registry]
    lines = []
    header = (f"{'case':<40} {'server':<26} {'req/s':>9} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} "
              f"{'errors':>6} {'features':>8} {'bytes/resp':>11} {'ratio':>7}")
    lines.append(header)
    lines.append("-" * len(header))
    verdicts = []
    for row in rows:
        base = row.case.split(" (")[0] if row.case.startswith("page") else row.case
        faster = [p for p in peers if (p.case.split(" (")[0] if p.case.startswith("page") else p.case) == base]
        ratio = None
        if row.registry and faster:
            if row.seconds:
                best = min(statistics.median(p.seconds) for p in faster)
                ratio = best / statistics.median(row.seconds)
            else:
                ratio = row.rps / max(p.rps for p in faster)
            if row.headline:
                verdicts.append((row.case, ratio, row))
        lines.append(f"{row.case:<40} {row.server:<26} {fmt(row.rps, 2):>9} {fmt(row.p50_ms):>9} "
                     f"{fmt(row.p95_ms):>9} {fmt(row.p99_ms):>9} {row.errors:>6} {row.features:>8,} "
                     f"{row.bytes:>11,} {(fmt(ratio, 1) + 'x') if ratio is not None else '-':>7}")
    print()
    print(f"API benchmark: {len(expected.fids):,} features in one collection ({LAYER}), wrk {args.connections} "
          f"connections x {args.duration} s per case, os.cpu_count() = {os.cpu_count()}")
    print(f"bbox {','.join(str(v) for v in expected.bbox)} (CRS84)")
    print()
    print("\n".join(lines))
    print()
    full = [r for r in rows if r.seconds]
    if full:
        print(f"whole collection (limit={FULL_LIMIT}), {args.full_repeats} sequential downloads each, 1 client:")
        print(f"  {'server':<26} {'median s':>9} {'p95 s':>9} {'min s':>9} {'max s':>9} {'MB':>9} {'features':>9}")
        for row in full:
            print(f"  {row.server:<26} {statistics.median(row.seconds):>9.3f} {percentile(row.seconds, 95):>9.3f} "
                  f"{min(row.seconds):>9.3f} {max(row.seconds):>9.3f} {row.bytes / 1e6:>9.1f} {row.features:>9,}")
        print()
    print("cold start: 4 concurrent first requests to fresh workers (registry: the whole collection, from workers "
          "forked after the master loaded and encoded the layers, as scripts/serve runs it; pygeoapi: the bbox):")
    for name, seconds in cold.items():
        print(f"  {name:<26} {seconds:8.2f} s")
    print("memory after the run, gunicorn master and workers: summed PSS (what they hold together; a page shared "
          "by several processes counted once) and summed RSS (shared pages counted in each process):")
    for name, (rss, pss) in memory.items():
        print(f"  {name:<26} PSS {pss:8.0f} MB   RSS {rss:8.0f} MB")
    print()
    print(f"req/s, p50/p95/p99: wrk, {args.connections} connections, latency percentiles from wrk's done() hook; "
          "for the whole collection, req/s = 1 / mean and p50/p95 the median/p95 download times (sequential).")
    print("ratio: registry req/s over the faster pygeoapi provider's (whole collection: faster provider's median "
          "seconds over the registry's); the keyset page is compared with pygeoapi's offset page.")
    print("errors: wrk's socket errors and non-2xx answers (pygeoapi-SQLiteGPKG answers some requests with 500 when "
          "its two workers run SpatiaLite's AutoGPKGStart() on the file at once; see pygeoapi.log).")
    print("bytes/resp: registry features carry their project's attributes (feature_name, project_id and 24 more, "
          "coordinates to 7 decimals); pygeoapi serves the layer's own columns (project_id, name) at full precision.")
    print("registry (2 sync) is the headline: gunicorn 2 sync workers, like pygeoapi; "
          + (f"registry (2x{registry_threads} threads) is gunicorn --workers 2 --threads {registry_threads}, "
             "shown for information only." if registry_threads > 1 else ""))
    print()
    ok = True
    for case, ratio, row in verdicts:
        goal = f">= {GOAL_RATIO:.0f}x"
        passed = ratio >= GOAL_RATIO
        if row.seconds:
            median = statistics.median(row.seconds)
            passed = passed and median < GOAL_FULL_SECONDS
            goal += f" and < {GOAL_FULL_SECONDS} s (median {median:.3f} s)"
        ok &= passed
        print(f"goal {case:<40} {goal:<46} {ratio:6.1f}x  {'MET' if passed else 'MISSED'}")
    return ok


# -- main -------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=100_000, help="features in the collection (default 100000)")
    parser.add_argument("--duration", type=int, default=20, help="seconds of wrk per case (default 20)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/registry-bench-api"),
                        help="where the data, pygeoapi's venv and config and the logs go")
    parser.add_argument("--full-repeats", type=int, default=5,
                        help="sequential whole-collection downloads per server (default 5)")
    parser.add_argument("--registry-threads", type=int, default=4,
                        help="also measure the registry with 2 workers x this many threads (0 or 1: skip)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the synthetic data (default 1)")
    args = parser.parse_args(argv)
    if args.features < 2 * PAGE_LIMIT:
        parser.error(f"--features must be at least {2 * PAGE_LIMIT}")
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    def terminate(signum, frame):  # SIGTERM/SIGHUP: unwind so that the servers are stopped
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # respect nohup
        signal.signal(signal.SIGHUP, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even when started in the background

    ensure_debian_packages()
    data = ensure_registry(workdir, args.features, args.seed)
    expected = expectations(data)
    venv = ensure_pygeoapi(workdir)
    registry_gunicorn = Path(sys.executable).parent / "gunicorn"
    if not registry_gunicorn.exists():
        raise SystemExit(f"no gunicorn beside {sys.executable}; run this with the project's venv (.venv/bin/python)")
    lua = workdir / "wrk-summary.lua"
    lua.write_text(WRK_LUA)
    wrk_log = workdir / "wrk.log"
    wrk_log.write_text("")

    ports = {"pygeoapi": free_port(), "registry": free_port(), "threads": free_port()}
    extent = GeoPackageStore(data).layers()
    bounds = next(i.extent for i in extent if i.name == LAYER)
    # pygeoapi's SQLiteGPKG provider writes to the file it serves (SpatiaLite's AutoGPKGStart() creates
    # vgpkg_* virtual tables on every request), which would change the registry's store revision and make
    # it reload the layer again and again: pygeoapi gets a byte-identical copy, made afresh for each run.
    peer_data = workdir / "pygeoapi-data.gpkg"
    shutil.copyfile(data, peer_data)
    config = workdir / "pygeoapi-config.yml"
    config.write_text(json.dumps(pygeoapi_config(peer_data, ports["pygeoapi"], bounds), indent=2,
                                 ensure_ascii=False))
    openapi = workdir / "pygeoapi-openapi.yml"
    pg_env = {**os.environ, "PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    subprocess.run([str(venv / "bin" / "pygeoapi"), "openapi", "generate", str(config), "--output-file",
                    str(openapi)], env=pg_env, check=True, stdout=subprocess.DEVNULL)

    reg_env = {**os.environ, "REGISTRY_STORE": str(data)}
    rows: list[Row] = []
    threads_name = f"registry (2x{args.registry_threads} threads)"
    with ExitStack() as stack:
        processes = {
            "pygeoapi (2 sync)": stack.enter_context(server(
                "pygeoapi", gunicorn(venv / "bin" / "gunicorn", "pygeoapi.flask_app:APP", ports["pygeoapi"]),
                pg_env, workdir, workdir / "pygeoapi.log", ports["pygeoapi"])),
            "registry (2 sync)": stack.enter_context(server(
                "registry (2 sync)", gunicorn(registry_gunicorn, REGISTRY_SERVING, ports["registry"]),
                reg_env, ROOT, workdir / "registry.log", ports["registry"])),
        }
        targets = [
            Target("registry (2 sync)", ports["registry"], f"/collections/{LAYER}/items", registry=True),
            Target("pygeoapi-OGR", ports["pygeoapi"], "/collections/rivers_ogr/items"),
            Target("pygeoapi-SQLiteGPKG", ports["pygeoapi"], "/collections/rivers_sqlite/items"),
        ]
        if args.registry_threads > 1:
            processes[threads_name] = stack.enter_context(server(
                threads_name, gunicorn(registry_gunicorn, REGISTRY_SERVING, ports["threads"], args.registry_threads),
                reg_env, ROOT, workdir / "registry-threads.log", ports["threads"]))
            targets.insert(1, Target(threads_name, ports["threads"], f"/collections/{LAYER}/items", headline=False,
                                     registry=True))
        registries = [t for t in targets if t.registry]
        peers = [t for t in targets if not t.registry]

        bbox = ",".join(str(v) for v in expected.bbox)
        bbox_params = {"bbox": bbox, "limit": PAGE_LIMIT}
        offset = min(PAGE_OFFSET, len(expected.fids) - PAGE_LIMIT)
        page_params = {"limit": PAGE_LIMIT, "offset": offset}
        page_ids = [int(f) for f in expected.fids[offset:offset + PAGE_LIMIT]]
        full_params = {"limit": FULL_LIMIT}
        full_count = min(FULL_LIMIT, len(expected.fids))

        log("warming the registry servers (each worker loads and encodes the layer on its first request)")
        cold = warm([(t, t.path(**params)) for t in registries for params in (full_params, bbox_params)])
        log("warming pygeoapi")
        cold |= warm([(t, t.path(**params)) for t in peers for params in (bbox_params, page_params)], rounds=1)

        log("checking the responses")
        sizes: dict[tuple[str, str], tuple[int, int]] = {}
        for target in targets:
            doc, size, _ = fetch_json(target, target.path(**bbox_params))
            got = set(ids_of(doc))
            if target.registry:
                check(target, doc, len(expected.bbox_fids), "bbox")
                if got != expected.bbox_fids:
                    raise SystemExit(f"{target.name} bbox: the features differ from the exact intersects")
            elif got - expected.bbox_fids or not got:
                raise SystemExit(f"{target.name} bbox: {len(got - expected.bbox_fids)} features that do not "
                                 "intersect the bbox")
            log(f"  bbox on {target.name}: {len(got)} features ({len(expected.bbox_fids)} intersect exactly), "
                f"{size:,} bytes")
            sizes[("bbox", target.name)] = (len(got), size)
            doc, size, _ = fetch_json(target, target.path(**page_params))
            check(target, doc, PAGE_LIMIT, f"page at offset {offset}", page_ids)
            sizes[("page", target.name)] = (PAGE_LIMIT, size)
        keyset_params = None
        for target in registries:
            doc, _, _ = fetch_json(target, target.path(limit=PAGE_LIMIT, offset=offset - PAGE_LIMIT))
            after = [link["href"] for link in doc["links"] if link["rel"] == "next"]
            if not after or "after=" not in after[0]:
                raise SystemExit(f"{target.name}: the page before offset {offset} has no next link with after=")
            position = int(after[0].split("after=")[1].split("&")[0])
            keyset_params = {"limit": PAGE_LIMIT, "after": position}
            doc, size, _ = fetch_json(target, target.path(**keyset_params))
            check(target, doc, PAGE_LIMIT, f"keyset page after={position}", page_ids)
            sizes[("keyset", target.name)] = (PAGE_LIMIT, size)

        log("measuring with wrk")
        case_bbox = f"bbox ~{BBOX_TARGET} features"
        case_page = f"page {PAGE_LIMIT} @ offset {offset}"
        for target in targets:
            count, size = sizes[("bbox", target.name)]
            rows.append(wrk_row(case_bbox, target, bbox_params, count, size, args, lua, wrk_log))
        for target in targets:
            count, size = sizes[("page", target.name)]
            rows.append(wrk_row(case_page, target, page_params, count, size, args, lua, wrk_log))
        for target in registries:
            count, size = sizes[("keyset", target.name)]
            rows.append(wrk_row(f"{case_page} (keyset after=)", target, keyset_params, count, size, args, lua,
                                wrk_log))

        log(f"timing {args.full_repeats} whole-collection downloads per server")
        for target in targets:
            doc, size, _ = fetch_json(target, target.path(**full_params))
            check(target, doc, full_count, "whole collection")
            del doc
            times = []
            for _ in range(args.full_repeats):
                status, body, seconds = fetch(target, target.path(**full_params))
                if status != 200 or len(body) < size * 0.99:
                    raise SystemExit(f"{target.name}: whole collection answered {status}, {len(body):,} bytes")
                times.append(seconds)
            log(f"  {target.name}: median {statistics.median(times):.3f} s, {size / 1e6:.1f} MB")
            rows.append(Row(f"whole collection ({full_count:,})", target.name, full_count, size,
                            rps=len(times) / sum(times), p50_ms=statistics.median(times) * 1e3,
                            p95_ms=percentile(times, 95) * 1e3, p99_ms=None, seconds=times,
                            headline=target.headline, registry=target.registry))
        memory = {name: group_memory_mb(process.pid) for name, process in processes.items()}
    ok = report(rows, args, expected, args.registry_threads, cold, memory)
    print(f"\nlogs: {workdir}/{{pygeoapi,registry,registry-threads}}.log, wrk output: {wrk_log}")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; the servers were stopped")
        sys.exit(130)
