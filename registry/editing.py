"""The edits people make over HTTP, each one ``Store.edit`` call: whole projects (create, replace, merge
patch, delete, in the shape of the project GET) and single features of a project layer (OGC API – Features
Part 4: create, replace, merge patch, delete).

Every edit is validated as an import is and is one transaction; an ``If-Match`` precondition is compared
inside it, against the versions read under the store's write lock, so check and write are atomic. ETags are
strong and come from versions alone: a project's from its version and its features' versions, a feature's
from its version and its project's. Fids never change: a project body matches its features by fid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely

from . import crs, limits, model, output
from .apportion import investment_shares
from .errors import Conflict, NotFound, ValidationError
from .i18n import gettext
from .store import Reader, Store
from .store.edits import VERSION, Author, Records, empty_features, new_fids
from .text import fold

MERGE_PATCH = "application/merge-patch+json"
SHARE = "investment_share_yuan"
# Properties an item carries besides its own (feature_name, project_id, geometry): its project's attributes
# (written at /projects/{id}) and its computed share of the investment; read-only on /items.
ITEM_READ_ONLY = (*(c for c in model.PROJECT_COLUMNS if c != "project_id"), SHARE)
ITEM_PROPERTIES = ("feature_name", "project_id", *ITEM_READ_ONLY)
# The names of coded values that documents and items show beside each code in the reader's script: derived from
# the code, so a body read back from a GET may carry them, and they are ignored.
LABELS = frozenset(field + output.LABEL_SUFFIX for field in output.LABELLED)
IfMatch = Collection[str] | None  # the strong tags of an If-Match header ("*": any current one), None: no header


# -- bodies -------------------------------------------------------------------------------------------
def parse_json(raw: bytes | str, param: str = "body") -> Any:
    """A request body's JSON, refused (naming ``param``) when malformed, over the upload limit or nested
    deeper than ``limits.MAX_NESTING``."""
    if len(raw) > limits.MAX_UPLOAD_BYTES:
        raise ValidationError(gettext("%(param)s holds %(size)s bytes, more than the %(limit)s allowed", param=param,
                                      size=len(raw), limit=limits.MAX_UPLOAD_BYTES), param=param)
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    limits.check_nesting(text, param)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(gettext("%(param)s is not valid JSON (%(reason)s); send a JSON object", param=param,
                                      reason=exc), param=param) from None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: members of an object patch replace (null: remove) those of ``target``
    recursively; any other patch (an array, a value) replaces ``target`` whole. No library is a dependency
    here, and the RFC's algorithm is these lines."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _object(body: Any, param: str) -> dict:
    if not isinstance(body, dict):
        raise ValidationError(gettext("%(param)s must be a JSON object, got %(kind)s", param=param,
                                      kind=type(body).__name__), param=param)
    return body


def _geometry(value: Any, param: str, content_crs: str | None) -> shapely.Geometry:
    """A GeoJSON geometry in EPSG:4490, read in ``content_crs`` (a CRS URI, its axis order; default CRS84)."""
    if not isinstance(value, dict):
        raise ValidationError(gettext("%(param)s must be a GeoJSON geometry object", param=param), param=param)
    try:
        geom = shapely.from_geojson(orjson.dumps(value))
    except (shapely.errors.GEOSException, ValueError) as exc:
        raise ValidationError(gettext("%(param)s is not a GeoJSON geometry (%(reason)s)", param=param, reason=exc),
                              param=param) from None
    uri = crs.crs_uri(content_crs, "Content-Crs")
    if crs.lat_first(uri):
        geom = shapely.transform(geom, lambda xy: xy[:, ::-1])
    return crs.to_storage(geom, crs.epsg_of(uri))


# -- ETags and preconditions ---------------------------------------------------------------------------
def _tag(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:24]


def project_etag(records: Records, project_id: str) -> str | None:
    """A project's strong ETag (unquoted) from its version and its features' (layer, fid, version); None if
    the project is not in ``records``."""
    row = records.project(project_id)
    if row is None:
        return None
    parts = [project_id, int(row[VERSION])]
    for layer in sorted(records.features):
        frame = records.features[layer]
        mine = _rows_of(frame, project_id)
        parts += [f"{layer}:{fid}:{int(v)}" for fid, v in zip(frame.index[mine], frame[VERSION].to_numpy()[mine])]
    return _tag(*parts)


def _rows_of(frame: pd.DataFrame, project_id: str) -> np.ndarray:
    """Positions of a project's rows in a frame (compared in NumPy: a pandas filter of one row costs a millisecond
    or more, and an edit's answer takes several)."""
    return np.flatnonzero(frame["project_id"].to_numpy(dtype=object) == project_id)


