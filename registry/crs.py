"""Coordinate reference systems, in one place: the CRSs the registry accepts and serves, how a CRS is
named (EPSG codes, OGC URIs), their axis order, and reprojection to storage (EPSG:4490) and for output.

Input coordinates are always read x = east, y = north when a CRS is named by its EPSG code (the CLI and
the registry's own parameters); OGC API parameters naming a CRS by URI follow that CRS's axis order.
"""

from __future__ import annotations

import functools

import numpy as np
import pyproj
import shapely
from pyproj.exceptions import CRSError

from . import model
from .errors import ValidationError
from .i18n import gettext

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRS_URIS = {
    CRS84: 4326,  # longitude, latitude
    "http://www.opengis.net/def/crs/EPSG/0/4490": 4490,
    "http://www.opengis.net/def/crs/EPSG/0/4326": 4326,
    "http://www.opengis.net/def/crs/EPSG/0/4549": 4549,
}
STORAGE_CRS = "http://www.opengis.net/def/crs/EPSG/0/4490"
# The stored and the metric CRS as pyproj objects, made once and shared (pyproj gives each thread its own PROJ
# object): given an EPSG code, geopandas looks it up again for each array or frame, a fifth of a millisecond.
STORAGE_PYPROJ = pyproj.CRS.from_epsg(model.STORAGE_EPSG)
METRIC_PYPROJ = pyproj.CRS.from_epsg(model.METRIC_EPSG)
LONLAT_DOMAIN = (-180.0, -90.0, 180.0, 90.0)


def crs_uri(text: str | None, param: str = "crs") -> str:
    """The canonical URI of a supported CRS given as a URI, ``EPSG:4490``, ``CRS84`` or ``[EPSG:4490]``."""
    if not text:
        return CRS84
    raw = str(text).strip().strip("[]<>")
    if raw in CRS_URIS:
        return raw
    upper = raw.upper()
    if upper in ("CRS84", "OGC:CRS84"):
        return CRS84
    if upper.startswith("EPSG:") and f"http://www.opengis.net/def/crs/EPSG/0/{raw[5:]}" in CRS_URIS:
        return f"http://www.opengis.net/def/crs/EPSG/0/{raw[5:]}"
    raise ValidationError(gettext("%(param)s: unsupported CRS %(value)s; supported: %(supported)s", param=param,
                                  value=repr(text)[:60], supported=", ".join(CRS_URIS)), param=param)


def lat_first(uri: str) -> bool:
    """Whether a CRS's first axis is northing/latitude (EPSG:4490, 4326 and 4549; not CRS84)."""
    return uri != CRS84


def epsg_of(uri: str) -> int:
    """The EPSG code whose x = east coordinates a supported CRS URI's data are read in (CRS84: 4326)."""
    return CRS_URIS[uri]


def reproject(geoms: np.ndarray, uri: str) -> np.ndarray:
    """EPSG:4490 geometries in the axis order and units of the CRS ``uri`` (for output)."""
    if uri == CRS84:
        return geoms
    epsg = CRS_URIS[uri]
    if epsg in (4490, 4326):  # CGCS2000 and WGS84 differ by centimetres: only the axis order changes
        return shapely.transform(geoms, lambda xy: xy[:, ::-1])
    transformer = pyproj.Transformer.from_crs(model.STORAGE_EPSG, epsg, always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))[:, ::-1])


def parse_epsg(text: str | int | None, param: str = "crs") -> int:
    """EPSG code from ``EPSG:4549``, ``4549`` or an OGC CRS URI; default EPSG:4490."""
    if text is None or text == "":
        return model.STORAGE_EPSG
    raw = str(text).strip()
    if raw.endswith("/CRS84") or raw.upper() in ("CRS84", "OGC:CRS84"):
        return 4326
    code = raw.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    if not (code.isascii() and code.isdigit()):  # str.isdigit alone accepts ² and ١, which int() refuses
        raise ValidationError(gettext("%(param)s must be an EPSG code like EPSG:4490, got %(value)s", param=param,
                                      value=repr(raw[:40])), param=param)
    try:
        crs = pyproj.CRS.from_epsg(int(code))
    except CRSError:
        raise ValidationError(gettext("%(param)s: unknown EPSG code %(code)s", param=param, code=code),
                              param=param) from None
    if not (crs.is_projected or crs.type_name == "Geographic 2D CRS"):
        raise ValidationError(gettext("%(param)s: EPSG:%(code)s is a %(kind)s; give a 2D geographic or projected CRS "
                                      "such as EPSG:4490 or EPSG:4549", param=param, code=code, kind=crs.type_name),
                              param=param)
    return int(code)


def to_storage(geom: shapely.Geometry, epsg: int) -> shapely.Geometry:
    """A geometry given in x=east, y=north order of ``epsg``, in EPSG:4490."""
    if epsg == model.STORAGE_EPSG:
        return geom
    transformer = pyproj.Transformer.from_crs(epsg, model.STORAGE_EPSG, always_xy=True)
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


@functools.lru_cache(maxsize=64)
def domain(epsg: int) -> tuple[float, float, float, float]:
    """Where coordinates of the CRS ``epsg`` mean something, as a box (x = east): its area of use if projected."""
    crs = pyproj.CRS.from_epsg(epsg)
    if crs.is_geographic:
        return LONLAT_DOMAIN
    west, south, east, north = crs.area_of_use.bounds  # every projected EPSG CRS has one
    if west > east:  # across the antimeridian: all longitudes
        west, east = -180.0, 180.0
    return pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform_bounds(west, south, east, north)
