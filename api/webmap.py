"""Maps over HTTP: static report maps (``/maps``, PNG/SVG/PDF) and the interactive web map (``/map``).

Leaflet comes from the npm registry (``api/web/package.json``, installed by scripts/setup) and is
served from here (``/vendor/<package>/...``, as are the other front-end packages), never from a CDN;
the base map is the registry's reference layers, so the map works with no internet and no tile server.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, render_template, request, send_from_directory

from registry import limits, maps, model, palette, script
from registry.errors import NotFound, ValidationError
from registry.i18n import gettext, template
from registry.text import to_script

from .http import store

bp = Blueprint("webmap", __name__)
NODE_MODULES = Path(__file__).resolve().parent / "web" / "node_modules"
MEDIA = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


@bp.get("/maps")
def static_map():
    """The overlay map (``by``) or street choropleth (``theme``) of the projects the filters select."""
    args = request.args.to_dict()
    fmt = args.pop("f", "png")
    if fmt not in MEDIA:
        raise ValidationError(gettext("f must be one of %(values)s, got %(value)s", values=", ".join(MEDIA),
                                      value=repr(fmt[:40])), param="f")
    by, theme, title = args.pop("by", None), args.pop("theme", None), args.pop("title", None)
    if title is not None and len(title) > limits.MAX_SHORT_TEXT_CHARS:  # matplotlib lays out every character
        raise ValidationError(gettext("%(param)s has %(count)s characters, more than the %(limit)s allowed",
                                      param="title", count=len(title), limit=limits.MAX_SHORT_TEXT_CHARS),
                              param="title")
    dpi = limits.whole_number(args.pop("dpi", "150"), "dpi")
    if by and theme:
        raise ValidationError(gettext("give by (an overlay map) or theme (a choropleth), not both"), param="theme")
    if theme:
        body = maps.render_choropleth(store(), args, value=theme, fmt=fmt, dpi=dpi, title=title)
    else:
        body = maps.render_map(store(), args, by=by or "category", fmt=fmt, dpi=dpi, title=title)
    return Response(body, mimetype=MEDIA[fmt])


MAP_FILTERS = ("street", "year", "status", "department", "in_statement", "category")  # the map's own controls
LIST_ONLY = ("q", "investment_min", "investment_max", "bbox", "polygon", "as_of")  # other list filters it keeps
_CODED = {"street": "street", "status": "status", "category": "category", "department": "lead_department"}
DEPARTMENTS = model.NAMES["lead_department"]


def _code(kind: str, text: str) -> str | None:
    """The code a spelling of a coded value means (a lead department's too, which is stored by its name)."""
    stored = model.resolve_name(kind, text)
    return next((n.code for n in model.NAMES[kind] if model.stored_value(kind, n) == stored), None)


@bp.get("/map")
def web_map():
    """The web map; its colours and each category's layers come from the registry (as JSON data in the page).

    It takes the project list's filters in its URL (codes or names, as the list does) and keeps its own state
    there, so a map can be bookmarked and opened from a list; ``project`` zooms to one project."""
    chosen = script.current()  # names in the request's script; layer titles are data text
    names = model.name_labels("category", chosen)
    categories = [{"slug": c.slug, "zh": names[c.slug], "colour": palette.CATEGORY_COLOURS[c.slug],
                   "layers": [{"name": layer, "zh": names[c.slug] if layer == c.slug
                               else to_script(model.LAYER_BY_NAME[layer].title_zh, chosen),
                               "colour": palette.layer_colour(layer)} for layer in model.category_layers(c.slug)]}
                  for c in model.CATEGORIES]
    text = {"category": gettext("category"), "status": gettext("status"), "investment": gettext("investment"),
            "department": gettext("lead_department"), "projectPage": gettext("Project page"),
            "loading": gettext("Loading…"), "legend": gettext("Legend"), "wan": gettext("10,000 yuan"),
            "drawn": template("%(drawn)s features drawn (%(matched)s match)"),
            "failed": template("Loading failed: %(error)s"), "noMatch": gettext("No project matches")}
    years = sorted(int(y) for y in store().projects()["year"].dropna().unique())
    return render_template("map.html", categories=categories, statuses=model.name_labels("status", chosen),
                           streets=model.name_labels("street", chosen), text=text, lang=chosen, years=years,
                           departments={n.code: n.hans if chosen == "zh-Hans" else n.hant for n in DEPARTMENTS},
                           initial=_map_state(),
                           today=dt.date.today().isoformat())


def _map_state() -> dict[str, str]:
    """The filters of the map's URL, each coded value as its stored code (a name the model does not know is
    kept as given: the layers' requests then refuse it, naming it, in the map's status line)."""
    state = {}
    for key in (*MAP_FILTERS, *LIST_ONLY, "project"):
        values = [v.strip() for v in request.args.getlist(key) if v.strip()]
        if not values:
            continue
        kind = _CODED.get(key)
        parts = [part for v in values for part in v.split(",")] if kind else values
        state[key] = ",".join((_code(kind, part) or part) if kind else part for part in parts)
    return state


def basemap_config() -> dict | None:
    """The configured base map for the pages' maps: ``REGISTRY_BASEMAP``, one or more XYZ tile URL templates
    (separated by spaces, drawn in order, e.g. Tianditu's vector tiles then its labels; a WMTS KVP GetTile URL
    with ``{z}``, ``{x}``, ``{y}`` in its TILEMATRIX, TILECOL and TILEROW works as one), with
    ``REGISTRY_BASEMAP_SUBDOMAINS`` (what ``{s}`` takes, default ``abc``) and ``REGISTRY_BASEMAP_ATTRIBUTION``.
    None: the maps draw the registry's own reference layers and need no network."""
    templates = (current_app.config.get("REGISTRY_BASEMAP") or "").split()
    if not templates:
        return None
    return {"templates": templates, "subdomains": current_app.config.get("REGISTRY_BASEMAP_SUBDOMAINS") or "abc",
            "attribution": current_app.config.get("REGISTRY_BASEMAP_ATTRIBUTION") or ""}


def basemap_origins(templates: str | None) -> list[str]:
    """The origins a base map's tile templates fetch from, for the pages' Content-Security-Policy: a host with
    ``{s}`` in it becomes a wildcard (``https://t{s}.tianditu.gov.cn`` → ``https://*.tianditu.gov.cn``)."""
    origins = []
    for url in (templates or "").split():
        parts = urlsplit(url)
        labels = parts.netloc.split(".")
        host = ".".join("*" if "{" in label else label for label in labels)
        origins.append(f"{parts.scheme}://{host}")
    return list(dict.fromkeys(origins))


@bp.app_context_processor
def map_settings() -> dict:
    """Pages with a map read the base map's settings through ``basemap_config()``."""
    return {"basemap_config": basemap_config}


@bp.get("/vendor/<package>/<path:filename>")
def vendor(package: str, filename: str):
    """A file of a front-end package installed from npm (``api/web/package.json``'s dependencies: Leaflet,
    Chart.js, ...), served by the app so pages need no CDN and their policy admits only the app's scripts."""
    if package not in _installed_packages():
        raise NotFound(gettext("%(package)s is not a front-end package of the registry; api/web/package.json lists "
                               "%(packages)s", package=repr(package),
                               packages=", ".join(sorted(_installed_packages()))), param="package")
    folder = NODE_MODULES / package
    if not folder.is_dir():
        raise NotFound(gettext("%(package)s is not installed; run scripts/setup (npm ci in api/web)", package=package),
                       param="package")
    return send_from_directory(folder, filename, max_age=3600)


@cache
def _installed_packages() -> frozenset[str]:
    return frozenset(json.loads((NODE_MODULES.parent / "package.json").read_text())["dependencies"])