def item_etag(records: Records, layer: str, fid: int) -> str | None:
    """A feature's strong ETag (unquoted) from its version and its project's; None if it is not in ``records``."""
    frame = records.features.get(layer)
    if frame is None or fid not in frame.index:
        return None
    row = records.project(frame.at[fid, "project_id"])
    return _tag(layer, fid, int(frame.at[fid, VERSION]), None if row is None else int(row[VERSION]))


def _precondition(if_match: IfMatch, current: str | None, what: str) -> None:
    """Refuse (Conflict) unless the If-Match tags name the current ETag (RFC 9110: ``*`` matches any)."""
    if if_match is None:
        return
    if current is None:
        raise Conflict(gettext("%(what)s does not exist any more; If-Match cannot hold", what=what), current=None)
    if "*" not in if_match and current not in if_match:
        raise Conflict(gettext("%(what)s was changed by someone else (If-Match names another version); read it "
                               "again and redo the edit on the current version", what=what), current=current)


def _author(author: Author, if_match: IfMatch) -> Author:
    return author.conditionally() if if_match is not None else author


# -- reading what an edit answers -----------------------------------------------------------------------
def project_records(view: Reader, project_id: str) -> Records:
    """A project's records (attributes, features of its layers, versions) in one committed state."""
    projects = view.projects([project_id])
    layers = model.category_layers(projects.iloc[0]["category"]) if len(projects) else ()
    return Records(projects, {layer: view.features(layer, project_ids=[project_id]) for layer in layers})


def project_document(records: Records, project_id: str) -> dict:
    """The project's document as GET /projects/{id} gives it (attributes and features with layer and fid)."""
    layers, fids, names, geoms = [], [], [], []
    for layer, frame in records.features.items():
        mine = _rows_of(frame, project_id)
        layers += [layer] * len(mine)
        fids += frame.index[mine].tolist()
        names += frame["name"].to_numpy(dtype=object)[mine].tolist()
        geoms += np.asarray(frame.geometry.array)[mine].tolist()
    feats = pd.DataFrame({"project_id": [project_id] * len(fids), "layer": pd.Series(layers, dtype=object),
                          "fid": pd.Series(fids, dtype=np.int64), "feature_name": pd.Series(names, dtype=object),
                          "geometry": pd.Series(geoms, dtype=object)})
    return output.project_documents(records.projects.iloc[_rows_of(records.projects, project_id)], feats)[0]


def item_document(records: Records, layer: str, fid: int, uri: str = crs.CRS84) -> bytes:
    """The feature's GeoJSON text as GET /collections/{layer}/items/{fid} gives it (its project's attributes
    and its share of the investment, computed over the project's features in ``records``)."""
    frame = records.features[layer]
    shares = investment_shares(frame["project_id"].to_numpy(), frame.geometry.values, records.projects, layer)
    joined = frame[["project_id", "name"]].rename(columns={"name": "feature_name"}).assign(**{SHARE: shares})
    joined = joined.reset_index().merge(records.projects.drop(columns=[VERSION]), on="project_id",
                                        how="left").set_index("fid")
    row = joined.loc[[fid], list(ITEM_PROPERTIES)]
    return output.feature_texts(row, ITEM_PROPERTIES, crs.reproject(frame.loc[[fid]].geometry.values, uri), [fid])[0]


# -- projects -------------------------------------------------------------------------------------------
def _layer(records: Records, layer: str) -> gpd.GeoDataFrame:
    """A layer's frame of ``records``, empty if it has none (built only then: an empty frame costs milliseconds)."""
    frame = records.features.get(layer)
    return frame if frame is not None else empty_features(layer)


def _emptied(frame: gpd.GeoDataFrame, layer: str) -> gpd.GeoDataFrame:
    return frame if not len(frame) else empty_features(layer)


