"""Bulk loading of a GeoPackage's spatial index (an SQLite R*Tree) by writing its nodes directly.

SQLite adds entries to an R*Tree one at a time (about 8 µs each: most of a large import's write).
Packing the entries sort-tile-recursive into full nodes and writing the node blobs takes a fraction of
that and gives a tree that SQLite reads, checks (``rtreecheck``) and extends as its own, as GDAL's own
bulk loader does. The node format is SQLite's (ext/rtree/rtree.c): a 2-byte tree depth (in the root
only) and a 2-byte cell count, then cells of a big-endian 64-bit id and four 32-bit floats (minx, maxx,
miny, maxy), rounded outwards as SQLite rounds them, zero-padded to the table's node size.
"""

from __future__ import annotations

import math
import sqlite3

import numpy as np

_CELL = np.dtype([("id", ">i8"), ("minx", ">f4"), ("maxx", ">f4"), ("miny", ">f4"), ("maxy", ">f4")])
_HEADER = 4  # bytes before the first cell: depth, cell count
_TOWARDS, _AWAY = 1.0 - 1.0 / 8388608.0, 1.0 + 1.0 / 8388608.0  # SQLite's RNDTOWARDS, RNDAWAY


def entries(con: sqlite3.Connection, table: str) -> tuple[np.ndarray, np.ndarray]:
    """The ids and bounds (minx, miny, maxx, maxy as float64) an R-tree holds."""
    rows = con.execute(f'SELECT id, minx, miny, maxx, maxy FROM "{table}"').fetchall()
    if not rows:
        return np.empty(0, np.int64), np.empty((0, 4))
    array = np.array(rows, dtype=np.float64)  # fids fit a float64 exactly (below 2**53)
    return array[:, 0].astype(np.int64), array[:, 1:]


def load(con: sqlite3.Connection, table: str, ids: np.ndarray, bounds: np.ndarray) -> None:
    """Make R-tree ``table`` hold exactly ``ids`` with ``bounds`` (rows of minx, miny, maxx, maxy)."""
    node_size = con.execute(f'SELECT length(data) FROM "{table}_node" WHERE nodeno = 1').fetchone()[0]
    fanout = (node_size - _HEADER) // _CELL.itemsize
    for part in ("node", "parent", "rowid"):
        con.execute(f'DELETE FROM "{table}_{part}"')
    if not len(ids):  # an empty tree is one empty root
        con.execute(f'INSERT INTO "{table}_node" (nodeno, data) VALUES (1, zeroblob(?))', (node_size,))
        return
    cells = np.empty(len(ids), _CELL)
    cells["id"] = ids
    cells["minx"], cells["miny"] = _down(bounds[:, 0]), _down(bounds[:, 1])
    cells["maxx"], cells["maxy"] = _up(bounds[:, 2]), _up(bounds[:, 3])
    levels = []  # bottom up: each level's cells in node order; above the leaves, ids are child node positions
    while True:
        cells = cells[_tile_order(cells, fanout)]
        levels.append(cells)
        if len(cells) <= fanout:
            break
        starts = np.arange(0, len(cells), fanout)
        cells = np.empty(len(starts), _CELL)
        cells["id"] = np.arange(len(starts))
        for column, reduce in (("minx", np.minimum), ("miny", np.minimum), ("maxx", np.maximum),
                               ("maxy", np.maximum)):
            cells[column] = reduce.reduceat(levels[-1][column], starts)
    numbers = []  # numbers[k]: the node numbers of level k in order, counted from the root (1) down
    first = 1
    for cells in reversed(levels):
        count = -(-len(cells) // fanout)
        numbers.insert(0, np.arange(first, first + count))
        first += count
    for k, cells in enumerate(levels):
        owner = numbers[k][np.arange(len(cells)) // fanout]
        root = k == len(levels) - 1
        if k:
            children = numbers[k - 1][cells["id"]]
            cells["id"] = children
            con.executemany(f'INSERT INTO "{table}_parent" (nodeno, parentnode) VALUES (?, ?)',
                            zip(children.tolist(), owner.tolist()))
        else:
            order = np.argsort(cells["id"])
            con.executemany(f'INSERT INTO "{table}_rowid" (rowid, nodeno) VALUES (?, ?)',
                            zip(cells["id"][order].astype(np.int64).tolist(), owner[order].tolist()))
        blobs = _blobs(cells, fanout, node_size, depth=len(levels) - 1 if root else 0)
        con.executemany(f'INSERT INTO "{table}_node" (nodeno, data) VALUES (?, ?)', zip(numbers[k].tolist(), blobs))


def _down(values: np.ndarray) -> np.ndarray:
    """float64 → float32 no greater than the value, as SQLite rounds a minimum."""
    out = values.astype(np.float32)
    high = out > values
    out[high] = (values[high] * np.where(values[high] < 0, _AWAY, _TOWARDS)).astype(np.float32)
    return out


def _up(values: np.ndarray) -> np.ndarray:
    """float64 → float32 no less than the value, as SQLite rounds a maximum."""
    out = values.astype(np.float32)
    low = out < values
    out[low] = (values[low] * np.where(values[low] < 0, _TOWARDS, _AWAY)).astype(np.float32)
    return out


def _tile_order(cells: np.ndarray, fanout: int) -> np.ndarray:
    """Sort-tile-recursive order: vertical slices by x centre, each sorted by y centre, cut into nodes."""
    cx = cells["minx"].astype(np.float64) + cells["maxx"]
    cy = cells["miny"].astype(np.float64) + cells["maxy"]
    nodes = -(-len(cells) // fanout)
    per_slice = math.ceil(math.sqrt(nodes)) * fanout
    slices = np.empty(len(cells), np.int64)
    slices[np.argsort(cx, kind="stable")] = np.arange(len(cells)) // per_slice
    return np.lexsort((cy, slices))


def _blobs(cells: np.ndarray, fanout: int, node_size: int, depth: int) -> list[bytes]:
    """The node blobs holding ``cells`` in order, ``fanout`` to a node; ``depth`` is written in the first."""
    count = -(-len(cells) // fanout)
    pages = np.zeros((count, node_size), np.uint8)
    filled = np.full(count, fanout, dtype=">u2")
    filled[-1] = len(cells) - fanout * (count - 1)
    pages[:, 2:4] = filled.view(np.uint8).reshape(count, 2)
    pages[0, 0:2] = np.array([depth], dtype=">u2").view(np.uint8)
    raw = np.zeros(count * fanout, _CELL)
    raw[:len(cells)] = cells
    pages[:, _HEADER:_HEADER + fanout * _CELL.itemsize] = raw.view(np.uint8).reshape(count, -1)
    return [page.tobytes() for page in pages]
