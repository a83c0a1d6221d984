"""The progress bulletin (定期通報): per lead department, where its projects stand on a date.

Counts by status, the overdue and delayed projects with their reasons, recorded progress against the share
of planned time elapsed with the traffic light, the departments ranked, and the change since an earlier
date (the same bulletin computed from the registry as recorded then). Every rule is ``registry.progress``'s.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from .. import model, numbers, progress, script
from ..errors import ValidationError
from ..i18n import gettext as _
from ..i18n import translations
from ..spatial import parse_date
from ..store import Reader, history
from ..text import to_script, to_script_all
from . import document
from .document import Document, Figure, Heading, Paragraph, Sheet, Table

DEPARTMENT = "lead_department"
UNASSIGNED = ""  # projects without a lead department are grouped under this (shown as "unassigned")
MEANS = ("progress_counted", "elapsed_pct", "points_behind")  # averaged over a department's judged projects
FINISHED = ("completed", "long_term_management")
LISTED_PER_DEPARTMENT = 10  # projects a list shows per department, worst first
RANK_DECIMALS = 1  # points behind are compared as shown, to a tenth of a point
FORMATS = ("xlsx", *document.FORMATS)  # the workbook holds the complete lists the document cuts


@dataclass(frozen=True)
class Bulletin:
    """One bulletin's figures. ``departments`` is indexed by lead department in rank order; ``standing`` has
    one row per project with its judgement on ``on``; ``before`` is the departments' table on ``since``."""

    on: str
    since: str | None
    standing: pd.DataFrame
    departments: pd.DataFrame
    before: pd.DataFrame | None

    @property
    def overdue_or_delayed(self) -> pd.DataFrame:
        """The projects overdue or recorded as delayed, by department (in rank order), the earliest planned finish
        (the most overdue) first."""
        return _by_department(self.standing[self.standing["overdue"] | self.standing["delayed"]], self.departments,
                              ["planned_finish", "project_id"])

    @property
    def behind(self) -> pd.DataFrame:
        """Projects judged yellow or red that are not overdue or delayed (those are listed apart), most behind
        first within each department."""
        chosen = self.standing[self.standing["light"].isin(("yellow", "red"))
                               & ~self.standing["overdue"] & ~self.standing["delayed"]]
        return _by_department(chosen, self.departments, ["points_behind", "project_id"], ascending=[False, True])


def judge(projects: pd.DataFrame, on: str) -> pd.DataFrame:
    """``projects`` with their standing on ``on``: overdue, delayed, elapsed share, the progress the rule counts
    (completed as 100, missing as 0), points behind and traffic light, all by ``registry.progress``."""
    elapsed = progress.elapsed_pct(projects, on)
    behind = progress.points_behind(projects, on)
    return projects.assign(
        **{DEPARTMENT: projects[DEPARTMENT].fillna(UNASSIGNED)},
        overdue=progress.overdue(projects, on), delayed=progress.delayed(projects), elapsed_pct=elapsed,
        progress_counted=elapsed.fillna(0.0) - behind, points_behind=behind,
        light=progress.traffic_light(projects, on))


def department_order(present: pd.Series) -> list[str]:
    """The model's lead departments in their order, then any other present (free text), sorted."""
    others = sorted(set(present.dropna()) - set(model.LEAD_DEPARTMENTS))
    return [*model.LEAD_DEPARTMENTS, *others]


def _counts(standing: pd.DataFrame, column: str, values: tuple[str, ...], order: list[str]) -> pd.DataFrame:
    counts = standing.groupby([DEPARTMENT, column]).size().unstack(fill_value=0) if len(standing) else None
    return pd.DataFrame(counts).reindex(index=order, columns=list(values), fill_value=0).fillna(0).astype(int)