def _project_frame(attributes: dict, version: int) -> pd.DataFrame:
    _no_version(attributes)
    return pd.DataFrame([attributes]).assign(**{VERSION: version})


def _no_version(attributes: dict) -> None:
    """Refuse a body that sets the version, which only the registry counts."""
    if VERSION in attributes:
        raise ValidationError(gettext("version is kept by the registry; to edit a known version send If-Match with "
                                      "the ETag of GET /projects/{id}"), param=VERSION)


def _project_features(body: dict, project_id: str, category: str, before: Records,
                      content_crs: str | None) -> dict[str, gpd.GeoDataFrame]:
    """A project body's ``features`` as the project's layers after the edit: a feature with a fid is that stored
    feature (members left out keep their stored values), one without is new; stored ones left out are deleted."""
    given = body.get("features", [])
    if not isinstance(given, list):
        raise ValidationError(gettext("features must be an array of {layer, fid, name, geometry}"), param="features")
    layers = model.category_layers(category)
    rows: dict[str, list[tuple[int, str | None, shapely.Geometry]]] = {layer: [] for layer in layers}
    for i, feature in enumerate(given):
        where = f"features[{i}]"
        feature = _object(feature, where)
        unknown = sorted(set(feature) - {"layer", "fid", "name", "geometry"})
        if unknown:
            raise ValidationError(gettext("%(where)s: unknown member %(value)s; a feature has layer, fid, name and "
                                          "geometry", where=where, value=repr(unknown[0])),
                                  param=f"{where}.{unknown[0]}")
        layer = feature.get("layer") or layers[0]
        if layer not in layers:
            raise ValidationError(gettext("%(where)s: layer %(layer)s does not hold %(category)s projects' features; "
                                          "valid: %(layers)s", where=where, layer=repr(layer), category=category,
                                          layers=", ".join(layers)), param=f"{where}.layer")
        fid = feature.get("fid")
        stored = _layer(before, layer)
        if fid is not None:
            if not isinstance(fid, int) or isinstance(fid, bool) or fid not in stored.index \
                    or stored.at[fid, "project_id"] != project_id:
                raise ValidationError(gettext("%(where)s: fid %(fid)s is no feature of project %(id)s in layer "
                                              "%(layer)s; leave fid out to add a feature", where=where, fid=repr(fid),
                                              id=project_id, layer=layer), param=f"{where}.fid")
            name = feature["name"] if "name" in feature else stored.at[fid, "name"]
            geom = (_geometry(feature["geometry"], f"{where}.geometry", content_crs) if "geometry" in feature
                    else stored.at[fid, "geometry"])
        else:
            if "geometry" not in feature:
                raise ValidationError(gettext("%(where)s: a new feature needs a geometry", where=where),
                                      param=f"{where}.geometry")
            name, geom = feature.get("name"), _geometry(feature["geometry"], f"{where}.geometry", content_crs)
        rows[layer].append((fid, name, geom))
    out = {layer: _emptied(frame, layer) for layer, frame in before.features.items()}
    for layer, entries in rows.items():
        stored = _layer(before, layer)
        fids = [f for f, _, _ in entries]
        dup = pd.Series([f for f in fids if f is not None]).duplicated()
        if dup.any():
            raise ValidationError(gettext("fid %(fid)s appears twice in features", fid=fids[int(np.argmax(dup))]),
                                  param="features")
        placeholders = iter(new_fids(sum(f is None for f in fids), stored.index))
        frame = gpd.GeoDataFrame({"project_id": [project_id] * len(entries),
                                  "name": np.array([n for _, n, _ in entries], dtype=object),
                                  VERSION: [1] * len(entries)},
                                 geometry=[g for _, _, g in entries] or gpd.GeoSeries([]), crs=model.STORAGE_EPSG)
        frame.index = pd.Index([f if f is not None else int(next(placeholders)) for f in fids], dtype="int64",
                               name="fid")
        out[layer] = frame
    return out


