"""A large GeoPackage registry is loaded with GDAL reading its project layers column by column in a child process;
what it gives equals the rows sqlite3 reads, a commit while the child reads is never mixed into a state, and the
layers' extents are those their R*Trees hold."""

import sqlite3
import sys

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from registry import editing, model
from registry.store import Batch, columnar, frames, gpkg
from registry.store.edits import VERSION, Author

ADMIN = Author("office", role="admin")


def types(column: pd.Series) -> list[str]:
    """The Python types of a column's values, in order (object columns must hold what sqlite3 gives)."""
    return [type(value).__name__ for value in column.to_numpy(dtype=object)]


def test_columns_read_by_gdal_equal_the_rows_sqlite_reads(demo_copy):
    # a project whose id sorts first, added last: the table's rows are not in id order, as a state keeps them
    first = gpkg.GeoPackageStore(demo_copy).projects().iloc[[0]].assign(project_id="2013-ALY-000")
    gpkg.GeoPackageStore(demo_copy).write(Batch(first.drop(columns=VERSION), {}))
    con = sqlite3.connect(demo_copy, isolation_level=None)
    try:
        revision, projects, layers = gpkg._read_columnar(con, demo_copy)
        assert revision == gpkg._revision(con, demo_copy)
        rows = gpkg._read_projects(con)
        assert con.execute("SELECT project_id FROM projects ORDER BY fid DESC LIMIT 1").fetchone()[0] == "2013-ALY-000"
        assert projects["project_id"].iloc[0] == "2013-ALY-000"
        pd.testing.assert_frame_equal(projects, rows, check_exact=True)
        assert [types(projects[c]) for c in projects] == [types(rows[c]) for c in rows]
        assert set(layers) == {layer.name for layer in model.PROJECT_LAYERS}
        for name, (held, extent) in layers.items():
            frame = held.base
            assert extent == (con.execute(f'SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "rtree_{name}_geom"')
                              .fetchone() if len(frame) else None)
            read = gpkg._read_layer(con, model.LAYER_BY_NAME[name], {})
            assert len(frame) > 0 or name == "sluices"
            assert list(frame.index) == list(read.index) and frame.index.name == "fid"
            attributes = frame.drop(columns="geometry")
            pd.testing.assert_frame_equal(pd.DataFrame(attributes), pd.DataFrame(read.drop(columns="geometry")))
            assert [types(attributes[c]) for c in attributes] == [types(read[c]) for c in attributes]
            assert shapely.equals_exact(frame.geometry.values, read.geometry.values, 0).all()
            assert frame.crs == read.crs
    finally:
        con.close()


def test_a_feature_shares_its_projects_id_string(demo_copy, monkeypatch):
    monkeypatch.setattr(gpkg, "_COLUMNAR_ROWS", 1)
    state = gpkg._load_state(demo_copy)
    ids = {id(value) for value in state.projects.base["project_id"]}  # the table as loaded
    for layer in model.PROJECT_LAYERS:
        assert all(id(value) in ids for value in state.layers[layer.name].base["project_id"])


def test_a_commit_while_the_child_reads_is_not_mixed_into_the_state(demo_copy, monkeypatch):
    """The revision before the child's read differs after it: the state is read again in one transaction."""
    class EditedMeanwhile(columnar.Tables):
        def __iter__(self):
            for number, item in enumerate(super().__iter__()):
                if number == 1:
                    editing.patch_project(gpkg.GeoPackageStore(demo_copy), "2013-RIV-001",
                                          {"notes": "讀取期間的登記"}, ADMIN)
                yield item

    monkeypatch.setattr(gpkg, "_COLUMNAR_ROWS", 1)
    monkeypatch.setattr(columnar, "Tables", EditedMeanwhile)
    state = gpkg._load_state(demo_copy)
    con = sqlite3.connect(demo_copy)
    try:
        notes, version = con.execute(f'SELECT notes, "{VERSION}" FROM projects WHERE project_id = ?',
                                     ("2013-RIV-001",)).fetchone()
        assert state.revision == gpkg._revision(con, demo_copy)
    finally:
        con.close()
    project = state.projects.base.set_index("project_id").loc["2013-RIV-001"]
    assert (notes, project["notes"]) == ("讀取期間的登記", "讀取期間的登記")
    assert project[VERSION] == version


