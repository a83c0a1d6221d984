"""Registry endpoints: projects, streets, statistics and QA, with the query issue's parameter names."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import numpy as np
import orjson
import pandas as pd
import shapely
from flask import Blueprint, Response, render_template, request

from registry import editing, limits, model, numbers, output, palette, script, spatial
from registry.crs import parse_epsg
from registry.errors import NotFound, ValidationError
from registry.exchange import csvfile
from registry.i18n import gettext
from registry.params import parse
from registry.qa import CHECKS, run_qa
from registry.query import find
from registry.stats import statistics
from registry.store import history
from registry.streets import resolve_street, streets_as_of
from registry.text import to_script

from . import auth
from . import editing as edits
from .http import (
    EXPORTS,
    GEOJSON,
    HTML,
    JSON,
    base_url,
    export_response,
    html_response,
    json_response,
    negotiate,
    not_modified,
    store,
    stream_response,
)

bp = Blueprint("registry", __name__)
DEFAULT_PROJECTS = 100
MAX_PROJECTS = limits.MAX_PAGE


def _csv(header: list[str], rows: list[list[object]]) -> Response:
    """A CSV download for people (``exchange.csvfile``: UTF-8 with a BOM, formula text neutralised)."""
    buffer = io.BytesIO()
    csvfile.write_csv(buffer, csvfile.rows_table(header, rows))
    return Response(buffer.getvalue(), content_type=csvfile.MEDIA_TYPE)


def _project_args(extra: dict | None = None, default_limit: int = DEFAULT_PROJECTS) -> dict[str, str]:
    args = request.args.to_dict()
    for key in ("f", "crs", "encoding", "style_by"):  # output options, not filters
        args.pop(key, None)
    args.setdefault("limit", str(default_limit))
    limits.whole_number(args["limit"], "limit", 0, MAX_PROJECTS)  # the CLI's --limit has no maximum
    args.update(extra or {})
    return args


def _projects_response(extra: dict | None = None, title: str | None = None):
    fmt = negotiate(["json", "geojson", "html", *EXPORTS])
    if (cached := not_modified()) is not None:
        return cached
    if fmt == "html":
        return _projects_page(extra, title or gettext("Projects"))
    exporting = fmt in EXPORTS
    epsg = parse_epsg(request.args.get("crs"), "crs") if exporting else None
    args = _project_args(extra, MAX_PROJECTS if exporting else DEFAULT_PROJECTS)
    result = find(store(), parse(args, store()))
    if exporting:
        return export_response(result, fmt, epsg)
    if fmt == "geojson":
        chunks = output.feature_collection(result.features, output.QUERY_FEATURE_PROPERTIES,
                                           members={"numberMatched": result.total,
                                                    "numberReturned": len(result.features)})
        return stream_response(chunks, GEOJSON)
    return json_response(output.query_json(result))


MONEY = ("investment_yuan", "investment_completed_yuan", "investment_share_yuan")  # shown in 萬元
_PLAIN_NUMBERS = ("year", "fid")  # whole numbers shown without thousands separators


@bp.app_template_filter("shown")
def shown(value: object, field: str = "") -> str:
    """A value as people read it on a page: empty for missing, 是/否, money in 萬元, codes by their names in the
    page's script, whole numbers without a trailing .0, dates as dates, data text in the page's script."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return gettext("yes") if value else gettext("no")
    if field in MONEY:
        return numbers.format_wan(float(value))
    chosen = script.current()
    if field in output.LABELLED:
        kind = output.LABELLED[field]
        parts = str(value).split(",") if kind == "street" else [str(value)]
        return "、".join(model.name_label(kind, part.strip(), chosen) or "" for part in parts)
    if isinstance(value, (int, np.integer)):
        return str(value) if field in _PLAIN_NUMBERS else f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return to_script(str(value), chosen)


def field_label(name: str, reference: bool = False) -> str:
    """A field's heading on a page, in the page's script: money by its name alone (the value says 萬元), a
    reference layer's ``name`` as a name, not a project's."""
    special = {"investment_yuan": gettext("Investment"), "investment_completed_yuan": gettext("Investment completed"),
               "investment_share_yuan": gettext("Investment share of this feature"),
               "feature_name": gettext("Feature name"), "fid": gettext("Feature id"), "code": gettext("Code"),
               "valid_from": gettext("Valid from"), "valid_to": gettext("Valid to")}
    if reference and name == "name":
        return gettext("Name")
    return special.get(name) or gettext(name)


