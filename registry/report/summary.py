"""The yearly work summary and next year's plan, written from the registry in the source document's structure.

一、the year's summary: the office's narrative on organisation (kept with the registry, ``narrative``), the
programme's projects and investment per year, the responsibility statement by category in the source's order
(tasks, quantities, state; delayed projects with their reason and new due date), work beyond the statement,
and the projects by street office (apportioned; table, overlay map, chart of investment by category);
二、next year's plan by category, then the office's measures. Every figure is computed here from the store and
put into sentences by the Jinja2 templates in ``templates/summary.j2``; no figure is written in a template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from .. import model, numbers, palette, progress, script, spatial
from ..errors import ValidationError
from ..i18n import gettext as _
from ..params import parse
from ..query import find
from ..stats import OUTSIDE, UNLOCATED, statistics
from ..store import Reader, history, per_revision
from ..text import to_script
from . import SUMMARY_TEXT_KEY
from .document import Document, Figure, Heading, Paragraph, Table, elements

# The source's order of categories in the statement's account, and in next year's plan.
STATEMENT_ORDER = ("alleys", "rivers", "polders", "construction_sites", "markets", "vending_points", "parking_lots",
                   "billboards", "old_compounds", "urban_villages", "shanty_areas", "urban_fringes")
PLAN_ORDER = ("urban_fringes", "urban_villages", "shanty_areas", "old_compounds", "alleys", "rivers", "polders",
              "construction_sites", "markets", "parking_lots", "vending_points", "billboards")
# The measure word each category is counted with (numbers.count): 5條背街小巷, 8處停車場, 1片城郊結合部.
MEASURES = {"alleys": "tiao", "rivers": "tiao", "parking_lots": "chu", "vending_points": "chu", "billboards": "chu",
            "urban_fringes": "pian"}
NAME_SUFFIXES = ("整治改造", "整治")  # 蠡塘圩整治改造 is called 蠡塘圩 in the text
DONE = ("completed", "long_term_management")
OPEN = ("planned", "in_progress", "delayed")
MOST_DONE = 0.9  # a statement at least this far done is "基本完成"
# The figures fill the 156 mm text width: the A4-landscape map at 90 dpi and the chart at 120 dpi give about
# 170 pixels an inch there, sharp in print and quick to draw.
MAP_DPI, CHART_DPI = 90, 120

# The narrative the data cannot give, kept in registry_meta: parts headed "# opening", "# organisation",
# "# plan", "# measures"; "## " starts a (一) heading, "### " a 1. heading, other lines are paragraphs.
NARRATIVE_PARTS = ("opening", "organisation", "plan", "measures")

_TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                                autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
_TEMPLATES.filters.update(
    yi=numbers.yi, yi_about=numbers.yi_about, wan=numbers.wan, wan_over=numbers.wan_over, count=numbers.count,
    ten_thousands=numbers.ten_thousands, date=numbers.date, month_end=numbers.month_end, ten_days=numbers.ten_days,
    numeral=numbers.chinese_numeral, whole=lambda value: numbers.quantity(value, places=0),
)


def _say(macro: str, *args: object) -> str:
    """A sentence of the summary template, its line breaks dropped (Traditional; converted at the end)."""
    text = str(getattr(_TEMPLATES.get_template("summary.j2").module, macro)(*args))
    return "".join(line.strip() for line in text.splitlines())


# -- the narrative --------------------------------------------------------------------------------


def parse_narrative(text: str) -> dict[str, list[Heading | Paragraph]]:
    """The narrative's parts as blocks; an unknown part or text before the first part is refused."""
    parts: dict[str, list[Heading | Paragraph]] = {}
    current: list[Heading | Paragraph] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("# "):
            name = line[2:].strip()
            if name not in NARRATIVE_PARTS:
                raise ValidationError(_("line %(line)s: the summary's text has parts %(parts)s, not %(value)s",
                                        line=number, parts=", ".join(NARRATIVE_PARTS), value=repr(name)),
                                      param="text")
            current = parts.setdefault(name, [])
        elif current is None:
            raise ValidationError(_("line %(line)s: the summary's text must begin with a part heading such as "
                                    "'# opening'", line=number), param="text")
        elif line.startswith("### "):
            current.append(Heading(3, line[4:].strip()))
        elif line.startswith("## "):
            current.append(Heading(2, line[3:].strip()))
        else:
            current.append(Paragraph(line))
    return parts


# -- figures from the store -----------------------------------------------------------------------


def _all(view: Reader, params: Mapping[str, str]):
    """Every project (and its matching features) a query selects, unpaged."""
    return find(view, replace(parse(params, view), limit=None, offset=0))


