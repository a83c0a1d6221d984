"""The OpenAPI 3.0 document of the API: every path with its real parameters, answers and media types.

Every collection gets its own items path listing its queryables as query parameters, because GDAL's
OAPIF driver sends attribute filters to the server only for parameters the OpenAPI lists there, and
pages up to the ``limit`` parameter's ``schema.maximum``. Response schemas are closed where the
server's answers are, so a fuzzer checking answers against them (tests/test_openapi.py) finds drift.
"""

from __future__ import annotations

from registry import crs, features, limits, model, output, stats
from registry.maps.options import BY_CHOICES, DPI_RANGE, FORMATS, THEMES
from registry.params import PARAMETERS
from registry.report import assessment, bulletin
from registry.report.document import FORMATS as DOCUMENT_FORMATS

from .http import EXPORTS, GEOJSON, HTML, JSON
from .registry_api import DEFAULT_PROJECTS, MAX_PROJECTS
from .webmap import MEDIA as MAP_MEDIA

MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
PROBLEM = "application/problem+json"
SCHEMA_JSON = "application/schema+json"
_KINDS = {"text": {"type": "string"}, "integer": {"type": "integer"}, "real": {"type": "number"},
          "date": {"type": "string", "format": "date"}, "bool": {"type": "boolean"}}
_ENUMS = {"category": list(model.CATEGORY_BY_SLUG), "status": list(model.STATUSES),
          "site_type": list(model.SITE_TYPES), "billboard_action": list(model.BILLBOARD_ACTIONS)}
_PATTERNS = {"project_id": r"^\d{4}-[A-Z]{3}-\d{3}$"}
_CRS_URI = {"type": "string", "format": "uri", "enum": list(crs.CRS_URIS)}
_EPSG = {"type": "string", "pattern": r"^(EPSG:)?\d+$|^http://www\.opengis\.net/def/crs/(EPSG/0/\d+|OGC/1\.3/CRS84)$"}
_DATE = {"type": "string", "format": "date"}
_NAME = {"type": "string", "maxLength": limits.MAX_SHORT_TEXT_CHARS}  # a name to look for: none stored is longer
# Parameters that are conditions on projects' attributes: a reference layer's items refuse them.
_PROJECT_CONDITIONS = ("category", "year", "status", "department", "in_statement", "investment_min",
                       "investment_max", "q")
_WHOLE_MAX = 10**limits.MAX_INTEGER_DIGITS - 1  # integer parameters are at most this many ASCII digits


def _whole(low: int | None = None, high: int = _WHOLE_MAX, default: int | None = None) -> dict:
    """An integer parameter's schema: ASCII digits within bounds (``limits.whole_number``)."""
    return {"type": "integer", "minimum": -_WHOLE_MAX if low is None else low, "maximum": high,
            **({} if default is None else {"default": default})}


def _param(name: str, description: str, schema: dict, where: str = "query", required: bool = False,
           style: str | None = None, explode: bool | None = None) -> dict:
    out = {"name": name, "in": where, "description": description, "required": required, "schema": schema}
    if style:
        out["style"] = style
    if explode is not None:
        out["explode"] = explode
    return out


def _list(name: str, description: str, items: dict, unique: bool = False) -> dict:
    """A comma-separated list parameter (``a,b,c``); ``unique`` when naming an item twice is an error."""
    schema = {"type": "array", "minItems": 1, "items": items, **({"uniqueItems": True} if unique else {})}
    return _param(name, description, schema, style="form", explode=False)


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _f(*formats: str) -> dict:
    return _param("f", "Response format (overrides the Accept header).", {"type": "string", "enum": list(formats)})


def _sort_keys(names: list[str]) -> list[str]:
    return [f"{sign}{name}" for name in names for sign in ("", "+", "-")]


# Parameters shared by every collection's items path (GDAL reads limit's schema.maximum from here).
COMMON = {
    "bbox": _param("bbox", "minx,miny,maxx,maxy or, with heights, minx,miny,minz,maxx,maxy,maxz "
                           "(CRS84 lon/lat unless bbox-crs).",
                   {"type": "array", "minItems": 4, "maxItems": 6, "not": {"minItems": 5, "maxItems": 5},
                    "items": {"type": "number"}}, style="form", explode=False),
    "bbox-crs": _param("bbox-crs", "CRS of bbox.", _CRS_URI),
    "crs": _param("crs", "CRS of the response geometry.", _CRS_URI),
    "datetime": _param("datetime", "Instant or interval (a/b, open ends as ..) matched against the planned "
                                   "start–finish.", {"type": "string"}),
    "limit": _param("limit", f"Features per page (default {features.DEFAULT_LIMIT}).",
                    _whole(1, features.MAX_LIMIT, features.DEFAULT_LIMIT)),
    "offset": _param("offset", "Features to skip.", _whole(0, default=0)),
    "after": _param("after", "Keyset position: features after this fid (next links carry it).", _whole(0)),
    "filter": _param("filter", f"A CQL2 filter over the queryables (at most {limits.MAX_FILTER_CHARS} characters, "
                               f"nesting at most {limits.MAX_NESTING} levels).",
                     {"type": "string", "maxLength": limits.MAX_FILTER_CHARS}),
    "filter-lang": _param("filter-lang", "Language of filter (cql-text is GDAL's name for cql2-text).",
                          {"type": "string", "enum": ["cql2-text", "cql2-json", "cql-text"],
                           "default": "cql2-text"}),
    "filter-crs": _param("filter-crs", "CRS of geometries in filter.", _CRS_URI),
    "street": _param("street", "Registry extension: features belonging to this street office (code or name).",
                     _NAME),
    "as_of": _param("as_of", "Registry extension: street boundaries valid on YYYY-MM-DD (default today).", _DATE),
}


