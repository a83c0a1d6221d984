"""Every response's security headers, and HTML pages that keep to their Content-Security-Policy.

The web map's own test (test_webmap.py) runs the map in Chromium under this policy and fails on any
console error, which is where a CSP violation shows; here the policy and the pages' markup are checked.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from api import create_app
from registry.errors import RegistryError

PAGES = ["/?f=html", "/collections?f=html", "/collections/rivers?f=html", "/collections/rivers/items?f=html&limit=3",
         "/projects?f=html", "/streets?f=html", "/stats?f=html&by=street", "/api?f=html", "/conformance?f=html",
         "/map"]


def directives(policy: str) -> dict[str, list[str]]:
    """A CSP header as {directive: sources}."""
    parts = (d.split() for d in policy.split(";") if d.strip())
    return {name: sources for name, *sources in parts}


class InlineCode(HTMLParser):
    """Collects what a strict CSP would refuse: inline scripts and styles, style attributes, event handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "style":
            self.found.append("<style>")
        if tag == "script" and "src" not in names and names.get("type") != "application/json":
            self.found.append("inline <script>")
        self.found += [f"{tag} {name}=" for name in names if name == "style" or name.startswith("on")]


def test_html_pages_allow_only_the_apps_own_scripts_and_styles(client):
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200 and response.mimetype == "text/html", page
        policy = directives(response.headers["Content-Security-Policy"])
        assert policy["default-src"] == ["'none'"]
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"]


def test_html_pages_hold_nothing_inline_that_the_policy_refuses(client):
    for page in PAGES:
        parser = InlineCode()
        parser.feed(client.get(page).get_data(as_text=True))
        assert parser.found == [], page


def test_every_response_is_not_sniffed_framed_or_leaking_its_url(client):
    for path in ["/", "/collections/rivers/items?limit=1", "/collections/parks", "/map",
                 "/static/webmap.js", "/maps?f=svg&street=LF&dpi=30"]:
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", path


def test_a_configured_tile_server_is_allowed_for_images_and_fetches_only(demo_path):
    origin = "https://*.tiles.example.org"
    app = create_app({"REGISTRY_STORE": str(demo_path), "REGISTRY_TILE_ORIGIN": origin})
    policy = directives(app.test_client().get("/map").headers["Content-Security-Policy"])
    assert policy["img-src"] == ["'self'", "data:", origin] and policy["connect-src"] == ["'self'", origin]
    assert origin not in policy["script-src"] + policy["style-src"]


def test_a_tile_origin_that_is_not_an_origin_is_refused_at_start_up(demo_path):
    with pytest.raises(RegistryError, match="REGISTRY_TILE_ORIGIN") as caught:
        create_app({"REGISTRY_STORE": str(demo_path), "REGISTRY_TILE_ORIGIN": "https://t.example.org; script-src *"})
    assert caught.value.param == "REGISTRY_TILE_ORIGIN"
