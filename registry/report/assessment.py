"""The assessment (考核) of lead departments against the year's responsibility statement.

Per lead department, its statement projects of the year: completed on time (actual finish no later than
``planned_finish_original``, the first planned finish), completed late, delayed, still open, with the
planned and completed investment; ranked by the share completed on time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from .. import model, numbers, progress, script
from ..i18n import gettext as _
from ..spatial import parse_date
from ..store import Reader, history
from . import document
from .bulletin import DEPARTMENT, UNASSIGNED, data_texts, department_label, department_order, sentence, shared_ranks
from .document import Document, Heading, Paragraph, Sheet, Table

FORMATS = ("xlsx", *document.FORMATS)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

OUTCOMES = ("on_time", "late", "delayed", "open", "cancelled")  # each statement project has exactly one


@dataclass(frozen=True)
class Assessment:
    """The assessment of ``year`` judged on ``on``: ``projects`` (the statement projects with their outcome) and
    ``departments`` (indexed by lead department in rank order)."""

    year: int
    on: str
    projects: pd.DataFrame
    departments: pd.DataFrame


def outcome(projects: pd.DataFrame) -> pd.Series:
    """Each project's outcome: on_time or late when it has an actual finish (judged against the original
    planned finish, or the planned finish where no original is recorded), else cancelled, delayed or open."""
    finish = progress.dates(projects["actual_finish"])
    baseline = projects["planned_finish_original"].where(projects["planned_finish_original"].notna(),
                                                         projects["planned_finish"])
    due = progress.dates(baseline)
    finished = finish.notna() & projects["status"].isin(("completed", "long_term_management"))
    values = pd.Series("open", index=projects.index, dtype=object)
    values[projects["status"].eq("cancelled")] = "cancelled"
    values[progress.delayed(projects)] = "delayed"
    values[finished & ~(finish > due)] = "on_time"  # no baseline at all: nothing to be late against
    values[finished & (finish > due)] = "late"
    return values


def departments(projects: pd.DataFrame) -> pd.DataFrame:
    """Per lead department with statement projects: the count of each outcome, the share on time, the planned
    and completed investment (yuan; projects without a recorded completed figure add nothing, and a department
    with none recorded has none); ranked by the share on time,
    then fewer delayed, then the share of investment completed, equal departments sharing a place."""
    order = department_order(projects[DEPARTMENT])
    counts = projects.groupby([DEPARTMENT, "outcome"]).size().unstack(fill_value=0) if len(projects) else None
    out = pd.DataFrame(counts).reindex(index=order, columns=list(OUTCOMES), fill_value=0).fillna(0).astype(int)
    grouped = projects.groupby(DEPARTMENT)
    out.insert(0, "projects", grouped.size().reindex(order, fill_value=0).astype(int))
    out["investment_yuan"] = grouped["investment_yuan"].sum().reindex(order, fill_value=0).astype("int64")
    completed = projects["investment_completed_yuan"].astype("Float64")
    out["investment_completed_yuan"] = completed.groupby(projects[DEPARTMENT]).sum(min_count=1).reindex(order) \
        .round().astype("Int64")
    out = out[out["projects"] > 0]
    out["on_time_share"] = out["on_time"] / out["projects"]
    out["investment_share"] = out["investment_completed_yuan"].astype(float) / out["investment_yuan"].where(
        out["investment_yuan"] > 0)
    keys = ["on_time_share", "delayed", "investment_share"]
    out = out.sort_values(keys, ascending=[False, True, False], na_position="last", kind="stable")
    out["rank"] = shared_ranks(out[keys].round({"on_time_share": 3, "investment_share": 3}),
                               pd.Series(True, index=out.index))
    out.index.name = DEPARTMENT
    return out


def compute(view: Reader, year: int, as_of: str | None = None) -> Assessment:
    """The assessment of ``year``'s statement projects in the registry ``view`` reads, as recorded by the end of
    ``as_of`` (default its data date)."""
    on = progress.reference_date(parse_date(as_of) if as_of else None, view.meta())
    projects = history.projects_as_of(view, on)
    chosen = projects[(projects["year"] == int(year)) & projects["in_statement"].astype(bool)]
    chosen = chosen.assign(**{DEPARTMENT: chosen[DEPARTMENT].fillna(UNASSIGNED)}, outcome=outcome(chosen))
    return Assessment(int(year), on, chosen, departments(chosen))


# -- the document and the workbook -----------------------------------------------------------------------
def outcome_label(value: str) -> str:
    """An outcome's name in the display script."""
    status = model.name_labels("status", script.current())
    return {"on_time": _("Completed on time"), "late": _("Completed late"), "delayed": status["delayed"],
            "open": _("Not yet completed"), "cancelled": status["cancelled"]}[value]


def _share(value: float | None) -> str:
    return "-" if value is None or pd.isna(value) else numbers.percent(float(value) * 100)


