"""The progress bulletin and the assessment: as-of answers from the history, figures per department against an
independent computation over the projects frame, traffic lights on hand-computed boundary cases (10 and 30
points behind), on-time and late counts of hand-built statement projects, the XLSX read back, and the HTTP
routes' media types and problem documents."""

from __future__ import annotations

import datetime as dt
import io
import re

import numpy as np
import opencc
import openpyxl
import pandas as pd
import pytest

from registry import editing, model, script
from registry.cli import main
from registry.report import assessment, bulletin, document
from registry.store import Author, Batch, GeoPackageStore, history, read_store
from registry.store.history import day_start_utc

from .conftest import project

# Planned 2014-01-01 to 2014-05-09 (128 days); on 2014-04-07, 96 days have passed: exactly 75 % of the time.
START, FINISH, ON = "2014-01-01", "2014-05-09", "2014-04-07"
CITY, PLANNING, POLICE = "城市管理局", "規劃建設局", "交巡警大隊"


def _row(pid: str, department: str, status: str, pct: float | None, **extra) -> dict:
    started = {"actual_start": START} if status != "planned" else {}
    return project(pid, "rivers", lead_department=department, status=status, progress_pct=pct,
                   planned_start=START, planned_finish=FINISH, **started) | extra


# (project, department, status, progress, other fields) → the light and points behind worked out by hand on ON
LIGHT_CASES = [
    (_row("2014-RIV-001", CITY, "in_progress", 65.5), "green", 9.5),
    (_row("2014-RIV-002", CITY, "in_progress", 65.0), "yellow", 10.0),
    (_row("2014-RIV-003", CITY, "in_progress", 45.0), "yellow", 30.0),
    (_row("2014-RIV-004", CITY, "in_progress", 44.5), "red", 30.5),
    (_row("2014-RIV-005", PLANNING, "in_progress", 100.0, planned_finish="2014-04-01"), "red", 0.0),  # overdue
    (_row("2014-RIV-006", PLANNING, "planned", None, planned_start="2014-05-01", planned_finish="2014-09-30"),
     "grey", 0.0),
    (_row("2014-RIV-007", PLANNING, "completed", None, planned_finish="2014-03-31", actual_finish="2014-03-20"),
     "green", 0.0),
    # delayed to 2014-06-30: 96 of 180 days passed, 53.33 % of the time, 40 % done
    (_row("2014-RIV-008", PLANNING, "delayed", 40.0, planned_finish="2014-06-30", delay_reason="流砂"),
     "yellow", 96 / 180 * 100 - 40),
    (_row("2014-RIV-009", POLICE, "cancelled", None), "grey", 75.0),  # grey whatever it trails by
]


def _store(path, rows: list[dict]) -> GeoPackageStore:
    """A registry of ``rows`` registered on 2014-01-01 (its history starts then), data date ``ON``."""
    store = GeoPackageStore.create(path, meta={"data_date": ON})
    store.write(Batch(pd.DataFrame(rows)), author=Author("clerk", role="admin", at=day_start_utc("2014-01-01")))
    return store


@pytest.fixture(scope="module")
def lights_store(tmp_path_factory) -> GeoPackageStore:
    return _store(tmp_path_factory.mktemp("bulletin") / "lights.gpkg", [case[0] for case in LIGHT_CASES])


def test_traffic_lights_at_10_and_30_points_behind_through_the_bulletin(lights_store):
    with read_store(lights_store.location) as view:
        result = bulletin.compute(view)
    standing = result.standing.set_index("project_id")
    assert result.on == ON  # the registry's data date
    for row, light, behind in LIGHT_CASES:
        assert standing.loc[row["project_id"], "light"] == light, row["project_id"]
        assert standing.loc[row["project_id"], "points_behind"] == pytest.approx(behind), row["project_id"]
    assert result.departments.loc[CITY, ["green", "yellow", "red"]].tolist() == [1, 2, 1]
    assert list(result.behind["project_id"]) == ["2014-RIV-004", "2014-RIV-003", "2014-RIV-002"]  # most behind first
    assert list(result.overdue_or_delayed["project_id"]) == ["2014-RIV-005", "2014-RIV-008"]


def test_the_bulletin_document_names_each_light_and_the_rule_with_its_thresholds(lights_store):
    with script.use("zh-Hans"), read_store(lights_store.location) as view:
        text = document.render(bulletin.bulletin_document(view), "md").decode()
    assert "绿灯:实际进度落后计划时间进度不足10个百分点;黄灯:落后10个百分点至30个百分点(含)" in text
    assert "| 2014-RIV-004 | 唐庄河整治 | 城市管理局 | 44.5% | 75% | 30.5 | 红灯 |" in text
    assert "| 2014-RIV-002 | 唐庄河整治 | 城市管理局 | 65% | 75% | 10 | 黄灯 |" in text
    assert "流砂" in text and "2014-RIV-001 |" not in text  # a green project is not listed


