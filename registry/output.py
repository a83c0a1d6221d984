"""Query results as plain records, JSON and RFC 7946 GeoJSON, shared by the CLI and the API.

GeoJSON is written as text from per-feature fragments (``shapely.to_geojson`` and orjson), so a
large result is encoded without building a Python dict per feature; callers may stream the chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

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
_FEW_ROWS = 64  # up to this many rows, labels are looked up one by one
# What rows are written from: a frame, or arrays by column name (a few rows, without a frame's fixed cost).
Table = pd.DataFrame | Mapping[str, np.ndarray | pd.api.extensions.ExtensionArray]


def with_labels(frame: pd.DataFrame, properties: Sequence[str],
                chosen: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` with a ``<field>_label`` column after each coded field of ``properties`` (in the script
    ``chosen``, default the current one), and the properties with the labels in their places."""
    labels, columns = _labels(frame, properties, chosen)
    if not labels:
        return frame, columns
    return frame.assign(**{name: pd.Series(values, index=frame.index, dtype=object)
                           for name, values in labels.items()}), columns


def labelled_records(frame: Table, properties: Sequence[str], chosen: str | None = None) -> list[dict]:
    """``records`` of ``properties`` with each coded field's label after it, as ``with_labels`` gives them,
    without making the labelled frame (a copy of every column: most of the cost for a few rows)."""
    labels, columns = _labels(frame, properties, chosen)
    return records(frame, columns, labels)


def _labels(frame: Table, properties: Sequence[str],
            chosen: str | None) -> tuple[dict[str, np.ndarray], list[str]]:
    """The label of each coded field of ``properties`` per row (object arrays by ``<field>_label``), and the
    properties with the labels in their places."""
    wanted = [p for p in properties if p in LABELLED and p in frame and p + LABEL_SUFFIX not in properties]
    if not wanted:
        return {}, list(properties)
    chosen = chosen or script.current()
    labels = {}
    for field in wanted:
        label = _labeller(LABELLED[field], chosen)
        values = np.asarray(frame[field], dtype=object)
        if len(values) <= _FEW_ROWS:  # an edit's rows: one by one (factorizing costs a tenth of a millisecond)
            labelled = np.empty(len(values), dtype=object)
            labelled[:] = [None if pd.isna(value) else label(value) for value in values]
        else:  # each distinct value labelled once, then taken for every row
            codes, uniques = pd.factorize(values)
            labelled = np.array([*map(label, uniques), None], dtype=object)[codes]  # missing (code -1): no label
        labels[field + LABEL_SUFFIX] = labelled
    return labels, [c for p in properties for c in ((p, p + LABEL_SUFFIX) if p in wanted else (p,))]


def _labeller(kind: str, chosen: str) -> Callable[[object], object]:
    """A code's label of a kind of name in a script (a street's: each of its comma-separated codes'); a code
    without a name is its own label."""
    names = model.name_labels(kind, chosen)
    if kind == "street":
        return lambda code: ",".join(names.get(c, c) for c in str(code).split(","))
    return lambda code: names.get(code, code)


def records(frame: Table, columns: Iterable[str] | None = None,
            more: dict[str, np.ndarray] | None = None) -> list[dict]:
    """Rows as dicts of plain Python values (None for missing), ready for any JSON encoder; ``more`` holds
    columns beside the frame's (arrays by name) that ``columns`` may name. The frame is converted whole and
    its columns picked from the array: selecting them first costs more than the conversion for a few rows."""
    names = list(frame.columns if isinstance(frame, pd.DataFrame) else frame) if columns is None else list(columns)
    if isinstance(frame, pd.DataFrame):
        values = frame.to_numpy(dtype=object, na_value=None)
    else:  # arrays by name (the few rows of an edit): as one object matrix, missing values None
        values = np.empty((len(next(iter(frame.values()), ())), len(frame)), dtype=object)
        for i, column in enumerate(frame.values()):
            values[:, i] = column
        values[pd.isna(values)] = None
    at = {name: i for i, name in enumerate(frame)}
    if more:
        at.update({name: values.shape[1] + i for i, name in enumerate(more)})
        values = np.hstack([values, np.column_stack(list(more.values()))]) if len(values) else \
            np.empty((0, values.shape[1] + len(more)), dtype=object)
    values = values[:, [at[name] for name in names]]
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in zip(names, row)}
            for row in values.tolist()]


def rfc7946(geoms: np.ndarray) -> np.ndarray:
    """Geometries ready for RFC 7946: polygons counter-clockwise outside, 7 decimals."""
    geoms = shapely.orient_polygons(geoms)
    return shapely.transform(geoms, lambda xy: np.round(xy, GEOJSON_DECIMALS))


def geometry_json(geoms: np.ndarray) -> np.ndarray:
    """GeoJSON geometry text for each geometry (RFC 7946 orientation and precision)."""
    return shapely.to_geojson(rfc7946(geoms))


def feature_texts(frame: Table, properties: Sequence[str], geoms: np.ndarray,
                  ids: Sequence[object] | None = None) -> list[bytes]:
    """One ``Feature`` JSON text per row, with ``geoms`` (RFC 7946 form) and, when given, ``ids``."""
    if not len(geoms):
        return []
    texts = geometry_json(geoms)
    props = labelled_records(frame, properties)
    ids = [None] * len(geoms) if ids is None else ids
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
    documents = labelled_records(projects, model.PROJECT_COLUMNS)
    for document in documents:
        document["features"] = by_project.get(document["project_id"], [])
    return documents


def query_json(result) -> dict:
    """``{"total": N, "projects": [project document, ...]}`` for a QueryResult."""
    return {"total": result.total, "projects": project_documents(result.projects, result.feature_rows)}