def _wan(yuan: int | None, shown=lambda yuan: numbers.quantity(yuan / numbers.WAN)) -> str:
    """An amount in 萬元 (the table's unit is in its header), or "not recorded" where no figure was recorded."""
    return _("not recorded") if yuan is None or pd.isna(yuan) else shown(yuan)


def _header(unit: str) -> list[str]:
    """The departments' columns, sums in ``unit`` (named in the header)."""
    return [_("Rank"), _("lead_department"), _("Statement projects"), *map(outcome_label, OUTCOMES),
            _("Share on time"), _("Planned investment (%(unit)s)", unit=unit),
            _("Investment completed (%(unit)s)", unit=unit), _("Share of investment completed")]


def _rows(a: Assessment) -> list[list]:
    """The departments' rows as plain values (counts, shares as fractions, yuan), in rank order."""
    return [[int(r["rank"]), department_label(str(name)), *(int(r[k]) for k in ("projects", *OUTCOMES)),
             float(r["on_time_share"]), int(r["investment_yuan"]),
             None if pd.isna(r["investment_completed_yuan"]) else int(r["investment_completed_yuan"]),
             None if pd.isna(r["investment_share"]) else float(r["investment_share"])]
            for name, r in a.departments.iterrows()]


def _project_rows(a: Assessment) -> tuple[list[str], list[list]]:
    """The statement projects not completed on time: id, name, department, outcome, due dates, reason."""
    late = a.projects[a.projects["outcome"] != "on_time"].sort_values("project_id")
    header = [_("project_id"), _("name"), _("lead_department"), _("Outcome"), _("planned_finish_original"),
              _("planned_finish"), _("actual_finish"), _("delay_reason")]
    rows = [[r.project_id, name, department_label(r.lead_department), outcome_label(r.outcome),
             *("" if pd.isna(v) else numbers.date(v) for v in (r.planned_finish_original, r.planned_finish,
                                                                 r.actual_finish)), reason]
            for r, name, reason in zip(late.itertuples(), data_texts(late["name"]), data_texts(late["delay_reason"]))]
    return header, rows


def build(a: Assessment, view: Reader) -> Document:
    """The assessment as a document in the display script: the overall result, the departments ranked with a
    sentence each, and the statement projects not completed on time."""
    title = _("Assessment of the lead departments against the %(year)s responsibility statement", year=a.year)
    elements = dataclasses.replace(document.elements(view), date=numbers.date(a.on))
    if a.departments.empty:
        return Document(title, elements, [Paragraph(sentence("assessment_text.j2", "no_statement", year=a.year))])
    count, totals = numbers.count, a.departments[["projects", *OUTCOMES, "investment_yuan"]].sum()
    recorded = a.departments["investment_completed_yuan"].sum(min_count=1)
    blocks = [Heading(1, _("Overall results")), Paragraph(sentence(
        "assessment_text.j2", "overall", year=a.year, date=numbers.date(a.on), projects=count(totals["projects"]),
        on_time=count(totals["on_time"]), share=_share(totals["on_time"] / totals["projects"]),
        late=count(totals["late"]), delayed=count(totals["delayed"]), open=count(totals["open"]),
        investment=numbers.wan(totals["investment_yuan"]), completed=_wan(recorded, numbers.wan)))]
    rows = [[*map(str, r[:8]), _share(r[8]), _wan(r[9]), _wan(r[10]), _share(r[11])]
            for r in _rows(a)]
    blocks += [Heading(1, _("Results by lead department")),
               Table(_("The lead departments ranked by the share completed on time"), _header(_("10,000 yuan")), rows,
                     sentence("assessment_text.j2", "rule"))]
    for name, r in a.departments.iterrows():
        blocks.append(Paragraph(sentence(
            "assessment_text.j2", "department", name=department_label(str(name)), rank=str(int(r["rank"])),
            projects=count(r["projects"]), on_time=count(r["on_time"]), share=_share(r["on_time_share"]),
            late=count(r["late"]), delayed=count(r["delayed"]), open=count(r["open"]))))
    header, late = _project_rows(a)
    if late:
        blocks += [Heading(1, _("Statement projects not completed on time")),
                   Table(_("Statement projects not completed on time"), header, late)]
    return Document(title, elements, blocks)


def workbook(a: Assessment) -> bytes:
    """The assessment as an XLSX workbook for people: the departments ranked (shares as percentages, sums in
    yuan), then the statement projects not completed on time; headers in the display script."""
    header, late = _project_rows(a)
    return document.workbook([
        Sheet(_("Assessment %(year)s", year=a.year), _header(_("yuan")), _rows(a),
              {8: "0.0%", 9: "#,##0", 10: "#,##0", 11: "0.0%"}),
        Sheet(_("Statement projects not completed on time"), header, late)])


def render(a: Assessment, view: Reader, fmt: str) -> bytes:
    """The assessment in ``fmt``: xlsx, or a document format (html, pdf, docx, md)."""
    return workbook(a) if fmt == "xlsx" else document.render(build(a, view), fmt)


def media_type(fmt: str) -> str:
    """The media type of an assessment format."""
    return XLSX if fmt == "xlsx" else document.mimetype(fmt)
