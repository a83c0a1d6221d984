"""Maps over HTTP: static report maps (``/maps``, PNG/SVG/PDF) and the interactive web map (``/map``).

Leaflet comes from the npm registry (``api/web/package.json``, installed by scripts/setup) and is
served from here, never from a CDN; the base map is the registry's reference layers, so the map
works with no internet and no tile server.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, render_template, request, send_from_directory

from registry import limits, maps, model
from registry.errors import NotFound, ValidationError

from .http import store

bp = Blueprint("webmap", __name__)
LEAFLET = Path(__file__).resolve().parent / "web" / "node_modules" / "leaflet" / "dist"
COLOURS = {
    "alleys": "#d69e2e", "rivers": "#3182ce", "polders": "#2c7a7b", "construction_sites": "#c05621",
    "parking_lots": "#718096", "markets": "#38a169", "vending_points": "#9f7aea", "billboards": "#e53e3e",
    "old_compounds": "#b7791f", "urban_villages": "#d53f8c", "shanty_areas": "#822727", "urban_fringes": "#276749",
}


MEDIA = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


@bp.get("/maps")
def static_map():
    """The overlay map (``by``) or street choropleth (``theme``) of the projects the filters select."""
    args = request.args.to_dict()
    fmt = args.pop("f", "png")
    if fmt not in MEDIA:
        raise ValidationError(f"f must be one of {', '.join(MEDIA)}, got {fmt!r}", param="f")
    by, theme, title = args.pop("by", None), args.pop("theme", None), args.pop("title", None)
    dpi = limits.whole_number(args.pop("dpi", "150"), "dpi")
    if by and theme:
        raise ValidationError("give by (an overlay map) or theme (a choropleth), not both", param="theme")
    if theme:
        body = maps.render_choropleth(store(), args, value=theme, fmt=fmt, dpi=dpi, title=title)
    else:
        body = maps.render_map(store(), args, by=by or "category", fmt=fmt, dpi=dpi, title=title)
    return Response(body, mimetype=MEDIA[fmt])


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