def _replaced(body: dict, project_id: str, before: Records, content_crs: str | None) -> Records:
    """The records after a project is replaced by ``body`` (the shape of its GET)."""
    attributes = {k: v for k, v in body.items() if k != "features" and k not in LABELS}
    given = attributes.setdefault("project_id", project_id)
    if given != project_id:
        raise ValidationError(gettext("project_id cannot change (%(id)s → %(value)s); create a project with "
                                      "POST /projects and delete this one instead", id=project_id, value=repr(given)),
                              param="project_id")
    row = before.project(project_id)
    projects = _project_frame(attributes, 1 if row is None else int(row[VERSION]))
    category = attributes.get("category")
    category = model.resolve_name("category", category) or category if isinstance(category, str) else category
    if category not in model.CATEGORY_BY_SLUG:  # the validation names the category's fault
        return Records(projects, {})
    return Records(projects, _project_features(body, project_id, category, before, content_crs))


def _edit_project(store: Store, project_id: str, author: Author, if_match: IfMatch,
                  change: Callable[[Records], Records]) -> Records:
    def checked(before: Records) -> Records:
        if before.project(project_id) is None:
            if if_match is not None:
                _precondition(if_match, None, gettext("project %(id)s", id=project_id))
            raise NotFound(gettext("project %(id)s does not exist", id=repr(project_id)), param="projectId")
        if if_match is not None:  # the ETag is computed only to be compared
            _precondition(if_match, project_etag(before, project_id), gettext("project %(id)s", id=project_id))
        return change(before)

    return store.edit([project_id], checked, _author(author, if_match))


def create_project(store: Store, body: Any, author: Author, content_crs: str | None = None) -> tuple[str, Records]:
    """Create a project from a document shaped like its GET; without ``project_id`` the next free
    ``YEAR-CAT-NNN`` of its year and category is assigned (inside the write, so two creations never clash)."""
    body = _object(body, "body")
    given = body.get("project_id")
    if given is not None:
        candidates = [str(given)]
    else:
        category, year = body.get("category"), body.get("year")
        category = model.resolve_name("category", category) or category if isinstance(category, str) else None
        if category not in model.CATEGORY_BY_SLUG:
            raise ValidationError(gettext("category must be one of %(values)s (it makes the project_id), got "
                                          "%(value)s", values=", ".join(model.CATEGORY_BY_SLUG),
                                          value=repr(body.get("category"))), param="category")
        if not isinstance(year, int) or isinstance(year, bool) or not 1990 <= year <= 2100:
            raise ValidationError(gettext("year must be a whole number 1990–2100 (it makes the project_id), got "
                                          "%(value)s", value=repr(year)), param="year")
        candidates = [model.project_id(year, category, n) for n in range(1, 1000)]
    chosen: list[str] = []

    def change(before: Records) -> Records:
        taken = set(before.projects["project_id"])
        if given is not None and taken:
            raise ValidationError(gettext("project %(id)s exists already; edit it with PUT or PATCH /projects/%(id)s",
                                          id=given), param="project_id")
        free = [c for c in candidates if c not in taken and c > max(taken, default="")]
        if not free:
            raise ValidationError(gettext("no project number is left for %(prefix)sNNN (999 taken)",
                                          prefix=candidates[0][:8]), param="project_id")
        chosen.append(free[0])
        new = _replaced({**body, "project_id": free[0]}, free[0], Records(before.projects.iloc[0:0], {}),
                        content_crs)
        projects = pd.concat([before.projects, new.projects], ignore_index=True)
        return Records(projects, {**before.features, **{k: pd.concat([before.features[k], v])
                                                         if k in before.features else v
                                                         for k, v in new.features.items()}})

    after = store.edit(candidates, change, author)
    return chosen[0], after


def replace_project(store: Store, project_id: str, body: Any, author: Author, if_match: IfMatch = None,
                    content_crs: str | None = None) -> Records:
    """Replace a project's attributes and features (PUT): features matched by fid keep it, new ones get one,
    stored ones left out are deleted."""
    body = _object(body, "body")
    return _edit_project(store, project_id, author, if_match,
                         lambda before: _replaced(body, project_id, before, content_crs))


