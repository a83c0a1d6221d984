"""Pure geometry: parsing of bbox/polygon/CRS input, the street membership rule, and metric measures.
It reads no store (``registry.streets`` finds the boundaries a rule is applied to).

Street membership is one rule everywhere (queries, statistics, the API): a line or polygon belongs
to a street when a positive length or area of it lies inside (the interiors intersect; touching the
boundary is not membership). A point belongs to the street that contains it; a point exactly on a
boundary belongs to the street that comes first in ``STREET_ORDER`` among those whose boundary
holds it.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from geopandas.array import GeometryArray

from . import crs, limits, model
from .errors import ValidationError
from .i18n import gettext

STREET_ORDER = tuple(model.STREETS)  # LF, XT, WT, SP, JJH: the tie-break for boundary points
_PLAUSIBLE = {4490: (-180, -90, 180, 90), 4326: (-180, -90, 180, 90)}


def parse_date(text: str | date | None, param: str = "as_of") -> str:
    """An ISO date string; ``None`` means today."""
    if text is None or text == "":
        return date.today().isoformat()
    if isinstance(text, date):
        return text.isoformat()
    try:
        return date.fromisoformat(str(text).strip()).isoformat()
    except ValueError:
        raise ValidationError(gettext("%(param)s must be a date YYYY-MM-DD, got %(value)s", param=param,
                                      value=repr(text)[:60]), param=param) from None


def check_lonlat(geom: shapely.Geometry, param: str) -> None:
    """Refuse geometry (EPSG:4490) that is not near the park, spotting swapped lat/lon."""
    from .validate import PLAUSIBLE_LAT, PLAUSIBLE_LON

    minx, miny, maxx, maxy = geom.bounds
    if not all(map(math.isfinite, (minx, miny, maxx, maxy))):
        raise ValidationError(gettext("%(param)s: coordinates are not finite numbers", param=param), param=param)
    if PLAUSIBLE_LAT[0] <= minx <= PLAUSIBLE_LAT[1] and PLAUSIBLE_LON[0] <= miny <= PLAUSIBLE_LON[1]:
        raise ValidationError(gettext("%(param)s: latitude and longitude look swapped (%(x).4f, %(y).4f); give "
                                      "longitude first", param=param, x=minx, y=miny), param=param)
    if maxx < 118 or minx > 123 or maxy < 29 or miny > 34 or not (-180 <= minx <= maxx <= 180
                                                                   and -90 <= miny <= maxy <= 90):
        raise ValidationError(gettext("%(param)s: coordinates (%(box)s) are far from the park (about lon 120.6–120.9, "
                                      "lat 31.2–31.5); check the CRS", param=param,
                                      box=f"{minx:.4f}, {miny:.4f}, {maxx:.4f}, {maxy:.4f}"), param=param)


def parse_bbox(text: str | tuple, epsg: int = model.STORAGE_EPSG, param: str = "bbox") -> shapely.Geometry:
    """A bbox ``minx,miny,maxx,maxy`` (x=east) in ``epsg`` as a polygon in EPSG:4490."""
    parts = list(text) if isinstance(text, (tuple, list)) else str(text).split(",")
    text = ",".join(map(str, parts))
    try:
        values = [float(v) for v in parts]
    except ValueError:
        raise ValidationError(gettext("%(param)s must be four numbers minlon,minlat,maxlon,maxlat, got %(value)s",
                                      param=param, value=repr(text)[:60]), param=param) from None
    if len(values) == 6:  # a 3D bbox: drop the heights
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(map(math.isfinite, values)):
        raise ValidationError(gettext("%(param)s must be four numbers minlon,minlat,maxlon,maxlat, got %(value)s",
                                      param=param, value=repr(text)[:60]), param=param)
    minx, miny, maxx, maxy = values
    if minx > maxx or miny > maxy:
        raise ValidationError(gettext("%(param)s: min must not exceed max (%(value)s)", param=param, value=text),
                              param=param)
    # Clipped to where the CRS is defined: beyond it, projected coordinates reproject to nonsense or infinity.
    west, south, east, north = crs.domain(epsg)
    clipped = max(minx, west), max(miny, south), min(maxx, east), min(maxy, north)
    if clipped[0] > clipped[2] or clipped[1] > clipped[3]:
        if (west, south, east, north) == crs.LONLAT_DOMAIN:
            check_lonlat(shapely.box(minx, miny, maxx, maxy), param)  # it says whether lat and lon look swapped
        raise ValidationError(gettext("%(param)s: (%(value)s) lies outside the area EPSG:%(epsg)s is defined for "
                                      "(%(domain)s); check the CRS and the axis order", param=param, value=text,
                                      epsg=epsg, domain=f"{west:.6g}, {south:.6g}, {east:.6g}, {north:.6g}"),
                              param=param)
    box = crs.to_storage(_box(*clipped), epsg)
    check_lonlat(box, param)
    return box







def _box(minx: float, miny: float, maxx: float, maxy: float) -> shapely.Geometry:
    """A bbox as a polygon with points along its edges, so that it keeps its shape in another CRS.

    A box without width or height is the segment or point it is (a polygon of it would be invalid).
    """
    if minx == maxx and miny == maxy:
        return shapely.Point(minx, miny)
    shape = (shapely.box(minx, miny, maxx, maxy) if minx < maxx and miny < maxy
             else shapely.LineString([(minx, miny), (maxx, maxy)]))
    return shapely.segmentize(shape, max(maxx - minx, maxy - miny) / 16)


def parse_geometry(text: str, epsg: int = model.STORAGE_EPSG, param: str = "polygon",
                   max_vertices: int = limits.MAX_VERTICES) -> shapely.Geometry:
    """WKT or GeoJSON (a geometry, Feature or FeatureCollection) in ``epsg``, as a valid EPSG:4490 geometry."""
    raw = str(text).strip()
    limits.check_nesting(raw, param)  # GEOS reads nested collections recursively: deep text overflows its stack
    try:
        if raw.startswith("{"):
            obj = json.loads(raw)
            if obj.get("type") == "FeatureCollection":
                parts = [shapely.from_geojson(json.dumps(f["geometry"])) for f in obj["features"]]
            elif obj.get("type") == "Feature":
                parts = [shapely.from_geojson(json.dumps(obj["geometry"]))]
            else:
                parts = [shapely.from_geojson(raw)]
        else:
            parts = [shapely.from_wkt(raw)]
    except (ValueError, TypeError, KeyError, AttributeError, shapely.errors.GEOSException) as exc:
        raise ValidationError(gettext("%(param)s is neither valid WKT nor GeoJSON: %(reason)s", param=param,
                                      reason=(str(exc).splitlines() or [""])[0]), param=param) from None
    vertices = int(shapely.get_num_coordinates(parts).sum())
    if vertices > max_vertices:
        raise ValidationError(gettext("%(param)s has %(count)s vertices, more than the %(limit)s allowed; simplify it",
                                      param=param, count=vertices, limit=max_vertices), param=param)
    geom = shapely.union_all(parts) if len(parts) > 1 else parts[0]
    if geom is None or geom.is_empty:
        raise ValidationError(gettext("%(param)s is empty", param=param), param=param)
    if not geom.is_valid:
        raise ValidationError(gettext("%(param)s is not a valid geometry (%(reason)s)", param=param,
                                      reason=shapely.is_valid_reason(geom)), param=param)
    geom = crs.to_storage(geom, epsg)
    check_lonlat(geom, param)
    return geom


@dataclass(frozen=True)
class StreetArea:
    """A street office's boundary as the membership rule needs it, with the boundaries of the streets
    before it in ``STREET_ORDER`` (a boundary point shared with one of them is theirs). ``key`` names the
    boundary version (code and valid_from), so answers about it can be kept."""

    key: str
    boundary: shapely.Geometry
    before: tuple[shapely.Geometry, ...]


def membership(geoms: np.ndarray, street: shapely.Geometry, others: list[shapely.Geometry]) -> np.ndarray:
    """Which of ``geoms`` belong to ``street`` by the membership rule.

    ``others`` are the streets before this one in ``STREET_ORDER``: a boundary point shared with one
    of them belongs to that one.
    """
    street = prepared(street)
    result = np.zeros(len(geoms), dtype=bool)
    if not len(geoms):
        return result
    is_point = shapely.get_type_id(geoms) == 0
    lines = ~is_point
    inside = shapely.contains_properly(street, geoms)
    result |= inside
    edge = ~inside & shapely.intersects(street, geoms)
    # Lines and polygons on the edge: members when their interiors meet the street's interior.
    check = edge & lines
    result[check] = ~shapely.touches(street, geoms[check])
    # Points on the boundary: first street in order whose boundary holds them.
    check = edge & is_point
    if check.any():
        taken = np.zeros(int(check.sum()), dtype=bool)
        for other in others:
            taken |= shapely.intersects(other, geoms[check])
        result[check] = ~taken
    return result


# A geometry test of more candidates than this is split between the cores; below it, a thread's hand-off costs
# about what it saves. GEOS lets go of the GIL while it tests an array.
_CHUNK_MIN = 1_024
_CORES = len(os.sched_getaffinity(0))
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    """A forked child (a gunicorn worker) has none of its parent's threads: it makes a pool of its own."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


