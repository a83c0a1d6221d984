"""OGC API – Features (Part 1 Core/GeoJSON/HTML/OpenAPI, Part 2 CRS, Part 3 filtering) over every layer."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import orjson
from flask import Blueprint, Response, request, url_for

from registry import cql, crs, editing, features, model, palette
from registry.errors import NotFound, ValidationError
from registry.i18n import gettext

from . import dashboard, openapi
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
    link,
    negotiate,
    not_modified,
    store,
    stream_response,
    url_with,
)

bp = Blueprint("ogc", __name__)
ITEM_COLUMNS = ("feature_name", "project_id", "name", "category", "year", "investment_yuan", "lead_department",
                "street_codes", "status")  # a project layer's table of features for people (properties= picks others)
MAP_FEATURES = 2000  # features a collection page's small map draws

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
]


@bp.get("/")
def landing():
    if (cached := not_modified()) is not None:
        return cached
    meta = store().meta()
    root = base_url()
    body = {
        "title": meta.get("title", "城市環境綜合整治專案登記簿"),
        "description": meta.get("notice"),
        "data_date": meta.get("data_date"),
        "links": [
            link(root + "?f=json", "self", JSON, gettext("This document")),
            link(root + "?f=html", "alternate", HTML, gettext("This document as HTML")),
            link(root + "api", "service-desc", openapi.MEDIA_TYPE, gettext("The API definition (OpenAPI 3.0)")),
            link(root + "api?f=html", "service-doc", HTML, gettext("The API documentation")),
            link(root + "conformance", "conformance", JSON, gettext("Conformance classes")),
            link(root + "collections", "data", JSON, gettext("Feature collections (one per layer)")),
            link(root + "projects", "projects", JSON, gettext("Projects (registry endpoint)")),
            link(root + "streets", "streets", JSON, gettext("Street offices")),
            link(root + "stats?by=street", "stats", JSON, gettext("Statistics by street office")),
            link(root + "map", "map", HTML, gettext("Web map")),
            link(root + "maps?f=png", "maps", "image/png", gettext("Static map of the projects")),
        ],
    }
    if negotiate(["json", "html"]) == "html":
        return dashboard.dashboard(body)
    return json_response(body)


@bp.get("/conformance")
def conformance():
    body = {"conformsTo": CONFORMANCE}
    if negotiate(["json", "html"]) == "html":
        return html_response("conformance.html", doc=body)
    return json_response(body)


@bp.get("/api")
def api_document():
    doc = openapi.document(base_url())
    if negotiate(["json", "html"]) == "html":
        return html_response("api.html", doc=doc)
    return json_response(doc, mimetype=openapi.MEDIA_TYPE)


def _rfc3339(day: str | None) -> str | None:
    return f"{day}T00:00:00Z" if day else None


def collection_doc(name: str) -> dict:
    """The description of one collection, as /collections and /collections/{id} give it."""
    view = features.view(store(), name)
    spec = model.LAYER_BY_NAME[name]
    root = base_url()
    here = f"{root}collections/{name}"
    return {
        "id": name,
        "title": f"{spec.title_zh} ({name})",
        "description": f"{spec.title_zh}: {spec.geometry_type} features"
                       + (" with their project's attributes" if spec.kind == "project" else " (reference layer)"),
        "itemType": "feature",
        "extent": {
            "spatial": {"bbox": [list(view.extent)] if view.extent else [], "crs": crs.CRS84},
            "temporal": {"interval": [[_rfc3339(view.interval[0]), _rfc3339(view.interval[1])]],
                         "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"},
        },
        "crs": list(crs.CRS_URIS),
        "storageCrs": crs.STORAGE_CRS,
        "links": [
            link(here, "self", JSON, gettext("This collection")),
            link(here + "?f=html", "alternate", HTML, gettext("This collection as HTML")),
            link(here + "/items", "items", GEOJSON, gettext("Features as GeoJSON")),
            link(here + "/items?f=html", "items", HTML, gettext("Features as HTML")),
            link(here + "/schema", "describedby", "application/schema+json", gettext("Schema of the features")),
            link(here + "/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                 "application/schema+json", "Queryables"),
        ],
    }


@bp.get("/collections")
def collections():
    if (cached := not_modified()) is not None:
        return cached
    root = base_url()
    body = {
        "links": [link(root + "collections", "self", JSON, gettext("Collections")),
                  link(root + "collections?f=html", "alternate", HTML, gettext("Collections as HTML"))],
        "collections": [collection_doc(layer.name) for layer in model.LAYERS],
        "crs": list(crs.CRS_URIS),
    }
    if negotiate(["json", "html"]) == "html":
        return html_response("collections.html", doc=body)
    return json_response(body)


@bp.get("/collections/<name>")
def collection(name: str):
    doc = collection_doc(_known(name))
    if negotiate(["json", "html"]) == "html":
        return html_response("collection.html", doc=doc, spec=model.LAYER_BY_NAME[name], colour=_colour(name),
                             count=len(features.view(store(), name).fids),
                             geojson_url=f"{url_for('ogc.items', name=name)}?f=geojson&limit={MAP_FEATURES}")
    return json_response(doc)


def _known(name: str) -> str:
    features.view(store(), name)  # raises NotFound naming the collections
    return name


@bp.get("/collections/<name>/queryables")
def queryables(name: str):
    view = features.view(store(), name)
    doc = cql.queryables_schema(name, view.queryables, base_url().rstrip("/"))
    if negotiate(["json", "html"]) == "html":
        rows = [{"name": key, "title": p.get("title") if p.get("title") not in (None, key) else "",
                 "type": _type_label(p)} for key, p in doc["properties"].items()]
        example = "status = 'completed' AND year = 2013" if model.LAYER_BY_NAME[name].kind == "project" else None
        return html_response("queryables.html", doc=doc, name=name, rows=rows, example=example)
    return json_response(doc, mimetype="application/schema+json")


def _type_label(prop: dict) -> str:
    """A queryable's type as people call it (text, date, whole number, ...; a geometry by its type)."""
    if "$ref" in prop:
        return f"{gettext('geometry')} ({prop['$ref'].rsplit('/', 1)[-1].removesuffix('.json')})"
    kind = "date" if prop.get("format") == "date" else prop.get("type", "")
    names = {"string": "text", "integer": "whole number", "number": "number", "boolean": "yes or no", "date": "date"}
    return gettext(names[kind]) if kind in names else kind


