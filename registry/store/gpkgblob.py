"""GeoPackage geometry blobs and the SQL functions the GeoPackage R-tree triggers call.

GDAL's R-tree triggers call ST_MinX/ST_MaxX/ST_MinY/ST_MaxY/ST_IsEmpty; a writer that uses SQLite
directly (to get one transaction across layers) must provide them (GeoPackage 1.3, §2.1.3 and F.3).
"""

from __future__ import annotations

import sqlite3
import struct

import numpy as np
import shapely

_FLAGS_LE_XY_ENVELOPE = 0b0000_0011  # little endian, envelope [minx, maxx, miny, maxy]
_HEADER = np.dtype(
    [("magic", "S2"), ("version", "u1"), ("flags", "u1"), ("srs_id", "<i4"), ("envelope", "<f8", (4,))]
)


def encode(geoms: np.ndarray, srs_id: int) -> list[bytes]:
    """GeoPackage blobs (header with envelope + ISO WKB) for an array of non-empty 2D geometries."""
    headers = np.zeros(len(geoms), dtype=_HEADER)
    headers["magic"] = b"GP"
    headers["flags"] = _FLAGS_LE_XY_ENVELOPE
    headers["srs_id"] = srs_id
    bounds = shapely.bounds(geoms)
    headers["envelope"] = bounds[:, [0, 2, 1, 3]]
    wkbs = shapely.to_wkb(geoms, byte_order=1, output_dimension=2)
    raw = headers.tobytes()
    size = _HEADER.itemsize
    return [raw[i * size:(i + 1) * size] + wkb for i, wkb in enumerate(wkbs)]


def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) from the blob header, or from its WKB when it carries none."""
    if blob is None or blob[:2] != b"GP":
        return None
    flags = blob[3]
    if flags & 0b1_0000:
        return None
    indicator = (flags >> 1) & 0b111
    order = "<" if flags & 1 else ">"
    if indicator:
        return struct.unpack_from(order + "4d", blob, 8)
    size = (0, 32, 48, 48, 64)[indicator]
    minx, miny, maxx, maxy = shapely.bounds(shapely.from_wkb(blob[8 + size:]))
    return minx, maxx, miny, maxy


def _coordinate(index: int):
    def function(blob: bytes | None) -> float | None:
        envelope = _envelope(blob)
        return None if envelope is None else envelope[index]

    return function


def _is_empty(blob: bytes | None) -> int | None:
    if blob is None:
        return None
    return 1 if blob[3] & 0b1_0000 else 0


def register_functions(con: sqlite3.Connection) -> None:
    """Give a connection the ST_ functions that the R-tree triggers need."""
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        con.create_function(name, 1, _coordinate(i), deterministic=True)
    con.create_function("ST_IsEmpty", 1, _is_empty, deterministic=True)
