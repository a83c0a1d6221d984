"""The web map as the office works with it, in Chromium (Debian's) against the demo served by gunicorn: the list's
filters in its URL, zoom to a street, search by project name or id, every layer (sluices too), a configured base
map allowed by the page's policy, a phone's layout and an A4 landscape print."""

from __future__ import annotations

import json
import re
import subprocess

import geopandas as gpd
import requests
from playwright.sync_api import Page, expect

from api import create_app
from registry import model
from registry.store import GeoPackageStore

from .conftest import screenshot, serious_violations

LAYERS = [layer for c in model.CATEGORIES for layer in model.category_layers(c.slug)]  # what the map fetches
TILES = "https://t{s}.tiles.example.org/vec/{z}/{x}/{y}.png"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f6a8e40000000049454e44ae426082")  # 1×1


def api_count(base: str, **params) -> int:
    """The API's numberMatched summed over the project layers, for the same filters as the map."""
    return sum(requests.get(f"{base}collections/{layer}/items", params={"limit": 1, **params}, timeout=30)
               .json()["numberMatched"] for layer in LAYERS)


def ready(tab: Page) -> int:
    """Waits for the map's layers to be drawn; the number of features drawn."""
    tab.wait_for_selector("#status[data-state=ready]", timeout=60_000)
    return tab.evaluate("window.drawnCount")


def view(tab: Page) -> tuple[float, float, float, float]:
    """The map's view as west, south, east, north."""
    return tuple(tab.evaluate("(() => { const b = window.registryMap.getBounds(); "
                              "return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()"))


def street_box(demo_path, code: str) -> tuple[float, float, float, float]:
    """A street office's current boundary's bounds, read from the store."""
    streets = GeoPackageStore(demo_path).features("street_offices")
    today = streets[streets["valid_to"].isna() & (streets["code"] == code)]
    return tuple(gpd.GeoSeries(today.geometry.values).total_bounds)


def settled_view(tab: Page) -> tuple[float, float, float, float]:
    """The map's view once it has stopped moving (a zoom to a street animates for a moment after the layers are
    drawn): two readings 300 ms apart agree, within 5 s."""
    last = view(tab)
    for _ in range(16):
        tab.wait_for_timeout(300)
        now = view(tab)
        if now == last:
            return now
        last = now
    return last


def around(outer: tuple, inner: tuple, slack: float = 4.0) -> bool:
    """Whether the view ``outer`` holds ``inner`` and is at most ``slack`` times its width and height."""
    holds = outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]
    return holds and (outer[2] - outer[0]) <= slack * (inner[2] - inner[0]) \
        and (outer[3] - outer[1]) <= slack * (inner[3] - inner[1])


def test_the_map_takes_the_lists_filters_zooms_to_the_street_and_keeps_its_state_in_the_url(tab, demo_server,
                                                                                             demo_path):
    tab.goto(demo_server + "map?street=金鸡湖&year=2014&category=河道,POL")  # names, as the list takes them
    drawn = ready(tab)
    assert tab.locator("#street").input_value() == "JJH" and tab.locator("#year").input_value() == "2014"
    checked = tab.locator("input.category:checked").evaluate_all("bs => bs.map(b => b.value)")
    assert checked == ["rivers", "polders"]
    rivers_and_polders = [*model.category_layers("rivers"), *model.category_layers("polders")]
    assert drawn == sum(requests.get(f"{demo_server}collections/{layer}/items", timeout=30,
                                     params={"limit": 1, "street": "JJH", "year": "2014"}).json()["numberMatched"]
                        for layer in rivers_and_polders)
    assert around(settled_view(tab), street_box(demo_path, "JJH"))
    tab.select_option("#street", "XT")
    expect(tab.locator("#status")).to_have_attribute("data-state", "ready")
    tab.wait_for_function("location.search.includes('street=XT')")
    assert around(settled_view(tab), street_box(demo_path, "XT"))
    assert "street=XT" in tab.locator("#list-link").get_attribute("href")
    assert "category=rivers%2Cpolders" in tab.url and "year=2014" in tab.url
    tab.reload()  # a bookmark of the map opens as it was left
    ready(tab)
    assert tab.locator("#street").input_value() == "XT" and around(settled_view(tab), street_box(demo_path, "XT"))
    assert tab.errors == []


def test_search_finds_a_project_by_name_in_either_script_and_by_id(tab, demo_server, demo_result):
    tab.goto(demo_server + "map")
    ready(tab)
    tab.fill("#search-text", "唐庄河")  # simplified: the registry stores 唐莊河
    tab.click("#search button[type=submit]")
    popup = tab.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("2013-RIV-002")
    assert popup.locator("a").get_attribute("href") == "/projects/2013-RIV-002?f=html"
    features = demo_result.features[demo_result.features["project_id"] == "2013-RIV-002"]
    assert around(settled_view(tab), tuple(gpd.GeoSeries(features.geometry.values).total_bounds), slack=8)
    tab.fill("#search-text", "pol-00")
    tab.click("#search button[type=submit]")
    expect(tab.locator("#search-results button.result").first).to_be_visible()
    shown = tab.locator("#search-results button.result").all_inner_texts()
    wanted = sorted(i for i in demo_result.projects["project_id"] if "POL-00" in i)
    assert sorted(re.search(r"（(.+)）", text).group(1) for text in shown) == wanted[:10]
    assert serious_violations(tab) == []
    screenshot(tab, "map-search")
    tab.goto(demo_server + "map?project=2013-POL-004")  # a project page's "show on the map"
    expect(tab.locator(".leaflet-popup-content")).to_contain_text("2013-POL-004")
    assert tab.errors == []


