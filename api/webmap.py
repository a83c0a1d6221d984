"""The interactive web map: a Leaflet page drawing the registry's own layers from the API.

Leaflet comes from the npm registry (``api/web/package.json``, installed by scripts/setup) and is
served from here, never from a CDN; the base map is the registry's reference layers, so the map
works with no internet and no tile server.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template, send_from_directory

from registry import model
from registry.errors import NotFound

bp = Blueprint("webmap", __name__)
LEAFLET = Path(__file__).resolve().parent / "web" / "node_modules" / "leaflet" / "dist"
COLOURS = {
    "alleys": "#d69e2e", "rivers": "#3182ce", "polders": "#2c7a7b", "construction_sites": "#c05621",
    "parking_lots": "#718096", "markets": "#38a169", "vending_points": "#9f7aea", "billboards": "#e53e3e",
    "old_compounds": "#b7791f", "urban_villages": "#d53f8c", "shanty_areas": "#822727", "urban_fringes": "#276749",
}


@bp.get("/map")
def web_map():
    categories = [{"slug": c.slug, "zh": c.zh, "colour": COLOURS[c.slug], "geometry": c.geometry_type}
                  for c in model.CATEGORIES]
    return render_template("map.html", categories=categories, statuses=model.STATUSES, streets=model.STREETS)


@bp.get("/vendor/leaflet/<path:filename>")
def leaflet(filename: str):
    if not LEAFLET.is_dir():
        raise NotFound("Leaflet is not installed; run scripts/setup (npm ci in api/web)", param="filename")
    return send_from_directory(LEAFLET, filename)
