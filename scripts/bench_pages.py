"""Time the web pages in Chromium to their ``data-ready`` marker (set once the charts and tables are drawn).

    .venv/bin/python scripts/bench_pages.py [--runs 5] [--workdir /tmp/registry-bench-pages] [--features 100000]

Issue 15's targets: the dashboard and the list of all 180 projects ready in under 500 ms on the demo over loopback,
and the dashboard on a 100,000-feature registry in under 2 s. The demo registry and the synthetic one
(``scripts/make_synthetic.py``) are built once in ``--workdir`` and reused; each is served by gunicorn as
``scripts/serve`` runs it (api/serving.py: 2 workers x 4 threads forked from a master that loaded the registry).
Each page is loaded once to warm the server, then ``--runs`` times in a fresh browser context (nothing cached: the
HTML, the figures, Chart.js and Leaflet are all fetched) and ``--runs`` times reloaded in one context (the browser's
cache holds the scripts, as for someone at work). The first load is shown apart: it computes the dashboard's
figures, which are then kept until the registry changes. The time is from the navigation's start to the marker (the
page's ``data-ready`` performance mark if it makes one, else when Playwright saw the marker). The marker says the
charts and tables are on the page, not yet that the browser has painted them: the time to the first contentful paint
(FCP) is shown beside it. Prints a table, with the load average (1 min) after each page's runs.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's, as the tests use
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
READY = "body[data-ready='1']"
# (page, registry, path, target in ms)
CASES = (("dashboard", "demo", "/", 500), ("all 180 projects", "demo", "/projects?f=html&limit=180", 500),
         ("dashboard", "100k", "/", 2000))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_registries(workdir: Path, features: int) -> dict[str, Path]:
    """The demo and a synthetic registry of ``features`` features in ``workdir``, built if missing."""
    workdir.mkdir(parents=True, exist_ok=True)
    demo, big = workdir / "demo.gpkg", workdir / f"synthetic-{features}.gpkg"
    python = sys.executable
    if not demo.exists():
        log(f"building {demo}")
        subprocess.run([python, "-m", "registry", "demo", "--store", str(demo)], check=True, cwd=ROOT)
    if not big.exists():
        log(f"building {big}")
        subprocess.run([python, str(ROOT / "scripts" / "make_synthetic.py"), "--features", str(features),
                        "--out", str(big)], check=True, cwd=ROOT)
    for path in (demo, big):  # a registry kept from an older version is brought to this one's schema
        subprocess.run([python, "-m", "registry", "upgrade", "--store", str(path)], check=True, cwd=ROOT,
                       capture_output=True)
    return {"demo": demo, "100k": big}


@contextmanager
def served(store: Path) -> Iterator[str]:
    """gunicorn serving ``store`` as scripts/serve does (api/serving.py: the master loads the registry before it
    forks the workers); yields its URL and stops it afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen([str(gunicorn), "-c", "python:api.serving", "--workers", "2", "--threads", "4",
                                "--bind", f"127.0.0.1:{port}"], cwd=ROOT,
                               env={**os.environ, "REGISTRY_STORE": str(store)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):  # the workers forked and answering (the master loads the registry first)
            try:
                with urllib.request.urlopen(f"{url}/conformance", timeout=30):
                    break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def ready_ms(page: Page, url: str | None) -> tuple[float, float, float]:
    """Load ``url`` (or reload): milliseconds from the navigation's start to the marker, to the HTML's first byte
    (the server's share) and to the first contentful paint."""
    if url is None:
        page.reload(wait_until="commit", timeout=120_000)
    else:
        page.goto(url, wait_until="commit", timeout=120_000)
    page.wait_for_selector(READY, state="attached", timeout=120_000)
    # The page's own mark when it set the marker (dashboard.js makes one), else now.
    ready, first_byte = page.evaluate(
        "() => { const mark = performance.getEntriesByName('data-ready')[0]; "
        "return [mark ? mark.startTime : performance.now(), performance.getEntriesByType('navigation')[0]"
        ".responseStart]; }")
    paint = page.wait_for_function(
        "() => { const fcp = performance.getEntriesByName('first-contentful-paint')[0]; return fcp && fcp.startTime; }",
        timeout=120_000).json_value()
    return float(ready), float(first_byte), float(paint)


def measure(browser: Browser, url: str, runs: int) -> dict[str, list[tuple[float, float, float]]]:
    """A first load (the server computes), ``runs`` loads in fresh contexts (cold: nothing cached in the browser)
    and ``runs`` reloads in one context (warm: scripts cached, the page revalidated with its ETag)."""
    def context():
        return browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")

    first = context()
    times = {"first": [ready_ms(first.new_page(), url)]}
    ready_ms(first.new_page(), url)  # the other worker's first answer, likewise not among the timed loads
    first.close()
    times["cold"] = []
    for _ in range(runs):
        fresh = context()
        times["cold"].append(ready_ms(fresh.new_page(), url))
        fresh.close()
    warm_context = context()
    page = warm_context.new_page()
    ready_ms(page, url)
    times["warm"] = [ready_ms(page, None) for _ in range(runs)]
    warm_context.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/registry-bench-pages"))
    parser.add_argument("--features", type=int, default=100_000)
    args = parser.parse_args()
    stores = ensure_registries(args.workdir, args.features)
    load = os.getloadavg()
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for registry in ("demo", "100k"):
            with served(stores[registry]) as base:
                for name, which, path, target in CASES:
                    if which != registry:
                        continue
                    log(f"{name} on {registry}: {base}{path}")
                    rows.append((name, registry, measure(browser, base + path, args.runs), target,
                                 os.getloadavg()[0]))
        browser.close()
    print(f"load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f} (2 cores shared with other work)")
    print(f"{'page':<18} {'registry':<9} {'first':>7} {'cold median':>12} {'cold max':>9} {'warm median':>12} "
          f"{'(HTML first byte)':>18} {'(cold FCP)':>11} {'target':>7} {'load':>5}  verdict")
    for name, registry, times, target, after in rows:
        cold = statistics.median(t[0] for t in times["cold"])
        warm = statistics.median(t[0] for t in times["warm"])
        byte = statistics.median(t[1] for t in times["cold"])
        paint = statistics.median(t[2] for t in times["cold"])
        verdict = "ok" if cold < target and warm < target else "SLOW"
        print(f"{name:<18} {registry:<9} {times['first'][0][0]:>5.0f}ms {cold:>10.0f}ms "
              f"{max(t[0] for t in times['cold']):>7.0f}ms {warm:>10.0f}ms {byte:>16.0f}ms {paint:>9.0f}ms "
              f"{target:>5}ms {after:>5.1f}  {verdict}")

if __name__ == "__main__":
    main()