@bp.get("/collections/<name>/schema")
def schema(name: str):
    view = features.view(store(), name)
    doc = cql.queryables_schema(name, view.queryables, base_url().rstrip("/"))
    doc["$id"] = f"{base_url()}collections/{name}/schema"
    return json_response(doc, mimetype="application/schema+json")


@bp.get("/collections/<name>/items", provide_automatic_options=False)
def items(name: str):
    view = features.view(store(), name)
    fmt = negotiate(["geojson", "json", "html", *EXPORTS], default="geojson")
    args = request.args.to_dict()
    if fmt in EXPORTS:
        if model.LAYER_BY_NAME[name].kind != "project":
            raise ValidationError(gettext("f=%(format)s exports project layers; %(layer)s is a reference layer (use "
                                          "f=geojson)", format=fmt, layer=name), param="f")
        args.setdefault("limit", str(features.MAX_LIMIT))  # a download holds every match unless limited
    query = features.parse_items(store(), name, args)
    if (cached := not_modified()) is not None:
        return cached
    selection = features.select(store(), view, query)
    if fmt in EXPORTS:
        rows = view.frame.iloc[selection.rows]
        chosen = rows.assign(layer=name, fid=rows.index.to_numpy()).reset_index(drop=True)
        epsg = 4490 if "crs" not in args else crs.epsg_of(query.crs)
        return export_response((store().projects(chosen["project_id"].unique()), chosen), fmt, epsg)
    here = f"collections/{name}/items"
    links = [link(url_with(here), "self", GEOJSON, gettext("This page")),
             link(url_with(here, f="html"), "alternate", HTML, gettext("This page as HTML")),
             link(f"{base_url()}collections/{name}", "collection", JSON, gettext("The collection"))]
    if selection.next_after is not None:
        links.append(link(url_with(here, after=selection.next_after, offset=None), "next", GEOJSON,
                          gettext("Next page")))
    elif selection.next_offset is not None:
        links.append(link(url_with(here, offset=selection.next_offset, after=None), "next", GEOJSON,
                          gettext("Next page")))
    if selection.prev_offset is not None:
        links.append(link(url_with(here, offset=selection.prev_offset), "prev", GEOJSON, gettext("Previous page")))
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "html":
        rows = view.frame.iloc[selection.rows]
        reference = model.LAYER_BY_NAME[name].kind != "project"
        shown = query.properties or (view.properties if reference else
                                     [p for p in ITEM_COLUMNS if p in view.properties])
        html_links = [{**item, "href": url_with(here, f="html", **_page_args(item["href"]))}
                      for item in links if item["rel"] in ("prev", "next")]
        return html_response("items.html", name=name, rows=rows, properties=shown, matched=selection.number_matched,
                             links=html_links, reference=reference, colour=_colour(name),
                             numeric=[p for p in shown if model.PROJECT_KINDS.get(p) in ("integer", "real")],
                             geojson_url=url_with(here, f="geojson").removeprefix(base_url().rstrip("/")))
    head = {"type": "FeatureCollection", "numberMatched": selection.number_matched,
            "numberReturned": len(selection.rows), "timeStamp": stamp, "links": links}
    chunks = _collection_chunks(head, features.encode_page(view, selection.rows, query))
    return stream_response(chunks, GEOJSON if fmt == "geojson" else JSON,
                           headers={"Content-Crs": f"<{query.crs}>"})


def _colour(layer: str) -> str:
    """A layer's colour on the pages' small maps: a project layer's from the shared palette."""
    return palette.layer_colour(layer) if model.LAYER_BY_NAME[layer].kind == "project" else "#2b6cb0"


