"""The dashboard at ``/`` for browsers: its figures against ``/stats``, ``/projects`` and the demo's known totals,
its filters and as-of, its links, and the page drawn in Chromium (charts, map, console, axe-core, screenshots)."""

from __future__ import annotations

from collections.abc import Iterator

import lxml.html
import orjson
import pytest
from playwright.sync_api import Page

from api import create_app
from registry.store import GeoPackageStore

from .conftest import VIEWPORTS, role_accounts, screenshot, serious_violations

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "zh-TW"}
GROUPS = ("year", "category", "status", "street")


def dashboard(client, query: str = "") -> lxml.html.HtmlElement:
    response = client.get(f"/{query}", headers=BROWSER)
    assert response.status_code == 200 and response.mimetype == "text/html"
    return lxml.html.fromstring(response.text)


def shown_rows(page: lxml.html.HtmlElement, key: str) -> dict[str, tuple[int, str]]:
    """A group's table on the dashboard: key → (projects, investment in yuan as /stats writes it)."""
    rows = page.xpath(f'//section[@id="by-{key}"]//tbody/tr')
    return {row.get("data-key"): (int(row.xpath(".//td[@data-projects]")[0].get("data-projects")),
                                  row.xpath(".//td[@data-investment]")[0].get("data-investment")) for row in rows}


def stats_rows(client, key: str, query: str = "") -> dict[str, tuple[int, str]]:
    rows = client.get(f"/stats?by={key}{query}").json["rows"]
    return {str(r[key]): (r["projects"], r["investment_yuan"]) for r in rows}


def test_the_dashboard_shows_the_demo_programme_totals(client):
    page = dashboard(client)
    assert page.get_element_by_id("kpi-projects").text_content().strip() == "180"
    investment = page.get_element_by_id("kpi-investment")
    assert investment.get("data-yuan") == "3633000000.00"  # 6.03 + 16.2 + 14.1 億元, the seed's three years
    assert investment.text_content().strip() == "36.33億元"
    years = shown_rows(page, "year")
    assert years == {"2013": (81, "603000000.00"), "2014": (48, "1620000000.00"), "2015": (51, "1410000000.00")}


@pytest.mark.parametrize("query", ["", "?street=LF&year=2013", "?category=rivers,polders&as_of=2013-10-01"])
def test_the_dashboards_figures_equal_the_statistics_for_the_same_filters(client, query):
    page = dashboard(client, query)
    extra = "&" + query.lstrip("?") if query else ""
    for key in GROUPS:
        assert shown_rows(page, key) == stats_rows(client, key, extra), key


def test_every_group_link_lists_as_many_projects_as_the_dashboard_counts(client):
    page = dashboard(client, "?year=2014")
    for key in ("category", "status"):
        for row in page.xpath(f'//section[@id="by-{key}"]//tbody/tr'):
            href = row.xpath(".//th/a")[0].get("href")
            assert "f=html" in href and "year=2014" in href
            listed = client.get(href.replace("f=html", "f=json")).json["total"]
            assert listed == int(row.xpath(".//td[@data-projects]")[0].get("data-projects")), href


def test_the_statement_progress_counts_the_statement_projects_by_status(client):
    projects = client.get("/projects?in_statement=true&limit=1000").json["projects"]
    done = sum(p["status"] in ("completed", "long_term_management") for p in projects)
    total = dashboard(client).xpath('//section[@id="statement"]//tfoot/tr/td[@class="num"]')
    assert [int(td.text_content()) for td in total[:3]] == [len(projects), done, 0] == [61, 60, 0]


def test_delayed_projects_are_listed_with_their_reason(client):
    rows = dashboard(client).xpath('//section[@id="attention"]//tbody/tr')
    delayed = client.get("/projects?status=delayed").json["projects"]
    assert [r.xpath("./td/a")[0].text for r in rows] == [p["project_id"] for p in delayed] == ["2013-POL-004"]
    assert "流砂" in rows[0].text_content()  # the seed's reason: quicksand at boundary sluice no. 2


def test_projects_past_their_planned_finish_on_as_of_are_overdue(client):
    on = "2014-06-01"
    page = dashboard(client, f"?as_of={on}")
    listed = {r.xpath("./td/a")[0].text: r for r in page.xpath('//section[@id="attention"]//tbody/tr')}
    projects = client.get(f"/projects?as_of={on}&limit=1000").json["projects"]
    late = {p["project_id"] for p in projects if p["planned_finish"] and p["planned_finish"] < on
            and p["status"] not in ("completed", "long_term_management", "cancelled")}
    assert late and set(listed) == late | {p["project_id"] for p in projects if p["status"] == "delayed"}
    assert all(listed[pid].xpath('.//span[contains(@class, "overdue")]') for pid in late)