def across_cores(test: Callable[[np.ndarray], np.ndarray], geoms: np.ndarray,
                 private: Callable[[], Callable[[np.ndarray], np.ndarray]]) -> np.ndarray:
    """``test(geoms)``, with a big array cut into a chunk for each core: this thread tests the first with ``test``,
    pool threads each other one with a ``private()`` test of its own (a prepared geometry is not to be shared
    between threads). A 200 m near query's tests of 54,000 candidates take two thirds of the time on two cores
    (reprojecting the few it cannot tell in degrees holds the GIL)."""
    global _pool
    chunks = min(_CORES, len(geoms) // _CHUNK_MIN)
    if chunks < 2:
        return test(geoms)
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_CORES - 1, thread_name_prefix="geometry")
        pool = _pool
    bounds = np.linspace(0, len(geoms), chunks + 1).astype(int)
    others = [pool.submit(private(), geoms[start:end]) for start, end in zip(bounds[1:-1], bounds[2:])]
    first = test(geoms[:bounds[1]])
    return np.concatenate([first, *(other.result() for other in others)])


def prepared(geom: shapely.Geometry) -> shapely.Geometry:
    """A prepared copy of a geometry, private to the caller.

    Preparing changes the geometry object, and GEOS builds a prepared geometry's indexes lazily on
    use: two threads preparing or querying one shared geometry (a cached street boundary) can crash
    the process. A copy costs microseconds.
    """
    copy = shapely.from_wkb(shapely.to_wkb(geom))
    shapely.prepare(copy)
    return copy


