"""Time the progress bulletin (and the assessment) on a registry of 10,000 projects; the target is under 10 s.

    python scripts/bench_bulletin.py [--projects 10000] [--workdir /tmp/bench-bulletin] [--seed 1]

The registry is made once in ``--workdir`` by ``scripts/make_synthetic.py``'s ``build`` (about ten features a
project), registered on 2025-06-30 (``OGR_CURRENT_DATE`` backdates its change log), and then a month of work is
recorded on 2025-12-01: progress for every in-progress and delayed project. The bulletin is computed as of
the registry's data date (2025-12-31, so its projects are rebuilt from the change log's project entries, and
those of 2025-11-15 for the change since then; both timed apart) and rendered as HTML, Markdown, DOCX and PDF. Each step
is timed; the totals (the store's reads, the computation, the document and one format) are judged against the
target. The bulletin of today's state (no rebuild) is timed as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from make_synthetic import build  # scripts/ is on the path when this runs as a script

from registry import script
from registry.report import assessment, bulletin, document
from registry.store import Author, GeoPackageStore, history, read_store
from registry.store.edits import Records
from registry.store.history import day_start_utc

TARGET_S = 10.0
REGISTERED, WORKED, SINCE = "2025-06-30", "2025-12-01", "2025-11-15"
FEATURES_PER_PROJECT = 10  # make_synthetic's


def make_registry(path: Path, projects: int, seed: int) -> None:
    """The synthetic registry, backdated to ``REGISTERED``, with a month's progress recorded on ``WORKED``."""
    os.environ["OGR_CURRENT_DATE"] = day_start_utc(REGISTERED)
    try:
        build(projects * FEATURES_PER_PROJECT, path, seed)
    finally:
        del os.environ["OGR_CURRENT_DATE"]
    store = GeoPackageStore(path)
    rng = np.random.default_rng(seed)
    open_ids = store.projects().query("status in ('in_progress', 'delayed')")["project_id"].tolist()

    def work(before: Records) -> Records:
        projects = before.projects.copy()
        projects["progress_pct"] = np.round(rng.uniform(0, 100, len(projects)), 1)
        return Records(projects, before.features)

    store.edit(open_ids, work, Author("bench", role="admin", at=day_start_utc(WORKED)))


def timed(label: str, rows: list[tuple[str, float, str]], step: Callable[[], object], note: str = "") -> object:
    started = time.perf_counter()
    value = step()
    rows.append((label, time.perf_counter() - started, note))
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10_000, help="about how many projects (default 10000)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-bulletin"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"registry-{args.projects}p-s{args.seed}.gpkg"
    rows: list[tuple[str, float, str]] = []
    if not path.exists():
        timed("make the registry (once)", rows, lambda: make_registry(path, args.projects, args.seed))
    GeoPackageStore.upgrade(path)  # one kept from an older version is brought to this one's schema
    with script.use("zh-Hans"), read_store(str(path)) as view:
        n = len(view.projects())
        today = timed("bulletin of today's state: compute (no rebuild)", rows,
                      lambda: bulletin.compute(view, history.today()), f"{n:,} projects")
        timed("bulletin of today's state: build (loads matplotlib)", rows, lambda: bulletin.build(today, view),
              "not in the totals: a server has it loaded")
        on = view.meta()["data_date"]
        for day in (on, SINCE):  # the store's as-of reads, kept per revision: compute below finds them made
            timed(f"store: the projects as recorded on {day}", rows,
                  lambda day=day: history.projects_as_of(view, day), "rebuilt from the change log")
        made = timed("bulletin: compute (as of the data date, since)", rows,
                     lambda: bulletin.compute(view, None, SINCE), f"{n:,} projects")
        doc = timed("bulletin: build the document", rows, lambda: bulletin.build(made, view),
                    f"{len(made.overdue_or_delayed):,} overdue or delayed, {len(made.behind):,} behind listed")
        sizes = {}
        for fmt in ("html", "md", "docx", "pdf"):
            sizes[fmt] = len(timed(f"bulletin: render {fmt}", rows, lambda fmt=fmt: document.render(doc, fmt)))
            rows[-1] = (*rows[-1][:2], f"{sizes[fmt]:,} bytes" + (", importing WeasyPrint" if fmt == "pdf" else ""))
        timed("bulletin: render pdf again (WeasyPrint loaded)", rows, lambda: document.render(doc, "pdf"))
        year = int(pd.Timestamp(made.on).year)
        judged = timed(f"assessment {year}: compute", rows, lambda: assessment.compute(view, year))
        timed(f"assessment {year}: xlsx", rows, lambda: assessment.render(judged, view, "xlsx"))
    steps = {label: seconds for label, seconds, _ in rows}
    html_total = sum(steps[k] for k in (f"store: the projects as recorded on {on}",
                                        f"store: the projects as recorded on {SINCE}",
                                        "bulletin: compute (as of the data date, since)",
                                        "bulletin: build the document", "bulletin: render html"))
    pdf_total = html_total - steps["bulletin: render html"] + steps["bulletin: render pdf again (WeasyPrint loaded)"]
    reads = steps[f"store: the projects as recorded on {on}"] + steps[f"store: the projects as recorded on {SINCE}"]
    rows += [("bulletin as HTML, in all", html_total, f"target < {TARGET_S:.0f} s; {reads:.2f} s of it the store's"),
             ("bulletin as PDF, in all (WeasyPrint loaded)", pdf_total, f"target < {TARGET_S:.0f} s")]
    width = max(len(label) for label, _, _ in rows)
    print(f"{'step'.ljust(width)}  {'seconds':>8}  note")
    for label, seconds, note in rows:
        print(f"{label.ljust(width)}  {seconds:8.2f}  {note}")
    ok = html_total < TARGET_S and pdf_total < TARGET_S
    print(f"{'PASS' if ok else 'FAIL'}: the bulletin of {n:,} projects in {html_total:.2f} s (HTML), "
          f"{pdf_total:.2f} s (PDF); target {TARGET_S:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