def test_a_child_that_cannot_read_says_why(demo_copy):
    read = []
    with pytest.raises(columnar.ChildFailed, match="no_such_layer"), \
            columnar.Tables(demo_copy, ["projects", "no_such_layer"]) as tables:
        read.extend(name for name, _ in tables)
    assert read == ["projects"]


def test_a_reader_that_stops_early_stops_the_child(demo_copy):
    with columnar.Tables(demo_copy, ["projects", "rivers", "alleys"]) as tables:
        name, table = next(iter(tables))
        child = tables._child
    con = sqlite3.connect(demo_copy)
    try:
        assert (name, table.num_rows) == ("projects", con.execute("SELECT count(*) FROM projects").fetchone()[0])
    finally:
        con.close()
    assert child.poll() is not None


def test_the_child_reads_the_next_table_while_the_caller_converts_this_one(tmp_path):
    path = tmp_path / "large.gpkg"  # tables far larger than a pipe holds (64 KiB): a child made to wait would stall
    points = gpd.GeoDataFrame({"name": [f"第{i}號點位" for i in range(20_000)]},
                              geometry=gpd.points_from_xy(range(20_000), range(20_000)), crs="EPSG:4490")
    pyogrio.write_dataframe(points, path, layer="points")
    with columnar.Tables(path, ["points", "points", "points"]) as tables:
        name, first = next(iter(tables))
        tables._child.wait(timeout=60)  # every table read and sent before the caller asks for the second
        rest = [table for _, table in tables]
    assert [table.num_rows for table in (first, *rest)] == [20_000] * 3
    assert rest[-1].column("name").to_pylist() == list(points["name"])


def test_a_loaded_layers_extent_is_the_one_its_rtree_holds(demo_copy):
    state = gpkg._load_state(demo_copy)
    con = sqlite3.connect(demo_copy)
    try:
        for info in state.infos:
            if info.name in model.LAYER_BY_NAME:
                held = con.execute(f'SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "rtree_{info.name}_geom"'
                                   ).fetchone()
                assert info.extent == (None if held[0] is None else held), info.name
    finally:
        con.close()


def test_a_layers_extent_leaves_empty_geometries_out_as_its_rtree_does(demo_copy):
    state = gpkg._load_state(demo_copy)
    geoms = state.layers["rivers"].base.geometry.to_numpy()
    with_empties = geoms.copy()
    with_empties[::3] = shapely.LineString()
    with_empties[1] = None
    kept = with_empties[~shapely.is_empty(with_empties) & ~shapely.is_missing(with_empties)]
    assert len(kept) < len(geoms) and frames.layer_extent(with_empties) == frames.layer_extent(kept)
    assert frames.layer_extent(geoms) == {info.name: info for info in state.infos}["rivers"].extent
    assert frames.layer_extent(with_empties[::3]) is None and frames.layer_extent(geoms[:0]) is None


def test_a_child_that_cannot_start_leaves_the_load_to_sqlite(demo_copy, monkeypatch):
    monkeypatch.setattr(gpkg, "_COLUMNAR_ROWS", 1)
    monkeypatch.setattr(sys, "executable", str(demo_copy.parent / "no-such-python"))
    state = gpkg._load_state(demo_copy)
    monkeypatch.setattr(gpkg, "_COLUMNAR_ROWS", 10**12)
    pd.testing.assert_frame_equal(state.projects.base, gpkg._load_state(demo_copy).projects.base)
    assert sum(len(state.layers[layer.name]) for layer in model.PROJECT_LAYERS) > 0