def _short(name: str) -> str:
    for suffix in NAME_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _flag(values: pd.Series) -> pd.Series:
    return values.astype(str).str.lower().isin(("true", "1", "yes"))


def _programme(projects: pd.DataFrame) -> dict:
    years = projects.groupby("year").agg(projects=("project_id", "size"), investment=("investment_yuan", "sum"))
    return {"projects": len(projects), "investment": int(projects["investment_yuan"].sum()),
            "years": [{"year": int(y), "projects": int(r.projects), "investment": int(r.investment)}
                      for y, r in years.sort_index().iterrows()]}


def _delayed(frame: pd.DataFrame) -> list[dict]:
    """Each delayed project: its name, reason and new due date."""
    rows = frame[frame["status"] == "delayed"]
    return [{"name": _short(r.name), "reason": r.delay_reason or "", "due": r.planned_finish}
            for r in rows.itertuples()]


def _open(frame: pd.DataFrame, status: str) -> dict:
    """How many projects are in ``status`` and the latest of their planned finishes."""
    rows = frame[frame["status"] == status]
    due = rows["planned_finish"].replace("", np.nan).dropna()
    return {"n": len(rows), "due": due.max() if len(due) else None}


def _category(slug: str, rows: pd.DataFrame, beyond: pd.DataFrame, feature_counts: pd.Series) -> dict:
    """The figures of one category of the statement: count, tasks, quantities and state, and its work beyond."""
    status = rows["status"]
    done = int(status.isin(DONE).sum())
    ltm = int((status == "long_term_management").sum())
    state = ("long_term_management" if ltm == len(rows) else "completed" if done == len(rows) and not ltm
             else "done" if done == len(rows) else "open")
    tasks = rows["tasks"].replace("", np.nan).dropna()
    groups = []
    for task, group in rows.groupby("tasks", sort=False):  # rivers by task, billboards by action
        groups.append({"tasks": task, "n": len(group), "names": [_short(n) for n in group["name"]][:3],
                       "more": len(group) > 3})
    groups.sort(key=lambda g: -g["n"] if slug == "rivers" else 0)
    if slug == "billboards":
        order = {"remove": 0, "renovate": 1}
        groups = sorted(groups, key=lambda g: order.get(
            rows.loc[rows["tasks"] == g["tasks"], "billboard_action"].iloc[0], 2))
    site_names = model.name_labels("site_type", "zh-Hant")
    streets = {c for codes in rows["street_codes"] for c in str(codes).split(",") if c}
    return {
        "slug": slug, "name": model.name_label("category", slug, "zh-Hant"), "measure": MEASURES.get(slug, "ge"),
        "n": len(rows), "tasks": tasks.mode().iloc[0] if len(tasks) else "", "state": state, "done": done, "ltm": ltm,
        "done_names": [_short(n) for n in rows.loc[status.isin(DONE), "name"]],
        "delayed": _delayed(rows), "in_progress": _open(rows, "in_progress"), "planned": _open(rows, "planned"),
        "groups": groups,
        "site_types": [site_names[t] for t in site_names if t in set(rows["site_type"])],
        "stalls": int(pd.to_numeric(rows["stalls"]).fillna(0).sum()),
        "spaces": int(pd.to_numeric(rows["parking_spaces"]).fillna(0).sum()),
        "area": float(pd.to_numeric(rows["area_m2"]).fillna(0).sum()),
        "length": float(pd.to_numeric(rows["length_m"]).fillna(0).sum()),
        "streets": [model.name_label("street", c, "zh-Hant") for c in spatial.STREET_ORDER if c in streets],
        "beyond": [{"name": _short(b.name), "tasks": b.tasks or "", "investment": int(b.investment_yuan),
                    "features": int(feature_counts.get(b.project_id, 0)), "open": b.status in OPEN,
                    "due": b.planned_finish, "finished": b.actual_finish or b.planned_finish}
                   for b in beyond.itertuples()],
    }


def _statement(year: int, projects: pd.DataFrame, feature_counts: pd.Series) -> tuple[dict, list[dict]]:
    """The year's responsibility statement in all and by category (in the source's order)."""
    listed = projects[_flag(projects["in_statement"])]
    beyond = projects[_flag(projects["beyond_statement"])]
    outside = projects[~_flag(projects["in_statement"])]
    status = listed["status"]
    done = int(status.isin(DONE).sum())
    summary = {"year": year, "n": len(listed), "done": done, "completed": int((status == "completed").sum()),
               "ltm": int((status == "long_term_management").sum()), "delayed": int((status == "delayed").sum()),
               "in_progress": int((status == "in_progress").sum()), "planned": int((status == "planned").sum()),
               "state": "all" if done == len(listed) else "most" if done >= MOST_DONE * len(listed) else "some",
               "outside": len(outside), "outside_investment": int(outside["investment_yuan"].sum())}
    categories = []
    for slug in STATEMENT_ORDER:
        rows = listed[listed["category"] == slug]
        extra = beyond[beyond["category"] == slug]
        if len(rows) or len(extra):
            categories.append(_category(slug, rows, extra, feature_counts))
    return summary, categories