def departments(standing: pd.DataFrame) -> pd.DataFrame:
    """Per lead department: projects, counts by status and by light, overdue ones, and the means of progress,
    elapsed share and points behind over its judged (not grey) projects; ranked by points behind (fewest
    first), then red projects, then overdue ones, equal departments sharing a place. A department with
    nothing judged is not ranked."""
    order = department_order(standing[DEPARTMENT])
    out = pd.concat([_counts(standing, "status", tuple(model.STATUSES), order),
                     _counts(standing, "light", progress.LIGHTS, order)], axis=1)
    out.insert(0, "projects", standing.groupby(DEPARTMENT).size().reindex(order, fill_value=0).astype(int))
    out["finished"] = out[list(FINISHED)].sum(axis=1)
    out["overdue"] = standing.groupby(DEPARTMENT)["overdue"].sum().reindex(order, fill_value=0).astype(int)
    judged = standing[standing["light"] != "grey"]
    out["judged"] = judged.groupby(DEPARTMENT).size().reindex(order, fill_value=0).astype(int)
    means = judged.groupby(DEPARTMENT)[list(MEANS)].mean().reindex(order)
    out[list(MEANS)] = means.to_numpy(dtype=float)
    out = out[(out["projects"] > 0) | out.index.isin(model.LEAD_DEPARTMENTS)]
    out = out.sort_values(["points_behind", "red", "overdue"], na_position="last", kind="stable")
    out["rank"] = shared_ranks(out[["points_behind", "red", "overdue"]].assign(
        points_behind=out["points_behind"].round(RANK_DECIMALS)), out["judged"] > 0)
    out.index.name = DEPARTMENT
    return out


def shared_ranks(keys: pd.DataFrame, ranked: pd.Series) -> pd.Series:
    """Places 1, 2, ... of rows already in rank order, rows with equal keys sharing the better place (1, 1, 3);
    rows not ``ranked`` get none."""
    rows = [tuple(r) for r in keys.astype(object).where(keys.notna(), None).itertuples(index=False)]
    places: list[int] = []
    for at, row in enumerate(rows):
        places.append(places[-1] if at and row == rows[at - 1] else at + 1)
    return pd.Series(places, index=keys.index, dtype="Int64").where(ranked.to_numpy(), pd.NA)


