"""The R-tree bulk loader: judged by SQLite's own R-tree (its inserts, rtreecheck, its queries)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from registry.store import gpkgrtree

FANOUT = 51  # cells per node of an R-tree in a database of 4096-byte pages


def boxes(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled ids and random boxes, some of them with negative and zero-width coordinates."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(120.3, 121.2, count), rng.uniform(31.0, 31.7, count)
    w, h = rng.uniform(0, 0.01, count), rng.uniform(0, 0.01, count)
    bounds = np.column_stack([x, y, x + w, y + h])
    bounds[: count // 10] *= -1  # mirrored: min > max, so swap back into order
    bounds[: count // 10] = bounds[: count // 10][:, [2, 3, 0, 1]]
    bounds[count // 10: count // 5, 2] = bounds[count // 10: count // 5, 0]  # zero width
    return rng.permutation(np.arange(1, count + 1) * 7), bounds


def rtree(con: sqlite3.Connection) -> None:
    con.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")


def by_sqlite(ids: np.ndarray, bounds: np.ndarray) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    rtree(con)
    con.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?)", zip(ids.tolist(), bounds[:, 0].tolist(),
                                                             bounds[:, 2].tolist(), bounds[:, 1].tolist(),
                                                             bounds[:, 3].tolist()))
    return con


def by_loader(ids: np.ndarray, bounds: np.ndarray) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    rtree(con)
    gpkgrtree.load(con, "r", ids, bounds)
    return con


@pytest.mark.parametrize("count", [0, 1, FANOUT, FANOUT + 1, FANOUT * FANOUT + 1, 20_000])
def test_loaded_tree_stores_what_sqlite_inserts_store(count):
    ids, bounds = boxes(count, seed=count)
    ours, theirs = by_loader(ids, bounds), by_sqlite(ids, bounds)
    assert ours.execute("SELECT rtreecheck('r')").fetchone() == ("ok",)
    assert (ours.execute("SELECT * FROM r ORDER BY id").fetchall()
            == theirs.execute("SELECT * FROM r ORDER BY id").fetchall())


def test_window_queries_on_a_loaded_tree_equal_sqlite_own_tree():
    ids, bounds = boxes(20_000, seed=5)
    ours, theirs = by_loader(ids, bounds), by_sqlite(ids, bounds)
    rng = np.random.default_rng(6)
    for _ in range(20):
        x, y = rng.uniform(-121, 121), rng.uniform(-31.7, 31.7)
        window = (x, x + 0.05, y, y + 0.05)
        sql = "SELECT id FROM r WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ? ORDER BY id"
        found = ours.execute(sql, (window[0], window[1], window[2], window[3])).fetchall()
        assert found == theirs.execute(sql, (window[0], window[1], window[2], window[3])).fetchall()


def test_sqlite_extends_and_shrinks_a_loaded_tree():
    ids, bounds = boxes(5_000, seed=7)
    con = by_loader(ids, bounds)
    extra_ids, extra = boxes(500, seed=8)
    con.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?)",
                    zip((extra_ids + 10**6).tolist(), extra[:, 0].tolist(), extra[:, 2].tolist(),
                        extra[:, 1].tolist(), extra[:, 3].tolist()))
    con.executemany("DELETE FROM r WHERE id = ?", [(int(i),) for i in ids[:2_500]])
    assert con.execute("SELECT rtreecheck('r')").fetchone() == ("ok",)
    assert con.execute("SELECT count(*) FROM r").fetchone() == (3_000,)


def test_loading_replaces_what_the_tree_held():
    ids, bounds = boxes(3_000, seed=9)
    con = by_loader(ids, bounds)
    gpkgrtree.load(con, "r", ids[:100], bounds[:100])
    assert con.execute("SELECT rtreecheck('r')").fetchone() == ("ok",)
    assert sorted(r[0] for r in con.execute("SELECT id FROM r")) == sorted(ids[:100].tolist())
