"""The shell's other pages for browsers: error pages (JSON clients keep problem documents), /qa and queryables as
HTML, the downloads page, and the one navigation bar; each checked in Chromium for console errors and axe-core."""

from __future__ import annotations

import sqlite3

import lxml.html
import pytest
from flask.testing import FlaskClient

from api import create_app

from .conftest import screenshot, serious_violations

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "zh-TW"}
NAVIGATION = ["總覽", "專案", "地圖", "統計", "質量檢查", "下載", "API"]


def page_of(response) -> lxml.html.HtmlElement:
    assert response.mimetype == "text/html"
    return lxml.html.fromstring(response.text)


def test_a_browser_gets_a_404_page_with_a_way_back(client):
    response = client.get("/projects/2099-RIV-001", headers=BROWSER)
    assert response.status_code == 404
    page = page_of(response)
    assert page.xpath("string(//h1)") == "找不到"
    assert "2099-RIV-001" in page.xpath("string(//code)")
    assert page.xpath("//main//a[contains(@href, '/?f=html')]")


def test_a_browser_gets_a_400_page_naming_the_parameter(client):
    response = client.get("/stats?year=abc&by=category", headers=BROWSER)
    assert response.status_code == 400
    page = page_of(response)
    assert "年度（year）" in page.xpath("string(//p[@role='alert'])")
    assert page.xpath("//main//a/@href")[0] == "/stats?by=category"  # the same page without the bad value


def test_a_server_failure_is_a_page_for_browsers_and_a_problem_for_json_clients(demo_path):
    app = create_app({"REGISTRY_STORE": str(demo_path)})
    app.add_url_rule("/fails", "fails", lambda: 1 // 0)  # any unhandled error
    client = app.test_client()
    page = client.get("/fails", headers=BROWSER)
    assert page.status_code == 500 and page_of(page).xpath("string(//h1)") == "伺服器未能回應"
    assert "ZeroDivisionError" not in page.text  # the traceback goes to the log, not to the browser
    problem = client.get("/fails", headers={"Accept": "application/json"})
    assert problem.status_code == 500 and problem.mimetype == "application/problem+json"


@pytest.mark.parametrize(("path", "status", "param"), [("/projects?year=abc", 400, "year"),
                                                       ("/projects/2099-RIV-001", 404, "projectId"),
                                                       ("/nothing", 404, None)])
def test_a_json_client_keeps_problem_documents(client, path, status, param):
    for headers in ({}, {"Accept": "application/json"}, {"Accept": "*/*"}):
        response = client.get(path, headers=headers)
        assert response.status_code == status
        assert response.mimetype == "application/problem+json"
        assert response.json["status"] == status and response.json.get("parameter") == param


@pytest.fixture(scope="module")
def flawed(tmp_path_factory, demo_path) -> FlaskClient:
    """The demo with one river's declared length tripled, so QA finds it (a direct edit, as QGIS might make)."""
    path = tmp_path_factory.mktemp("flawed") / "registry.gpkg"
    path.write_bytes(demo_path.read_bytes())
    with sqlite3.connect(path) as con:
        con.execute("UPDATE projects SET length_m = length_m * 3 WHERE project_id = '2013-RIV-001'")
    return create_app({"REGISTRY_STORE": str(path)}).test_client()


def test_the_qa_page_lists_each_checks_findings_as_the_json_does(flawed):
    findings = flawed.get("/qa").json["findings"]
    page = page_of(flawed.get("/qa", headers=BROWSER))
    section = page.get_element_by_id("check-quantity_mismatch")
    listed = [a.text for a in section.xpath(".//tbody//a[contains(@href, '/projects/')]")]
    assert listed == [f["project_id"] for f in findings if f["check"] == "quantity_mismatch"] == ["2013-RIV-001"]
    assert len(page.xpath("//section[starts-with(@id, 'check-')]")) == len({f["check"] for f in findings})


def test_the_queryables_page_lists_every_queryable_with_its_name(client):
    schema = client.get("/collections/rivers/queryables").json
    page = page_of(client.get("/collections/rivers/queryables", headers=BROWSER))
    rows = {row.xpath("string(./th)"): row.xpath("string(./td[1])") for row in page.xpath("//tbody/tr")}
    assert list(rows) == list(schema["properties"])
    assert rows["planned_finish"] == "計劃完工"


def test_the_downloads_page_offers_each_export_format_of_the_whole_registry(client):
    page = page_of(client.get("/downloads", headers=BROWSER))
    links = page.xpath("//table//a[@download]/@href")
    formats = {href.split("f=")[1].split("&")[0] for href in links}
    assert formats == {"geojson", "gpkg", "shp", "fgb", "csv", "xlsx"}
    geojson = client.get(next(h for h in links if "f=geojson" in h)).json
    assert geojson["numberMatched"] == 180 == len({f["properties"]["project_id"] for f in geojson["features"]})


@pytest.mark.parametrize(("path", "current"), [
    ("/downloads", "下載"), ("/qa?f=html", "質量檢查"), ("/stats?f=html", "統計"),
    ("/collections/rivers/queryables?f=html", "API")])
def test_every_page_has_the_one_navigation_bar(client, path, current):
    page = page_of(client.get(path, headers=BROWSER))
    assert [a.text_content() for a in page.xpath("//header//nav//a")] == NAVIGATION
    assert page.xpath("string(//nav//a[@aria-current='page'])") == current


@pytest.mark.parametrize(("path", "name"), [("downloads", "downloads"), ("qa?f=html", "qa"),
                                            ("collections/rivers/queryables?f=html", "queryables"),
                                            ("stats?year=abc", "error-400"), ("projects/2099-RIV-001", "error-404")])
def test_each_page_is_accessible_and_free_of_console_errors(tab, demo_server, path, name):
    tab.goto(demo_server + path)
    assert serious_violations(tab) == []
    assert tab.errors == [] or all("status of 40" in e for e in tab.errors)  # an error page's own status only
    screenshot(tab, name)