def _plan(year: int, projects: pd.DataFrame) -> dict:
    """Next year's projects and investment by category, in the source's order of the plan."""
    categories = []
    for slug in PLAN_ORDER:
        rows = projects[projects["category"] == slug]
        if len(rows):
            departments = [d for d in dict.fromkeys(rows["lead_department"]) if d]
            categories.append({"slug": slug, "name": model.name_label("category", slug, "zh-Hant"), "n": len(rows),
                               "measure": MEASURES.get(slug, "ge"), "investment": int(rows["investment_yuan"].sum()),
                               "departments": departments})
    return {"year": year, "projects": len(projects), "investment": int(projects["investment_yuan"].sum()),
            "categories": categories}


def _street_table(view: Reader, year: int, as_of: str) -> tuple[dict, Table]:
    """Projects, investment and quantities by street office (apportioned), with the rule in the note."""
    params = {"year": str(year), "as_of": as_of}
    every = statistics(view, params, "street")
    listed = statistics(view, {**params, "in_statement": "true"}, "street")
    in_statement = dict(zip(listed.rows["street"], listed.rows["projects"]))
    names = {OUTSIDE: _say("street_outside"), UNLOCATED: _say("street_unlocated")}
    rows = []
    for r in every.rows.itertuples():
        rows.append([names.get(r.street) or model.name_label("street", r.street, "zh-Hant"), str(int(r.projects)),
                     str(int(in_statement.get(r.street, 0))), f"{r.investment_fen / 1_000_000:,.2f}",
                     f"{r.length_m:,.0f}", f"{r.area_m2 / numbers.WAN:,.2f}"])
    totals = every.totals
    rows.append([_say("streets_total"), str(int(totals["projects"])), str(int(listed.totals["projects"])),
                 f"{int(totals['investment_fen']) / 1_000_000:,.2f}", f"{float(totals['length_m']):,.0f}",
                 f"{float(totals['area_m2']) / numbers.WAN:,.2f}"])
    streets = [model.name_label("street", s, "zh-Hant") for s in every.rows["street"] if s in model.STREETS]
    context = {"year": year, "as_of": as_of, "projects": int(totals["projects"]), "streets": streets,
               "investment": int(totals["investment_fen"]) // 100}
    return context, Table(_say("streets_caption", context), _say("streets_header").split("|"), rows,
                          note=_say("streets_note", context))


def _chart(years: list[int], projects: pd.DataFrame) -> bytes:
    """Investment by category of the summary's year and the next, as horizontal bars in the palette's colours."""
    from matplotlib.figure import Figure as MplFigure

    from ..maps.style import drawing, figure_bytes

    chosen = script.current()
    slugs = [s for s in STATEMENT_ORDER if s in set(projects["category"])]
    sums = projects.groupby(["category", "year"])["investment_yuan"].sum() / numbers.WAN
    with drawing():
        fig = MplFigure(figsize=(7.2, 0.3 * len(slugs) + 1.2))
        ax = fig.add_subplot()
        height = 0.8 / len(years)
        for k, year in enumerate(years):
            values = [float(sums.get((s, year), 0.0)) for s in slugs]
            positions = np.arange(len(slugs)) + (k - (len(years) - 1) / 2) * height
            bars = ax.barh(positions, values, height=height * 0.95,
                           color=[palette.CATEGORY_COLOURS[s] for s in slugs], alpha=1.0 if k == 0 else 0.55,
                           hatch=None if k == 0 else "//", edgecolor="white", linewidth=0.5,
                           label=to_script(_say("year_label", year), chosen))
            ax.bar_label(bars, labels=[f"{v:,.0f}" if v else "" for v in values], padding=2, fontsize=7)
        ax.set_yticks(np.arange(len(slugs)), [model.name_label("category", s, chosen) for s in slugs])
        ax.invert_yaxis()
        ax.set_xlabel(to_script(_say("chart_axis"), chosen))
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(loc="lower right", frameon=False)
        ax.margins(x=0.12)
        fig.tight_layout()
    return figure_bytes(fig, "png", CHART_DPI)


def _map(view: Reader, year: int, as_of: str) -> bytes:
    from ..maps import render_map

    return render_map(view, {"year": str(year), "as_of": as_of}, by="category", fmt="png", dpi=MAP_DPI)


# -- the document ---------------------------------------------------------------------------------


def summary_view(view: Reader, as_of: str | None) -> tuple[Reader, str]:
    """The registry as of ``as_of`` (YYYY-MM-DD), by default as of its data date (else today), and that date:
    a summary written at the data date shows the street offices of that day."""
    day = spatial.parse_date(as_of) if as_of else progress.reference_date(None, view.meta())
    return history.as_of(view, day), day



def _converted(doc: Document, chosen: str) -> Document:
    """The document's text in the display script (stored and template text are Traditional)."""
    def conv(text: str) -> str:
        return to_script(text, chosen)

    blocks = []
    for block in doc.blocks:
        if isinstance(block, Heading):
            blocks.append(Heading(block.level, conv(block.text)))
        elif isinstance(block, Paragraph):
            blocks.append(Paragraph(conv(block.text)))
        elif isinstance(block, Table):
            blocks.append(Table(conv(block.caption), [conv(h) for h in block.header],
                                [[conv(c) for c in row] for row in block.rows], conv(block.note)))
        else:
            blocks.append(Figure(conv(block.caption), block.png))
    e = doc.elements
    return Document(conv(doc.title), replace(e, issuer=conv(e.issuer), number=conv(e.number),
                                              recipients=conv(e.recipients)), blocks)


def summary(view: Reader, year: int, as_of: str, *, narrative: str | None = None, meta: Mapping[str, str] | None = None,
            lang: str | None = None) -> Document:
    """The work summary of ``year`` and the plan of the next, from ``view`` (the registry as of ``as_of``).

    ``narrative`` is the office's text (default: the registry's ``report_text_summary``); ``meta`` the registry's
    settings (default: the view's); ``lang`` the display script (default: the current one).
    """
    chosen = lang or script.current()
    meta = dict(meta if meta is not None else view.meta())
    text = narrative if narrative is not None else meta.get(SUMMARY_TEXT_KEY, "")
    parts = parse_narrative(text)
    every = _all(view, {"as_of": as_of})
    projects = every.projects
    if not (projects["year"] == year).any():
        held = ", ".join(str(y) for y in sorted(projects["year"].unique())) or _("none")
        raise ValidationError(_("the registry holds no project of %(year)s; years held: %(years)s", year=year,
                                years=held), param="year")
    this_year = _all(view, {"year": str(year), "as_of": as_of})
    feature_counts = this_year.feature_rows.groupby("project_id").size()
    next_year = projects[projects["year"] == year + 1]
    heads = {"year": year, "next_year": year + 1}
    with script.use("zh-Hant"):
        statement, categories = _statement(year, this_year.projects, feature_counts)
        streets, table = _street_table(view, year, as_of)
        blocks: list = [*parts.get("opening", []), Heading(1, _say("summary_heading", heads)),
                        *parts.get("organisation", []), Paragraph(_say("programme", _programme(projects))),
                        Heading(2, _say("progress_heading")), Paragraph(_say("statement", statement))]
        for category in categories:
            blocks += [Heading(3, _say("category_heading", category)), Paragraph(_say("category", heads, category))]
        blocks += [Heading(2, _say("streets_heading")), Paragraph(_say("streets_intro", streets)), table]
        captions = {"map": _say("map_caption", heads), "chart": _say("chart_caption", heads)}
        blocks += [Heading(1, _say("plan_heading", heads))]
        if len(next_year):
            plan = _plan(year + 1, next_year)
            blocks += [Paragraph(_say("plan", plan))]
            plan_rows = [[c["name"], str(c["n"]), f"{c['investment'] / numbers.WAN:,.2f}", "、".join(c["departments"])]
                         for c in plan["categories"]]
            plan_rows.append([_say("streets_total"), str(plan["projects"]), f"{plan['investment'] / numbers.WAN:,.2f}",
                              ""])
            blocks.append(Table(_say("plan_caption", plan), _say("plan_header").split("|"), plan_rows))
        blocks += [*parts.get("plan", []), *parts.get("measures", [])]
        blocks.append(Paragraph(_say("closing", {"as_of": as_of, "data_date": meta.get("data_date") or as_of})))
        title = _say("title", heads)
        doc_elements = elements(view)
    with script.use(chosen):
        doc = _converted(Document(title, doc_elements, blocks), chosen)
        # the map and the chart are drawn once per revision (a page and its PDF ask for the same)
        drawn = per_revision(view, ("summary figures", year, as_of, chosen), lambda: (
            _map(view, year, as_of), _chart([year, year + 1], projects[projects["year"].isin([year, year + 1])])))
        figures = [Figure(to_script(captions["map"], chosen), drawn[0]),
                   Figure(to_script(captions["chart"], chosen), drawn[1])]
    at = next(i for i, b in enumerate(doc.blocks) if isinstance(b, Table)) + 1  # after the street table
    doc.blocks[at:at] = figures
    return doc