def patch_project(store: Store, project_id: str, patch: Any, author: Author, if_match: IfMatch = None,
                  content_crs: str | None = None) -> Records:
    """Merge-patch a project (RFC 7396) over its current document: attributes given replace the stored ones
    (null empties one); a ``features`` array replaces the features, matched by fid as in a PUT."""
    patch = _object(patch, "body")

    def change(before: Records) -> Records:
        if "features" not in patch and "category" not in patch:  # attributes only: the features stay as loaded
            return _patched_attributes(before, project_id, patch)
        current = project_document(before, project_id)
        current["features"] = [{"layer": f["layer"], "fid": f["fid"]} for f in current["features"]]
        merged = merge_patch(current, patch)
        return _replaced(merged, project_id, before, content_crs)

    return _edit_project(store, project_id, author, if_match, change)


def _patched_attributes(before: Records, project_id: str, patch: dict) -> Records:
    """A merge patch of attributes alone applied to the project's row (null empties a field); its features are
    kept as loaded, so the write neither rebuilds nor compares them. Values are checked by the edit's validation."""
    attributes = {k: v for k, v in patch.items() if k not in LABELS}
    _no_version(attributes)
    given = attributes.get("project_id", project_id)
    if given != project_id:
        raise ValidationError(gettext("project_id cannot change (%(id)s → %(value)s); create a project with "
                                      "POST /projects and delete this one instead", id=project_id, value=repr(given)),
                              param="project_id")
    projects = before.projects.astype(object)
    at = projects.index[projects["project_id"] == project_id]
    for column, value in attributes.items():
        if column not in projects.columns:
            projects[column] = None  # an unknown field: the validation names it
        projects.loc[at, column] = None if value is None else value
    return Records(projects, before.features)


def delete_project(store: Store, project_id: str, author: Author, if_match: IfMatch = None) -> None:
    """Delete a project and all its features."""
    _edit_project(store, project_id, author, if_match, lambda before: Records(
        before.projects.iloc[0:0], {layer: _emptied(frame, layer) for layer, frame in before.features.items()}))


# -- items (OGC API – Features Part 4) ---------------------------------------------------------------------
def owner(view: Reader, layer: str, fid: int) -> str:
    """The project a feature belongs to now, or NotFound."""
    frame = view.features(layer, fids=[fid])  # not the whole layer: taking it costs milliseconds on 100k features
    if fid not in frame.index:
        raise NotFound(gettext("feature %(value)s does not exist in %(layer)s", value=fid, layer=layer),
                       param="featureId")
    return str(frame.at[fid, "project_id"])


def _check_layer(layer: str) -> None:
    spec = model.LAYER_BY_NAME.get(layer)
    if spec is None:
        raise NotFound(gettext("collection %(value)s does not exist; collections: %(layers)s", value=repr(layer),
                               layers=", ".join(model.LAYER_BY_NAME)), param="collectionId")
    if spec.kind != "project":
        raise ValidationError(gettext("%(layer)s is a reference layer and cannot be edited over the API; project "
                                      "layers: %(layers)s", layer=layer,
                                      layers=", ".join(x.name for x in model.PROJECT_LAYERS)), param="collectionId")


def _same(given: Any, stored: Any, share: bool = False) -> bool:
    """Whether a read-only property's value in a body is the stored one (text compared in either script)."""
    if given is None or stored is None or (not isinstance(stored, str) and pd.isna(stored)):
        return given is None and (stored is None or pd.isna(stored))
    if isinstance(stored, str):
        return isinstance(given, str) and fold(given.strip()) == fold(stored)
    if isinstance(stored, (bool, np.bool_)):
        return given is bool(stored)
    try:
        return abs(float(given) - float(stored)) <= (0.005 if share else 1e-9 * max(1.0, abs(float(stored))))
    except (TypeError, ValueError):
        return False


def _feature_body(body: Any, fid: int | None) -> tuple[dict, Any]:
    """A GeoJSON Feature body's properties and geometry member, checked for its shape and id."""
    body = _object(body, "body")
    if body.get("type", "Feature") != "Feature":
        raise ValidationError(gettext("body must be a GeoJSON Feature, got type %(value)s",
                                      value=repr(body.get("type"))), param="type")
    if "id" in body and body["id"] is not None and fid is not None and str(body["id"]) != str(fid):
        raise ValidationError(gettext("id cannot change (feature %(fid)s, body says %(value)s); create a feature with "
                                      "POST .../items instead", fid=fid, value=repr(body["id"])), param="id")
    properties = body.get("properties") or {}
    if not isinstance(properties, dict):
        raise ValidationError(gettext("properties must be a JSON object"), param="properties")
    properties = {k: v for k, v in properties.items() if k not in LABELS}
    unknown = sorted(set(properties) - set(ITEM_PROPERTIES))
    if unknown:
        raise ValidationError(gettext("unknown property %(value)s; properties: %(fields)s", value=repr(unknown[0]),
                                      fields=", ".join(ITEM_PROPERTIES)), param=unknown[0])
    return properties, body.get("geometry")


