"""Benchmark edits over HTTP and what they cost readers, on the GeoPackage and the PostGIS store.

    .venv/bin/python scripts/bench_edit.py [--sizes 20000] [--patches 50] [--duration 10] [--rounds 3]
                                           [--workdir /tmp/registry-bench-edit] [--no-postgis] [--seed 1]

The issue's measurement (issue 13, item 10) is ``--sizes 100000`` (about 10 minutes on the 2-core machine);
the default is smaller so that a quick run stays short. For each size, a registry whose ``rivers`` layer
holds the features is made by ``scripts/make_synthetic.py``'s ``build`` (as ``scripts/bench_api.py`` makes
it, and reused from ``--workdir``); each store gets a fresh copy (PostGIS: a throwaway server from
``tests/pgserver.py``, filled with ``registry restore``; if it cannot start, why is printed and only the
GeoPackage is measured) and an admin account whose API token is sent as ``Authorization: Bearer``. The API
is served by gunicorn, 2 workers x 4 threads, as bench_api.py serves it (plus ``--keep-alive 75`` so that a
client connection stays with its worker). Measured:

1. PATCH latency: ``--patches`` sequential ``PATCH /projects/{id}`` (``application/merge-patch+json``,
   ``{"notes": ...}``) on new connections, p50/p95 (target p95 <= 50 ms on the GeoPackage);
2. sustained edits: 4 editor threads, each patching its own projects, while 4 reader threads run bbox item
   queries (~100 features, boxes around random features), for ``--duration`` s; beside it the readers alone;
   rates count the answers within the duration, latencies also those in flight when it ends;
3. read after an edit: the warm median of a bbox item query and of ``/projects?street=LF&category=rivers``
   in each worker (a kept-alive connection per worker, found through /proc), then ``--rounds`` times a
   one-feature PATCH (an item's ``feature_name``, in the bbox) sent to one worker and the first read in the
   worker that wrote and in the other (which must see the new name): the 2x rule of item 10, which is about
   the read in another worker than the one that wrote (the writer's shown beside), judged median against
   median, with the worst of the first reads and of the warm reads beside. Beside it, a
   control: the same reads after a request that writes nothing and takes as long (on a machine whose idle
   vCPUs halt, a read after a pause costs more than one in a run of reads, edit or not);
4. memory and cold start: the summed PSS (and RSS) of gunicorn's master and two workers after warming (and
   after the edits), each worker's first whole-layer request (``limit=100000``) at server start, and that of
   a worker started afresh while the server runs (one worker is stopped; gunicorn starts another). The server
   runs as scripts/serve runs it (``api/serving.py``: workers forked from a master that loaded the registry).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import signal
import socket
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import bench_api  # scripts/ is on the path when this runs as a script
import numpy as np
import orjson
import shapely

from registry import accounts
from registry.backup import restore
from registry.store import open_store

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.pgserver import PostgresServer  # noqa: E402  (the tests' throwaway server, reused)

LAYER = bench_api.LAYER
THREADS = 4  # gunicorn threads per worker, as scripts/serve and bench_api.py's threaded row
EDITORS = READERS = 4
PROJECTS_QUERY = {"street": "LF", "category": LAYER}
GOAL_PATCH_P95_MS = 50.0
GOAL_AFTER_EDIT = 2.0
GOAL_FRESH_S = 2.0
GOAL_RSS_MB = 800.0
TIMEOUT = 600
ADMIN = "bench-admin"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


# -- gunicorn workers, found through /proc ---------------------------------------------------------

def workers(master: int) -> list[int]:
    """The pids of the gunicorn master's worker processes."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            found.append(int(stat.parent.name))
    return sorted(found)


def socket_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server's end of the loopback connection from ``client_port`` (/proc/net/tcp)."""
    want_local, want_remote = f"{server_port:04X}", f"{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[1].endswith(f":{want_local}") and parts[2].endswith(f":{want_remote}"):
            return int(parts[9])
    return None


def owner(pids: list[int], inode: int) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) == target:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


# -- HTTP ------------------------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float