def _independent(projects: pd.DataFrame, on: str) -> pd.DataFrame:
    """Per department by hand: statuses, overdue, and the means over projects that are not grey."""
    day = pd.Timestamp(on)
    start, finish = pd.to_datetime(projects["planned_start"]), pd.to_datetime(projects["planned_finish"])
    elapsed = ((day - start).dt.days / (finish - start).dt.days).clip(0, 1) * 100
    done = projects["progress_pct"].astype(float).fillna(0).mask(
        projects["status"].isin(["completed", "long_term_management"]), 100.0)
    closed = projects["status"].isin(["completed", "long_term_management", "cancelled"])
    grey = projects["status"].eq("cancelled") | (projects["status"].eq("planned") & done.eq(0) & (start > day))
    frame = pd.DataFrame({"department": projects["lead_department"], "status": projects["status"],
                          "overdue": (finish < day) & ~closed, "elapsed": elapsed, "done": done,
                          "behind": elapsed - done, "grey": grey})
    out = pd.crosstab(frame["department"], frame["status"])
    out["projects"] = frame.groupby("department").size()
    out["overdue"] = frame.groupby("department")["overdue"].sum()
    judged = frame[~frame["grey"]].groupby("department")
    out["elapsed"], out["done"], out["behind"] = judged["elapsed"].mean(), judged["done"].mean(), \
        judged["behind"].mean()
    return out


def test_figures_per_department_equal_an_independent_computation(lights_store, demo_path):
    for location, on in ((lights_store.location, ON), (str(demo_path), "2014-06-30")):
        with read_store(location) as view:
            projects = view.projects()
            ours = bulletin.compute(view, on).departments
        expected = _independent(projects, on)
        for department, row in expected.iterrows():
            mine = ours.loc[department]
            assert mine["projects"] == row["projects"], department
            for status in model.STATUSES:
                assert mine[status] == row.get(status, 0), (department, status)
            assert mine["overdue"] == row["overdue"], department
            for column, theirs in (("elapsed_pct", "elapsed"), ("progress_counted", "done"),
                                   ("points_behind", "behind")):
                got = ours[column].astype(float).loc[department]
                assert got == pytest.approx(row[theirs], nan_ok=True), (department, column)
        assert ours["projects"].sum() == len(projects)


@pytest.fixture
def finished_late(demo_copy):
    """The demo with 蠡塘圩 (2013-POL-004, delayed) recorded as completed on 2014-03-28, after the data date."""
    editing.patch_project(GeoPackageStore(demo_copy), "2013-POL-004", {
        "status": "completed", "actual_finish": "2014-03-28", "progress_pct": 100},
        Author("clerk", role="admin", at=day_start_utc("2014-03-28")))
    return demo_copy


def test_a_registry_edited_after_the_year_gives_a_different_bulletin_before_and_after_the_edit(finished_late):
    demo_copy = finished_late
    with read_store(str(demo_copy)) as view:
        before = bulletin.compute(view, "2014-03-01")
        after = bulletin.compute(view, "2014-04-10", since="2014-03-01")
    before_text, after_text = (_cli_bulletin(demo_copy, "--as-of", day) for day in ("2014-03-01", "2014-04-10"))
    assert "2013-POL-004" in set(before.overdue_or_delayed["project_id"])
    assert "2013-POL-004" not in set(after.overdue_or_delayed["project_id"])
    assert before.departments.loc[PLANNING, "delayed"] == 1 and after.departments.loc[PLANNING, "delayed"] == 0
    assert after.departments.loc[PLANNING, "delayed_change"] == -1
    assert after.departments.loc[PLANNING, "finished_change"] == \
        after.departments.loc[PLANNING, "finished"] - before.departments.loc[PLANNING, "finished"]
    assert "2013-POL-004" in before_text and "2013-POL-004" not in after_text


def test_the_projects_as_of_a_day_are_those_of_the_registry_rebuilt_as_of_that_day(finished_late):
    with read_store(str(finished_late)) as view:
        for day in ("2013-05-19", "2013-10-01", "2014-03-27", "2014-03-28", "2014-06-30"):
            pd.testing.assert_frame_equal(history.projects_as_of(view, day), history.as_of(view, day).projects(),
                                          check_index_type=False, obj=day)
        assert history.projects_as_of(view, "2014-03-28").set_index("project_id").loc["2013-POL-004", "status"] \
            == "completed"


