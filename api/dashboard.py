"""The browser's side of the registry's shell: the dashboard (``/`` for browsers), the downloads page, and the
HTML error pages (JSON clients keep RFC 7807 problem documents; ``wants_html`` decides, in one place).

The figures are ``registry.overview``'s; this module only renders them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, request, url_for

from registry import numbers, palette, script
from registry.i18n import gettext
from registry.overview import overview
from registry.store.base import per_revision

from .http import HTML, JSON, html_response, problem, store
from .webmap import NODE_MODULES

bp = Blueprint("dashboard", __name__)
OUTPUT_OPTIONS = ("f", "crs", "encoding", "style_by")  # not filters: left out of the links a page makes
# The whole registry's downloads: (name, format of /projects?f=..., extra parameters, what it is); http.EXPORTS and
# GeoJSON.
DOWNLOADS = (("GeoJSON", "geojson", {"limit": "100000"},
              "GeoJSON (RFC 7946), every project's features with its attributes"),
             ("GeoPackage", "gpkg", {}, "GeoPackage: every layer, the projects table and QGIS styles"),
             ("Shapefile", "shp", {},
              "Shapefile (zip, UTF-8), one per layer, with fields.json for the shortened names"),
             ("Shapefile GBK", "shp", {"encoding": "gbk"}, "Shapefile (zip, GBK) for older ArcGIS"),
             ("FlatGeobuf", "fgb", {}, "FlatGeobuf"),
             ("CSV", "csv", {}, "CSV with WKT geometry (UTF-8 with BOM, opens in Excel)"),
             ("Excel", "xlsx", {}, "Excel workbook of the projects (Chinese headers)"))


ASSET_MAX_AGE_S = 365 * 24 * 3600  # an asset whose URL names its version never changes under that URL


@bp.app_url_defaults
def versioned_assets(endpoint: str, values: dict[str, Any]) -> None:
    """Links to the app's scripts and styles name their version (``v``: a hash of the file, or the npm package's
    pinned version), so browsers keep them for a year without asking again, and fetch a changed one at once."""
    if endpoint in ("static", "webmap.vendor") and "filename" in values and "v" not in values:
        version = _asset_version(endpoint, values.get("package"), values["filename"])
        if version:
            values["v"] = version


@bp.after_app_request
def cache_versioned_assets(response: Response) -> Response:
    """An asset asked for by its current version is cached for a year (others keep their short revalidation)."""
    asked = request.args.get("v")
    if asked and response.status_code == 200 and request.endpoint in ("static", "webmap.vendor") and \
            asked == _asset_version(request.endpoint, (request.view_args or {}).get("package"),
                                    (request.view_args or {}).get("filename", "")):
        response.headers["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE_S}, immutable"
    return response


def _asset_version(endpoint: str, package: str | None, filename: str) -> str | None:
    if endpoint == "webmap.vendor":
        return _package_versions().get(package or "")
    path = Path(current_app.static_folder or "") / filename
    try:
        stat = path.stat()
    except OSError:
        return None
    return _file_hash(path, stat.st_mtime_ns, stat.st_size)


@cache
def _file_hash(path: Path, _mtime_ns: int, _size: int) -> str:
    """A file's content hash, kept until the file changes (its time and size are part of the key)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@cache
def _package_versions() -> dict[str, str]:
    """The front-end packages' exact versions pinned in api/web/package.json."""
    return json.loads((NODE_MODULES.parent / "package.json").read_text())["dependencies"]


def filters() -> dict[str, str]:
    """The request's query filters (and ``as_of``, ``lang``), without output options: links keep them."""
    return {key: value for key, value in request.args.items() if key not in OUTPUT_OPTIONS}


def page_url(endpoint: str, **changes: Any) -> str:
    """A link to ``endpoint`` keeping this page's filters, with ``changes`` (None removes a parameter)."""
    args = {**filters(), **changes}
    query = urlencode({k: v for k, v in args.items() if v is not None})
    return url_for(endpoint) + (f"?{query}" if query else "")


