"""The OpenAPI 3.0 document of the API.

Every collection gets its own items path listing its queryables as query parameters, because GDAL's
OAPIF driver sends attribute filters to the server only for parameters the OpenAPI lists there, and
pages up to the ``limit`` parameter's ``schema.maximum``.
"""

from __future__ import annotations

from registry import features, model
from registry.query import PARAMETERS

MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
_TYPES = {"text": {"type": "string"}, "integer": {"type": "integer"}, "real": {"type": "number"},
          "date": {"type": "string", "format": "date"}, "bool": {"type": "boolean"}}


def _param(name: str, description: str, schema: dict, where: str = "query", required: bool = False,
           style: str | None = None, explode: bool | None = None) -> dict:
    out = {"name": name, "in": where, "description": description, "required": required, "schema": schema}
    if style:
        out["style"] = style
    if explode is not None:
        out["explode"] = explode
    return out


COMMON = {
    "f": _param("f", "Response format.", {"type": "string", "enum": ["json", "geojson", "html"]}),
    "bbox": _param("bbox", "minx,miny,maxx,maxy (CRS84 lon/lat unless bbox-crs).",
                   {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
                   style="form", explode=False),
    "bbox-crs": _param("bbox-crs", "CRS of bbox.", {"type": "string", "format": "uri",
                                                    "enum": list(features.CRS_URIS)}),
    "crs": _param("crs", "CRS of the response geometry.", {"type": "string", "format": "uri",
                                                            "enum": list(features.CRS_URIS)}),
    "datetime": _param("datetime", "Instant or interval matched against the planned start–finish.",
                       {"type": "string"}),
    "limit": _param("limit", f"Features per page (default {features.DEFAULT_LIMIT}).",
                    {"type": "integer", "minimum": 1, "maximum": features.MAX_LIMIT,
                     "default": features.DEFAULT_LIMIT}),
    "offset": _param("offset", "Features to skip.", {"type": "integer", "minimum": 0, "default": 0}),
    "after": _param("after", "Keyset position: features after this fid (next links carry it).",
                    {"type": "integer", "minimum": 0}),
    "filter": _param("filter", "A CQL2 filter.", {"type": "string"}),
    "filter-lang": _param("filter-lang", "Language of filter.",
                          {"type": "string", "enum": ["cql2-text", "cql2-json", "cql-text"],
                           "default": "cql2-text"}),
    "filter-crs": _param("filter-crs", "CRS of geometries in filter.",
                         {"type": "string", "format": "uri", "enum": list(features.CRS_URIS)}),
    "sortby": _param("sortby", "[+|-]property,...", {"type": "string"}),
    "properties": _param("properties", "Properties to return, comma-separated.", {"type": "string"}),
    "street": _param("street", "Registry extension: features belonging to this street office (code or name).",
                     {"type": "string"}),
    "as_of": _param("as_of", "Registry extension: street boundaries valid on YYYY-MM-DD (default today).",
                    {"type": "string", "format": "date"}),
}


def _items_operation(layer: model.Layer) -> dict:
    spec = features.queryables_for(layer)
    params = [{"$ref": f"#/components/parameters/{k}"} for k in COMMON]
    params += [_param(name, f"Equality filter on {name} (comma-separated values: any of).", _TYPES[kind])
               for name, kind in spec.items()]
    return {"get": {
        "summary": f"Features of {layer.name} ({layer.title_zh})", "operationId": f"getItems_{layer.name}",
        "tags": ["features"], "parameters": params,
        "responses": {"200": {"description": "A page of features.",
                              "content": {"application/geo+json": {"schema": {"type": "object"}},
                                          "text/html": {"schema": {"type": "string"}}}},
                      "400": {"$ref": "#/components/responses/Problem"}}}}


def _simple(summary: str, op: str, tag: str, params: list | None = None) -> dict:
    return {"get": {"summary": summary, "operationId": op, "tags": [tag], "parameters": params or [],
                    "responses": {"200": {"description": summary},
                                  "400": {"$ref": "#/components/responses/Problem"},
                                  "404": {"$ref": "#/components/responses/Problem"}}}}


def document(root: str) -> dict:
    """The OpenAPI document for an API served at ``root``."""
    collection_id = _param("collectionId", "Layer name.", {"type": "string", "enum": list(model.LAYER_BY_NAME)},
                           where="path", required=True)
    registry_params = [_param(k, v, {"type": "string"}) for k, v in PARAMETERS.items()]
    fmt = {"$ref": "#/components/parameters/f"}
    paths = {
        "/": _simple("Landing page", "getLandingPage", "capabilities", [fmt]),
        "/conformance": _simple("Conformance classes", "getConformance", "capabilities", [fmt]),
        "/api": _simple("This document", "getApi", "capabilities", [fmt]),
        "/collections": _simple("Collections", "getCollections", "capabilities", [fmt]),
        "/collections/{collectionId}": _simple("A collection", "getCollection", "capabilities",
                                               [collection_id, fmt]),
        "/collections/{collectionId}/queryables": _simple("Queryables", "getQueryables", "capabilities",
                                                          [collection_id]),
        "/collections/{collectionId}/schema": _simple("Schema", "getSchema", "capabilities", [collection_id]),
        "/collections/{collectionId}/items/{featureId}": _simple(
            "A feature", "getFeature", "features",
            [collection_id, _param("featureId", "Feature id (fid).", {"type": "integer"}, where="path",
                                   required=True), {"$ref": "#/components/parameters/crs"}, fmt]),
        "/projects": _simple("Projects matching filters", "getProjects", "registry",
                             [*registry_params, _param("f", "Format.", {"type": "string", "enum": [
                                 "json", "geojson", "html", "csv"]})]),
        "/projects/{projectId}": _simple("A project with its features", "getProject", "registry",
                                         [_param("projectId", "YEAR-CAT-NNN.", {"type": "string"}, where="path",
                                                 required=True), fmt]),
        "/streets": _simple("Street offices", "getStreets", "registry",
                            [_param("as_of", "YYYY-MM-DD.", {"type": "string"}), fmt]),
        "/streets/{code}/projects": _simple("Projects in a street office", "getStreetProjects", "registry",
                                            [_param("code", "Street code.", {"type": "string"}, where="path",
                                                    required=True), *registry_params]),
        "/stats": _simple("Statistics", "getStats", "registry",
                          [_param("by", "street,category,year,status,department", {"type": "string"}),
                           *registry_params]),
        "/qa": _simple("Quality checks", "getQa", "registry"),
        "/maps": _simple("A static map (PNG/SVG/PDF) of the projects the filters select", "getMap", "maps",
                         [*registry_params, _param("f", "png, svg or pdf", {"type": "string",
                                                                            "enum": ["png", "svg", "pdf"]}),
                          _param("by", "category, status or year", {"type": "string"}),
                          _param("theme", "investment or count: a street choropleth", {"type": "string"}),
                          _param("dpi", "PNG resolution", {"type": "integer", "minimum": 50, "maximum": 600})]),
        "/map": _simple("The interactive web map (HTML)", "getWebMap", "maps"),
    }
    for layer in model.LAYERS:
        paths[f"/collections/{layer.name}/items"] = _items_operation(layer)
    return {
        "openapi": "3.0.3",
        "info": {"title": "城市環境綜合整治專案登記簿 API", "version": "1.0.0",
                 "description": "OGC API – Features over the renovation registry, plus project, street and "
                                "statistics endpoints."},
        "servers": [{"url": root.rstrip("/")}],
        "paths": paths,
        "components": {
            "parameters": COMMON,
            "responses": {"Problem": {"description": "An RFC 7807 problem naming the parameter at fault.",
                                      "content": {"application/problem+json": {"schema": {"type": "object"}}}}},
        },
    }
