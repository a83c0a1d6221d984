"""Many at once: a thread storm against one server process, and readers (threads and processes) while a
writer upserts, on both stores. Every answer must come whole from one committed state."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle, islice

import geopandas as gpd
import pandas as pd
import pytest
import requests

from registry.demo import build_demo
from registry.store import Batch, open_store

from .conftest import answering, serve
from .pgserver import free_port

STORM = [  # what a person choosing a street on /map and others asking at the same moment send
    *(f"collections/{layer}/items?street={code}&limit=1000" for layer in ("rivers", "alleys", "billboards", "sluices")
      for code in ("LF", "XT", "WT", "SP")),
    "projects?street=婁葑", "projects?street=XT&predicate=within", "stats?by=street,category",
    "stats?by=street", "projects?near=唐莊河&distance=200",
    "projects?polygon=POLYGON((120.66 31.28,120.74 31.28,120.74 31.34,120.66 31.34,120.66 31.28))",
    "collections/construction_sites/items?bbox=120.6,31.2,120.9,31.5", "maps?f=png&dpi=50&street=WT",
]


@pytest.fixture
def flask_server(demo_copy):
    """``registry serve`` (Flask's threaded server, one process) on the demo, in a subprocess so that a crash
    fails the test instead of pytest."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "registry", "serve", "--store", str(demo_copy), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    if not answering(url):
        proc.kill()
        raise RuntimeError(f"registry serve did not answer: {proc.communicate()[1].decode()[-2000:]}")
    yield proc, url
    proc.kill()
    proc.wait(timeout=10)


def test_a_thread_storm_against_one_server_process_gets_every_answer(flask_server, demo_copy):
    proc, url = flask_server
    store = open_store(str(demo_copy))
    statuses: list[int | str] = []

    def ask(path: str) -> None:
        try:
            statuses.append(requests.get(url + path, timeout=120).status_code)
        except requests.RequestException as exc:
            statuses.append(type(exc).__name__)

    for _ in range(6):  # bursts, each after a write: the server starts each on a new state, with cold caches
        store.write(Batch(store.projects(["2013-ALY-001"]), {"alleys": store.features("alleys", project_ids=[
            "2013-ALY-001"])}), mode="upsert")
        with ThreadPoolExecutor(24) as pool:
            list(pool.map(ask, islice(cycle(STORM), 72)))
    assert proc.poll() is None, f"the server died: {proc.stderr.read().decode()[-2000:]}"
    assert [s for s in statuses if s != 200] == []
    assert len(statuses) == 432


RACE = """
import sys, threading
import numpy as np, shapely
from registry import spatial
from registry.store import open_store
view = open_store(sys.argv[1])
points = np.asarray(view.features("billboards").geometry.array)
lines = np.asarray(view.features("rivers").geometry.array)
boundary = shapely.to_wkb(view.features("street_offices").geometry.values[0])
for _ in range(200):
    street = shapely.from_wkb(boundary)  # one boundary, shared by every thread, not yet prepared
    barrier = threading.Barrier(8)
    def work(i):
        barrier.wait()
        spatial.membership(lines if i % 2 else points, street, [])
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
"""


def test_threads_applying_the_membership_rule_to_one_shared_boundary_do_not_crash(demo_path):
    # Before the rule prepared a private copy, this process died with SIGSEGV every time (3 of 3 runs).
    run = subprocess.run([sys.executable, "-c", RACE, str(demo_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


# -- readers while a writer upserts ---------------------------------------------------------------------------
WATCHED = ["2013-RIV-001", "2013-RIV-002", "2013-RIV-003", "2013-RIV-004"]


def generation(projects: pd.DataFrame, lines: gpd.GeoDataFrame, k: int) -> Batch:
    """The watched river projects in generation k: notes ``gen k`` and k % 3 + 1 features named ``gen k``
    (copies of each project's first line, moved a little). In every committed state each watched project
    has features, and all of them carry its generation."""
    rows = lines.loc[lines.index.repeat(k % 3 + 1)]
    frame = gpd.GeoDataFrame({"project_id": rows["project_id"].to_numpy(), "name": f"gen {k}"},
                             geometry=rows.geometry.translate(xoff=k * 1e-7).values, crs=4490)
    return Batch(projects.assign(notes=f"gen {k}"), {"rivers": frame})


def torn_items(doc: dict) -> list[str]:
    """What in an items page no committed state would give: a watched project missing, a feature whose
    generation differs from its project's, a feature count not of the project's generation."""
    found: dict[str, list[dict]] = {pid: [] for pid in WATCHED}
    for feature in doc["features"]:
        props = feature["properties"]
        if props["project_id"] in found:
            found[props["project_id"]].append(props)
    problems = []
    for pid, props in found.items():
        notes = {p["notes"] for p in props}
        names = {p["feature_name"] for p in props}
        if not props or len(notes) != 1 or names != notes:
            problems.append(f"{pid}: notes {notes} names {names}")
        elif len(props) != int(notes.pop().split()[1]) % 3 + 1:
            problems.append(f"{pid}: {len(props)} features in generation {names}")
    return problems


def torn_projects(doc: dict) -> list[str]:
    """The same for /projects: each watched project with the features of its own generation."""
    problems = []
    for project in doc["projects"]:
        if project["project_id"] not in WATCHED:
            continue
        names = {f["name"] for f in project["features"]}
        k = int(project["notes"].split()[1])
        if names != {project["notes"]} or len(project["features"]) != k % 3 + 1:
            problems.append(f"{project['project_id']}: {project['notes']} with {names} x{len(project['features'])}")
    return problems


def hammer(location: str, seconds: float) -> tuple[int, list[str], list[str]]:
    """A writer thread upserting generations while gunicorn's workers (processes × threads) and this
    process's own snapshots read, for ``seconds`` and until 5 generations are written; returns (generations
    written, errors, torn answers)."""
    store = open_store(location)
    projects = store.projects(WATCHED)
    lines = store.features("rivers", project_ids=WATCHED).drop_duplicates("project_id")
    store.write(generation(projects, lines, 0), mode="upsert")
    errors: list[str] = []
    torn: list[str] = []
    stop = threading.Event()
    written = [0]

    def write() -> None:
        k = 1
        while not stop.is_set():
            store.write(generation(projects, lines, k), mode="upsert")
            written[0] = k
            k += 1

    with serve(location) as url:
        def read(i: int) -> None:
            session = requests.Session()
            while not stop.is_set():
                path = ("collections/rivers/items?limit=10000", "projects?category=rivers&limit=100")[i % 2]
                response = session.get(url + path, timeout=60)
                if response.status_code != 200:
                    errors.append(f"{path}: {response.status_code} {response.text[:300]}")
                    continue
                doc = response.json()
                torn.extend(torn_items(doc) if "features" in doc else torn_projects(doc))

        def read_here() -> None:
            local = open_store(location)
            while not stop.is_set():
                with local.snapshot() as view:
                    projects = view.projects(WATCHED).set_index("project_id")["notes"]
                    lines = view.features("rivers", project_ids=WATCHED)
                for pid, notes in projects.items():
                    names = set(lines.loc[lines["project_id"] == pid, "name"])
                    if names != {notes}:
                        torn.append(f"in-process {pid}: {notes} with {names}")

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(write), *(pool.submit(read, i) for i in range(5)), pool.submit(read_here),
                       pool.submit(read_here)]
            deadline = time.monotonic() + 8 * seconds  # a loaded machine writes slower: run to 5 generations
            time.sleep(seconds)
            while written[0] < 5 and time.monotonic() < deadline:
                time.sleep(0.2)
            stop.set()
            for future in futures:
                try:
                    future.result()
                except Exception as exc:  # noqa: BLE001 - every failure is what the test reports
                    errors.append(f"{type(exc).__name__}: {exc}")
    return written[0], errors, torn


def test_readers_get_whole_answers_while_a_writer_upserts_a_geopackage(demo_copy):
    written, errors, torn = hammer(str(demo_copy), 12)
    assert written >= 5
    assert errors == []
    assert torn == []
    integrity = subprocess.run(["sqlite3", str(demo_copy), "PRAGMA integrity_check"], capture_output=True, text=True)
    assert integrity.stdout.strip() == "ok"


def test_readers_get_whole_answers_while_a_writer_upserts_postgis(postgis_url):
    build_demo(postgis_url)
    written, errors, torn = hammer(postgis_url, 12)
    assert written >= 5
    assert errors == []
    assert torn == []


def test_a_write_by_another_process_is_seen_by_the_next_snapshot(demo_copy):
    store = open_store(str(demo_copy))
    with store.snapshot() as before:
        old = before.revision()
    code = f"from registry.store import open_store; open_store({str(demo_copy)!r}).delete(['2013-ALY-001'])"
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ)
    with store.snapshot() as after:
        assert after.revision() != old
        assert "2013-ALY-001" not in set(after.projects()["project_id"])
        assert after.features("alleys", project_ids=["2013-ALY-001"]).empty
