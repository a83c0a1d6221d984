"""The project list and the pages it links to, as people use them in Chromium (Debian's) against the demo served
by gunicorn: filtering, sorting and paging reach every project once; each download holds exactly the listed
projects; a bad filter comes back next to its field; project and feature pages show formatted values that fit."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import openpyxl
import pandas as pd
import pyogrio
import pytest
import requests
from playwright.sync_api import Page, expect

from registry import model

from .conftest import screenshot, serious_violations

RAW = ("nan", "<NA>", "True", "False", "None", "NaT")  # what a page shows when it prints Python values


def listed(tab: Page) -> list[str]:
    """The project ids of the table shown, in order."""
    tab.wait_for_selector("body[data-ready='1']")
    return tab.locator("#project-table tbody td:first-child a").all_inner_texts()


def every_page(tab: Page) -> list[str]:
    """The ids of this page and of every page after it, following the list's own next links."""
    ids = listed(tab)
    while tab.locator(".pager a[rel=next]").count():
        tab.locator(".pager a[rel=next]").click()
        ids += listed(tab)
    return ids


def test_sorting_and_paging_the_whole_list_reaches_every_project_once(tab, demo_server, demo_result):
    tab.goto(demo_server + "projects?f=html&limit=20")
    assert "180" in tab.locator("#results-title").inner_text()
    header = tab.locator("#project-table th a.sort", has_text="投资")
    header.click()  # ascending, then descending
    tab.locator("#project-table th a.sort", has_text="投资").click()
    expect(tab.locator("#project-table th[aria-sort=descending]")).to_have_count(1)
    assert "sortby=-investment_yuan" in tab.url
    ids = every_page(tab)
    expected = demo_result.projects.sort_values(["investment_yuan", "project_id"], ascending=[False, True])
    assert ids == expected["project_id"].tolist() and len(set(ids)) == 180
    assert tab.errors == []


def test_filtering_by_the_form_lists_exactly_the_matching_projects(tab, demo_server, demo_result):
    tab.goto(demo_server + "projects?f=html&limit=5")
    tab.check("input[name=category][value=rivers]")
    tab.check("input[name=category][value=polders]")
    tab.fill("#year", "2013..2014")
    tab.select_option("#in_statement", "false")
    tab.click("#filters button[type=submit]")
    tab.wait_for_url(re.compile(r"category=rivers&category=polders"))
    assert "limit=5" in tab.url and "street=" not in tab.url  # blank fields stay out of the URL
    ids = every_page(tab)
    frame = demo_result.projects
    chosen = frame[frame["category"].isin(["rivers", "polders"]) & frame["year"].between(2013, 2014)
                   & ~frame["in_statement"].astype(bool)]
    assert sorted(ids) == sorted(chosen["project_id"]) and len(ids) == len(set(ids)) > 5
    assert serious_violations(tab) == []
    screenshot(tab, "projects-filtered")
    assert tab.errors == []


@pytest.mark.parametrize("query", ["street=娄葑&category=河道", "department=城管局&status=completed,已完成",
                                   "investment_min=1000000&investment_max=5000000&q=河",
                                   "bbox=120.65,31.25,120.75,31.35&year=2014",
                                   "polygon=POLYGON((120.65 31.25, 120.8 31.25, 120.8 31.4, 120.65 31.25))"])
def test_the_list_selects_what_the_json_road_selects(client, query):
    page = client.get(f"/projects?f=html&limit=200&{query}")
    assert page.status_code == 200
    shown = re.findall(r'<td><a href="/projects/([\w-]+)\?f=html">', page.get_data(as_text=True))
    answer = client.get(f"/projects?f=json&limit=200&{query}").json
    assert shown == [p["project_id"] for p in answer["projects"]] and len(shown) == answer["total"] > 0


def ids_in_download(fmt: str, body: bytes, tmp_path) -> set[str]:
    """The project ids a downloaded file holds, read back with the reader of its format."""
    if fmt == "csv":
        return {row["project_id"] for row in csv.DictReader(io.StringIO(body.decode("utf-8-sig")))}
    if fmt == "geojson":
        import json
        return {f["properties"]["project_id"] for f in json.loads(body)["features"]}
    if fmt == "xlsx":
        rows = list(openpyxl.load_workbook(io.BytesIO(body), read_only=True).worksheets[0].iter_rows(values_only=True))
        column = [i for i, name in enumerate(rows[0]) if name in ("project_id", "项目编号", "專案編號")][0]
        return {row[column] for row in rows[1:] if row[column]}
    if body.startswith(b"PK"):  # a Shapefile, or FlatGeobuf of several layers: one file per layer in a ZIP
        path = tmp_path / f"{fmt}.zip"
        path.write_bytes(body)
        names = [n for n in zipfile.ZipFile(path).namelist() if n.endswith((".shp", ".fgb"))]
        return {i for n in names for i in pyogrio.read_dataframe(f"/vsizip/{path}/{n}")["project_id"]}
    path = tmp_path / f"download.{fmt}"
    path.write_bytes(body)
    layer = "projects" if fmt == "gpkg" else None
    return set(pyogrio.read_dataframe(path, layer=layer)["project_id"])