def _cli_bulletin(store, *args: str) -> str:
    """``registry report bulletin`` run in this process, as Markdown."""
    out = store.with_suffix(".md")
    with pytest.raises(SystemExit) as done:
        main(["report", "bulletin", "--store", str(store), *args, "--out", str(out)])
    assert done.value.code == 0
    return out.read_text(encoding="utf-8")


# -- the assessment ---------------------------------------------------------------------------------------
def _statement(pid: str, department: str, status: str, original: str, **extra) -> dict:
    fields = {"actual_start": "2014-03-01"} if status != "planned" else {}
    return project(pid, "alleys", lead_department=department, status=status, in_statement=True,
                   planned_start="2014-03-01", planned_finish=original, planned_finish_original=original,
                   **fields) | extra


ASSESSED = [
    _statement("2014-ALY-001", CITY, "completed", "2014-06-30", actual_finish="2014-06-30",  # the day itself
               investment_completed_yuan=1_250_000),
    _statement("2014-ALY-002", CITY, "completed", "2014-06-30", planned_finish="2014-08-31",
               actual_finish="2014-07-01", investment_completed_yuan=1_000_000),  # a day late
    _statement("2014-ALY-003", CITY, "long_term_management", "2014-06-30", actual_finish="2014-05-01"),
    _statement("2014-ALY-004", PLANNING, "delayed", "2014-06-30", planned_finish="2014-12-31", delay_reason="拆遷"),
    _statement("2014-ALY-005", PLANNING, "in_progress", "2014-06-30"),
    _statement("2014-ALY-006", PLANNING, "completed", "2014-06-30", actual_finish="2014-06-01",
               investment_completed_yuan=1_000_000),
    _statement("2014-ALY-007", POLICE, "completed", "2014-06-30", actual_finish="2014-09-01", in_statement=False),
    _statement("2015-ALY-001", POLICE, "completed", "2015-06-30", actual_finish="2015-09-01"),
]


@pytest.fixture(scope="module")
def assessed(tmp_path_factory) -> GeoPackageStore:
    return _store(tmp_path_factory.mktemp("assessment") / "assessed.gpkg", ASSESSED)


def test_the_assessment_counts_on_time_and_late_statement_projects(assessed):
    with read_store(assessed.location) as view:
        result = assessment.compute(view, 2014, "2014-12-31")
    table = result.departments
    assert list(table.index) == [CITY, PLANNING]  # the police's projects are outside the statement or the year
    assert table.loc[CITY, ["projects", "on_time", "late", "delayed", "open"]].tolist() == [3, 2, 1, 0, 0]
    assert table.loc[PLANNING, ["projects", "on_time", "late", "delayed", "open"]].tolist() == [3, 1, 0, 1, 1]
    assert table.loc[CITY, "on_time_share"] == pytest.approx(2 / 3)
    assert table.loc[CITY, "investment_completed_yuan"] == 2_250_000
    assert table.loc[PLANNING, "investment_yuan"] == 3 * 1_250_000
    assert table["rank"].tolist() == [1, 2]


def test_the_assessment_workbook_reads_back_as_the_computation(assessed):
    with script.use("zh-Hant"), read_store(assessed.location) as view:
        result = assessment.compute(view, 2014, "2014-12-31")
        body = assessment.render(result, view, "xlsx")
    book = openpyxl.load_workbook(io.BytesIO(body))
    first = book.worksheets[0]
    rows = list(first.values)
    assert rows[0][:3] == ("排名", "牽頭部門", "責任狀專案數") and rows[0][9] == "計劃投資(元)"
    assert [r[1] for r in rows[1:]] == [CITY, PLANNING]
    for got, (department, row) in zip(rows[1:], result.departments.iterrows()):
        assert got[0] == row["rank"] and got[2:8] == tuple(int(row[k]) for k in ("projects", *assessment.OUTCOMES))
        assert got[8] == pytest.approx(row["on_time_share"]) and got[9] == row["investment_yuan"]
        assert got[10] == row["investment_completed_yuan"], department
    assert first.cell(row=2, column=9).number_format == "0.0%"
    late = [r[0] for r in list(book.worksheets[1].values)[1:]]
    assert late == ["2014-ALY-002", "2014-ALY-004", "2014-ALY-005"]


def test_the_shares_rank_departments_sharing_a_place_when_equal():
    keys = pd.DataFrame({"share": [1.0, 1.0, 0.5, np.nan]})
    ranks = bulletin.shared_ranks(keys, pd.Series([True, True, True, False]))
    assert ranks.tolist()[:3] == [1, 1, 3] and pd.isna(ranks.iloc[3])