@bp.app_context_processor
def page_helpers() -> dict:
    """Pages label fields with ``field_label``, geometry types with ``geometry_label``, layers with ``layer_title``."""
    return {"field_label": field_label, "geometry_label": geometry_label, "layer_title": layer_title}


def layer_title(name: str) -> str:
    """A layer's title in the page's script (城市河道, 閘站...)."""
    spec = model.LAYER_BY_NAME.get(name)
    return to_script(spec.title_zh, script.current()) if spec else name


def geometry_label(kind: str | None) -> str:
    """A geometry type's name for people: point, line or polygon."""
    names = {"Point": gettext("Point"), "MultiPoint": gettext("Point"), "LineString": gettext("Line"),
             "MultiLineString": gettext("Line"), "Polygon": gettext("Polygon"), "MultiPolygon": gettext("Polygon")}
    return names.get(kind or "", kind or "")


# -- the list page for people (f=html): a filter form over every query parameter, sorting, paging, downloads --
LIST_FILTERS = ("q", "street", "year", "category", "status", "department", "in_statement", "investment_min",
                "investment_max", "bbox", "polygon")  # the form's fields, in the parameters' own names
LIST_PAGE = DEFAULT_PROJECTS  # projects per page of the list, as on the JSON road
PAGE_SIZES = (20, 50, 100, 200)
LIST_COLUMNS = ("project_id", "name", "category", "year", "investment_yuan", "lead_department", "street_codes",
                "status", "planned_finish")  # shown and sortable
DOWNLOADS = (("csv", "CSV"), ("xlsx", "Excel (XLSX)"), ("geojson", "GeoJSON"), ("gpkg", "GeoPackage"),
             ("shp", "Shapefile (ZIP)"), ("fgb", "FlatGeobuf"))
_OUTPUT_OPTIONS = ("f", "crs", "encoding", "style_by")


def _list_args() -> dict[str, str]:
    """The request's parameters as the list reads them: a repeated one (checkboxes) joined with commas, blank ones
    and output options left out."""
    args = {}
    for key in request.args:
        values = [v.strip() for v in request.args.getlist(key) if v.strip()]
        if values and key not in _OUTPUT_OPTIONS:
            args[key] = ",".join(values)
    return args


def _field_message(exc: ValidationError, value: str | None) -> str:
    """A refused filter's message for the person who typed it, in the page's script, saying what to give."""
    chosen = script.current()
    shown = (value or "")[:40]
    if exc.param == "street":
        return gettext("No street office is named %(value)s; give a name or code: %(valid)s", value=shown,
                       valid="、".join(model.name_labels("street", chosen).values()))
    if exc.param == "department":
        return gettext("No lead department is named %(value)s; give one of %(valid)s", value=shown,
                       valid="、".join(model.name_labels("lead_department", chosen).values()))
    if exc.param == "year":
        return gettext("Give a year such as 2013 or a range such as 2013..2014")
    if exc.param in ("investment_min", "investment_max"):
        return gettext("Give a whole number of yuan, 0 or more")
    if exc.param == "polygon":
        return gettext("Give a closed polygon as WKT or GeoJSON (its last point the same as its first), "
                       "or draw one on the map")
    if exc.param in ("bbox", "bbox-crs"):
        return gettext("Give four numbers separated by commas: west, south, east, north (longitude, latitude)")
    return gettext("This value was refused: %(detail)s", detail=exc.message)


def _checked_query(args: dict[str, str]) -> tuple[object | None, dict[str, str]]:
    """The query of the list's parameters, or the message of each refused one (parsing again without it, so
    every bad field is named at once)."""
    trying, errors = dict(args), {}
    while True:
        try:
            limits.whole_number(trying["limit"], "limit", 1, MAX_PROJECTS)
            query = parse(trying, store())
            return (None if errors else query), errors
        except ValidationError as exc:
            key = exc.param if exc.param in trying and exc.param not in errors else None
            errors[key or exc.param or "general"] = _field_message(exc, trying.get(key or ""))
            if key is None:
                return None, errors
            trying.pop(key)
            trying.setdefault("limit", str(LIST_PAGE))


def _list_url(base: dict[str, str], path: str = "/projects", **changes: object) -> str:
    """A URL of the list (or another road) with the list's parameters changed (None removes one)."""
    args = dict(base)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = str(value)
    return f"{path}?{urlencode(args)}"


