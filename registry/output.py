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

from . import model

GEOJSON_DECIMALS = 7  # about 1 cm


def records(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> list[dict]:
    """Rows as dicts of plain Python values (None for missing), ready for any JSON encoder."""
    frame = frame if columns is None else frame[list(columns)]
    plain = frame.astype(object).where(frame.notna(), None)
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
            for row in plain.to_dict("records")]


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
    props = records(frame, properties)
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
    documents = records(projects, model.PROJECT_COLUMNS)
    for document in documents:
        document["features"] = by_project.get(document["project_id"], [])
    return documents


def query_json(result) -> dict:
    """``{"total": N, "projects": [project document, ...]}`` for a QueryResult."""
    return {"total": result.total, "projects": project_documents(result.projects, result.features)}


def format_wan(yuan: float | int | None) -> str:
    """An amount in 萬元 (10^4 yuan) with two decimals, as the renovation office reports."""
    return "-" if yuan is None or pd.isna(yuan) else f"{yuan / 10_000:,.2f} 萬元"


def format_yi(yuan: float | int) -> str:
    """An amount in 億元 (10^8 yuan): 3,633,000,000 → ``36.33 億元``."""
    return f"{yuan / 100_000_000:,.2f} 億元"
