"""The query parameters, each parsed and checked in one place, with one error message each.

Every road that selects features reads its parameters here: the CLI (whose options map to these
names), ``/projects``, ``/collections/{layer}/items``, statistics, maps and exports. ``parse`` builds
one ``Query``; a road says only what differs: which layer's properties an items request may filter,
sort and return, and what a page counts (projects on ``/projects`` and the CLI, features on items).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import shapely

from . import cql, crs, limits, model, script, spatial, streets
from .errors import ValidationError
from .i18n import gettext
from .store import Reader, per_revision
from .text import to_traditional

# Each parameter (HTTP name; the CLI maps its options to these) and what it takes.
PARAMETERS = {
    "street": "Street office: code or name (traditional or simplified).",
    "as_of": "Boundaries valid on this date, YYYY-MM-DD (default today).",
    "bbox": "minlon,minlat,maxlon,maxlat.", "bbox-crs": "EPSG:NNNN of bbox (x = east first; default EPSG:4490).",
    "polygon": "A polygon as WKT or GeoJSON.", "polygon-crs": "EPSG:NNNN of polygon (default EPSG:4490).",
    "near": "A feature name (e.g. 唐莊河) or WKT geometry.", "near-crs": "EPSG:NNNN of a WKT near.",
    "distance": "Metres from near.", "predicate": "Spatial predicate: intersects or within.",
    "category": "Categories by code or name (rivers, RIV, 城市河道, 河道), comma-separated.",
    "year": "2013 or 2013..2014.",
    "status": "Statuses by code or name (completed, 已完成), comma-separated.",
    "department": "Lead department by code or name (urban_management, 城市管理局, 城管局).",
    "in_statement": "true/false: in the responsibility statement.", "investment_min": "Yuan.",
    "investment_max": "Yuan.", "q": "Text in the project name.", "sortby": "[-]field,...",
    "limit": "Projects per page.", "offset": "Projects to skip.",
}
# Parameters that are not equality conditions on a queryable of the same name (items requests).
_NOT_EQUALITY = {*PARAMETERS, "f", "crs", "datetime", "filter", "filter-lang", "filter-crs", "properties", "after",
                 "encoding", "style_by", "lang"}
# Queryables whose values are coded (model.NAMES): equality on them takes any spelling of the value.
CODED_PROPERTIES = {field: kind for kind, field in model.NAME_FIELDS.items()}


@dataclass(frozen=True)
class Query:
    """Parsed parameters. Geometries are EPSG:4490; ``None`` or empty means "no condition".

    ``project_filter`` conditions hold for a project's attributes; ``filter`` and ``equals`` for each
    feature's properties (items: the layer's queryables).
    """

    street: str | None = None
    as_of: str | None = None
    bbox: shapely.Geometry | None = None
    polygon: shapely.Geometry | None = None
    near: shapely.Geometry | None = None
    distance: float | None = None
    predicate: str = "intersects"
    categories: tuple[str, ...] = ()
    years: tuple[int, int] | None = None
    statuses: tuple[str, ...] = ()
    department: str | None = None
    in_statement: bool | None = None
    investment_min: int | None = None
    investment_max: int | None = None
    name: str | None = None
    datetime: tuple[str | None, str | None] | None = None
    project_filter: object | None = None  # a CQL2 AST over project attributes (/projects, the CLI)
    filter: object | None = None  # a CQL2 AST over a layer's queryables (items)
    filter_crs: int = 4326
    equals: tuple[tuple[str, str], ...] = ()
    sortby: tuple[tuple[str, bool], ...] = (("project_id", True),)  # (field, ascending)
    limit: int | None = None
    offset: int = 0
    after: int | None = None
    properties: tuple[str, ...] | None = None
    crs: str = crs.CRS84
    layers: tuple[str, ...] = ()  # feature layers to search; default from categories

    def feature_layers(self) -> tuple[str, ...]:
        """Layers holding the features of the selected categories (``model.category_layers``)."""
        if self.layers:
            return self.layers
        chosen = self.categories or tuple(model.CATEGORY_BY_SLUG)  # own layers first, then those they own
        return tuple(dict.fromkeys([*chosen, *(layer for c in chosen for layer in model.category_layers(c))]))

    @property
    def spatial(self) -> bool:
        """Whether a where-condition holds (then a project without matching features does not match)."""
        return any(g is not None for g in (self.street, self.bbox, self.polygon, self.near))


def parse(args: Mapping[str, str], view: Reader, *, layer: str | None = None,
          limit: tuple[int | None, int | None] = (None, None)) -> Query:
    """A Query from HTTP-style parameters, checking each and naming the one at fault.

    ``layer`` names the collection of an items request: its queryables may be filtered, sorted and
    returned, and a bbox-crs given as an OGC URI is read in that CRS's axis order. ``limit`` is the
    road's (default, maximum) page size.
    """
    queryables = model.queryables(model.LAYER_BY_NAME[layer]) if layer else None
    as_of = spatial.parse_date(args.get("as_of"))
    distance = _distance(args)
    near = _near(args, view)
    if near is not None and distance is None:
        raise ValidationError(gettext("near needs a distance in metres"), param="distance")
    if near is None and distance is not None:
        raise ValidationError(gettext("distance needs near (a feature name or WKT)"), param="near")
    parsed = _filter(args)  # over project attributes (projects), or over the layer's queryables (items)
    project_filter, item_filter = (parsed, None) if queryables is None else (None, parsed)
    return Query(
        street=_street(args, view, as_of), as_of=as_of, bbox=_bbox(args, ogc=layer is not None),
        polygon=_geometry(args, "polygon"), near=near, distance=distance, predicate=_predicate(args),
        categories=_choices(args, "category"), years=_years(args.get("year")),
        statuses=_choices(args, "status"),
        department=_department(args, view),
        in_statement=_bool(args.get("in_statement"), "in_statement"),
        investment_min=_whole(args, "investment_min", 0), investment_max=_whole(args, "investment_max", 0),
        name=_text(args, "q"),
        datetime=_datetime(args.get("datetime")), project_filter=project_filter, filter=item_filter,
        filter_crs=crs.epsg_of(crs.crs_uri(args.get("filter-crs"), "filter-crs")),
        equals=_equals(args, queryables), sortby=_sortby(args.get("sortby"), queryables),
        limit=_limit(args, *limit), offset=_whole(args, "offset", 0) or 0, after=_after(args),
        properties=_properties(args, queryables), crs=crs.crs_uri(args.get("crs")),
    )


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in str(value).split(",") if v.strip()] if value not in (None, "") else []


def _text(args: Mapping[str, str], key: str, traditional: bool = True) -> str | None:
    """A name to look for (in traditional characters); no stored name is longer than the limit, nor may this be."""
    text = str(args.get(key) or "").strip()
    if len(text) > limits.MAX_SHORT_TEXT_CHARS:
        raise ValidationError(gettext("%(param)s has %(count)s characters; a stored name holds at most %(limit)s, so "
                                      "nothing longer can match", param=key, count=len(text),
                                      limit=limits.MAX_SHORT_TEXT_CHARS), param=key)
    return (to_traditional(text) if traditional else text) or None


def _whole(args: Mapping[str, str], key: str, low: int | None = None, high: int | None = None) -> int | None:
    raw = args.get(key)
    return None if raw in (None, "") else limits.whole_number(raw, key, low, high)


def _limit(args: Mapping[str, str], default: int | None, maximum: int | None) -> int | None:
    value = _whole(args, "limit", 0 if maximum is None else 1, maximum)
    return default if value is None else value


def _after(args: Mapping[str, str]) -> int | None:
    value = _whole(args, "after", 0)
    if value is not None and args.get("sortby"):
        raise ValidationError(gettext("after (keyset paging) works with the default fid order only; use offset"),
                              param="after")
    return value


def _street(args: Mapping[str, str], view: Reader, as_of: str) -> str | None:
    """The code of the street office named by code or name (traditional or simplified)."""
    text = _text(args, "street", traditional=False)
    return str(streets.resolve_street(view, text, as_of)["code"]) if text else None


def _bbox(args: Mapping[str, str], *, ogc: bool) -> shapely.Geometry | None:
    """bbox in bbox-crs. An OGC URI (items) is read in its CRS's axis order; an EPSG code x = east first."""
    if not args.get("bbox"):
        return None
    given = args.get("bbox-crs")
    if ogc:
        uri = crs.crs_uri(given, "bbox-crs")
        values = str(args["bbox"]).split(",")
        if crs.lat_first(uri) and len(values) == 4:  # (lat, lon) or (northing, easting) → x first
            values = [values[1], values[0], values[3], values[2]]
        elif crs.lat_first(uri) and len(values) == 6:
            values = [values[1], values[0], values[2], values[4], values[3], values[5]]
        return spatial.parse_bbox(values, 4490 if uri == crs.CRS84 else crs.epsg_of(uri))
    return spatial.parse_bbox(args["bbox"], crs.parse_epsg(given, "bbox-crs"))