def _read_only(properties: dict, records: Records, layer: str, fid: int | None, project_id: str,
               patching: bool) -> None:
    """Refuse a changed project attribute or computed share on an item (null means 'not given' unless patching)."""
    row = records.project(project_id)
    shares = None
    for name in ITEM_READ_ONLY:
        if name not in properties or (properties[name] is None and not patching):
            continue
        if name == SHARE:
            if fid is None or fid < 0:
                continue  # a new feature has no share yet: whatever a client copied is ignored
            if shares is None:
                frame = records.features[layer]
                shares = dict(zip(frame.index, investment_shares(frame["project_id"].to_numpy(), frame.geometry.values,
                                                                 records.projects, layer)))
            stored = shares.get(fid)
        else:
            stored = None if row is None else row[name]
        if not _same(properties[name], stored, share=name == SHARE):
            where = f"/projects/{project_id}"
            raise ValidationError(
                gettext("%(name)s is computed from the project's investment and its features; it cannot be written",
                        name=name) if name == SHARE else
                gettext("%(name)s is an attribute of project %(id)s, read-only on its features; change it with PUT "
                        "or PATCH %(where)s; the feature's own name is feature_name", name=name, id=project_id,
                        where=where) if name == "name" else
                gettext("%(name)s is an attribute of project %(id)s, read-only on its features; change it with PUT "
                        "or PATCH %(where)s", name=name, id=project_id, where=where),
                param=name)


def _with_feature(before: Records, layer: str, fid: int, project_id: str, name: Any,
                  geom: shapely.Geometry) -> Records:
    """``before`` with feature ``fid`` of ``layer`` set (a negative fid: added)."""
    if name is not None and not isinstance(name, str):
        raise ValidationError(gettext("feature_name must be text or null, got %(value)s", value=repr(name)),
                              param="feature_name")
    frames = dict(before.features)
    frame = _layer(before, layer)
    row = gpd.GeoDataFrame({"project_id": [project_id], "name": np.array([name], dtype=object),
                            VERSION: [int(frame.at[fid, VERSION]) if fid in frame.index else 1]},
                           geometry=[geom], crs=model.STORAGE_EPSG, index=pd.Index([fid], dtype="int64", name="fid"))
    frames[layer] = pd.concat([frame.drop(index=[fid], errors="ignore"), row])
    return Records(before.projects, frames)


def _project_of(properties: dict, param: str = "project_id") -> str:
    pid = properties.get("project_id")
    if not isinstance(pid, str) or not pid:
        raise ValidationError(gettext("project_id is required: the project the feature belongs to"), param=param)
    return pid


def create_item(store: Store, layer: str, body: Any, author: Author,
                content_crs: str | None = None) -> tuple[int, Records]:
    """Add a feature to a project layer (POST .../items); the registry assigns its fid."""
    _check_layer(layer)
    properties, geometry = _feature_body(body, None)
    project_id = _project_of(properties)
    geom = _geometry(geometry, "geometry", content_crs)
    before_fids: list[set[int]] = []

    def change(before: Records) -> Records:
        if before.project(project_id) is None:
            raise ValidationError(gettext("project %(id)s does not exist; create it with POST /projects first",
                                          id=project_id), param="project_id")
        _read_only(properties, before, layer, None, project_id, patching=False)
        frame = _layer(before, layer)
        before_fids.append(set(frame.index))
        placeholder = int(new_fids(1, frame.index)[0])
        return _with_feature(before, layer, placeholder, project_id, properties.get("feature_name"), geom)

    after = store.edit([project_id], change, author)
    created = sorted(set(after.features[layer].index) - before_fids[0])
    return created[0], after