def send(con: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> Answer:
    started = time.perf_counter()
    con.request(method, path, body=body, headers={"Accept": "application/geo+json, application/json",
                                                  **(headers or {})})
    response = con.getresponse()
    payload = response.read()
    return Answer(response.status, payload, time.perf_counter() - started)


def once(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
         ) -> Answer:
    """One request on a new connection (as a client without keep-alive makes it)."""
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        return send(con, method, path, body, headers)
    finally:
        con.close()


def expect(answer: Answer, what: str, status: int = 200) -> Answer:
    if answer.status != status:
        raise SystemExit(f"{what} answered {answer.status}, not {status}: {answer.body[:400]!r}")
    return answer


def alive(con: http.client.HTTPConnection) -> bool:
    """Whether the server has kept ``con`` open (a peek reading b"" means it closed it)."""
    if con.sock is None:
        return False
    con.sock.setblocking(False)
    try:
        return con.sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        con.sock.settimeout(TIMEOUT)


class Server:
    """A running gunicorn of the registry API: its port, master pid and a connection kept in each worker."""

    def __init__(self, process, port: int, token: str) -> None:
        self.process, self.port = process, port
        self.auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/merge-patch+json"}

    def workers(self) -> list[int]:
        return workers(self.process.pid)

    def connection_to(self, pid: int | None = None, seconds: float = 120) -> tuple[http.client.HTTPConnection, int]:
        """A kept-alive connection accepted by worker ``pid`` (any worker with None), and that worker's pid;
        connections the other worker accepts are closed until ``pid`` has booted and wins one."""
        give_up = time.monotonic() + seconds
        while time.monotonic() < give_up:
            con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
            con.connect()
            client_port = con.sock.getsockname()[1]
            deadline = time.monotonic() + 5
            got = None
            while got is None and time.monotonic() < deadline:
                inode = socket_inode(self.port, client_port)
                got = owner(self.workers(), inode) if inode else None
                if got is None:
                    time.sleep(0.005)
            if got is not None and (pid is None or got == pid):
                return con, got
            con.close()
            time.sleep(0.01)
        raise SystemExit(f"no connection reached worker {pid} in {seconds:.0f} s")

    def on(self, cons: dict[int, http.client.HTTPConnection], pid: int, method: str, path: str,
           body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
        """A request in worker ``pid`` on its kept-alive connection (connected again if the server closed it)."""
        if not alive(cons[pid]):
            cons[pid].close()
            cons[pid] = self.connection_to(pid)[0]
        return send(cons[pid], method, path, body, headers)

    def patch(self, path: str, doc: dict, cons: dict[int, http.client.HTTPConnection] | None = None,
              pid: int | None = None) -> Answer:
        body = orjson.dumps(doc)
        if cons is None or pid is None:
            return once(self.port, "PATCH", path, body, self.auth)
        return self.on(cons, pid, "PATCH", path, body, self.auth)


# -- stores ----------------------------------------------------------------------------------------

@dataclass
class Store:
    name: str
    location: str
    token: str = ""


def gpkg_store(data: Path, workdir: Path) -> Store:
    copy = workdir / f"edit-{data.name}"
    shutil.copyfile(data, copy)
    return Store("GeoPackage", str(copy))


def postgis_store(data: Path, server: PostgresServer) -> Store:
    started = time.perf_counter()
    restore(data, server.url, force=True)
    log(f"  filled PostGIS from {data.name} in {time.perf_counter() - started:.1f} s")
    return Store("PostGIS", server.url)


def add_admin(store: Store) -> None:
    registry = open_store(store.location)
    if (registry.users()["name"] == ADMIN).any():
        store.token = accounts.reset(registry, ADMIN).token
    else:
        store.token = accounts.add(registry, ADMIN, "admin").token


# -- measurements ----------------------------------------------------------------------------------

@dataclass
class Result:
    store: str
    features: int
    patch_ms: list[float] = field(default_factory=list)
    sustained: dict[str, dict] = field(default_factory=dict)
    after_edit: dict[str, dict] = field(default_factory=dict)
    memory_warm: tuple[float, float] = (float("nan"), float("nan"))  # (RSS, PSS) MB of master and workers
    memory_after: tuple[float, float] = (float("nan"), float("nan"))
    cold_start_s: list[float] = field(default_factory=list)
    fresh_s: float = float("nan")


def items_path(**params: object) -> str:
    return f"/collections/{LAYER}/items?{urlencode(params)}"


def projects_path() -> str:
    return f"/projects?{urlencode(PROJECTS_QUERY)}"


def reader_boxes(bbox: tuple[float, ...], centres: np.ndarray, count: int, rng: random.Random) -> list[str]:
    """Boxes of the calibrated bbox's size around ``count`` random feature centres."""
    half_w, half_h = (bbox[2] - bbox[0]) / 2, (bbox[3] - bbox[1]) / 2
    chosen = rng.sample(range(len(centres)), count)
    return [f"{centres[i][0] - half_w:.6f},{centres[i][1] - half_h:.6f},{centres[i][0] + half_w:.6f},"
            f"{centres[i][1] + half_h:.6f}" for i in chosen]


def measure_patch_latency(server: Server, project_ids: list[str], count: int) -> list[float]:
    times = []
    for i in range(count):
        pid = project_ids[i % len(project_ids)]
        notes = f"bench latency {i} {time.time_ns()}"
        answer = expect(server.patch(f"/projects/{pid}", {"notes": notes}), f"PATCH /projects/{pid}")
        if i == 0 and orjson.loads(answer.body).get("notes") != notes:
            raise SystemExit(f"PATCH /projects/{pid}: the answer does not carry the new notes")
        times.append(answer.seconds * 1e3)
    return times


def sustained(server: Server, editor_projects: list[list[str]], boxes: list[str], seconds: float,
              editors: bool) -> dict:
    """Edits (when ``editors``) and bbox reads for ``seconds``, from EDITORS + READERS threads."""
    stop = threading.Event()
    edits: list[float] = []
    reads: list[float] = []
    errors: list[str] = []
    edits_in_time: list[bool] = []  # per answer: completed within ``seconds`` (what the rates count)
    reads_in_time: list[bool] = []
    lock = threading.Lock()

    def editor(number: int) -> None:
        mine, i = editor_projects[number], 0
        while not stop.is_set():
            pid = mine[i % len(mine)]
            answer = server.patch(f"/projects/{pid}", {"notes": f"bench editor {number} edit {i}"})
            with lock:
                (edits.append(answer.seconds * 1e3) if answer.status == 200
                 else errors.append(f"PATCH {answer.status} {answer.body[:200]!r}"))
                edits_in_time.append(not stop.is_set() and answer.status == 200)
            i += 1

    def reader(number: int) -> None:
        i = number
        while not stop.is_set():
            answer = once(server.port, "GET", items_path(bbox=boxes[i % len(boxes)], limit=1000))
            with lock:
                (reads.append(answer.seconds * 1e3) if answer.status == 200
                 else errors.append(f"GET {answer.status} {answer.body[:200]!r}"))
                reads_in_time.append(not stop.is_set() and answer.status == 200)
            i += READERS

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(READERS)]
    if editors:
        threads += [threading.Thread(target=editor, args=(n,)) for n in range(EDITORS)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:  # requests in flight are answered and their latency counted, not their rate
        thread.join()
    if errors:
        log(f"  {len(errors)} errors, first: {errors[0]}")
    return {"edits_per_s": sum(edits_in_time) / seconds if editors else None, "edit_p50": pct(edits, 50),
            "edit_p95": pct(edits, 95), "reads_per_s": sum(reads_in_time) / seconds, "read_p50": pct(reads, 50),
            "read_p95": pct(reads, 95), "errors": len(errors), "edits": len(edits), "reads": len(reads)}


def read_after_edit(server: Server, cons: dict[int, http.client.HTTPConnection], bbox: str, rounds: int,
                    warm_reads: int) -> dict[str, dict]:
    """Warm medians per query (both workers), then per round: a one-feature PATCH in one worker and the first
    read of one query in the writing worker and in the other. The bbox read must show the new name."""
    queries = {"bbox items": items_path(bbox=bbox, limit=1000), "street+category projects": projects_path()}
    pids = sorted(cons)
    doc = orjson.loads(expect(server.on(cons, pids[0], "GET", queries["bbox items"]), "bbox").body)
    target = doc["features"][0]["id"]
    results = {}
    round_no = 0
    for name, path in queries.items():
        warm, last = [], None
        for _ in range(warm_reads):
            for pid in pids:
                last = expect(server.on(cons, pid, "GET", path), name)
                warm.append(last.seconds * 1e3)
        answered = orjson.loads(last.body)
        rows = len(answered.get("features", answered.get("projects", [])))
        writer_first, other_first, writer_idle, other_idle = [], [], [], []
        for r in range(rounds):
            writer, other = pids[r % 2], pids[(r + 1) % 2]
            # The control: the same reads after a request that writes nothing but keeps the writing worker busy
            # as long as a PATCH (the projects query), so that the other worker idles as long: what reading after
            # a pause costs on this machine (its vCPUs halt when idle), an edit's refresh aside.
            expect(server.on(cons, writer, "GET", projects_path()), "projects (control)")
            for pid, into in ((writer, writer_idle), (other, other_idle)):
                into.append(expect(server.on(cons, pid, "GET", path), name).seconds * 1e3)
            label = f"bench after-edit round {round_no} {time.time_ns()}"
            round_no += 1
            expect(server.patch(f"/collections/{LAYER}/items/{target}", {"properties": {"feature_name": label}},
                                cons, writer), f"PATCH item {target}")
            for pid, into in ((writer, writer_first), (other, other_first)):
                answer = expect(server.on(cons, pid, "GET", path), name)
                into.append(answer.seconds * 1e3)
                if name == "bbox items":
                    seen = {f["id"]: f["properties"].get("feature_name") for f in orjson.loads(answer.body)["features"]}
                    if seen.get(target) != label:
                        raise SystemExit(f"worker {pid} answered the bbox after an acknowledged edit without it "
                                         f"(feature {target}: {seen.get(target)!r}, expected {label!r})")
        results[name] = {"features": rows, "warm_p50": statistics.median(warm), "warm_worst": max(warm),
                         "writer": writer_first, "other": other_first,
                         "idle": statistics.median(writer_idle + other_idle)}
    return results


def measure_store(store: Store, data_features: int, bbox: str, boxes: list[str], args: argparse.Namespace,
                  workdir: Path) -> Result:
    result = Result(store.name, data_features)
    registry = open_store(store.location)
    project_ids = sorted(registry.projects()["project_id"])
    rng = random.Random(args.seed)
    rng.shuffle(project_ids)
    del registry
    port = bench_api.free_port()
    command = bench_api.gunicorn(Path(sys.executable).parent / "gunicorn", bench_api.REGISTRY_SERVING, port, THREADS)
    command += ["--keep-alive", "75"]
    env = {**os.environ, "REGISTRY_STORE": store.location}
    logfile = workdir / f"gunicorn-{store.name.lower()}-{data_features}.log"
    with bench_api.server(f"registry on {store.name}", command, env, ROOT, logfile, port) as process:
        server = Server(process, port, store.token)
        deadline = time.monotonic() + 60
        while len(server.workers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        pids = server.workers()
        cons = {pid: server.connection_to(pid)[0] for pid in pids}
        whole = items_path(limit=min(bench_api.FULL_LIMIT, data_features))
        log(f"  warming workers {pids} (whole layer, bbox, projects query)")
        for pid in pids:  # one worker after the other, so each first request is a cold worker's alone
            result.cold_start_s.append(expect(server.on(cons, pid, "GET", whole), "whole layer").seconds)
            for path in (items_path(bbox=bbox, limit=1000), projects_path()):
                expect(server.on(cons, pid, "GET", path), path)
        result.memory_warm = bench_api.group_memory_mb(process.pid)

        log("  read latency after a one-feature edit vs warm")
        result.after_edit = read_after_edit(server, cons, bbox, args.rounds, args.warm_reads)
        log(f"  {args.patches} sequential PATCHes")
        result.patch_ms = measure_patch_latency(server, project_ids[:args.patches], args.patches)
        editor_projects = [project_ids[args.patches + n::EDITORS][:200] for n in range(EDITORS)]
        for pid in pids:  # the readers-alone phase measures warm workers, not the last PATCH's refresh
            expect(server.on(cons, pid, "GET", items_path(bbox=boxes[0], limit=1000)), "bbox")
        log(f"  readers alone, {args.duration} s")
        result.sustained["4 readers alone"] = sustained(server, editor_projects, boxes, args.duration, False)
        log(f"  4 editors + 4 readers, {args.duration} s")
        result.sustained["4 editors + 4 readers"] = sustained(server, editor_projects, boxes, args.duration, True)
        result.memory_after = bench_api.group_memory_mb(process.pid)

        log("  a worker started afresh: its first whole-layer request")
        for con in cons.values():
            con.close()
        victim = pids[-1]
        os.kill(victim, signal.SIGTERM)  # a worker of the server this script started; gunicorn starts another
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            fresh = [p for p in server.workers() if p not in pids]
            if fresh:
                break
            time.sleep(0.05)
        else:
            raise SystemExit(f"gunicorn started no new worker after worker {victim} stopped; see {logfile}")
        con, _ = server.connection_to(fresh[0])
        result.fresh_s = expect(send(con, "GET", whole), "whole layer (fresh worker)").seconds
        con.close()
    return result


# -- the report ------------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(results: list[Result], args: argparse.Namespace, bboxes: dict[int, str], postgis_note: str) -> None:
    print(f"\n## Edit benchmark: os.cpu_count() = {os.cpu_count()}; gunicorn 2 workers x {THREADS} threads; "
          f"Python {sys.version.split()[0]}")
    print(f"\nlayer `{LAYER}`; bbox of the after-edit reads per size: "
          + "; ".join(f"{n:,}: {b}" for n, b in bboxes.items()) + f"; projects query `{projects_path()}`")
    if postgis_note:
        print(f"\nPostGIS not measured: {postgis_note}")

    print(f"\n### 1. PATCH /projects/{{id}} latency ({args.patches} sequential, new connection each, Bearer token)\n")
    print("| store | features | p50 ms | p95 ms | max ms | goal p95 <= 50 ms (GeoPackage) |")
    print("|---|---:|---:|---:|---:|---|")
    for r in results:
        p95 = pct(r.patch_ms, 95)
        goal = verdict(p95 <= GOAL_PATCH_P95_MS) if r.store == "GeoPackage" else "-"
        print(f"| {r.store} | {r.features:,} | {pct(r.patch_ms, 50):.1f} | {p95:.1f} | {max(r.patch_ms):.1f} "
              f"| {goal} |")

    print(f"\n### 2. Sustained edits ({EDITORS} editor threads, own projects) with {READERS} bbox readers, "
          f"{args.duration} s each\n")
    print("| store | features | load | edits/s | edit p50 ms | edit p95 ms | reads/s | read p50 ms | read p95 ms "
          "| errors |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for phase, s in r.sustained.items():
            edits = "-" if s["edits_per_s"] is None else f"{s['edits_per_s']:.1f}"
            ep50 = "-" if s["edits_per_s"] is None else f"{s['edit_p50']:.1f}"
            ep95 = "-" if s["edits_per_s"] is None else f"{s['edit_p95']:.1f}"
            print(f"| {r.store} | {r.features:,} | {phase} | {edits} | {ep50} | {ep95} | {s['reads_per_s']:.1f} | "
                  f"{s['read_p50']:.1f} | {s['read_p95']:.1f} | {s['errors']} |")

    print(f"\n### 3. First read after a one-feature PATCH vs warm median ({args.rounds} edits per query; "
          "ms, median over the edits, worst in brackets)\n")
    print("| store | features | query | rows | warm p50 (worst) | first read, writing worker "
          "| first read, other worker | rule: other worker's median <= 2x warm | other worker: worst / warm "
          "| warm reads: worst / warm | writing worker: worst / warm | control: after a request that writes nothing "
          "| median first / control |")
    print("|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in results:
        for name, a in r.after_edit.items():
            warm = a["warm_p50"]
            other = statistics.median(a["other"]) / warm
            print(f"| {r.store} | {r.features:,} | {name} | {a['features']} | {warm:.1f} ({a['warm_worst']:.1f}) | "
                  f"{statistics.median(a['writer']):.1f} ({max(a['writer']):.1f}) | "
                  f"{statistics.median(a['other']):.1f} ({max(a['other']):.1f}) | "
                  f"{other:.1f}x {verdict(other <= GOAL_AFTER_EDIT)} | {max(a['other']) / warm:.1f}x | "
                  f"{a['warm_worst'] / warm:.1f}x | {max(a['writer']) / warm:.1f}x | {a['idle']:.1f} | "
                  f"{statistics.median(a['writer'] + a['other']) / a['idle']:.1f}x |")
    print("\nWarm: reads one after another in each worker. The rule (issue 13, item 10) is about the first read in "
          "another worker than the one that wrote, which has its follower bring the edit forward as soon as it is "
          "committed; the writing worker brings its own write forward at its next read (shown beside). It is judged "
          "median against median: on this machine single reads stray by more than 2x of the warm median with no "
          "edit at all (the warm reads' own worst is shown beside the first reads' worst). Control: the same "
          "reads, each round, right after the writing worker answered a projects query (as long as a PATCH, "
          "writing nothing): what a read after a pause costs here, the refresh aside.")

    print("\n### 4. Memory and cold start\n")
    print("| store | features | PSS of server after warming MB (RSS) | after the edits MB (RSS) | goal < 800 MB "
          "| first whole-layer request per worker at start s | fresh worker's first whole-layer request s "
          "| goal < 2 s |")
    print("|---|---:|---:|---:|---|---|---:|---|")
    for r in results:
        (warm_rss, warm), (after_rss, after) = r.memory_warm, r.memory_after
        print(f"| {r.store} | {r.features:,} | {warm:.0f} ({warm_rss:.0f}) | {after:.0f} ({after_rss:.0f}) | "
              f"{verdict(warm < GOAL_RSS_MB)} | {', '.join(f'{s:.2f}' for s in r.cold_start_s)} | {r.fresh_s:.2f} | "
              f"{verdict(r.fresh_s < GOAL_FRESH_S)} |")
    print("\nPSS: the summed proportional set size of gunicorn's master and its two workers (a page shared by "
          "several processes is counted once in the sum; the workers are forked after the master loaded the "
          "registry, as scripts/serve runs it); RSS: their summed VmRSS (shared pages counted in each). Whole layer: "
          f"`/collections/{LAYER}/items?limit={bench_api.FULL_LIMIT}` (at most that many features). The 2x rule "
          "and the memory goals are set for 1M and 100k features respectively; smaller sizes are for orientation.")


# -- main ------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000",
                        help="feature counts, comma-separated (default 20000; the issue's measurement is 100000)")
    parser.add_argument("--patches", type=int, default=50, help="sequential PATCHes timed (default 50)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of each sustained phase (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="one-feature edits per after-edit query (default 3)")
    parser.add_argument("--warm-reads", type=int, default=10, help="warm reads per worker and query (default 10)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/registry-bench-edit"),
                        help="where the data and the server logs go")
    parser.add_argument("--no-postgis", action="store_true", help="measure the GeoPackage store only")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the data and choices (default 1)")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be whole numbers separated by commas, got {args.sizes!r}")
    if min(sizes, default=0) < 2_000 or args.patches < 1 or args.rounds < 1 or args.warm_reads < 1:
        parser.error("--sizes must be at least 2000 each; --patches, --rounds and --warm-reads at least 1")
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    def terminate(signum, frame):  # unwind so that the servers are stopped
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    postgres, postgis_note = None, ""
    if args.no_postgis:
        postgis_note = "--no-postgis"
    else:
        try:
            postgres = PostgresServer.start()
        except (RuntimeError, OSError) as exc:
            postgis_note = f"the throwaway PostgreSQL did not start: {exc}"
            log(postgis_note)
    results, bboxes = [], {}
    try:
        for size in sizes:
            data = bench_api.ensure_registry(workdir, size, args.seed)
            expected = bench_api.expectations(data)
            bbox = ",".join(str(v) for v in expected.bbox)
            bboxes[len(expected.fids)] = bbox
            frame = open_store(str(data)).features(LAYER)
            centres = shapely.get_coordinates(shapely.centroid(frame.geometry.values))  # degrees suffice here
            boxes = reader_boxes(expected.bbox, centres, 64, random.Random(args.seed))
            del frame
            stores = [gpkg_store(data, workdir)]
            if postgres is not None:
                stores.append(postgis_store(data, postgres))
            for store in stores:
                add_admin(store)
                log(f"measuring {store.name}, {len(expected.fids):,} features")
                results.append(measure_store(store, len(expected.fids), bbox, boxes, args, workdir))
    finally:
        if postgres is not None:
            postgres.stop()
    report(results, args, bboxes, postgis_note)
    print(f"\nserver logs: {workdir}/gunicorn-*.log")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; the servers were stopped")
        sys.exit(130)