def with_change(now: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """``now`` with the change since ``before``: finished, overdue and delayed projects, points behind, and
    places moved up the ranking (positive: better)."""
    then = before.reindex(now.index)
    return now.assign(
        finished_change=now["finished"] - then["finished"].fillna(0).astype(int),
        overdue_change=now["overdue"] - then["overdue"].fillna(0).astype(int),
        delayed_change=now["delayed"] - then["delayed"].fillna(0).astype(int),
        points_behind_change=now["points_behind"] - then["points_behind"],
        rank_change=(then["rank"] - now["rank"]).astype("Int64"))


def _by_department(frame: pd.DataFrame, ranked: pd.DataFrame, by: list[str],
                   ascending: list[bool] | None = None) -> pd.DataFrame:
    place = {name: at for at, name in enumerate(ranked.index)}
    keyed = frame.assign(_place=frame[DEPARTMENT].map(place))
    return keyed.sort_values(["_place", *by], ascending=[True, *(ascending or [True] * len(by))],
                             na_position="last", kind="stable").drop(columns="_place")


def listed(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The first ``LISTED_PER_DEPARTMENT`` rows of each department (a bulletin lists the worst cases; the counts
    cover them all), and how many rows are left out."""
    shown = frame.groupby(DEPARTMENT, sort=False).head(LISTED_PER_DEPARTMENT)
    return shown, len(frame) - len(shown)


def compute(view: Reader, as_of: str | None = None, since: str | None = None) -> Bulletin:
    """The bulletin of the registry ``view`` reads as recorded by the end of ``as_of`` (default its data date)
    and judged on that day, with the change since ``since`` (the same, as recorded and judged then) if given."""
    on = progress.reference_date(parse_date(as_of) if as_of else None, view.meta())
    standing = judge(history.projects_as_of(view, on), on)
    table = departments(standing)
    before = None
    if since:
        since = parse_date(since, "since")
        if since >= on:
            raise ValidationError(_("since must be a date before the bulletin's date %(date)s, got %(value)s",
                                    date=on, value=since), param="since")
        before = departments(judge(history.projects_as_of(view, since), since))
        table = with_change(table, before)
    return Bulletin(on, since, standing, table, before)


# -- the document ---------------------------------------------------------------------------------------
TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def _environment() -> jinja2.Environment:
    """Jinja for the reports' sentences: ``_()`` from the current script's catalog (newstyle, as the web pages')."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), extensions=["jinja2.ext.i18n"],
                             autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    env.install_gettext_callables(gettext=lambda message: translations(script.current()).gettext(message),
                                  ngettext=lambda one, many, n: translations(script.current()).ngettext(one, many, n),
                                  newstyle=True)
    return env


def sentence(template: str, macro: str, **values: Any) -> str:
    """One sentence of a report: ``macro`` of ``template`` (under templates/) filled with formatted figures."""
    return str(getattr(_environment().get_template(template).module, macro)(**values)).strip()


def department_label(value: str) -> str:
    """A lead department's name in the display script (one not in the model as stored, converted)."""
    if value == UNASSIGNED:
        return _("unassigned")
    return to_script(model.name_label("lead_department", value, script.current()) or value, script.current())


def light_label(light: str) -> str:
    """A traffic light's name: 绿灯, 黄灯, 红灯, 灰灯."""
    return {"grey": _("grey light"), "green": _("green light"), "yellow": _("yellow light"),
            "red": _("red light")}[light]


def rank_label(rank: Any) -> str:
    """A place in a ranking, or a dash for a department not ranked."""
    return "-" if pd.isna(rank) else str(int(rank))


def _change(value: Any, *, places: int = 0) -> str:
    """A signed change as a table shows it: +2, -1, 0; a dash where there is nothing to compare."""
    if pd.isna(value):
        return "-"
    shown = numbers.quantity(abs(float(value)), places)
    return shown if shown == "0" else f"{'+' if value > 0 else '-'}{shown}"


def _moved(value: int) -> str:
    """A change of a count in words: 增加2个, 减少1个, 持平."""
    if value > 0:
        return _("up by %(n)s", n=numbers.count(value))
    if value < 0:
        return _("down by %(n)s", n=numbers.count(-value))
    return _("unchanged")


def _pct(value: Any) -> str:
    return "-" if pd.isna(value) else numbers.percent(float(value))


def _day(value: Any) -> str:
    return "" if pd.isna(value) else numbers.date(value)


def _points(value: Any) -> str:
    return "-" if pd.isna(value) else numbers.quantity(float(value), 1)


def data_texts(values: pd.Series) -> list[str]:
    """Data text (names, reasons) in the display script; missing as empty."""
    plain = ["" if pd.isna(v) else str(v) for v in values]
    return to_script_all(plain, script.current()) if plain else []


def _overall(b: Bulletin) -> list[Paragraph]:
    table, count = b.departments, numbers.count
    totals = table.drop(columns=["rank"]).sum(numeric_only=True)
    paragraphs = [
        Paragraph(sentence("bulletin_text.j2", "overall", date=numbers.date(b.on), **{
            key: count(totals[key]) for key in ("projects", "finished", "in_progress", "planned", "delayed",
                                                "overdue")})),
        Paragraph(sentence("bulletin_text.j2", "lights", **{light: count(totals[light]) for light in progress.LIGHTS}))]
    if b.since:
        paragraphs.append(Paragraph(sentence(
            "bulletin_text.j2", "change", since=numbers.date(b.since),
            finished=_moved(int(table["finished_change"].sum())), overdue=_moved(int(table["overdue_change"].sum())),
            delayed=_moved(int(table["delayed_change"].sum())))))
    return paragraphs


def _ranking(b: Bulletin) -> Table:
    """The departments in rank order; the lights as green/yellow/red counts in one column, so that the table
    fits the page's width (the counts of projects under construction and planned are in the sentences)."""
    status = model.name_labels("status", script.current())
    header = [_("Rank"), _("lead_department"), _("Number of projects"), _("Completed (incl. long-term management)"),
              status["delayed"], _("Overdue"), _("Mean progress"), _("Time elapsed"), _("Points behind"),
              "/".join(light_label(light) for light in ("green", "yellow", "red"))]
    if b.since:
        header.append(_("Rank change"))
    rows = []
    for name, r in b.departments.iterrows():
        row = [rank_label(r["rank"]), department_label(str(name)), str(r["projects"]), str(r["finished"]),
               str(r["delayed"]), str(r["overdue"]), _pct(r["progress_counted"]), _pct(r["elapsed_pct"]),
               _points(r["points_behind"]), f'{r["green"]}/{r["yellow"]}/{r["red"]}']
        if b.since:
            row.append(_change(r["rank_change"]))
        rows.append(row)
    note = sentence("bulletin_text.j2", "rule", yellow_from=numbers.points(progress.YELLOW_FROM_POINTS),
                    red_above=numbers.points(progress.RED_ABOVE_POINTS))
    widths = (5, 14, 6, 9, 5, 5, 9, 9, 7, 11, 6)[:len(header)]  # a department's name on one line
    return Table(_("Progress of the lead departments, ranked"), header, rows, note, widths)


def _left_out(more: int) -> str:
    """The note under a list cut at ``LISTED_PER_DEPARTMENT`` a department, naming the workbook that lists them
    all; or none."""
    if not more:
        return ""
    return " ".join((sentence("bulletin_text.j2", "left_out", more=numbers.count(more),
                              limit=numbers.count(LISTED_PER_DEPARTMENT)),
                     sentence("bulletin_text.j2", "in_workbook")))


def _listed(b: Bulletin) -> Table | Paragraph:
    frame, more = listed(b.overdue_or_delayed)
    if frame.empty:
        return Paragraph(sentence("bulletin_text.j2", "none_listed"))
    statuses = model.name_labels("status", script.current())
    rows = [[r.project_id, name, department_label(r.lead_department), statuses.get(r.status, r.status),
             _("Overdue") if r.overdue else "", _day(r.planned_finish_original), _day(r.planned_finish), reason]
            for r, name, reason in zip(frame.itertuples(), data_texts(frame["name"]),
                                       data_texts(frame["delay_reason"]))]
    return Table(_("Projects overdue or delayed"),
                 [_("project_id"), _("name"), _("lead_department"), _("status"), _("Overdue"),
                  _("planned_finish_original"), _("planned_finish"), _("delay_reason")], rows, _left_out(more),
                 (15, 17, 15, 6, 6, 12, 12, 17))


def _behind(b: Bulletin) -> Table | Paragraph:
    frame, more = listed(b.behind)
    if frame.empty:
        return Paragraph(sentence("bulletin_text.j2", "none_behind"))
    rows = [[r.project_id, name, department_label(r.lead_department), _pct(r.progress_counted), _pct(r.elapsed_pct),
             _points(r.points_behind), light_label(r.light)]
            for r, name in zip(frame.itertuples(), data_texts(frame["name"]))]
    return Table(_("Projects behind their planned time"),
                 [_("project_id"), _("name"), _("lead_department"), _("progress_pct"), _("Time elapsed"),
                  _("Points behind"), _("Light")], rows, _left_out(more), (15, 25, 16, 11, 11, 11, 11))


def chart(b: Bulletin) -> bytes | None:
    """Each ranked department's mean progress beside the share of planned time elapsed (PNG), or None when no
    department is ranked."""
    from matplotlib.figure import Figure as MplFigure

    from ..maps.style import drawing, figure_bytes

    ranked = b.departments[b.departments["rank"].notna()]
    if ranked.empty:
        return None
    names = [department_label(str(name)) for name in ranked.index]
    positions = np.arange(len(ranked))
    with drawing():
        fig = MplFigure(figsize=(7.2, 0.45 * len(ranked) + 1.2))
        ax = fig.add_subplot()
        for offset, column, label, colour in ((-0.2, "progress_counted", _("Mean progress"), "#2c7bb6"),
                                              (0.2, "elapsed_pct", _("Time elapsed"), "#bdbdbd")):
            values = ranked[column].astype(float).to_numpy()
            bars = ax.barh(positions + offset, values, height=0.38, color=colour, label=label)
            ax.bar_label(bars, labels=[numbers.percent(v) for v in values], padding=2, fontsize=7)
        ax.set_yticks(positions, names)
        ax.invert_yaxis()
        ax.set_xlim(0, 115)
        ax.set_xlabel(_("Percent"))
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
        fig.tight_layout()
    return figure_bytes(fig, "png", 150)


def _departments(b: Bulletin) -> list[Paragraph]:
    out, count = [], numbers.count
    for name, r in b.departments.iterrows():
        label = department_label(str(name))
        if not r["projects"]:
            continue
        if pd.isna(r["rank"]):
            out.append(Paragraph(sentence("bulletin_text.j2", "department_not_judged", name=label,
                                          projects=count(r["projects"]))))
            continue
        out.append(Paragraph(sentence(
            "bulletin_text.j2", "department", name=label, projects=count(r["projects"]), finished=count(r["finished"]),
            in_progress=count(r["in_progress"]), planned=count(r["planned"]), delayed=count(r["delayed"]),
            overdue=count(r["overdue"]), progress=_pct(r["progress_counted"]), elapsed=_pct(r["elapsed_pct"]),
            points=numbers.points(abs(r["points_behind"])), ahead=bool(r["points_behind"] < 0),
            rank=rank_label(r["rank"]))))
    return out


def _date_value(value: Any) -> dt.date | None:
    return None if pd.isna(value) else dt.date.fromisoformat(str(value)[:10])


def _fraction(value: Any) -> float | None:
    """A percentage as the fraction a spreadsheet's percent format shows (75 → 0.75)."""
    return None if pd.isna(value) else float(value) / 100


def sheets(b: Bulletin) -> list[Sheet]:
    """The bulletin's figures for a spreadsheet, numbers as numbers: the departments ranked, then every project
    overdue or delayed and every other project behind (the document lists each department's worst ten)."""
    status = model.name_labels("status", script.current())
    counts = ("projects", "finished", "in_progress", "planned", "delayed", "overdue", "green", "yellow", "red", "grey")
    header = [_("Rank"), _("lead_department"), _("Number of projects"), _("Completed (incl. long-term management)"),
              status["in_progress"], status["planned"], status["delayed"], _("Overdue"),
              *(light_label(light) for light in ("green", "yellow", "red", "grey")), _("Mean progress"),
              _("Time elapsed"), _("Points behind"), *([_("Rank change")] if b.since else [])]
    ranking = [[None if pd.isna(r["rank"]) else int(r["rank"]), department_label(str(name)),
                *(int(r[key]) for key in counts), _fraction(r["progress_counted"]), _fraction(r["elapsed_pct"]),
                None if pd.isna(r["points_behind"]) else round(float(r["points_behind"]), 1),
                *([None if pd.isna(r["rank_change"]) else int(r["rank_change"])] if b.since else [])]
               for name, r in b.departments.iterrows()]
    late = b.overdue_or_delayed
    overdue = [[r.project_id, name, department_label(r.lead_department), status.get(r.status, r.status),
                _("Overdue") if r.overdue else "", _date_value(r.planned_finish_original),
                _date_value(r.planned_finish), reason]
               for r, name, reason in zip(late.itertuples(), data_texts(late["name"]),
                                          data_texts(late["delay_reason"]))]
    slow = b.behind
    behind = [[r.project_id, name, department_label(r.lead_department), _fraction(r.progress_counted),
               _fraction(r.elapsed_pct), round(float(r.points_behind), 1), light_label(r.light)]
              for r, name in zip(slow.itertuples(), data_texts(slow["name"]))]
    at = len(counts) + 2
    return [Sheet(_("Progress of the lead departments, ranked"), header, ranking,
                  {at: "0.0%", at + 1: "0.0%", at + 2: "0.0"}),
            Sheet(_("Projects overdue or delayed"),
                  [_("project_id"), _("name"), _("lead_department"), _("status"), _("Overdue"),
                   _("planned_finish_original"), _("planned_finish"), _("delay_reason")], overdue,
                  {5: "yyyy-mm-dd", 6: "yyyy-mm-dd"}),
            Sheet(_("Projects behind their planned time"),
                  [_("project_id"), _("name"), _("lead_department"), _("progress_pct"), _("Time elapsed"),
                   _("Points behind"), _("Light")], behind, {3: "0.0%", 4: "0.0%", 5: "0.0"})]


def build(b: Bulletin, view: Reader) -> Document:
    """The bulletin as a document in the display script: the overall position, the departments ranked, each
    department's sentence, and the projects overdue, delayed or behind."""
    elements = dataclasses.replace(document.elements(view), date=numbers.date(b.on))
    blocks = [Heading(1, _("Overall progress")), *_overall(b),
              Heading(1, _("The lead departments ranked")), _ranking(b),
              *([Figure(_("Mean progress against the share of planned time elapsed"), png)]
                if (png := chart(b)) is not None else []), *_departments(b),
              Heading(1, _("Projects overdue or delayed")), _listed(b),
              Heading(1, _("Projects behind their planned time")), _behind(b)]
    title = _("Progress bulletin of the urban-environment renovation programme (as of %(date)s)",
              date=numbers.date(b.on))
    return Document(title, elements, blocks)


def bulletin_document(view: Reader, as_of: str | None = None, since: str | None = None) -> Document:
    """The bulletin of ``view`` (the registry as it stood on ``as_of``) as a document."""
    return build(compute(view, as_of, since), view)


def render(b: Bulletin, view: Reader, fmt: str) -> bytes:
    """The bulletin in ``fmt``: a document format (html, pdf, docx, md), or xlsx, its workbook of complete
    lists (sent with the document as its attachment)."""
    return document.workbook(sheets(b)) if fmt == "xlsx" else document.render(build(b, view), fmt)