def dashboard(landing: dict) -> Response:
    """The dashboard for browsers at ``/``: the OGC landing document's links and the programme's figures."""
    figures = _figures(tuple(sorted((k, v) for k, v in filters().items() if k != "lang")))
    chart_data = {"groups": figures["groups"], "lang": script.current(),
                  "colours": {"category": palette.CATEGORY_COLOURS, "status": palette.STATUS_COLOURS},
                  "boundaries": figures["boundaries"],
                  "text": {"projects": gettext("Number of projects"), "investment": gettext("Investment"),
                           "yi": gettext("100 million yuan")},
                  "links": {"collections": url_for("ogc.collections"),
                            "projects": page_url("registry.projects", f="html")},
                  "leaflet": {"script": url_for("webmap.vendor", package="leaflet", filename="dist/leaflet.js"),
                              "style": url_for("webmap.vendor", package="leaflet", filename="dist/leaflet.css")}}
    filtered = any(key not in ("f", "lang") for key in request.args)
    return html_response("landing.html", doc=landing, figures=figures, chart_data=chart_data, filtered=filtered,
                         yi=numbers.yi, wan=numbers.format_wan, map_url=page_url("webmap.web_map"),
                         list_url=lambda **c: page_url("registry.projects", f="html", **c))


def _figures(args: tuple[tuple[str, str], ...]) -> dict:
    """The dashboard's figures, kept per registry revision (every write moves it on), filters, script and day (the
    default judgement and boundary date): they change only when the registry does (``/`` and ``/?f=html`` share
    them). The result is only read."""
    key = ("dashboard", args, script.current(), dt.date.today().isoformat())
    return per_revision(store(), key, lambda: overview(store(), dict(args)))


@bp.get("/downloads")
def downloads():
    """Each export format of the whole registry (or of the filters given), and the other files people take away."""
    rows = [{"label": label, "what": gettext(what), "href": page_url("registry.projects", f=fmt, **extra)}
            for label, fmt, extra, what in DOWNLOADS]
    return html_response("downloads.html", rows=rows,
                         stats_csv=page_url("registry.stats", f="csv", by="street,category"),
                         map_pdf=page_url("webmap.static_map", f="pdf", by="category"))


def wants_html() -> bool:
    """Whether this request's client reads HTML (``f=html``, or a browser preferring HTML to JSON): its errors
    are then pages; every other client gets problem documents."""
    if request.args.get("f"):
        return request.args.get("f") == "html"
    accept = request.accept_mimetypes
    return bool(accept) and accept[HTML] > accept[JSON] and accept.best_match([HTML, JSON]) == HTML


_TITLES = {400: "The request has a wrong value", 403: "Not allowed", 404: "Not found",
           405: "This address does not take that method", 413: "The upload is too large",
           500: "The server failed to answer", 503: "The registry's database is not reachable"}


def error(status: int, title: str, detail: str, param: str | None = None) -> Response:
    """The answer to a failed request: a page in the display script for browsers, else RFC 7807 JSON."""
    if not wants_html():
        return problem(status, title, detail, param)
    heading = gettext(_TITLES.get(status, "The request failed"))
    rest = {k: v for k, v in request.args.items() if k != param}
    without = request.path + (f"?{urlencode(rest)}" if rest else "") if param in request.args else None
    body = render_template("error.html", status=status, heading=heading, detail=detail, param=param,
                           param_label=_param_label(param), without=without, server_side=status >= 500)
    return Response(body, status=status, mimetype=HTML)


def _param_label(param: str | None) -> str | None:
    """A parameter's name as people know it (the field's name in the catalogs), else as it is written."""
    if not param:
        return None
    field = {"street": "street_codes", "department": "lead_department", "q": "name",
             "investment_min": "investment_yuan", "investment_max": "investment_yuan"}.get(param, param)
    label = gettext(field)
    return label if label == param else f"{label}（{param}）"