def _pages(total: int, limit: int, offset: int) -> list[tuple[int | None, int]]:
    """(page number, offset) of the pages the list links to: the first, last and two either side of the
    current one; None marks a gap."""
    count = max(1, -(-total // limit))
    current = offset // limit
    wanted = sorted({0, count - 1, *range(max(0, current - 2), min(count, current + 3))})
    out: list[tuple[int | None, int]] = []
    for number in wanted:
        if out and out[-1][0] is not None and number - out[-1][0] > 1:
            out.append((None, 0))
        out.append((number, number * limit))
    return out


def _projects_page(extra: dict | None, title: str) -> Response:
    """The list for people: the filter form (refused values shown next to their field, status 400), a sortable
    page of the matching projects, links to every page and downloads of the whole filtered set."""
    state = {**_list_args(), **(extra or {})}
    state.setdefault("limit", str(LIST_PAGE))
    query, errors = _checked_query(state)
    result = None
    if query is not None:
        try:
            result = find(store(), query)
        except ValidationError as exc:  # a condition checked only when applied (a filter's property names)
            errors[exc.param if exc.param in state else "general"] = _field_message(exc, state.get(exc.param or ""))
    filters = {k: v for k, v in state.items() if k not in ("limit", "offset", "sortby")}
    limit = query.limit if query is not None else LIST_PAGE
    offset = query.offset if query is not None else 0
    sorted_by = query.sortby[0] if query is not None and "sortby" in state else None
    rows = [] if result is None else output.labelled_records(result.projects, model.PROJECT_COLUMNS)
    downloads = [(label, _list_url({**filters, **({"sortby": state["sortby"]} if "sortby" in state else {})},
                                   f=fmt, limit=MAX_PROJECTS if fmt == "geojson" else None), fmt)
                 for fmt, label in DOWNLOADS]
    chosen = script.current()
    context = dict(
        title=title, state=state, errors=errors, form_fields=LIST_FILTERS, projects=rows,
        total=None if result is None else result.total,
        limit=limit, offset=offset, sorted_by=sorted_by, columns=LIST_COLUMNS, page_sizes=PAGE_SIZES,
        pages=[] if result is None else _pages(result.total, limit, offset),
        url=lambda **changes: _list_url({**state, "f": "html"}, **changes), downloads=downloads,
        map_url=_list_url(filters, "/map"),
        hidden={k: v for k, v in state.items() if k not in (*LIST_FILTERS, "limit", "offset")},
        streets=model.name_labels("street", chosen), categories=model.name_labels("category", chosen),
        statuses=model.name_labels("status", chosen), departments=model.name_labels("lead_department", chosen),
        format_wan=numbers.format_wan)
    if errors:
        return Response(render_template("projects.html", **context), status=400, mimetype=HTML)
    return html_response("projects.html", **context)


@bp.get("/projects")
def projects():
    return _projects_response()


@bp.get("/projects/<project_id>")
def project(project_id: str):
    response = _project(project_id)
    response.set_etag(editing.project_etag(editing.project_records(store(), project_id), project_id))
    return response


@bp.get("/projects/<project_id>/history")
def project_history(project_id: str):
    """Every recorded change of a project and its features, oldest first; who made each one is shown to signed-in
    users only."""
    fmt = negotiate(["json", "html"])
    entries = history.project_history(store(), project_id)
    if not entries:
        raise NotFound(gettext("project %(id)s has no recorded history (does it exist?)", id=repr(project_id)),
                       param="projectId")
    if auth.current_author() is None:
        for entry in entries:
            entry["who"] = None
    if fmt == "html":
        return html_response("history.html", project_id=project_id, entries=entries)
    return json_response({"project_id": project_id, "changes": entries})


def _project(project_id: str) -> Response:
    fmt = negotiate(["json", "geojson", "html"])
    rows = store().projects([project_id])
    if rows.empty:
        raise NotFound(gettext("project %(id)s does not exist", id=repr(project_id)), param="projectId")
    frames = []
    for layer in model.category_layers(rows.iloc[0]["category"]):
        frame = store().features(layer, project_ids=[project_id])
        frames.append(frame.assign(layer=layer, fid=frame.index, feature_name=frame["name"]))
    feats = pd.concat(frames, ignore_index=True)
    if fmt == "geojson":
        joined = feats.drop(columns=["name"]).merge(rows, on="project_id")
        return stream_response(output.feature_collection(joined, output.QUERY_FEATURE_PROPERTIES), GEOJSON)
    doc = output.project_documents(rows, feats)[0]
    if fmt == "html":
        geojson = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"layer": f["layer"], "fid": f["fid"]}, "geometry": f["geometry"]}
            for f in doc["features"]]}
        return html_response("project.html", project=doc, fields=model.PROJECT_FIELDS, geojson=geojson,
                             colour=palette.CATEGORY_COLOURS.get(doc["category"]))
    return json_response(doc)


# -- edits: each route translates HTTP to one call of registry.editing -----------------------------------
_BODIES = (JSON, GEOJSON)


