"""Registry endpoints: projects, streets, statistics and QA, with the query issue's parameter names."""

from __future__ import annotations

import io

import orjson
import pandas as pd
import shapely
from flask import Blueprint, Response, request

from registry import editing, limits, model, numbers, output, script, spatial
from registry.crs import parse_epsg
from registry.errors import NotFound
from registry.exchange import csvfile
from registry.i18n import gettext
from registry.params import parse
from registry.qa import CHECKS, run_qa
from registry.query import find
from registry.stats import statistics
from registry.store import history
from registry.streets import resolve_street, streets_as_of

from . import auth
from . import editing as edits
from .http import (
    EXPORTS,
    GEOJSON,
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
    if fmt == "html":
        return html_response("projects.html", title=title or gettext("Projects"),
                             projects=output.records(*output.with_labels(result.projects, model.PROJECT_COLUMNS)),
                             total=result.total, format_wan=numbers.format_wan, fields=model.FIELD_BY_NAME,
                             statuses=model.STATUSES, categories=model.CATEGORY_BY_SLUG)
    return json_response(output.query_json(result))


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
        raise NotFound(f"project {project_id!r} has no recorded history (does it exist?)", param="projectId")
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
        raise NotFound(f"project {project_id!r} does not exist", param="projectId")
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
        return html_response("project.html", project=doc, format_wan=numbers.format_wan, fields=model.PROJECT_FIELDS,
                             statuses=model.STATUSES, categories=model.CATEGORY_BY_SLUG)
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
