"""The web map in a real headless Chromium (Debian's), driven by Playwright, against the demo served by gunicorn.

The static maps' HTTP answers are checked in-process in test_api.py.
"""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from registry import model

LAYERS = [layer for c in model.CATEGORIES for layer in model.category_layers(c.slug)]  # what the map fetches


def api_count(base: str, **params) -> int:
    """The API's numberMatched summed over the categories' layers, for the same filter as the map."""
    return sum(requests.get(f"{base}collections/{layer}/items", params={"limit": 1, **params}, timeout=30)
               .json()["numberMatched"] for layer in LAYERS)


@pytest.fixture(scope="module")
def page(demo_server, browser):
    """One map page for the module, in the session's Chromium (a second Playwright in one process would fail)."""
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(demo_server + "map")
    tab.wait_for_selector("#status[data-state=ready]", timeout=60_000)
    tab.errors = errors
    yield tab
    context.close()


def wait_ready(tab) -> int:
    tab.wait_for_selector("#status[data-state=ready]", timeout=60_000)
    return tab.evaluate("window.drawnCount")


def test_map_draws_as_many_features_as_the_api_matches(page, demo_server):
    drawn = wait_ready(page)
    assert drawn == api_count(demo_server) > 0
    assert page.locator(".leaflet-interactive").count() >= drawn  # every feature is an SVG path or marker


def test_changing_a_filter_redraws_with_the_api_count(page, demo_server):
    # Waits watch the status line, not a JavaScript predicate: the page's CSP forbids the eval those need.
    status = page.locator("#status")
    before = wait_ready(page)
    shown = status.inner_text()
    page.select_option("#street", "LF")
    expect(status).not_to_have_text(shown, timeout=30_000)
    after = wait_ready(page)
    assert after == api_count(demo_server, street="LF")
    assert after != before
    shown = status.inner_text()
    page.select_option("#year", "2014")
    expect(status).not_to_have_text(shown, timeout=30_000)
    assert wait_ready(page) == api_count(demo_server, street="LF", year="2014")
    page.select_option("#street", "")
    page.select_option("#year", "")
    wait_ready(page)


def test_popup_shows_project_details(page):
    wait_ready(page)
    page.locator("path.project.billboards").first.click()
    popup = page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
    text = popup.inner_text()
    assert "萬元" in text and "類別" in text and "牽頭部門" in text
    assert popup.query_selector("a").get_attribute("href").startswith("/projects/")


def test_legend_and_base_layers_are_drawn(page):
    assert "圖例" in page.locator(".legend").inner_text()
    assert "婁葑" in page.locator(".leaflet-tooltip").all_inner_texts()


def test_screenshot_shows_a_drawn_map(page, tmp_path):
    path = tmp_path / "webmap.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 20_000


def test_no_console_errors_while_the_map_was_used(page):
    assert page.errors == []