def _query_params() -> dict[str, dict]:
    """The registry's query parameters (``registry.params``: ``/projects``, ``/stats``, ``/maps``), with their
    real types; these name CRSs by EPSG code, x = east first."""
    text = {"type": "string"}
    schemas = {
        "as_of": _DATE, "street": _NAME, "department": _NAME, "q": _NAME,
        "bbox-crs": _EPSG, "polygon-crs": _EPSG, "near-crs": _EPSG,
        "distance": {"type": "number", "minimum": 0, "maximum": limits.MAX_DISTANCE_M},
        "predicate": {"type": "string", "enum": ["intersects", "within"], "default": "intersects"},
        "year": {"type": "string", "pattern": r"^\s*\d{4}\s*(\.\.\s*\d{4}\s*)?$"},
        "in_statement": {"type": "boolean"},
        "investment_min": _whole(0), "investment_max": _whole(0),
        "limit": _whole(0, MAX_PROJECTS, DEFAULT_PROJECTS), "offset": _whole(0, default=0),
    }
    out = {name: _param(name, text_, schemas.get(name, text)) for name, text_ in PARAMETERS.items()}
    out["bbox"] = _param("bbox", PARAMETERS["bbox"] + " (x = east first in bbox-crs; heights may follow miny and "
                                                      "maxy: 6 numbers)",
                         COMMON["bbox"]["schema"], style="form", explode=False)
    out["category"] = _list("category", PARAMETERS["category"], {"type": "string", "enum": _ENUMS["category"]})
    out["status"] = _list("status", PARAMETERS["status"], {"type": "string", "enum": _ENUMS["status"]})
    out["sortby"] = _list("sortby", PARAMETERS["sortby"], {"type": "string",
                                                           "enum": _sort_keys(list(model.PROJECT_COLUMNS))},
                          unique=True)
    out["datetime"] = COMMON["datetime"]
    out["filter"] = _param("filter", "A CQL2 filter over the projects' attributes.", COMMON["filter"]["schema"])
    out.update({name: COMMON[name] for name in ("filter-lang", "filter-crs")})
    return out


def _export_params(crs: bool = True) -> list[dict]:
    """Options of file exports; ``crs`` for the registry paths (the items paths' crs is OGC's)."""
    from registry.exchange.export import EXPORT_EPSGS
    from registry.exchange.shapefile import GDAL_ENCODINGS
    from registry.exchange.styles import STYLE_ATTRIBUTES

    return [*([_param("crs", "CRS of an exported file (f=shp|gpkg|fgb|csv).",
                      {"type": "string", "enum": [f"EPSG:{code}" for code in EXPORT_EPSGS]})] if crs else []),
            _param("encoding", "Text encoding of a Shapefile export (f=shp).",
                   {"type": "string", "enum": list(GDAL_ENCODINGS)}),
            _param("style_by", "Attribute the GeoPackage export's QGIS styles classify by (f=gpkg).",
                   {"type": "string", "enum": list(STYLE_ATTRIBUTES)})]


# ---- response schemas -------------------------------------------------------------------------------

def _object(properties: dict, required: list[str] | None = None, closed: bool = True) -> dict:
    out: dict = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    if closed:
        out["additionalProperties"] = False
    return out


def _nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


def _field(name: str, kind: str, required: bool) -> dict:
    schema = {**_KINDS[kind]}
    if name in _ENUMS:
        schema["enum"] = _ENUMS[name] + ([] if required else [None])
    if name in _PATTERNS:
        schema["pattern"] = _PATTERNS[name]
    return schema if required else _nullable(schema)


def _project_fields() -> dict[str, dict]:
    """The project fields, each coded one followed by its label in the request's script (``output.with_labels``)."""
    out = {}
    for f in model.PROJECT_FIELDS:
        out[f.name] = _field(f.name, f.kind, f.required)
        if f.name in output.LABELLED:
            out[f.name + output.LABEL_SUFFIX] = {"type": "string"} if f.required else _nullable({"type": "string"})
    return out