def test_the_ogc_landing_links_stay_on_the_dashboard(client):
    rels = {a.get("rel") for a in dashboard(client).xpath('//section[@id="services"]//a')}
    assert {"service-desc", "service-doc", "conformance", "data"} <= rels
    assert client.get("/", headers={"Accept": "application/json"}).json["links"]


def test_an_edit_reaches_the_dashboard_at_once(demo_copy):
    admin = role_accounts(GeoPackageStore(demo_copy))["admin"]
    client = create_app({"REGISTRY_STORE": str(demo_copy)}).test_client()
    assert "2014-RIV-002" not in dashboard(client).get_element_by_id("attention").text_content()
    change = {"status": "delayed", "delay_reason": "征地未完成", "planned_finish": "2015-06-30"}
    headers = {"Authorization": f"Bearer {admin.token}", "Content-Type": "application/merge-patch+json"}
    edit = client.patch("/projects/2014-RIV-002", data=orjson.dumps(change), headers=headers)
    assert edit.status_code == 200, edit.text
    attention = dashboard(client).get_element_by_id("attention").text_content()
    assert "2014-RIV-002" in attention and "徵地" in attention


# The year chart's Chart.js instance, in the page's script.
YEAR_CHART = "registryCharts.Chart.getChart(document.querySelector('#chart-year canvas'))"
STREET_CHART = YEAR_CHART.replace("chart-year", "chart-street")


@pytest.fixture(scope="module")
def drawn(browser, demo_server) -> Iterator[Page]:
    """The dashboard drawn once in Chromium (charts and map), its console errors in ``page.errors``."""
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="zh-CN")
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(demo_server)
    page.wait_for_selector("body[data-ready='1'][data-map-ready='1']", timeout=60_000)
    yield page
    context.close()


def test_the_charts_and_map_are_drawn_without_console_errors(drawn):
    for key in GROUPS:
        assert drawn.locator(f"#chart-{key} canvas").count() == 1, key
    assert drawn.locator("#overview-map path.leaflet-interactive").count() == 5  # the five street offices
    assert drawn.errors == []


def test_the_dashboard_is_in_the_browsers_script_with_the_charts_axis_in_yi(drawn):
    assert drawn.locator("html").get_attribute("lang") == "zh-Hans"
    assert drawn.locator("#kpi-investment").inner_text() == "36.33亿元"
    axes = drawn.evaluate(f"() => Object.values({YEAR_CHART}.scales).map((scale) => scale.options.title.text)")
    assert "亿元" in axes, axes


def test_hovering_the_year_chart_shows_its_figures_without_console_errors(drawn, client):
    year = {r["year"]: r for r in client.get("/stats?by=year&f=json").get_json()["rows"]}
    box = drawn.locator("#chart-year").bounding_box()
    drawn.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.6)  # the middle year, 2014
    drawn.wait_for_timeout(300)
    lines = drawn.evaluate(f"() => {{ const tip = {YEAR_CHART}.tooltip; "
                           "return tip.opacity ? [tip.title, ...tip.body.map((b) => b.lines)].flat() : []; }")
    yi = float(year[2014]["investment_yuan"]) / 100_000_000
    expected = f"{yi:.2f}".rstrip("0").rstrip(".") + " 亿元"
    assert "2014" in lines and any(line.endswith(expected) for line in lines), lines
    assert f"项目数：{year[2014]['projects']}" in lines, lines
    assert drawn.errors == []  # the tooltip is drawn in the chart, not as styled HTML the CSP blocks


def test_clicking_a_street_bar_opens_the_list_of_that_streets_projects(browser, demo_server, client):
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="zh-CN")
    page = context.new_page()
    page.goto(demo_server)
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    street = "LF"
    at = page.evaluate(f"""() => {{ const chart = {STREET_CHART};
      const i = chart.data.labels.indexOf(document.querySelector('#by-street tr[data-key="{street}"] th')
        .textContent.trim());
      const bar = chart.getDatasetMeta(0).data[i]; return [bar.x, (bar.y + bar.base) / 2]; }}""")
    canvas = page.locator("#chart-street canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    with page.expect_navigation():
        page.mouse.click(box["x"] + at[0], box["y"] + at[1])
    assert f"street={street}" in page.url
    listed = {p["project_id"] for p in client.get(f"/projects?street={street}&limit=1000").json["projects"]}
    shown = page.locator("#project-table tbody tr td:first-child").all_inner_texts()
    assert sorted(shown) == sorted(listed), page.url
    context.close()


def test_the_dashboard_has_no_serious_accessibility_violations(drawn):
    assert serious_violations(drawn) == []
    screenshot(drawn, "dashboard")
    assert drawn.locator("nav a[aria-current='page']").inner_text() == "总览"