def _geometry(args: Mapping[str, str], key: str) -> shapely.Geometry | None:
    if not args.get(key):
        return None
    return spatial.parse_geometry(args[key], crs.parse_epsg(args.get(f"{key}-crs"), f"{key}-crs"), param=key)


def _distance(args: Mapping[str, str]) -> float | None:
    raw = args.get("distance")
    if raw in (None, ""):
        return None
    try:
        distance = float(raw)
    except ValueError:
        raise ValidationError(gettext("distance must be metres, got %(value)s", value=repr(str(raw)[:40])),
                              param="distance") from None
    if not 0 <= distance <= limits.MAX_DISTANCE_M:
        raise ValidationError(gettext("distance must be between 0 and %(limit)s metres, got %(value)s",
                                      limit=limits.MAX_DISTANCE_M, value=f"{distance:g}"), param="distance")
    return distance


def _near(args: Mapping[str, str], view: Reader) -> shapely.Geometry | None:
    """A geometry given as WKT/GeoJSON, or the union of the features named ``near``.

    Names match a feature's name, a project's name, or a reference feature (river, lake).
    """
    raw = str(args.get("near") or "").strip()
    if not raw:
        return None
    epsg = crs.parse_epsg(args.get("near-crs"), "near-crs")
    if raw[:1] == "{" or re.match(r"^(MULTI)?(POINT|LINESTRING|POLYGON)|^GEOMETRYCOLLECTION", raw, re.IGNORECASE):
        return spatial.parse_geometry(raw, epsg, param="near", max_vertices=limits.MAX_NEAR_VERTICES)
    name = _text(args, "near")
    ids = _named_rows(view, "projects", "name", name, lambda: view.projects())
    if len(ids):
        ids = view.projects()["project_id"].to_numpy()[ids]
    found = []
    for layer in model.LAYERS:
        hit = _named_rows(view, layer.name, "name", name, lambda layer=layer: view.features(layer.name))
        if len(hit):
            found.extend(view.features(layer.name).geometry.values[hit])
        if layer.kind == "project" and len(ids):  # the named projects' features (the store indexes them by owner)
            found.extend(view.features(layer.name, project_ids=list(ids)).geometry.values)
    if not found:
        raise ValidationError(gettext("near: no feature or project is named %(value)s", value=repr(raw[:40])),
                              param="near")
    return shapely.union_all(found)