def _answer(records, project_id: str, status: int = 200, location: str | None = None) -> Response:
    """A project as an edit leaves it: its document and strong ETag."""
    doc = orjson.dumps(editing.project_document(records, project_id))
    return edits.answer(doc, editing.project_etag(records, project_id), status, location=location)


def _current() -> Response | None:
    """The project of this request as stored now (a 412's body), or None if it is gone."""
    project_id = (request.view_args or {}).get("project_id")
    records = editing.project_records(store(), project_id) if project_id else None
    return _answer(records, project_id) if records is not None and len(records.projects) else None


edits.handle_refusals(bp, _current)


@bp.post("/projects")
def create_project():
    author = edits.author()
    project_id, records = editing.create_project(edits.writable(), edits.body(*_BODIES), author, edits.content_crs())
    return _answer(records, project_id, 201, f"{base_url()}projects/{project_id}")


@bp.put("/projects/<project_id>")
def replace_project(project_id: str):
    author = edits.author()
    records = editing.replace_project(edits.writable(), project_id, edits.body(*_BODIES), author, edits.if_match(),
                                      edits.content_crs())
    return _answer(records, project_id)


@bp.patch("/projects/<project_id>")
def patch_project(project_id: str):
    author = edits.author()
    records = editing.patch_project(edits.writable(), project_id, edits.body(editing.MERGE_PATCH), author,
                                    edits.if_match(), edits.content_crs())
    return _answer(records, project_id)


@bp.delete("/projects/<project_id>")
def delete_project(project_id: str):
    author = edits.author()
    editing.delete_project(edits.writable(), project_id, author, edits.if_match())
    return edits.answer(None, None, 204)


@bp.get("/streets")
def streets():
    fmt = negotiate(["json", "geojson", "html"])
    as_of = spatial.parse_date(request.args.get("as_of"))
    frame = streets_as_of(store(), as_of)
    areas = [round(float(a) / 1e6, 2) for a in shapely.area(spatial.metric(frame.geometry.values))]
    rows = [{"code": r["code"], "name": r["name"], "valid_from": r["valid_from"], "valid_to": r["valid_to"],
             "area_km2": area, "projects": f"{base_url()}streets/{r['code']}/projects"}
            for r, area in zip(output.records(frame, ["code", "name", "valid_from", "valid_to"]), areas)]
    if fmt == "geojson":
        frame = frame.assign(area_km2=areas)
        return stream_response(output.feature_collection(frame, ["code", "name", "valid_from", "valid_to",
                                                                 "area_km2"], id_column="code"), GEOJSON)
    if fmt == "html":
        return html_response("streets.html", streets=rows, as_of=as_of)
    return json_response({"as_of": as_of, "streets": rows})


@bp.get("/streets/<code>/projects")
def street_projects(code: str):
    found = resolve_street(store(), code, spatial.parse_date(request.args.get("as_of")))["code"]
    name = model.name_label("street", found, script.current())
    return _projects_response({"street": code}, title=gettext("Projects of %(street)s street", street=name))


@bp.get("/stats")
def stats():
    fmt = negotiate(["json", "html", "csv"])
    args = request.args.to_dict()
    by = args.pop("by", "street")
    args.pop("f", None)
    result = statistics(store(), args, by).to_json()
    if fmt == "csv":
        header = list(result["rows"][0]) if result["rows"] else result["by"]
        return _csv(header, [list(r.values()) for r in result["rows"]])
    if fmt == "html":
        return html_response("stats.html", result=result, format_wan=numbers.format_wan)
    return json_response(result)


QA_LABELS = {"outside_park": "Features outside the park", "invalid_geometry": "Invalid or empty geometries",
             "no_features": "Projects without a feature", "street_mismatch": "Declared streets differ from the map",
             "quantity_mismatch": "Declared length or area more than 10 %% off the measured",
             "street_boundaries": "Gaps or overlaps between street offices"}  # qa.CHECKS as people read them


@bp.get("/qa")
def qa():
    if negotiate(["json", "html"]) == "html":
        checks = [{"key": key, "label": gettext(QA_LABELS[key]), "findings": [
                      {**f.to_json(), "layer_title": model.LAYER_BY_NAME[f.layer].title_zh
                       if f.layer in model.LAYER_BY_NAME else f.layer} for f in check(store())]}
                  for key, check in CHECKS.items()]
        return html_response("qa.html", checks=[{**c, "count": len(c["findings"])} for c in checks])
    return json_response({"findings": [f.to_json() for f in run_qa(store())]}, mimetype=JSON)
