"""A registry's committed state held in memory as frames with spatial indexes, and the snapshot answering from it.

The GeoPackage store loads each revision of its file into one; any store's state as of a past date, rebuilt
from its change log, is one too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import spatial
from ..spatial import StreetArea
from .base import BBox, LayerInfo, Near, Snapshot, layer_spec


@dataclass
class State:
    """One committed state of the file, as frames: what every read of a snapshot answers from.

    Never changed once loaded, except for the street-membership answers it keeps (each a pure
    function of the state's own layers), so threads share it freely.
    """

    revision: str
    modified: datetime
    meta: dict[str, str]
    infos: list[LayerInfo]
    projects: pd.DataFrame
    layers: dict[str, gpd.GeoDataFrame]
    members: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FrameSnapshot(Snapshot):
    """A registry as one committed state held in memory (see ``State``): a GeoPackage's, or any store's as of a
    past date."""

    def __init__(self, location: str, state: State, log: Callable[..., pd.DataFrame]) -> None:
        self.location = location
        self._state = state
        self._log = log

    def log(self, *, project_id: str | None = None, until: str | None = None, latest: bool = False) -> pd.DataFrame:
        return self._log(project_id=project_id, until=until, latest=latest)

    def meta(self) -> dict[str, str]:
        return dict(self._state.meta)

    def revision(self) -> str:
        return self._state.revision

    def last_modified(self) -> datetime:
        return self._state.modified

    def layers(self) -> list[LayerInfo]:
        return list(self._state.infos)

    def projects(self, project_ids: Sequence[str] | None = None) -> pd.DataFrame:
        frame = self._state.projects
        if project_ids is not None:
            frame = frame[frame["project_id"].isin(list(project_ids))]
        return frame.copy(deep=False)  # copy-on-write: callers cannot change the shared table

    def features(self, layer: str, *, bbox: BBox | None = None, street: StreetArea | None = None,
                 project_ids: Sequence[str] | None = None, near: Near | None = None) -> gpd.GeoDataFrame:
        spec = layer_spec(layer)
        frame = self._state.layers[layer]
        rows = None
        if street is not None:
            rows = self._street_members(layer, street)
        if bbox is not None:
            hits = frame.sindex.query(shapely.box(*bbox))
            rows = np.sort(hits) if rows is None else np.intersect1d(rows, hits)
        if near is not None:
            hits = _near_rows(frame, *near)
            rows = hits if rows is None else np.intersect1d(rows, hits)
        if project_ids is not None and spec.kind == "project":
            wanted = frame["project_id"].to_numpy() if rows is None else frame["project_id"].to_numpy()[rows]
            hit = np.flatnonzero(pd.Index(wanted, dtype=object).isin(list(project_ids)))
            rows = hit if rows is None else rows[hit]
        # A take is a new frame; the whole layer is handed out as a copy: callers cannot change the shared one.
        return frame.copy(deep=False) if rows is None else frame.take(rows)

    def _street_members(self, layer: str, street: StreetArea) -> np.ndarray:
        """Positions of a layer's features in a street office, kept with the state per boundary version:
        a street query then costs a take, not a geometry test."""
        key = (layer, street.key)
        with self._state.lock:
            hit = self._state.members.get(key)
        if hit is not None:
            return hit
        frame = self._state.layers[layer]
        candidates = np.sort(frame.sindex.query(street.boundary))
        geoms = np.asarray(frame.geometry.array)[candidates]
        found = candidates[spatial.membership(geoms, street.boundary, list(street.before))]
        with self._state.lock:
            self._state.members[key] = found
        return found


def _near_rows(frame: gpd.GeoDataFrame, geom: shapely.Geometry, distance: float) -> np.ndarray:
    """Positions (ascending) of the features whose envelope comes within ``distance`` of a piece of ``geom``'s.

    The index is asked with the envelopes of small pieces, not of the whole geometry: one long river's envelope
    is most of the park. Lines are cut into segments of at most twice the distance (and not under 0.001°, about
    100 m, so that a short distance does not make thousands); points and polygons stay whole (a feature inside
    a polygon is near no segment of it).
    """
    parts = shapely.get_parts(geom)
    while (nested := shapely.get_type_id(parts) >= 4).any():  # multi-part geometries and collections
        parts = np.concatenate([parts[~nested], shapely.get_parts(parts[nested])])
    lines = np.isin(shapely.get_type_id(parts), (1, 2))
    coords, line = shapely.get_coordinates(shapely.segmentize(parts[lines], max(2 * distance, 1e-3)),
                                           return_index=True)
    same = line[1:] == line[:-1]  # consecutive vertices of one line
    starts, ends = coords[:-1][same], coords[1:][same]
    bounds = np.concatenate([shapely.bounds(parts[~lines]),
                             np.hstack([np.minimum(starts, ends), np.maximum(starts, ends)])])
    boxes = shapely.box(bounds[:, 0] - distance, bounds[:, 1] - distance, bounds[:, 2] + distance,
                        bounds[:, 3] + distance)
    return np.unique(frame.sindex.query(boxes)[1])