def _named_rows(view: Reader, table: str, column: str, value: str, frame: Callable[[], pd.DataFrame]) -> np.ndarray:
    """Positions of the rows of ``table`` (as ``frame()`` gives it) whose ``column`` holds ``value``: the column is
    factorised once per revision, so a name is found by one hash look-up and a compare of integer codes instead of
    a compare of every row's text in every layer."""
    def build() -> tuple[np.ndarray, pd.Index]:
        codes, uniques = pd.factorize(frame()[column].to_numpy(dtype=object))
        index = pd.Index(uniques, dtype=object)
        index.get_indexer(index[:1])  # the hash table is built now, once, not by the first of concurrent readers
        return codes, index

    codes, index = per_revision(view, ("named_rows", table, column), build)
    try:
        at = index.get_loc(value)  # the values are unique: a position (get_indexer costs 0.4 ms more)
    except KeyError:
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(codes == at)


def _predicate(args: Mapping[str, str]) -> str:
    predicate = args.get("predicate") or "intersects"
    if predicate not in ("intersects", "within"):
        raise ValidationError(gettext("predicate must be intersects or within, got %(value)s",
                                      value=repr(predicate[:40])), param="predicate")
    return predicate


def _choices(args: Mapping[str, str], key: str) -> tuple[str, ...]:
    """Comma-separated values of a coded parameter, each by code or name (either script) → stored codes."""
    return tuple(dict.fromkeys(resolve_value(key, text, key) for text in _split(args.get(key))))


def resolve_value(kind: str, text: str, param: str) -> str:
    """The stored value a spelling of a coded value means (``model.resolve_name``), or refuse listing the names."""
    found = model.resolve_name(kind, text)
    if found is None:
        raise ValidationError(gettext("unknown %(param)s %(value)s; valid: %(names)s", param=param,
                                      value=repr(str(text)[:40]), names=model.accepted_names(kind, script.current())),
                              param=param)
    return found


def _department(args: Mapping[str, str], view: Reader) -> str | None:
    """A lead department by code or name; a name the registry holds but the model does not is taken as it is."""
    text = _text(args, "department")
    if text is None:
        return None
    found = model.resolve_name("lead_department", text)
    if found is None and not (view.projects()["lead_department"] == text).any():
        resolve_value("lead_department", text, "department")  # refuses, listing the departments
    return found or text