def _edit_item(store: Store, layer: str, fid: int, author: Author, if_match: IfMatch, moves_to: str | None,
               change: Callable[[Records, str], Records]) -> Records:
    """One feature's edit: its project (and the one it moves to) loaded, If-Match checked, ``change`` applied."""
    _check_layer(layer)
    with store.snapshot() as view:
        try:
            project_id = owner(view, layer, fid)
        except NotFound:
            if if_match is not None:  # RFC 9110: If-Match fails on a resource that does not exist
                _precondition(if_match, None, gettext("feature %(fid)s of %(layer)s", fid=fid, layer=layer))
            raise

    def checked(before: Records) -> Records:
        frame = _layer(before, layer)
        current = item_etag(before, layer, fid) if fid in frame.index and frame.at[fid, "project_id"] == project_id \
            else None
        if current is None:
            if if_match is not None:
                _precondition(if_match, None, gettext("feature %(fid)s of %(layer)s", fid=fid, layer=layer))
            raise NotFound(gettext("feature %(value)s does not exist in %(layer)s (it was deleted or moved meanwhile)",
                                   value=fid, layer=layer), param="featureId")
        _precondition(if_match, current, gettext("feature %(fid)s of %(layer)s", fid=fid, layer=layer))
        if moves_to is not None and before.project(moves_to) is None:
            raise ValidationError(gettext("project %(id)s does not exist", id=moves_to), param="project_id")
        return change(before, project_id)

    ids = [project_id] + ([moves_to] if moves_to and moves_to != project_id else [])
    return store.edit(ids, checked, _author(author, if_match))


def replace_item(store: Store, layer: str, fid: int, body: Any, author: Author, if_match: IfMatch = None,
                 content_crs: str | None = None) -> Records:
    """Replace a feature (PUT .../items/{fid}): its name, project and geometry; its fid is kept."""
    properties, geometry = _feature_body(body, fid)
    moves_to = _project_of(properties)
    geom = _geometry(geometry, "geometry", content_crs)

    def change(before: Records, project_id: str) -> Records:
        _read_only(properties, before, layer, fid, project_id, patching=False)
        return _with_feature(before, layer, fid, moves_to, properties.get("feature_name"), geom)

    return _edit_item(store, layer, fid, author, if_match, moves_to, change)


def patch_item(store: Store, layer: str, fid: int, patch: Any, author: Author, if_match: IfMatch = None,
               content_crs: str | None = None) -> Records:
    """Merge-patch a feature (RFC 7396; QGIS sends ``properties`` alone or ``geometry`` alone)."""
    properties, geometry = _feature_body(patch, fid)
    if "properties" in patch and patch["properties"] is None:
        raise ValidationError(gettext("properties: null would remove project_id; name the properties to change"),
                              param="properties")
    if "geometry" in patch and geometry is None:
        raise ValidationError(gettext("geometry cannot be removed: a feature needs one (DELETE the feature instead)"),
                              param="geometry")
    if "project_id" in properties:
        _project_of(properties)
    geom = _geometry(geometry, "geometry", content_crs) if geometry is not None else None
    moves_to = properties.get("project_id")

    def change(before: Records, project_id: str) -> Records:
        _read_only(properties, before, layer, fid, project_id, patching=True)
        frame = before.features[layer]
        name = properties["feature_name"] if "feature_name" in properties else frame.at[fid, "name"]
        return _with_feature(before, layer, fid, moves_to or project_id, name,
                             geom if geom is not None else frame.at[fid, "geometry"])

    return _edit_item(store, layer, fid, author, if_match, moves_to, change)


def delete_item(store: Store, layer: str, fid: int, author: Author, if_match: IfMatch = None) -> None:
    """Delete one feature of a project."""
    def change(before: Records, project_id: str) -> Records:
        frames = dict(before.features)
        frames[layer] = frames[layer].drop(index=[fid])
        return Records(before.projects, frames)

    _edit_item(store, layer, fid, author, if_match, None, change)


def item_records(view: Reader, layer: str, fid: int) -> Records:
    """The records a feature's document and ETag are made of: its project's, in one committed state."""
    _check_layer(layer)
    return project_records(view, owner(view, layer, fid))