def test_every_layer_is_drawn_with_the_sluices_and_a_legend(tab, demo_server, demo_path):
    tab.goto(demo_server + "map")
    assert ready(tab) == api_count(demo_server)
    sluices = len(GeoPackageStore(demo_path).features("sluices"))
    assert sluices > 0 and tab.locator("path.project.sluices").count() == sluices
    assert "閘站" in tab.locator(".legend").inner_text() or "闸站" in tab.locator(".legend").inner_text()
    assert tab.locator(".leaflet-control-scale-line").count() == 1
    assert tab.errors == []


def test_on_a_phone_the_panel_and_the_map_share_the_screen(tab, demo_server):
    tab.set_viewport_size({"width": 390, "height": 844})
    tab.goto(demo_server + "map")
    ready(tab)
    assert tab.evaluate("document.documentElement.scrollWidth") <= 390
    panel, mapped = tab.locator("#panel").bounding_box(), tab.locator("#map").bounding_box()
    assert panel["width"] <= 390 and mapped["width"] >= 380 and mapped["height"] >= 300
    assert mapped["y"] >= panel["y"] + panel["height"] - 1  # the map below the panel, not under it
    assert tab.locator("#filters").get_attribute("open") is None  # filters folded on a phone
    assert serious_violations(tab) == []
    assert tab.errors == []


def test_the_printed_map_is_one_a4_landscape_page_with_title_legend_scale_and_date(tab, demo_server, tmp_path):
    tab.goto(demo_server + "map?street=LF")
    ready(tab)
    tab.emulate_media(media="print")
    assert not tab.locator("#panel").is_visible()
    head = tab.locator("#print-head")
    expect(head).to_be_visible()
    assert re.search(r"\d{4}-\d{2}-\d{2}", head.inner_text()) and "娄葑" in head.inner_text()  # zh-CN: Simplified
    assert tab.locator(".legend").is_visible() and tab.locator(".leaflet-control-scale").is_visible()
    pdf = tmp_path / "map.pdf"
    tab.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+1\n", info)
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())
    assert abs(width - 841.89) < 2 and abs(height - 595.28) < 2  # A4 landscape
    tab.emulate_media(media="screen")
    screenshot(tab, "map-street")
    assert tab.errors == []


def test_a_configured_basemap_is_given_to_the_pages_and_its_origin_allowed(demo_path):
    app = create_app({"REGISTRY_STORE": str(demo_path), "REGISTRY_BASEMAP": TILES,
                      "REGISTRY_BASEMAP_SUBDOMAINS": "01234567"})
    for page in ("/map", "/projects/2013-RIV-001?f=html"):
        response = app.test_client().get(page)
        policy = response.headers["Content-Security-Policy"]
        assert "img-src 'self' data: https://*.tiles.example.org;" in policy
        assert "script-src 'self';" in policy
        config = re.search(r'<script type="application/json" id="(?:registry|minimap)-config">(.*?)</script>',
                           response.get_data(as_text=True), re.S).group(1)
        assert json.loads(config)["basemap"]["templates"] == [TILES]


def test_without_a_basemap_the_pages_draw_the_registrys_own_layers(client):
    config = re.search(r'id="registry-config">(.*?)</script>', client.get("/map").get_data(as_text=True), re.S)
    assert json.loads(config.group(1))["basemap"] is None
    assert "img-src 'self' data:;" in client.get("/map").headers["Content-Security-Policy"]


def test_a_configured_basemap_draws_its_tiles_under_the_pages_policy(tab, demo_server, demo_path):
    """The map page (body and policy) of an app configured with tiles, its data from the demo server, its tiles
    answered by the test: a tile the policy refused would never be asked for and would log a console error."""
    configured = create_app({"REGISTRY_STORE": str(demo_path), "REGISTRY_BASEMAP": TILES,
                             "REGISTRY_BASEMAP_SUBDOMAINS": "0123"}).test_client().get("/map")
    tab.route(demo_server + "map", lambda route: route.fulfill(status=200, headers=dict(configured.headers),
                                                               body=configured.data))
    asked: list[str] = []
    tab.route(re.compile(r"https://t[0-3]\.tiles\.example\.org/.*"),
              lambda route: (asked.append(route.request.url), route.fulfill(body=PNG, content_type="image/png")))
    tab.goto(demo_server + "map")
    ready(tab)
    tab.wait_for_function("document.querySelectorAll('img.leaflet-tile-loaded').length > 0")
    assert asked and all(re.fullmatch(r"https://t[0-3]\.tiles\.example\.org/vec/\d+/\d+/\d+\.png", u) for u in asked)
    assert "婁葑" in tab.locator(".leaflet-tooltip.street").all_inner_texts() or \
        "娄葑" in tab.locator(".leaflet-tooltip.street").all_inner_texts()  # the streets drawn over the tiles
    assert tab.errors == []  # a tile refused by the policy would be a console error