def _page_args(href: str) -> dict[str, str]:
    """The paging parameters of a next/prev link (an HTML page links to the HTML page it names)."""
    args = dict(parse_qsl(urlsplit(href).query))
    return {key: args.get(key) for key in ("offset", "after")}


def _collection_chunks(head: dict, body):
    yield orjson.dumps(head)[:-1] + b',"features":['
    yield from body
    yield b"]}"


@bp.get("/collections/<name>/items/<fid>", provide_automatic_options=False)
def item(name: str, fid: str):
    response = _item(name, fid)
    if model.LAYER_BY_NAME[name].kind == "project":
        project_id = features.view(store(), name).frame.at[int(fid), "project_id"]
        response.set_etag(editing.item_etag(editing.project_records(store(), project_id), name, int(fid)))
    return response


def _item(name: str, fid: str):
    view = features.view(store(), name)
    target = crs.crs_uri(request.args.get("crs"))
    fmt = negotiate(["geojson", "json", "html"], default="geojson")
    text = features.feature(view, fid, target)
    if fmt == "html":
        row = view.frame.loc[int(fid)]
        return html_response("item.html", name=name, fid=fid, row=row, properties=view.properties,
                             reference=model.LAYER_BY_NAME[name].kind != "project",
                             geojson={"type": "Feature", "properties": {}, "geometry": orjson.loads(text)["geometry"]},
                             colour=_colour(name))
    doc = orjson.loads(text)
    here = f"{base_url()}collections/{name}/items/{fid}"
    doc["links"] = [link(here, "self", GEOJSON, gettext("This feature")), link(here + "?f=html", "alternate", HTML),
                    link(f"{base_url()}collections/{name}", "collection", JSON, gettext("The collection"))]
    return json_response(doc, mimetype=GEOJSON if fmt == "geojson" else JSON, headers={"Content-Crs": f"<{target}>"})


# -- edits (OGC API – Features Part 4): each route translates HTTP to one call of registry.editing ---------
_BODIES = (GEOJSON, JSON)


def _fid(fid: str) -> int:
    try:
        return int(fid)
    except ValueError:
        raise NotFound(gettext("feature %(value)s does not exist (ids are integers)", value=repr(fid)),
                       param="featureId") from None


def _answer(records, name: str, fid: int, status: int = 200, location: str | None = None):
    """A feature as an edit leaves it: its GeoJSON (CRS84) and strong ETag."""
    response = edits.answer(editing.item_document(records, name, fid), editing.item_etag(records, name, fid),
                            status, GEOJSON, location)
    response.headers["Content-Crs"] = f"<{crs.CRS84}>"
    return response


def _current():
    """The feature of this request as stored now (a 412's body), or None if it is gone."""
    args = request.view_args or {}
    try:
        fid = _fid(args.get("fid", ""))
        return _answer(editing.item_records(store(), args.get("name", ""), fid), args["name"], fid)
    except NotFound:
        return None


edits.handle_refusals(bp, _current)


@bp.route("/collections/<name>/items", methods=["OPTIONS"])
def items_options(name: str):
    """The methods this caller may use here (QGIS edits a layer only if POST is among them)."""
    _known(name)
    editable = model.LAYER_BY_NAME[name].kind == "project" and edits.may_write()
    return edits.allow(Response(status=200), ("POST",) if editable else ())


@bp.route("/collections/<name>/items/<fid>", methods=["OPTIONS"])
def item_options(name: str, fid: str):
    """The methods this caller may use on the layer's features. QGIS probes one feature and turns updates on or
    off for the whole layer by its answer, so an editor is offered them whichever department leads the feature
    probed; a write to another department's project is then refused (403) by the edit itself."""
    _known(name)
    editable = model.LAYER_BY_NAME[name].kind == "project" and edits.may_write()
    return edits.allow(Response(status=200), ("PUT", "PATCH", "DELETE") if editable else ())


@bp.post("/collections/<name>/items")
def create_item(name: str):
    author = edits.author()
    fid, records = editing.create_item(edits.writable(), name, edits.body(*_BODIES), author, edits.content_crs())
    return _answer(records, name, fid, 201, f"{base_url()}collections/{name}/items/{fid}")


@bp.put("/collections/<name>/items/<fid>")
def replace_item(name: str, fid: str):
    author = edits.author()
    key = _fid(fid)
    records = editing.replace_item(edits.writable(), name, key, edits.body(*_BODIES), author, edits.if_match(),
                                   edits.content_crs())
    return _answer(records, name, key)


@bp.patch("/collections/<name>/items/<fid>")
def patch_item(name: str, fid: str):
    author = edits.author()
    key = _fid(fid)
    records = editing.patch_item(edits.writable(), name, key, edits.body(editing.MERGE_PATCH), author,
                                 edits.if_match(), edits.content_crs())
    return _answer(records, name, key)


@bp.delete("/collections/<name>/items/<fid>")
def delete_item(name: str, fid: str):
    author = edits.author()
    editing.delete_item(edits.writable(), name, _fid(fid), author, edits.if_match())
    return edits.answer(None, None, 204)