# Made once (thread-safe: pyproj gives each thread its own): a GeoSeries' to_crs looks both CRSs up on each call,
# about half a millisecond, which a near query paid once or twice per layer.
_TO_METRIC = pyproj.Transformer.from_crs(model.STORAGE_EPSG, model.METRIC_EPSG, always_xy=True)


# Distances in metres are measured between geometries reprojected vertex by vertex, whose edges are straight in
# metres, not in degrees: the two lines of a 6 km edge part by 0.3 m here, of a 9 km one by 1 m (the longer, the
# more). A scale of degrees is widened by this share (1 m in 200), so that a feature's long edges cannot make
# measuring in degrees tell near from far wrongly.
_EDGE_BEND = 0.005
_METRIC_PROJ = pyproj.Proj(crs.METRIC_PYPROJ)  # its derivatives are in semi-major axes per radian
_METRES_PER_DERIVATIVE = crs.METRIC_PYPROJ.ellipsoid.semi_major_metre * math.pi / 180


def degree_scale(bounds: tuple[float, float, float, float]) -> tuple[float, float]:
    """The fewest and the most metres of EPSG:4549 that a degree of EPSG:4490 spans, in any direction, within
    ``bounds``: a distance in degrees times the first is at most, and times the second at least, the distance in
    metres. Found from the projection's derivatives on a grid over the bounds (a degree of longitude spans 95 km
    here, one of latitude 111 km), widened by the most they change between neighbouring points of the grid, and by
    ``_EDGE_BEND``."""
    lon, lat = np.meshgrid(np.linspace(bounds[0], bounds[2], 9), np.linspace(bounds[1], bounds[3], 9))
    factors = _METRIC_PROJ.get_factors(lon.ravel(), lat.ravel())
    a, b, c, d = (np.asarray(v).reshape(9, 9) for v in (factors.dx_dlam, factors.dx_dphi, factors.dy_dlam,
                                                           factors.dy_dphi))
    squares, det = a * a + b * b + c * c + d * d, np.abs(a * d - b * c)  # the Jacobian's singular values from these
    root = np.sqrt(np.maximum(squares * squares - 4 * det * det, 0))
    fewest, most = np.sqrt((squares - root) / 2), np.sqrt((squares + root) / 2)
    step = max(np.abs(np.diff(v, axis=axis)).max(initial=0) for v in (fewest, most) for axis in (0, 1))
    return (float(fewest.min() - step) * _METRES_PER_DERIVATIVE * (1 - _EDGE_BEND),
            float(most.max() + step) * _METRES_PER_DERIVATIVE * (1 + _EDGE_BEND))