def _years(text: str | None) -> tuple[int, int] | None:
    if text in (None, ""):
        return None
    match = re.fullmatch(r"\s*([0-9]{4})\s*(?:\.\.\s*([0-9]{4})\s*)?", str(text))
    if not match:
        raise ValidationError(gettext("year must be 2013 or a range 2013..2014, got %(value)s",
                                      value=repr(str(text)[:40])), param="year")
    first, last = int(match.group(1)), int(match.group(2) or match.group(1))
    if first > last:
        raise ValidationError(gettext("year range %(value)s runs backwards", value=text), param="year")
    return first, last


def _bool(text: str | bool | None, param: str) -> bool | None:
    if text is None or text == "":
        return None
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValidationError(gettext("%(param)s must be true or false, got %(value)s", param=param,
                                  value=repr(str(text)[:40])), param=param)


def _datetime(text: str | None) -> tuple[str | None, str | None] | None:
    """``2014-01-01``, ``2013-01-01/2014-12-31``, ``../2014-01-01`` or RFC 3339 timestamps → (start, end)."""
    if not text:
        return None
    parts = str(text).split("/")
    if len(parts) > 2:
        raise ValidationError(gettext("datetime must be an instant or an interval a/b, got %(value)s",
                                      value=repr(text[:60])), param="datetime")
    bounds = []
    for part in parts:
        part = part.strip()
        if part in ("", ".."):
            bounds.append(None)
            continue
        try:
            bounds.append(datetime.fromisoformat(part).date().isoformat())  # pandas read -1 as a year, and "now"
        except ValueError:
            raise ValidationError(gettext("datetime: %(value)s is not an RFC 3339 date or timestamp",
                                          value=repr(part[:40])), param="datetime") from None
    start, end = (bounds[0], bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
    if start and end and start > end:
        raise ValidationError(gettext("datetime interval %(value)s runs backwards", value=text), param="datetime")
    return start, end


def _filter(args: Mapping[str, str]) -> object | None:
    """A CQL2 filter (text or JSON); the properties it names are checked when it is applied."""
    if not args.get("filter"):
        return None
    return cql.parse_filter(args["filter"], args.get("filter-lang"))


def _equals(args: Mapping[str, str], queryables: dict[str, str] | None) -> tuple[tuple[str, str], ...]:
    """Equality on a queryable that no parameter of its own claims (items: ``feature_name=…``)."""
    if queryables is None:
        return ()
    return tuple((name, _coded(name, str(value))) for name, value in args.items()
                 if name in queryables and name not in _NOT_EQUALITY and queryables[name] != "geometry")


def _coded(name: str, value: str) -> str:
    """A coded property's comma-separated values (alternatives) as stored (``category=河道`` → ``rivers``);
    others as given. A lead department the model does not name is looked for as written."""
    kind = CODED_PROPERTIES.get(name)
    if kind is None:
        return value
    if kind == "lead_department":
        return ",".join(model.resolve_name(kind, part) or to_traditional(part) for part in _split(value))
    return ",".join(resolve_value(kind, part, name) for part in _split(value))


def _sortby(text: str | None, queryables: dict[str, str] | None) -> tuple[tuple[str, bool], ...]:
    """``[-]field,...``: project fields (projects), or the layer's queryables (items, default fid order)."""
    sortable = list(model.PROJECT_COLUMNS) if queryables is None else [q for q in queryables if q != "geometry"]
    keys = []
    for part in _split(text):
        name = part.lstrip("+-")
        if name not in sortable:
            raise ValidationError(gettext("cannot sort by %(value)s; sortable: %(fields)s", value=repr(name[:40]),
                                          fields=", ".join(sortable)), param="sortby")
        if name in dict(keys):
            raise ValidationError(gettext("sortby names %(field)s twice; name each field once", field=name),
                                  param="sortby")
        keys.append((name, not part.startswith("-")))
    if queryables is None and all(k != "project_id" for k, _ in keys):
        keys.append(("project_id", True))  # a total order, so pages are stable
    return tuple(keys)


def _properties(args: Mapping[str, str], queryables: dict[str, str] | None) -> tuple[str, ...] | None:
    if queryables is None or args.get("properties") is None:
        return None
    served = [q for q in queryables if q != "geometry"]
    wanted = tuple(dict.fromkeys(p.strip() for p in str(args["properties"]).split(",") if p.strip()))  # once each
    unknown = [p for p in wanted if p not in served]
    if unknown:
        raise ValidationError(gettext("unknown property %(value)s; properties: %(fields)s",
                                      value=repr(unknown[0][:40]), fields=", ".join(served)), param="properties")
    return wanted