def _geometries() -> dict[str, dict]:
    position = {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"}}
    line = {"type": "array", "minItems": 2, "items": position}
    ring = {"type": "array", "minItems": 4, "items": position}

    def geometry(kind: str, coordinates: dict) -> dict:
        return _object({"type": {"type": "string", "enum": [kind]}, "coordinates": coordinates},
                       ["type", "coordinates"])

    return {
        "Point": geometry("Point", position),
        "MultiLineString": geometry("MultiLineString", {"type": "array", "items": line}),
        "MultiPolygon": geometry("MultiPolygon", {"type": "array", "items": {"type": "array", "items": ring}}),
        "Geometry": {"oneOf": [_ref("schemas", k) for k in ("Point", "MultiLineString", "MultiPolygon")]},
    }


def _feature(properties: dict, geometry: str, id_schema: dict | None, links: bool = False) -> dict:
    """An RFC 7946 Feature with these ``properties`` (a schema) and geometry type."""
    members = {"type": {"type": "string", "enum": ["Feature"]}, "properties": properties,
               "geometry": _ref("schemas", geometry)}
    if id_schema:
        members["id"] = id_schema
    if links:
        members["links"] = {"type": "array", "items": _ref("schemas", "Link")}
    return _object(members, ["type", *(["id"] if id_schema else []), "properties", "geometry"])


def _collection(feature: dict, required: list[str], links: bool = False) -> dict:
    """An RFC 7946 FeatureCollection of ``feature`` with the OGC members ``required`` names."""
    count = {"type": "integer", "minimum": 0}
    members = {"type": {"type": "string", "enum": ["FeatureCollection"]}, "features": {"type": "array",
                                                                                        "items": feature},
               "numberMatched": count, "numberReturned": count}
    if links:
        members["timeStamp"] = {"type": "string", "format": "date-time"}
        members["links"] = {"type": "array", "items": _ref("schemas", "Link")}
    return _object(members, ["type", "features", *required])


def _properties(layer: model.Layer) -> dict[str, str]:
    """The properties a layer's features carry (its queryables but the geometry)."""
    return {name: kind for name, kind in model.queryables(layer).items() if kind != "geometry"}


def _layer_schemas(layer: model.Layer) -> dict[str, dict]:
    """``{layer}.Feature`` and ``{layer}.FeatureCollection``: the layer's exact properties and geometry type."""
    spec = _properties(layer)
    fields = model.FIELD_BY_NAME if layer.kind == "project" else {}
    props = {}
    for name, kind in spec.items():
        required = fields[name].required if name in fields else name == "project_id"
        props[name] = _field(name, kind, required)
        if layer.kind == "project" and name in output.LABELLED:  # its name in the request's script
            props[name + output.LABEL_SUFFIX] = {"type": "string"} if required else _nullable({"type": "string"})
    feature = _feature(_object(props), layer.geometry_type, {"type": "integer"}, links=True)
    return {f"{layer.name}.Feature": feature,
            f"{layer.name}.FeatureCollection": _collection(
                _ref("schemas", f"{layer.name}.Feature"),
                ["numberMatched", "numberReturned", "timeStamp", "links"], links=True)}


def _registry_schemas() -> dict[str, dict]:
    """Schemas of the registry endpoints: projects, streets, statistics, QA."""
    project_layers = [layer.name for layer in model.PROJECT_LAYERS]
    project_feature = _object({"layer": {"type": "string", "enum": project_layers}, "fid": {"type": "integer"},
                               "name": _nullable({"type": "string"}), "geometry": _ref("schemas", "Geometry")},
                              ["layer", "fid", "name", "geometry"])
    fields = _project_fields()
    project = _object({**fields, "features": {"type": "array", "items": project_feature}},
                      [*fields, "features"])
    query_properties = {"layer": {"type": "string", "enum": project_layers}, "fid": {"type": "integer"},
                        "feature_name": _nullable({"type": "string"}), **fields}
    query_feature = _feature(_object(query_properties, list(query_properties)), "Geometry", None)
    street = {"code": {"type": "string", "enum": list(model.STREETS)}, "name": {"type": "string"},
              "valid_from": _nullable(_DATE), "valid_to": _nullable(_DATE), "area_km2": {"type": "number"}}
    figures = {"projects": {"type": "integer", "minimum": 0},
               "investment_yuan": {"type": "string", "pattern": r"^-?\d+\.\d{2}$"},
               **{name: {"type": "number"} for name in ("length_m", "area_m2")},
               **{name: {"type": "integer"} for name in ("stalls", "parking_spaces")}}
    groups = {"street": {"type": "string", "enum": [*model.STREETS, stats.OUTSIDE, stats.UNLOCATED]},
              "street_name": _nullable({"type": "string"}), "category": fields["category"],
              "year": fields["year"], "status": fields["status"], "lead_department": fields["lead_department"]}
    return {
        "Project": project,
        "Projects": _object({"total": {"type": "integer", "minimum": 0},
                             "projects": {"type": "array", "items": _ref("schemas", "Project")}},
                            ["total", "projects"]),
        "Projects.FeatureCollection": _collection(query_feature, ["numberMatched", "numberReturned"]),
        "Project.FeatureCollection": _collection(query_feature, []),
        "Streets": _object({"as_of": _DATE, "streets": {"type": "array", "items": _object(
            {**street, "projects": {"type": "string", "format": "uri"}}, [*street, "projects"])}},
                           ["as_of", "streets"]),
        "Streets.FeatureCollection": _collection(_feature(_object(street, list(street)), "MultiPolygon",
                                                          street["code"]), []),
        "Stats": _object({"by": {"type": "array", "minItems": 1, "items": {
                              "type": "string", "enum": sorted(set(stats.GROUP_KEYS.values()))}},
                          "rows": {"type": "array", "items": _object({**groups, **figures}, list(figures))},
                          "totals": _object(figures, list(figures))},
                         ["by", "rows", "totals"]),
        "QA": _object({"findings": {"type": "array", "items": _object(
            {"check": {"type": "string"}, "layer": _nullable({"type": "string"}),
             "fid": _nullable({"type": "integer"}), "project_id": _nullable({"type": "string"}),
             "detail": {"type": "string"}}, ["check", "layer", "fid", "project_id", "detail"])}},
                      ["findings"]),
    }


def _schemas() -> dict[str, dict]:
    link = _object({"href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
                    "title": {"type": "string"}}, ["href", "rel", "type"])
    links = {"type": "array", "items": _ref("schemas", "Link")}
    uris = {"type": "array", "items": {"type": "string", "format": "uri"}}
    instant = _nullable({"type": "string", "format": "date-time"})
    collection = _object({
        "id": {"type": "string", "enum": list(model.LAYER_BY_NAME)}, "title": {"type": "string"},
        "description": {"type": "string"}, "itemType": {"type": "string", "enum": ["feature"]},
        "extent": _object({
            "spatial": _object({"bbox": {"type": "array", "maxItems": 1, "items": {
                "type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}}},
                "crs": {"type": "string", "enum": [crs.CRS84]}}, ["bbox", "crs"]),
            "temporal": _object({"interval": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                "type": "array", "minItems": 2, "maxItems": 2, "items": instant}}, "trs": {"type": "string"}},
                ["interval", "trs"])}, ["spatial", "temporal"]),
        "crs": uris, "storageCrs": {"type": "string", "format": "uri"}, "links": links,
    }, ["id", "title", "description", "itemType", "extent", "crs", "storageCrs", "links"])
    out = {
        "Link": link,
        "Problem": _object({"type": {"type": "string"}, "title": {"type": "string"},
                            "status": {"type": "integer", "minimum": 400, "maximum": 599},
                            "detail": {"type": "string"},
                            "parameter": {"type": "string", "description": "The parameter at fault."}},
                           ["type", "title", "status", "detail"]),
        "LandingPage": _object({"title": {"type": "string"}, "description": _nullable({"type": "string"}),
                                "data_date": _nullable(_DATE), "links": links},
                               ["title", "description", "data_date", "links"]),
        "Conformance": _object({"conformsTo": uris}, ["conformsTo"]),
        "Collection": collection,
        "Collections": _object({"links": links, "collections": {"type": "array",
                                                                "items": _ref("schemas", "Collection")},
                                "crs": uris}, ["links", "collections", "crs"]),
        "Queryables": _object({"$schema": {"type": "string"}, "$id": {"type": "string", "format": "uri"},
                               "type": {"type": "string", "enum": ["object"]}, "title": {"type": "string"},
                               "properties": {"type": "object", "additionalProperties": {"type": "object"}},
                               "additionalProperties": {"type": "boolean"}},
                              ["$schema", "$id", "type", "title", "properties", "additionalProperties"]),
        "OpenAPI": _object({"openapi": {"type": "string", "pattern": r"^3\.0\.\d+$"}, "info": {"type": "object"},
                            "paths": {"type": "object"}}, ["openapi", "info", "paths"], closed=False),
        **_geometries(),
        "Feature": {"anyOf": [_ref("schemas", f"{layer.name}.Feature") for layer in model.LAYERS]},
    }
    for layer in model.LAYERS:
        out.update(_layer_schemas(layer))
    out.update(_registry_schemas())
    return out


# ---- responses --------------------------------------------------------------------------------------

_BINARY = {"type": "string", "format": "binary"}
_TEXT = {"type": "string"}
_HEADERS = {"ETag": {"description": "An entity tag: strong on a project or feature (its versions: send it as If-Match "
                                    "to edit that version), weak elsewhere (the store's revision and the request).",
                     "required": True,
                     "schema": {"type": "string"}},
            "Last-Modified": {"description": "When the store last changed.", "required": True,
                              "schema": {"type": "string"}}}


def _export_media() -> dict[str, dict]:
    from registry.exchange.export import MEDIA_TYPES

    types = {MEDIA_TYPES[EXPORTS[f]].split(";")[0] for f in EXPORTS} | {"application/zip"}  # zipped shp, fgb
    return {media: {"schema": _BINARY} for media in sorted(types)}


def _ok(description: str, content: dict, cached: bool = True, headers: dict | None = None) -> dict:
    out = {"description": description, "content": content}
    if cached or headers:
        out["headers"] = {**(_HEADERS if cached else {}), **(headers or {})}
    return out


def _json(schema: str, media: str = JSON) -> dict:
    return {media: {"schema": _ref("schemas", schema)}}


def _html() -> dict:
    return {HTML: {"schema": _TEXT}}


def _operation(summary: str, op: str, tag: str, params: list, ok: dict, errors: tuple = (400, 404),
               not_modified: bool = False, reads_store: bool = True) -> dict:
    """A GET operation; ``errors`` are its client errors, and one that reads the store may answer 503."""
    responses = {"200": ok}
    if not_modified:
        responses["304"] = {"description": "Not modified since the ETag or date the client sent.",
                            "headers": _HEADERS}
    for code in (*errors, *([503] if reads_store else [])):
        responses[str(code)] = _ref("responses", f"Problem{code}")
    return {"get": {"summary": summary, "operationId": op, "tags": [tag], "parameters": params,
                    "responses": responses}}


def _items_operation(layer: model.Layer) -> dict:
    spec = _properties(layer)
    exports = layer.kind == "project"
    dated = exports or "valid_from" in spec  # datetime matches planned dates, or a reference layer's validity
    registry = {name: p for name, p in _query_params().items()
                if name not in COMMON and name != "sortby" and (exports or name not in _PROJECT_CONDITIONS)}
    named = {*COMMON, *_query_params(), "f", "sortby", "properties", "encoding", "style_by"}
    params = [_ref("parameters", k) for k in COMMON if dated or k != "datetime"]
    params += [*registry.values(), _f("json", "geojson", "html", *(EXPORTS if exports else ())),
               _list("sortby", "[+|-]property,... (each property once)",
                     {"type": "string", "enum": _sort_keys(list(spec))}, unique=True),
               _param("properties", "Properties to return, comma-separated (empty: none).",
                      {"type": "array", "uniqueItems": True, "items": {"type": "string", "enum": list(spec)}},
                      style="form", explode=False)]
    params += [_list(name, f"Equality filter on {name} (comma-separated values: any of).",
                     _whole() if kind == "integer" else _field(name, kind, True))
               for name, kind in spec.items() if name not in named]
    if exports:
        params += _export_params(crs=False)
    page = _ref("schemas", f"{layer.name}.FeatureCollection")
    content = {GEOJSON: {"schema": page}, JSON: {"schema": page}, **_html(), **(_export_media() if exports else {})}
    crs_header = {"Content-Crs": {"description": "CRS of the geometry (GeoJSON answers).",
                                  "schema": {"type": "string", "pattern": "^<.+>$"}}}
    return _operation(f"Features of {layer.name} ({layer.title_zh})", f"getItems_{layer.name}", "features", params,
                      _ok("A page of features, its HTML view, or (f=shp|gpkg|fgb|csv|xlsx) a file of every match.",
                          content, headers=crs_header), not_modified=True)


# ---- edits (POST/PUT/PATCH/DELETE on /projects, OGC API – Features Part 4 on items) ----------------------

_WRITE_ERRORS = (400, 401, 403, 404, 413, 415, 422, 503)
_SECURITY = [{"bearer": []}, {"basic": []}]
_TAG = {"description": "The resource's strong entity tag (If-Match takes it).", "required": True,
        "schema": {"type": "string"}}


def _body(media: str, schema: str, description: str) -> dict:
    return {"required": True, "description": description, "content": {media: {"schema": _ref("schemas", schema)}}}


def _write(summary: str, op: str, tag: str, params: list, body: dict | None, ok: dict, conditional: bool,
           status: str = "200") -> dict:
    """An edit: its body, answer and refusals; ``conditional`` when it honours If-Match (412 on a stale one)."""
    responses = {status: ok}
    errors = (*_WRITE_ERRORS, *((412,) if conditional else ()))
    for code in errors:
        responses[str(code)] = _ref("responses", f"Problem{code}")
    if conditional:
        params = [*params, _param("If-Match", "Apply only if the resource's ETag is still this one (else 412 with the "
                                              "current version); without it the edit is applied unconditionally.",
                                  {"type": "string"}, where="header")]
    out = {"summary": summary, "operationId": op, "tags": [tag], "parameters": params, "responses": responses,
           "security": _SECURITY}
    if body:
        out["requestBody"] = body
    return out


def _allow(summary: str, op: str, params: list) -> dict:
    return {"summary": summary, "operationId": op, "tags": ["features"], "parameters": params, "responses": {
        "200": {"description": "The methods this caller may use here, in Allow.",
                "headers": {"Allow": {"description": "Methods, comma-separated.", "required": True,
                                      "schema": {"type": "string"}}}},
        "401": _ref("responses", "Problem401"), "404": _ref("responses", "Problem404"),
        "503": _ref("responses", "Problem503")}}


def _edit_schemas() -> dict[str, dict]:
    """What edits take: a project in the shape of its GET (features matched by fid), a merge patch of it, a
    GeoJSON feature of a project layer, and a merge patch of one."""
    project_layers = [layer.name for layer in model.PROJECT_LAYERS]
    feature = _object({"layer": {"type": "string", "enum": project_layers},
                       "fid": {"type": "integer", "description": "A stored feature of the project; leave out to add "
                                                                 "one."},
                       "name": _nullable({"type": "string", "maxLength": limits.MAX_SHORT_TEXT_CHARS}),
                       "geometry": _ref("schemas", "Geometry")}, closed=False)
    fields = _project_fields()
    features_ = {"type": "array", "items": feature,
                 "description": "The project's features after the edit: stored ones left out are deleted."}
    properties = {"feature_name": _nullable({"type": "string", "maxLength": limits.MAX_SHORT_TEXT_CHARS}),
                  "project_id": {"type": "string", "pattern": _PATTERNS["project_id"]}}
    item = {"type": "object", "required": ["type", "properties", "geometry"], "properties": {
        "type": {"type": "string", "enum": ["Feature"]}, "geometry": _ref("schemas", "Geometry"),
        "properties": {"type": "object", "required": ["project_id"], "properties": properties,
                       "description": "feature_name and project_id are written; the project's attributes and "
                                      "investment_share_yuan are read-only here (equal or null values are taken)."}}}
    return {
        "ProjectInput": {"type": "object", "required": [f.name for f in model.PROJECT_FIELDS
                                                        if f.required and f.name != "project_id"],
                         "properties": {**fields, "features": features_},
                         "description": "A project as GET /projects/{projectId} gives it; POST may leave project_id "
                                        "out (the next YEAR-CAT-NNN is assigned)."},
        "ProjectPatch": {"type": "object",
                         "properties": {name: _nullable(schema) if name != "project_id" else schema
                                        for name, schema in {**fields, "features": features_}.items()},
                         "description": "RFC 7396: members given replace the stored ones, null empties one; "
                                        "features replaces the features (matched by fid)."},
        "FeatureInput": item,
        "FeaturePatch": {"type": "object", "properties": {"geometry": _ref("schemas", "Geometry"), "properties": {
            "type": "object", "properties": properties}}, "description": "RFC 7396 merge patch of a feature."},
    }


def _edit_paths(collection_id: dict, feature_id: dict, project_id: dict) -> dict[str, dict]:
    """The edit operations of each path (merged into the paths' GETs)."""
    project = _ok("The project as stored now.", _json("Project"), cached=False, headers={"ETag": _TAG})
    feature = _ok("The feature as stored now (CRS84).", {GEOJSON: {"schema": _ref("schemas", "Feature")}},
                  cached=False, headers={"ETag": _TAG})
    created = {**project, "headers": {"ETag": _TAG, "Location": {"description": "The new project's URL.",
                                                                 "required": True, "schema": {"type": "string"}}}}
    gone = {"description": "Deleted."}
    crs_header = _param("Content-Crs", "CRS of the body's geometry (default CRS84), in its axis order.",
                        {"type": "string"}, where="header")
    merge = "application/merge-patch+json"
    out: dict[str, dict] = {
        "/projects": {"post": _write(
            "Create a project", "createProject", "registry", [crs_header],
            _body(JSON, "ProjectInput", "The project and its features."), created, False, "201")},
        "/projects/{projectId}": {
            "put": _write("Replace a project (features matched by fid keep it)", "replaceProject", "registry",
                          [project_id, crs_header], _body(JSON, "ProjectInput", "The whole project."), project, True),
            "patch": _write("Merge-patch a project (RFC 7396)", "patchProject", "registry", [project_id, crs_header],
                            _body(merge, "ProjectPatch", "What changes."), project, True),
            "delete": _write("Delete a project and its features", "deleteProject", "registry", [project_id], None,
                             gone, True, "204")},
        "/collections/{collectionId}/items/{featureId}": {
            "options": _allow("Methods this caller may use on the feature", "optionsFeature",
                              [collection_id, feature_id]),
            "put": _write("Replace a feature (its fid is kept)", "replaceFeature", "features",
                          [collection_id, feature_id, crs_header], _body(GEOJSON, "FeatureInput", "The feature."),
                          feature, True),
            "patch": _write("Merge-patch a feature (RFC 7396)", "patchFeature", "features",
                            [collection_id, feature_id, crs_header], _body(merge, "FeaturePatch", "What changes."),
                            feature, True),
            "delete": _write("Delete a feature", "deleteFeature", "features", [collection_id, feature_id], None, gone,
                             True, "204")},
    }
    for layer in model.LAYERS:
        path = out.setdefault(f"/collections/{layer.name}/items", {})
        path["options"] = _allow(f"Methods this caller may use on {layer.name}", f"optionsItems_{layer.name}", [])
        if layer.kind == "project":
            new = {**feature, "headers": {"ETag": _TAG, "Location": {
                "description": "The new feature's URL (.../items/{fid}).", "required": True,
                "schema": {"type": "string"}}}}
            path["post"] = _write(f"Add a feature to {layer.name}", f"createItem_{layer.name}", "features",
                                  [crs_header], _body(GEOJSON, "FeatureInput", "The feature (no id: one is assigned)."),
                                  new, False, "201")
    return out


def _projects_answer(description: str) -> dict:
    return _ok(description, {**_json("Projects"), **_json("Projects.FeatureCollection", GEOJSON), **_html(),
                             **_export_media()})


def _report(summary: str, op: str, params: list, formats: tuple[str, ...], description: str) -> dict:
    """A report's GET: a document (HTML page, or a download in the other formats), 304 while the store is
    unchanged; a bad parameter (f, a date, the year, lang) is a 400 problem."""
    media = {fmt: assessment.media_type(fmt).split(";")[0] for fmt in formats}
    content = {kind: {"schema": _TEXT if kind.startswith("text/") else _BINARY} for kind in media.values()}
    disposition = {"Content-Disposition": {"description": "attachment (pdf, docx, md, xlsx) with a file name.",
                                           "schema": {"type": "string"}}}
    operation = _operation(summary, op, "reports", [*params, _param("f", "Format.", {
        "type": "string", "enum": list(formats), "default": "html"})],
        _ok(description, content, cached=False, headers={"ETag": _HEADERS["ETag"], **disposition}),
        not_modified=True)
    operation["get"]["responses"]["304"]["headers"] = {"ETag": _HEADERS["ETag"]}
    return operation


def _report_paths() -> dict[str, dict]:
    """The reports (``api/reports.py``): the work summary, the progress bulletin, the assessment, and the
    documents' stylesheet."""
    year = _param("year", "The year reported on.", {"type": "string", "pattern": r"^\d{4}$"}, where="path",
                  required=True)
    as_of = _param("as_of", "The registry as recorded by the end of this day, YYYY-MM-DD, and the day projects "
                            "are judged on (default: the registry's data date).", _DATE)
    lang = _param("lang", "Script of the document (default: the signed-in user's, the pages' switch, "
                          "Accept-Language, the registry's).", {"type": "string", "enum": list(model.SCRIPTS)})
    since = _param("since", "Show the change since this earlier day, YYYY-MM-DD (the bulletin as recorded and "
                            "judged then).", _DATE)
    return {
        "/reports/summary/{year}": _report(
            "The year's work summary and next year's plan", "getSummaryReport", [year, as_of, lang],
            tuple(DOCUMENT_FORMATS), "The work summary in the source document's structure."),
        "/reports/bulletin": _report(
            "The progress bulletin of the lead departments", "getBulletinReport", [as_of, since, lang],
            bulletin.FORMATS, "The bulletin; as xlsx, its workbook of complete lists (its attachment)."),
        "/reports/assessment/{year}": _report(
            "The assessment of the lead departments against a year's statement", "getAssessmentReport",
            [year, as_of, lang], assessment.FORMATS, "The assessment; as xlsx, its workbook."),
        "/reports/document.css": _operation(
            "The reports' stylesheet (screen and print)", "getReportStylesheet", "reports", [lang],
            _ok("The stylesheet in the script's faces.", {"text/css": {"schema": _TEXT}}, cached=False), (400,)),
    }


def document(root: str) -> dict:
    """The OpenAPI document for an API served at ``root``."""
    collection_id = _param("collectionId", "Layer name.", {"type": "string", "enum": list(model.LAYER_BY_NAME)},
                           where="path", required=True)
    query = _query_params()
    filters = [p for name, p in query.items() if name not in ("limit", "offset", "sortby")]
    projects_params = [*query.values(), _f("json", "geojson", "html", *EXPORTS), *_export_params()]
    json_html = _f("json", "html")
    paths = {
        "/": _operation("Landing page", "getLandingPage", "capabilities", [json_html],
                        _ok("The landing page.", {**_json("LandingPage"), **_html()}), (400,), not_modified=True),
        "/conformance": _operation("Conformance classes", "getConformance", "capabilities", [json_html],
                                   _ok("The conformance classes.", {**_json("Conformance"), **_html()}), (400,),
                                   reads_store=False),
        "/api": _operation("This document", "getApi", "capabilities", [json_html],
                           _ok("The OpenAPI document, or its HTML view.",
                               {**_json("OpenAPI", MEDIA_TYPE), **_html()}), (400,), reads_store=False),
        "/collections": _operation("Collections", "getCollections", "capabilities", [json_html],
                                   _ok("Every layer.", {**_json("Collections"), **_html()}), (400,),
                                   not_modified=True),
        "/collections/{collectionId}": _operation(
            "A collection", "getCollection", "capabilities", [collection_id, json_html],
            _ok("The collection.", {**_json("Collection"), **_html()})),
        "/collections/{collectionId}/queryables": _operation(
            "Queryables", "getQueryables", "capabilities", [collection_id],
            _ok("The JSON Schema of the queryables.", _json("Queryables", SCHEMA_JSON))),
        "/collections/{collectionId}/schema": _operation(
            "Schema", "getSchema", "capabilities", [collection_id],
            _ok("The JSON Schema of the features' properties.", _json("Queryables", SCHEMA_JSON))),
        "/collections/{collectionId}/items/{featureId}": _operation(
            "A feature", "getFeature", "features",
            [collection_id, _param("featureId", "Feature id (fid).", {"type": "integer"}, where="path",
                                   required=True), COMMON["crs"], _f("json", "geojson", "html")],
            _ok("The feature.", {GEOJSON: {"schema": _ref("schemas", "Feature")},
                                 JSON: {"schema": _ref("schemas", "Feature")}, **_html()},
                headers={"Content-Crs": {"description": "CRS of the geometry (GeoJSON answers).",
                                         "schema": {"type": "string", "pattern": "^<.+>$"}}})),
        "/projects": _operation("Projects matching filters", "getProjects", "registry", projects_params,
                                _projects_answer("A page of projects with their features, or a file of every "
                                                 "match (f=shp|gpkg|fgb|csv|xlsx)."), (400,), not_modified=True),
        "/projects/{projectId}": _operation(
            "A project with its features", "getProject", "registry",
            [_param("projectId", "YEAR-CAT-NNN.", {"type": "string"}, where="path", required=True),
             _f("json", "geojson", "html")],
            _ok("The project.", {**_json("Project"), **_json("Project.FeatureCollection", GEOJSON), **_html()})),
        "/streets": _operation("Street offices", "getStreets", "registry",
                               [query["as_of"], _f("json", "geojson", "html")],
                               _ok("The street offices valid on as_of.",
                                   {**_json("Streets"), **_json("Streets.FeatureCollection", GEOJSON),
                                    **_html()}), (400,)),
        "/streets/{code}/projects": _operation(
            "Projects in a street office", "getStreetProjects", "registry",
            [_param("code", "Street code or name.", _NAME, where="path", required=True),
             *[p for name, p in query.items() if name != "street"], _f("json", "geojson", "html", *EXPORTS),
             *_export_params()],
            _projects_answer("The street's projects, as /projects answers."), not_modified=True),
        "/stats": _operation(
            "Statistics", "getStats", "registry",
            [_list("by", "Group keys.", {"type": "string", "enum": list(stats.GROUP_KEYS)}), *filters,
             _f("json", "html", "csv")],
            _ok("Figures per group and in total.", {**_json("Stats"), **_html(), "text/csv": {"schema": _TEXT}},
                cached=False), (400,)),
        "/qa": _operation("Quality checks", "getQa", "registry", [],
                          _ok("The findings of every quality check.", _json("QA")), ()),
        "/maps": _operation(
            "A static map (PNG/SVG/PDF) of the projects the filters select", "getMap", "maps",
            [*filters, _param("f", "Image format.", {"type": "string", "enum": list(FORMATS), "default": "png"}),
             _param("by", "Overlay map coloured by.", {"type": "string", "enum": list(BY_CHOICES)}),
             _param("theme", "A street choropleth of (not with by).", {"type": "string", "enum": list(THEMES)}),
             _param("title", "Map title.", _NAME),
             _param("dpi", "PNG resolution.", _whole(*DPI_RANGE, default=150))],
            _ok("The map.", {MAP_MEDIA[f]: {"schema": _BINARY} for f in FORMATS}, cached=False), (400,)),
        "/map": _operation("The interactive web map (HTML)", "getWebMap", "maps", [],
                           _ok("The web map page.", _html(), cached=False), (), reads_store=False),
        **_report_paths(),
    }
    for layer in model.LAYERS:
        paths[f"/collections/{layer.name}/items"] = _items_operation(layer)
    project_id = paths["/projects/{projectId}"]["get"]["parameters"][0]
    feature_id = paths["/collections/{collectionId}/items/{featureId}"]["get"]["parameters"][1]
    paths["/collections/{collectionId}/items/{featureId}"]["get"]["responses"]["200"]["headers"]["ETag"] = _TAG
    for path, operations in _edit_paths(collection_id, feature_id, project_id).items():
        paths[path].update(operations)
    # An error is an RFC 7807 problem, or for a browser (f=html, or HTML preferred) a page saying the same.
    problem = {PROBLEM: {"schema": _ref("schemas", "Problem")}, **_html()}
    refusals = {401: "No or wrong credentials (Bearer token, or Basic with the token as password).",
                403: "The account may not change this (a viewer; another department's project).",
                412: "If-Match names another version: the body and ETag are the current version's.",
                413: f"The body is over {limits.MAX_UPLOAD_BYTES // 1024**2} MiB.",
                415: "The body's Content-Type is not one the operation takes.",
                422: "The edit breaks a rule of the registry (invalid value, geometry, status transition, a "
                     "changed id, a read-only property): an RFC 7807 problem naming the field."}
    return {
        "openapi": "3.0.3",
        "info": {"title": "城市環境綜合整治專案登記簿 API", "version": "1.0.0",
                 "description": "OGC API – Features over the renovation registry, plus project, street and "
                                "statistics endpoints."},
        "servers": [{"url": root.rstrip("/")}],
        "paths": paths,
        "components": {
            "parameters": COMMON,
            "schemas": {**_schemas(), **_edit_schemas()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "basic": {"type": "http", "scheme": "basic",
                                          "description": "The account's name and its API token as password (QGIS)."}},
            "responses": {
                "Problem400": {"description": "A bad parameter: an RFC 7807 problem naming it.", "content": problem},
                "Problem404": {"description": "No such resource: an RFC 7807 problem.", "content": problem},
                **{f"Problem{code}": {"description": text, "content": problem} for code, text in refusals.items()},
                "Problem401": {"description": refusals[401], "content": problem, "headers": {"WWW-Authenticate": {
                    "description": "The schemes taken.", "required": True, "schema": {"type": "string"}}}},
                "Problem412": {"description": refusals[412] + " (a problem if the resource is gone)",
                               "headers": {"ETag": {**_TAG, "required": False}},
                               "content": {**_json("Project"), GEOJSON: {"schema": _ref("schemas", "Feature")},
                                           **problem}},
                "Problem503": {"description": "The store is unavailable: an RFC 7807 problem; try again later.",
                               "headers": {"Retry-After": {"description": "Seconds to wait.", "required": True,
                                                           "schema": {"type": "integer", "minimum": 0}}},
                               "content": problem},
            },
        },
    }