def simple_parts(geom: shapely.Geometry) -> np.ndarray:
    """A geometry's points, lines and polygons, out of any multi-part geometries and collections."""
    parts = shapely.get_parts(geom)
    while (nested := shapely.get_type_id(parts) >= 4).any():
        parts = np.concatenate([parts[~nested], shapely.get_parts(parts[nested])])
    return parts


def edges(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The straight edges of simple lines or rings: their ends, an (n, 2, 2) array, and the line each is of."""
    coords, line = shapely.get_coordinates(lines, return_index=True)
    same = line[1:] == line[:-1]  # consecutive vertices of one line
    return np.stack([coords[:-1], coords[1:]], axis=1)[same], line[:-1][same]


class Edges:
    """A line's or point's straight edges (a point: an edge of no length), to tell which of many geometries lie
    within distances of it by their envelopes first and then, for the few the envelopes cannot tell, with GEOS
    from one edge at a time: from one edge GEOS measures about three times faster than from a line of six.

    A geometry (an envelope's sides each hold a point of it) lies within a distance of an edge when both ends of a
    side of its envelope do (the distance from an edge is convex), and is farther than the distance when its
    envelope's centre is farther than the distance and half the envelope's diagonal. On a 200 m near query of
    55,000 candidates the envelopes leave 14,000 (edge, geometry) pairs to GEOS for its two distances, and the
    whole takes 55-80 % of the time of two GEOS passes over the whole line.
    """

    def __init__(self, geom: shapely.Geometry) -> None:
        parts = simple_parts(geom)
        points = shapely.get_type_id(parts) == 0
        ends, _ = edges(parts[~points])
        ends = np.concatenate([ends, np.repeat(shapely.get_coordinates(parts[points])[:, None, :], 2, axis=1)])
        self._start, self._run = ends[:, 0], ends[:, 1] - ends[:, 0]
        self._square = np.maximum((self._run ** 2).sum(axis=1), np.finfo(float).tiny)  # a point: no division by 0
        self._geoms = np.where(np.all(ends[:, 0] == ends[:, 1], axis=1), shapely.points(ends[:, 0]),
                               shapely.linestrings(ends))

    @staticmethod
    def of(geom: shapely.Geometry) -> Edges | None:
        """The edges of a geometry of lines and points; None if it has a polygon (what lies inside one is near it,
        however far from its edges)."""
        return None if (shapely.get_type_id(simple_parts(geom)) == 3).any() else Edges(geom)

    def _distances(self, x: np.ndarray, y: np.ndarray, edge: np.ndarray | slice) -> np.ndarray:
        """The distances of points (``x``, ``y``; columns, or rows paired with ``edge``) from edges ``edge``."""
        dx, dy = x - self._start[edge, 0], y - self._start[edge, 1]
        along = np.clip((dx * self._run[edge, 0] + dy * self._run[edge, 1]) / self._square[edge], 0, 1)
        return np.hypot(dx - along * self._run[edge, 0], dy - along * self._run[edge, 1])

    def within(self, geoms: np.ndarray, distances: tuple[float, ...]) -> list[np.ndarray]:
        """For each of ``distances`` (ascending), which of ``geoms`` lie within it (as ``shapely.dwithin`` tells)."""
        bounds = shapely.bounds(geoms)  # NaN for an empty geometry: within no distance, as for GEOS
        centre_x, centre_y = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
        half = np.hypot(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]) / 2
        least = self._distances(centre_x[:, None], centre_y[:, None], slice(None)) - half[:, None]
        row, edge = np.nonzero(least <= distances[-1])  # the pairs that may be near
        least = least[row, edge]
        corners = [self._distances(bounds[row, i], bounds[row, j], edge) for i, j in ((0, 1), (2, 1), (2, 3), (0, 3))]
        side = np.minimum.reduce([np.maximum(corners[k], corners[(k + 1) % 4]) for k in range(4)])
        found = np.zeros(len(geoms), dtype=bool)
        answers = []
        for distance in distances:
            sure = found.copy()
            sure[row[~found[row] & (side <= distance)]] = True
            ask = ~sure[row] & (least <= distance)
            near = shapely.dwithin(geoms[row[ask]], self._geoms[edge[ask]], distance)
            sure[row[ask][near]] = True
            answers.append(sure)
            found = sure
        return answers


_SHORT_EDGE_BEND = 0.002  # metres: what an edge under 0.005° (500 m) bends by at most


def metric_bend(geom: shapely.Geometry) -> float:
    """The farthest (metres) that a geometry's edges, straight in degrees, run from the same edges reprojected
    vertex by vertex, straight in metres: 10 m for an edge of 29 km across the park, nothing for a point. Measured
    edge by edge (a polygon's: its rings'), at points 0.001° (about 100 m) apart along each."""
    parts = simple_parts(geom)
    polygons = shapely.get_type_id(parts) == 3
    lines = np.concatenate([parts[~polygons], simple_parts(shapely.boundary(parts[polygons]))])  # a ring each
    ends, _ = edges(lines)
    # the bend grows with the square of the length: shorter edges are counted as bending _SHORT_EDGE_BEND
    ends = ends[np.hypot(*(ends[:, 1] - ends[:, 0]).T) > 0.005]
    if not len(ends):
        return _SHORT_EDGE_BEND
    chords = shapely.linestrings(ends)
    return float(shapely.hausdorff_distance(metric(shapely.segmentize(chords, 1e-3)), metric(chords)).max()) \
        + _SHORT_EDGE_BEND


def metric(geoms: np.ndarray | gpd.GeoSeries) -> GeometryArray:
    """Geometries of EPSG:4490 in EPSG:4549, for lengths, areas, distances and buffers: flat ones (a Z is dropped,
    which no measure here uses, and not looking for one per geometry saves a sixth of the time)."""
    if isinstance(geoms, gpd.GeoSeries):
        return geoms.to_crs(crs.METRIC_PYPROJ).values
    moved = shapely.transform(np.asarray(geoms), _TO_METRIC.transform, include_z=False, interleaved=False)
    return GeometryArray(moved, crs=crs.METRIC_PYPROJ)
