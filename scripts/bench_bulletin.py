"""Time the progress bulletin (and the assessment) on a registry of 10,000 projects; the target is under 10 s.

    python scripts/bench_bulletin.py [--projects 10000] [--workdir /tmp/bench-bulletin] [--seed 1]

The registry is made once in ``--workdir`` by ``scripts/make_synthetic.py``'s ``build`` (about ten features a
project), registered on 2025-06-30 (``OGR_CURRENT_DATE`` backdates its change log), and then a month of work is
recorded on 2025-12-01: progress for every in-progress and delayed project. The bulletin is computed as of
the registry's data date (2025-12-31, so its projects are rebuilt from the change log's project entries, and
those of 2025-11-15 for the change since then; both timed apart) and rendered as HTML, Markdown, DOCX and PDF, and its
workbook of complete lists (XLSX, the attachment). Each step is timed; the totals (the store's reads, the
computation, the document and one format) are judged against the target. The bulletin of today's state (no
rebuild) is timed as well, and built once first: that loads matplotlib, which a server has loaded.
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


Row = tuple[str, float, float, str]  # step, wall-clock seconds, CPU seconds of this process, note


def timed(label: str, rows: list[Row], step: Callable[[], object], note: str = "") -> object:
    """Run ``step``, adding its wall-clock and CPU time to ``rows``: on a machine others load, the CPU time is
    close to what the wall clock shows on a quiet one (the work is one thread)."""
    started, cpu = time.perf_counter(), time.process_time()
    value = step()
    rows.append((label, time.perf_counter() - started, time.process_time() - cpu, note))
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10_000, help="about how many projects (default 10000)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-bulletin"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"registry-{args.projects}p-s{args.seed}.gpkg"
    rows: list[Row] = []
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
                    f"{len(made.overdue_or_delayed):,} overdue or delayed, {len(made.behind):,} behind")
        for fmt in ("html", "md", "docx", "pdf"):
            size = len(timed(f"bulletin: render {fmt}", rows, lambda fmt=fmt: document.render(doc, fmt)))
            rows[-1] = (*rows[-1][:3], f"{size:,} bytes" + (", importing WeasyPrint" if fmt == "pdf" else ""))
        timed("bulletin: render pdf again (WeasyPrint loaded)", rows, lambda: document.render(doc, "pdf"))
        size = len(timed("bulletin: its workbook, xlsx (the complete lists)", rows,
                         lambda: bulletin.render(made, view, "xlsx")))
        rows[-1] = (*rows[-1][:3], f"{size:,} bytes")
        year = int(pd.Timestamp(made.on).year)
        judged = timed(f"assessment {year}: compute", rows, lambda: assessment.compute(view, year))
        timed(f"assessment {year}: xlsx", rows, lambda: assessment.render(judged, view, "xlsx"))
    totals = {}
    for at, kind in ((1, "wall"), (2, "cpu")):
        steps = {row[0]: row[at] for row in rows}
        reads = steps[f"store: the projects as recorded on {on}"] + steps[f"store: the projects as recorded on {SINCE}"]
        made_in = reads + steps["bulletin: compute (as of the data date, since)"]
        document_in = made_in + steps["bulletin: build the document"]
        totals[kind] = {"HTML": document_in + steps["bulletin: render html"],
                        "DOCX": document_in + steps["bulletin: render docx"],
                        "PDF": document_in + steps["bulletin: render pdf again (WeasyPrint loaded)"],
                        "XLSX": made_in + steps["bulletin: its workbook, xlsx (the complete lists)"]}
    rows += [(f"bulletin as {fmt}, in all", seconds, totals["cpu"][fmt], f"target < {TARGET_S:.0f} s")
             for fmt, seconds in totals["wall"].items()]
    width = max(len(row[0]) for row in rows)
    print(f"{'step'.ljust(width)}  {'seconds':>8}  {'CPU s':>8}  note")
    for label, seconds, cpu, note in rows:
        print(f"{label.ljust(width)}  {seconds:8.2f}  {cpu:8.2f}  {note}")
    ok = all(seconds < TARGET_S for seconds in totals["wall"].values())
    print(f"{'PASS' if ok else 'FAIL'}: the bulletin of {n:,} projects in "
          + ", ".join(f"{seconds:.2f} s ({fmt})" for fmt, seconds in totals["wall"].items())
          + f"; target {TARGET_S:.0f} s. CPU: " + ", ".join(f"{s:.2f} s" for s in totals["cpu"].values())
          + f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