# -- over HTTP --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "media"), [
    ("/reports/bulletin", "text/html"),
    ("/reports/bulletin?f=docx&since=2013-10-01", document.FORMATS["docx"]),
    ("/reports/bulletin?f=pdf&as_of=2013-12-01", "application/pdf"),
    ("/reports/assessment/2013?f=xlsx", assessment.XLSX),
    ("/reports/bulletin?f=xlsx&since=2013-10-01", assessment.XLSX),
    ("/reports/assessment/2013?f=md", "text/markdown"),
])
def test_the_report_routes_answer_in_their_media_types(client, url, media):
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == media, response.data[:300]
    if media == assessment.XLSX:
        rows = openpyxl.load_workbook(io.BytesIO(response.data)).worksheets[0].max_row  # a header, the departments
        assert rows == (5 if "assessment" in url else 1 + len(model.LEAD_DEPARTMENTS))
    if media == "text/markdown":
        assert "2013-POL-004" in response.get_data(as_text=True)


@pytest.mark.parametrize(("query", "param"), [
    ("as_of=2014-13-01", "as_of"), ("since=yesterday", "since"), ("since=2014-02-01", "since"),  # after as_of
    ("as_of=2014-01-01&since=2014-01-01", "since")])
def test_a_bad_date_is_a_problem_naming_its_parameter(client, query, param):
    response = client.get(f"/reports/bulletin?{query}")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert response.get_json()["parameter"] == param


@pytest.mark.parametrize(("url", "words"), [
    ("/reports/bulletin?since=2014-02-01&lang=zh-Hans", "since 须为通报日期 2014-01-10 之前的日期"),
    ("/reports/bulletin?f=odt&lang=zh-Hant", "f 須為"),
    ("/reports/summary/13?lang=zh-Hant", "year 須為年份"),
    ("/reports/summary/1999?lang=zh-Hans", "登记簿中没有 1999 年的项目；现有年份：2013, 2014, 2015")])
def test_a_refused_report_says_why_in_the_requests_script(client, url, words):
    response = client.get(url)
    assert response.status_code == 400 and words in response.get_json()["detail"]


def test_a_long_list_shows_the_worst_of_each_department_and_counts_the_rest():
    frame = pd.DataFrame({"lead_department": [CITY] * 25 + [POLICE] * 3, "project_id": range(28)})
    shown, more = bulletin.listed(frame)
    assert list(shown["project_id"]) == [*range(bulletin.LISTED_PER_DEPARTMENT), 25, 26, 27]
    assert more == 25 - bulletin.LISTED_PER_DEPARTMENT


def test_the_bulletins_workbook_lists_every_overdue_project_the_document_cuts(tmp_path):
    many = bulletin.LISTED_PER_DEPARTMENT + 3
    rows = [_row(f"2014-RIV-{n:03d}", CITY, "in_progress", 50.0, planned_finish=f"2014-03-{n:02d}")
            for n in range(1, many + 1)]
    store = _store(tmp_path / "many.gpkg", rows)
    with script.use("zh-Hans"), read_store(store.location) as view:
        result = bulletin.compute(view)
        text = document.render(bulletin.build(result, view), "md").decode()
        book = openpyxl.load_workbook(io.BytesIO(bulletin.render(result, view, "xlsx")))
    overdue = sorted(r["project_id"] for r in rows if r["planned_finish"] < ON)  # every one, by hand
    listed = list(book.worksheets[1].values)
    assert [r[0] for r in listed[1:]] == overdue and len(overdue) == many
    assert listed[1][5] == dt.datetime(2014, 3, 1)  # dates as dates
    assert sum(f"| {pid} |" in text for pid in overdue) == bulletin.LISTED_PER_DEPARTMENT
    assert "另有3个未列出" in text and "全部项目见本通报所附的电子表格" in text
    ranking = list(book.worksheets[0].values)
    assert ranking[1][1] == CITY and ranking[1][2] == many and ranking[1][7] == many  # projects, overdue


@pytest.mark.parametrize("chosen", model.SCRIPTS)
@pytest.mark.parametrize("url", ["/reports/bulletin?f=md&since=2013-10-01", "/reports/assessment/2013?f=md"])
def test_a_report_is_written_in_one_script(client, url, chosen):
    text = client.get(f"{url}&lang={chosen}").get_data(as_text=True)
    assert opencc.OpenCC({"zh-Hans": "tw2s", "zh-Hant": "s2tw"}[chosen]).convert(text) == text
    assert re.findall(r"[A-Za-z]{4,}", re.sub(r"\d{4}-[A-Z]{3}-\d{3}", "", text)) == []  # no English left
