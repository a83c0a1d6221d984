"""The programme at a glance, for the dashboard: projects and investment by year, category, status and street
(apportioned), the responsibility statement's progress, and the projects delayed or overdue on the reference date.

Grouped figures are ``stats.statistics`` (so they equal ``/stats`` for the same filters), the projects are
``query.find``'s, and where a project stands is ``progress``'s rule (``reference_date``, ``overdue``,
``delayed``, ``traffic_light``). Codes come with labels in the current display script.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pandas as pd

from . import model, output, progress, script
from .i18n import gettext
from .maps.options import query_caption
from .params import parse
from .query import find
from .stats import OUTSIDE, UNLOCATED, Stats, statistics
from .store import Reader

GROUPS = ("year", "category", "status")  # taken from one grouping; street from its own (apportioned)
DONE_STATUSES = ("completed", "long_term_management")  # what the statement counts as done
_ATTENTION_COLUMNS = ("project_id", "name", "category", "status", "lead_department", "planned_finish",
                      "planned_finish_original", "delay_reason")


def overview(view: Reader, args: Mapping[str, str]) -> dict:
    """The dashboard's figures for the projects ``args`` (any query filter and ``as_of``) select, as JSON data.

    Projects are judged on ``progress.reference_date``: ``as_of`` if given, else the registry's data date,
    else today; street figures use the boundaries valid on ``as_of`` (default today), as ``/stats`` does.
    Investment is in yuan as ``/stats`` writes it (a string with two decimals).
    """
    query = replace(parse(args, view), limit=None, offset=0, sortby=(("project_id", True),))
    on = progress.reference_date(args.get("as_of"), view.meta())
    projects = find(view, query).projects
    grouped = statistics(view, query, list(GROUPS), projects)
    streets = statistics(view, query, "street", projects).to_json()
    return {
        "reference_date": on,
        "boundaries": query.as_of,
        "selection": query_caption(query),
        "totals": {"projects": grouped.totals["projects"],
                   "investment_yuan": Stats([], grouped.rows.iloc[:0], grouped.totals).to_json()["totals"]
                   ["investment_yuan"]},
        "groups": {**{key: _labelled(key, _marginal(grouped, key)) for key in GROUPS},
                   "street": _labelled("street", [{"street": r["street"], "projects": r["projects"],
                                                   "investment_yuan": r["investment_yuan"]} for r in streets["rows"]])},
        "statement": statement_progress(projects),
        "lights": _lights(projects, on),
        "attention": attention(projects, on),
    }


def _marginal(grouped: Stats, key: str) -> list[dict]:
    """One key's rows of a grouping by several (a project is in one year, category and status: counts add up)."""
    rows = grouped.rows.groupby(key, as_index=False)[["projects", "investment_fen"]].sum()
    order = _ORDER.get(key)
    if order is not None:
        rows = rows.assign(_o=rows[key].map(order)).sort_values("_o", kind="stable").drop(columns="_o")
    return Stats([key], rows.reset_index(drop=True), {}).to_json()["rows"]


_ORDER = {"category": {c.slug: i for i, c in enumerate(model.CATEGORIES)},
          "status": {s: i for i, s in enumerate(model.STATUSES)}}


def _labelled(key: str, rows: list[dict]) -> list[dict]:
    """Each row's ``key`` (code) and ``label`` (its name in the display script)."""
    chosen = script.current()
    out = []
    for row in rows:
        code = row.pop(key)
        if key == "year":
            label = str(code)
        elif code == OUTSIDE:
            label = gettext("Outside every street")
        elif code == UNLOCATED:
            label = gettext("No shape")
        else:
            label = model.name_label(key, code, chosen)
        out.append({"key": code, "label": label, **row})
    return out


def statement_progress(projects: pd.DataFrame) -> dict:
    """The responsibility statement's projects by category: how many, done, under way, delayed, not started."""
    chosen = model.name_labels("category", script.current())
    ours = projects[projects["in_statement"].fillna(False).astype(bool)]
    counts = ours.groupby(["category", "status"]).size()  # one pass, not one per category
    rows = []
    for category in model.CATEGORIES:
        if category.slug in counts.index.get_level_values(0):
            rows.append({"key": category.slug, "label": chosen[category.slug], **_statuses(counts[category.slug])})
    return {"rows": rows, "totals": _statuses(ours["status"].value_counts()),
            "beyond": int(projects["beyond_statement"].fillna(False).astype(bool).sum())}


def _statuses(counts: pd.Series) -> dict:
    """Projects, done, in progress, delayed and planned of a count of projects by status."""
    total = int(counts.sum())
    done = int(counts.reindex(DONE_STATUSES, fill_value=0).sum())
    return {"projects": total, "done": done, "in_progress": int(counts.get("in_progress", 0)),
            "delayed": int(counts.get("delayed", 0)), "planned": int(counts.get("planned", 0)),
            "done_pct": round(100.0 * done / total, 1) if total else None}


def _lights(projects: pd.DataFrame, on: str) -> dict[str, int]:
    """How many projects show each traffic light (``progress.traffic_light``) on ``on``."""
    counts = progress.traffic_light(projects, on).value_counts() if len(projects) else pd.Series(dtype=int)
    return {light: int(counts.get(light, 0)) for light in progress.LIGHTS}


def attention(projects: pd.DataFrame, on: str) -> list[dict]:
    """Projects recorded as delayed or overdue on ``on``, latest planned finish last, with their reasons."""
    late = progress.overdue(projects, on)
    flagged = projects[late | progress.delayed(projects)]
    rows = output.labelled_records(flagged.assign(overdue=late[flagged.index]), [*_ATTENTION_COLUMNS, "overdue"])
    finish = progress.dates(pd.Series([r["planned_finish"] for r in rows], dtype=object))
    for row, day in zip(rows, finish):
        row["days_overdue"] = int((pd.Timestamp(on) - day).days) if row["overdue"] and pd.notna(day) else None
    return sorted(rows, key=lambda r: (r["planned_finish"] or "", r["project_id"]))

