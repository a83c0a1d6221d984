"""Query results as plain records, JSON and RFC 7946 GeoJSON, shared by the CLI and the API.

GeoJSON is written as text from per-feature fragments (``shapely.to_geojson`` and orjson), so a
large result is encoded without building a Python dict per feature; callers may stream the chunks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely

from . import model, script

GEOJSON_DECIMALS = 7  # about 1 cm
# Coded fields (model.NAMES) → the kind of name they hold: machine formats keep the code and add
# ``<field>_label``, its name in the reader's script (category_label: 低洼易淹易涝片区 or 低窪易淹易澇片區).
LABELLED = {field: kind for kind, field in model.NAME_FIELDS.items()}
LABEL_SUFFIX = "_label"


def with_labels(frame: pd.DataFrame, properties: Sequence[str],
                chosen: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` with a ``<field>_label`` column after each coded field of ``properties`` (in the script
    ``chosen``, default the current one), and the properties with the labels in their places."""
    wanted = [p for p in properties if p in LABELLED and p in frame.columns and p + LABEL_SUFFIX not in properties]
    if not wanted:
        return frame, list(properties)
    chosen = chosen or script.current()
    labels = {}
    for field in wanted:  # each distinct value labelled once, then taken for every row
        kind = LABELLED[field]
        names = model.name_labels(kind, chosen)
        codes, uniques = pd.factorize(frame[field])
        if kind == "street":  # comma-separated codes
            named = [",".join(names.get(c, c) for c in str(u).split(",")) for u in uniques]
        else:
            named = [names.get(u, u) for u in uniques]
        table = np.array([*named, None], dtype=object)  # a missing value (code -1) has no label
        labels[field + LABEL_SUFFIX] = pd.Series(table[codes], index=frame.index, dtype=object)
    out = frame.assign(**labels)
    columns = [c for p in properties for c in ((p, p + LABEL_SUFFIX) if p in wanted else (p,))]
    return out, columns


def records(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> list[dict]:
    """Rows as dicts of plain Python values (None for missing), ready for any JSON encoder."""
    frame = frame if columns is None else frame[list(columns)]
    names = list(frame.columns)
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in zip(names, row)}
            for row in frame.to_numpy(dtype=object, na_value=None).tolist()]


def rfc7946(geoms: np.ndarray) -> np.ndarray:
    """Geometries ready for RFC 7946: polygons counter-clockwise outside, 7 decimals."""
    geoms = shapely.orient_polygons(geoms)
    return shapely.transform(geoms, lambda xy: np.round(xy, GEOJSON_DECIMALS))


def geometry_json(geoms: np.ndarray) -> np.ndarray:
    """GeoJSON geometry text for each geometry (RFC 7946 orientation and precision)."""
    return shapely.to_geojson(rfc7946(geoms))


def feature_texts(frame: pd.DataFrame, properties: Sequence[str], geoms: np.ndarray,
                  ids: Sequence[object] | None = None) -> list[bytes]:
    """One ``Feature`` JSON text per row, with ``geoms`` (RFC 7946 form) and, when given, ``ids``."""
    if not len(frame):
        return []
    texts = geometry_json(geoms)
    props = records(*with_labels(frame, properties))
    ids = [None] * len(frame) if ids is None else ids
    return [b'{"type":"Feature",' + (b'"id":' + orjson.dumps(fid) + b"," if fid is not None else b"")
            + b'"properties":' + orjson.dumps(prop) + b',"geometry":' + geom.encode() + b"}"
            for fid, prop, geom in zip(ids, props, texts)]


def feature_chunks(features: gpd.GeoDataFrame, properties: list[str], id_column: str | None = None,
                   chunk: int = 2000) -> Iterator[bytes]:
    """``Feature`` objects as JSON text, comma-separated, in chunks of ``chunk`` features."""
    for start in range(0, len(features), chunk):
        part = features.iloc[start:start + chunk]
        ids = part[id_column].tolist() if id_column else None
        yield (b"," if start else b"") + b",".join(feature_texts(part, properties, part.geometry.values, ids))


def feature_collection(features: gpd.GeoDataFrame, properties: list[str], id_column: str | None = None,
                       members: dict | None = None) -> Iterator[bytes]:
    """A FeatureCollection as chunks of UTF-8 JSON; ``members`` are extra top-level members."""
    head = b'{"type":"FeatureCollection",'
    for key, value in (members or {}).items():
        head += orjson.dumps(key) + b":" + orjson.dumps(value) + b","
    yield head + b'"features":['
    yield from feature_chunks(features, properties, id_column)
    yield b"]}"


QUERY_FEATURE_PROPERTIES = ["layer", "fid", "project_id", "feature_name",
                            *[c for c in model.PROJECT_COLUMNS if c != "project_id"]]


def project_documents(projects: pd.DataFrame, features: pd.DataFrame) -> list[dict]:
    """Each project's JSON document: its attributes and ``features`` (layer, fid, name, geometry), in the
    order given. The one shape of ``/projects``, ``/projects/{id}`` and ``registry query --format json``."""
    geoms = [orjson.loads(g) for g in geometry_json(np.asarray(features.geometry.values))]
    by_project: dict[str, list[dict]] = {}
    for row, geom in zip(records(features, ["project_id", "layer", "fid", "feature_name"]), geoms):
        pid = row.pop("project_id")
        row["name"] = row.pop("feature_name")
        by_project.setdefault(pid, []).append({**row, "geometry": geom})
    documents = records(*with_labels(projects, model.PROJECT_COLUMNS))
    for document in documents:
        document["features"] = by_project.get(document["project_id"], [])
    return documents


def query_json(result) -> dict:
    """``{"total": N, "projects": [project document, ...]}`` for a QueryResult."""
    return {"total": result.total, "projects": project_documents(result.projects, result.features)}