def test_each_download_button_holds_exactly_the_listed_projects(tab, demo_server, tmp_path):
    tab.goto(demo_server + "projects?f=html&limit=5&street=LF&category=rivers,polders,billboards")
    ids = set(every_page(tab))
    links = tab.locator("a.download")
    formats = links.evaluate_all("as => as.map(a => [a.dataset.format, a.getAttribute('href')])")
    assert {fmt for fmt, _ in formats} == {"csv", "xlsx", "geojson", "gpkg", "shp", "fgb"}
    assert len(ids) > 5  # more than the page shown: the downloads hold the whole filtered set
    for fmt, href in formats:
        response = requests.get(demo_server + href.lstrip("/"), timeout=60)
        assert response.status_code == 200, (fmt, response.text[:200])
        assert ids_in_download(fmt, response.content, tmp_path) == ids, fmt


def test_bad_filters_come_back_in_the_form_next_to_their_fields(tab, demo_server):
    tab.goto(demo_server + "projects?f=html")
    tab.fill("#street", "婁風")
    tab.fill("#year", "20l3")
    tab.locator("details.draw summary").click()
    tab.fill("#polygon", "POLYGON((120.7 31.3, 120.8 31.3, 120.8 31.4))")
    with tab.expect_navigation() as navigation:
        tab.click("#filters button[type=submit]")
    response = navigation.value
    assert response.status == 400 and response.headers["content-type"].startswith("text/html")
    expect(tab.locator("#field-street #street-error")).to_contain_text("婁風")
    expect(tab.locator("#field-year #year-error")).to_contain_text("2013..2014")
    expect(tab.locator("#field-polygon #polygon-error")).to_contain_text("WKT")
    assert tab.locator("#street").input_value() == "婁風" and tab.locator("#year").input_value() == "20l3"
    assert tab.locator("#street").get_attribute("aria-describedby") == "street-error"
    assert tab.locator("#project-table").count() == 0
    assert serious_violations(tab) == []
    screenshot(tab, "projects-bad-filter")
    assert [e for e in tab.errors if "400" not in e] == []  # the browser logs the page's own status only


@pytest.mark.parametrize(("query", "field"), [
    ("street=nowhere", "street"), ("year=20x3", "year"), ("year=2015..2013", "year"),
    ("department=nobody", "department"),
    ("investment_min=-5", "investment_min"), ("investment_max=lots", "investment_max"), ("bbox=1,2,3", "bbox"),
    ("polygon=POLYGON((120.7 31.3, 120.8 31.4))", "polygon"), ("category=parks", "category"),
    ("status=sleeping", "status"), ("in_statement=maybe", "in_statement"), ("sortby=height", "sortby"),
    ("limit=0", "limit"), ("offset=-1", "offset")])
def test_every_bad_value_comes_back_as_the_form_with_its_message(client, query, field):
    page = client.get(f"/projects?f=html&{query}")
    text = page.get_data(as_text=True)
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert re.search(rf'id="{field}-error" role="alert">[^<]+<', text)
    assert '<form id="filters"' in text and 'id="project-table"' not in text


@pytest.mark.parametrize("path", ["projects/2013-RIV-001", "projects/2013-POL-004", "collections/rivers/items/1",
                                  "collections/sluices/items/1", "collections/rivers/items?limit=30",
                                  "collections/rivers", "streets", "streets/LF/projects"])
def test_pages_show_formatted_values_that_fit_the_window(tab, demo_server, path):
    tab.goto(f"{demo_server}{path}{'&' if '?' in path else '?'}f=html")
    tab.wait_for_selector("body[data-ready='1']", timeout=30_000)
    text = tab.locator("#content").inner_text()
    assert [word for word in RAW if re.search(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", text)] == []
    assert not re.search(r"\d\.0(?!\d)", text)  # no float shown with a trailing .0
    assert tab.evaluate("document.documentElement.scrollWidth") <= 1280
    if path.startswith("projects/"):
        assert "万元" in text and re.search(r"[是否]", text)
        assert tab.locator("#minimap .leaflet-interactive").count() >= 1  # the project's geometry is drawn
    assert serious_violations(tab) == []
    screenshot(tab, "page-" + re.sub(r"\W+", "-", path))
    assert tab.errors == []


def test_labels_come_from_the_model_in_the_pages_script(client):
    page = client.get("/projects/2013-POL-004?f=html&lang=zh-Hant").get_data(as_text=True)
    row = pd.Series(client.get("/projects/2013-POL-004").json)
    assert model.name_label("category", row["category"], "zh-Hant") in page
    assert model.name_label("status", row["status"], "zh-Hant") in page
    assert f"{row['investment_yuan'] / 10_000:,.2f} 萬元" in page
