"""The GeoPackage store: round trips, atomic batches, refusals, and what GDAL sees."""

from __future__ import annotations

import sqlite3
import subprocess

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely import Point, Polygon

from registry.errors import StoreError, ValidationError
from registry.store import Batch, GeoPackageStore, open_store

from .conftest import LINE, POINT, POLYGON, SELF_CROSSING, digest, features, project, river_batch


def layer_contents(path) -> dict[str, list]:
    con = sqlite3.connect(path)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")]
        return {n: con.execute(f'SELECT * FROM "{n}" ORDER BY 1').fetchall() for n in names}
    finally:
        con.close()


@pytest.mark.parametrize(
    ("layer", "category", "geom", "stored_type"),
    [("rivers", "rivers", LINE, "MultiLineString"), ("old_compounds", "old_compounds", POLYGON, "MultiPolygon"),
     ("billboards", "billboards", POINT, "Point")],
)
def test_chinese_project_round_trips_for_each_geometry_type(empty_store, layer, category, geom, stored_type):
    code = {"rivers": "RIV", "old_compounds": "OLD", "billboards": "BBD"}[category]
    pid = f"2014-{code}-001"
    empty_store.write(Batch(pd.DataFrame([project(pid, category, notes="備註:婁葑、斜塘")]),
                            {layer: features(pid, geom, name="勝浦段")}))
    back = pyogrio.read_dataframe(empty_store.path, layer=layer)
    assert list(back["project_id"]) == [pid]
    assert list(back["name"]) == ["勝浦段"]
    assert back.geometry.iloc[0].geom_type == stored_type
    assert shapely.equals(back.geometry.iloc[0], geom)
    assert back.crs.to_epsg() == 4490
    con = sqlite3.connect(empty_store.path)
    name, notes, money = con.execute("SELECT name, notes, investment_yuan FROM projects").fetchone()
    assert (name, notes, money) == ("唐莊河整治", "備註:婁葑、斜塘", 1_250_000)


def test_simplified_chinese_input_is_stored_in_traditional(empty_store):
    row = project("2014-RIV-001", "rivers", name="唐庄河整治", lead_department="规划建设局")
    empty_store.write(Batch(pd.DataFrame([row]), {"rivers": features("2014-RIV-001", LINE, name="娄葑段")}))
    stored = empty_store.projects().iloc[0]
    assert (stored["name"], stored["lead_department"]) == ("唐莊河整治", "規劃建設局")
    assert empty_store.features("rivers")["name"].tolist() == ["婁葑段"]


def test_batch_failing_in_its_last_project_leaves_the_file_unchanged(demo_copy):
    before_digest, before = digest(demo_copy), layer_contents(demo_copy)
    store = GeoPackageStore(demo_copy)
    good = [project(f"2016-ALY-{i:03d}", "alleys") for i in range(1, 4)]
    bad = project("2016-OLD-001", "old_compounds")
    batch = Batch(pd.DataFrame([*good, bad]), {
        "alleys": gpd.GeoDataFrame({"project_id": [r["project_id"] for r in good]}, geometry=[LINE] * 3, crs=4490),
        "old_compounds": features("2016-OLD-001", SELF_CROSSING),
    })
    with pytest.raises(ValidationError, match="Self-intersection"):
        store.write(batch)
    assert layer_contents(demo_copy) == before
    assert digest(demo_copy) == before_digest


def test_insert_refuses_an_existing_project_id(demo_copy):
    store = GeoPackageStore(demo_copy)
    before = digest(demo_copy)
    with pytest.raises(ValidationError, match="專案 2013-RIV-004 已存在"):
        store.write(Batch(pd.DataFrame([project("2013-RIV-004", "rivers")]),
                          {"rivers": features("2013-RIV-004", LINE)}), mode="insert")
    assert digest(demo_copy) == before


def test_upsert_replaces_a_projects_features(demo_copy):
    store = GeoPackageStore(demo_copy)
    store.write(Batch(pd.DataFrame([project("2013-RIV-013", "rivers", status="in_progress")]),
                      {"rivers": features("2013-RIV-013", LINE)}))
    back = pyogrio.read_dataframe(demo_copy, layer="rivers", where="project_id = '2013-RIV-013'")
    assert len(back) == 1 and shapely.equals(back.geometry.iloc[0], LINE)
    assert sqlite3.connect(demo_copy).execute("SELECT count(*) FROM projects").fetchone()[0] == 180


def test_delete_removes_a_project_and_all_its_features(demo_copy):
    store = GeoPackageStore(demo_copy)
    store.delete(["2013-BBD-010"])
    con = sqlite3.connect(demo_copy)
    assert con.execute("SELECT count(*) FROM projects").fetchone()[0] == 179
    assert con.execute("SELECT count(*) FROM billboards WHERE project_id = '2013-BBD-010'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM rtree_billboards_geom").fetchone()[0] == \
        con.execute("SELECT count(*) FROM billboards").fetchone()[0]


def test_written_features_are_in_the_spatial_index(empty_store):
    empty_store.write(Batch(pd.DataFrame([project("2014-RIV-001", "rivers")]),
                            {"rivers": features("2014-RIV-001", LINE)}))
    con = sqlite3.connect(empty_store.path)
    minx, maxx, miny, maxy = con.execute("SELECT minx, maxx, miny, maxy FROM rtree_rivers_geom").fetchone()
    assert minx <= 120.660 and maxx >= 120.670 and miny <= 31.300 and maxy >= 31.302
    found = pyogrio.read_dataframe(empty_store.path, layer="rivers", bbox=(120.664, 31.29, 120.666, 31.31))
    assert len(found) == 1


def test_the_counts_gdal_reads_stay_true_through_writes(empty_store):
    empty_store.write(river_batch(1, 30, seed=1), mode="insert")
    empty_store.write(river_batch(21, 20, seed=2), mode="upsert")  # ten replaced, ten added
    empty_store.delete([f"2014-RIV-{i:03d}" for i in range(1, 5)])
    con = sqlite3.connect(empty_store.path)
    for table in ("changes", "projects", "rivers"):
        held = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        assert con.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = ?", (table,)
                           ).fetchone() == (held,), table
        out = subprocess.run(["ogrinfo", "-ro", "-so", str(empty_store.path), table], capture_output=True, text=True,
                             check=True).stdout
        assert f"Feature Count: {held}" in out, table


def test_spatial_index_stays_true_through_bulk_and_row_by_row_writes(empty_store):
    empty_store.write(river_batch(1, 400, seed=1), mode="insert")  # into an empty layer: built in bulk
    empty_store.write(river_batch(401, 20, seed=2), mode="insert")  # small: added row by row
    empty_store.write(river_batch(391, 20, seed=3), mode="upsert")  # replaces ten projects' features
    empty_store.delete([f"2014-RIV-{i:03d}" for i in range(1, 50)])  # a few: taken out row by row
    con = sqlite3.connect(empty_store.path)
    assert con.execute("SELECT rtreecheck('rtree_rivers_geom')").fetchone() == ("ok",)
    assert (con.execute("SELECT count(*) FROM rtree_rivers_geom").fetchone()
            == con.execute("SELECT count(*) FROM rivers").fetchone() == (3_710,))
    empty_store.delete([f"2014-RIV-{i:03d}" for i in range(50, 300)])  # most: the index is rebuilt
    assert con.execute("SELECT rtreecheck('rtree_rivers_geom')").fetchone() == ("ok",)
    assert (con.execute("SELECT count(*) FROM rtree_rivers_geom").fetchone()
            == con.execute("SELECT count(*) FROM rivers").fetchone()
            == con.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'rivers'").fetchone()
            == (1_210,))
    assert con.execute("SELECT count(*) FROM sqlite_master WHERE tbl_name = 'rivers' AND type = 'trigger'"
                       ).fetchone() == (11,)  # GDAL's six R-tree and two feature-count triggers, and three that
    # mark edits made past the registry (schema 3)
    assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'idx_rivers_project_id'").fetchone() == (1,)
    stored = pyogrio.read_dataframe(empty_store.path, layer="rivers", fid_as_index=True)
    rng = np.random.default_rng(4)
    for _ in range(10):
        x, y = rng.uniform(120.62, 120.84), rng.uniform(31.23, 31.39)
        window = shapely.box(x, y, x + 0.02, y + 0.02)
        through_index = pyogrio.read_dataframe(empty_store.path, layer="rivers", bbox=window.bounds, fid_as_index=True)
        brute = stored.index[[g.intersects(window) for g in stored.geometry]]
        assert sorted(through_index.index) == sorted(brute)


def test_a_failed_batch_after_bulk_index_rebuilds_leaves_the_file_unchanged(empty_store):
    empty_store.write(river_batch(1, 300, seed=1), mode="insert")
    before = digest(empty_store.path)
    again = river_batch(1, 300, seed=5)  # replaces every river: the R-tree is rebuilt, twice
    bad = Batch(pd.concat([again.projects, pd.DataFrame([project("2014-OLD-001", "old_compounds")])]),
                {**again.features, "old_compounds": features("2014-OLD-001", SELF_CROSSING)})
    with pytest.raises(ValidationError, match="Self-intersection"):
        empty_store.write(bad, mode="upsert")
    assert digest(empty_store.path) == before


def test_a_bad_row_reports_conversion_errors_before_rules_and_the_first_row_first(empty_store):
    rows = [project("2014-OLD-001", "old_compounds"),
            project("2014-OLD-002", "old_compounds", investment_yuan=-5, status="done"),
            project("2014-OLD-003", "old_compounds", year="二〇一四")]
    with pytest.raises(ValidationError, match="專案 2014-OLD-003：year 須為整數") as caught:
        empty_store.write(Batch(pd.DataFrame(rows), {}))
    assert caught.value.param == "year"
    with pytest.raises(ValidationError, match="專案 2014-OLD-002：investment_yuan 不能為負數") as caught:
        empty_store.write(Batch(pd.DataFrame(rows[:2]), {}))
    assert caught.value.param == "investment_yuan"


@pytest.mark.parametrize(
    ("row", "geom", "crs", "message"),
    [
        ({}, SELF_CROSSING, 4490, "幾何圖形無效"),
        ({}, Polygon([(31.28, 120.70), (31.28, 120.71), (31.29, 120.71)]), 4490, "經緯度寫反了"),
        ({}, Point(500000, 3460000), None, "沒有坐標系"),
        ({}, LINE, 4490, "是 LineString，該圖層存放 MultiPolygon"),
        ({"category": "gardens"}, POLYGON, 4490, "未知的 category"),
        ({"investment_yuan": -5}, POLYGON, 4490, "investment_yuan 不能為負數"),
        ({"status": "done"}, POLYGON, 4490, "未知的 status"),
        ({"street_codes": "LF,ZZ"}, POLYGON, 4490, "未知的 street_codes 'ZZ'"),
        ({"planned_start": "2014-02-30"}, POLYGON, 4490, "planned_start 須為ISO 日期"),
        ({"status": "delayed"}, POLYGON, 4490, "延期專案須填寫 delay_reason"),
        ({"project_id": "2014-XX-1"}, POLYGON, 4490, "不符合 YEAR-CAT-NNN 格式"),
        ({"project_id": "2015-OLD-001"}, POLYGON, 4490, "編號與年度"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_written(empty_store, row, geom, crs, message):
    before = digest(empty_store.path)
    pid = row.get("project_id", "2014-OLD-001")
    frame = gpd.GeoDataFrame({"project_id": [pid]}, geometry=[geom], crs=crs)
    with pytest.raises(ValidationError, match=message):
        empty_store.write(Batch(pd.DataFrame([project("2014-OLD-001", "old_compounds", **row)]),
                                {"old_compounds": frame}))
    assert digest(empty_store.path) == before


def test_features_in_another_crs_are_stored_in_4490(empty_store):
    metric = gpd.GeoSeries([POLYGON], crs=4490).to_crs(4549)
    frame = gpd.GeoDataFrame({"project_id": ["2014-OLD-001"]}, geometry=metric)
    empty_store.write(Batch(pd.DataFrame([project("2014-OLD-001", "old_compounds")]), {"old_compounds": frame}))
    back = pyogrio.read_dataframe(empty_store.path, layer="old_compounds")
    assert back.geometry.iloc[0].equals_exact(shapely.multipolygons([POLYGON]), tolerance=1e-7)


def test_missing_required_column_is_named(empty_store):
    row = project("2014-OLD-001", "old_compounds")
    del row["lead_department"]
    with pytest.raises(ValidationError, match="缺少必填的專案欄位.*lead_department"):
        empty_store.write(Batch(pd.DataFrame([row]), {}))


def test_store_of_a_newer_schema_is_refused(demo_copy):
    con = sqlite3.connect(demo_copy)
    con.execute("UPDATE registry_meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="較新版本"):  # outside a request or command: the stored text's script
        open_store(str(demo_copy))


def test_plain_geopackage_without_registry_layers_is_refused(tmp_path):
    path = tmp_path / "plain.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[POINT], crs=4490).to_file(path, engine="pyogrio")
    with pytest.raises(StoreError, match="不是登記簿；缺少圖層：projects"):
        open_store(str(path))


def test_text_file_named_gpkg_is_refused(tmp_path):
    path = tmp_path / "notes.gpkg"
    path.write_text("not a database")
    with pytest.raises(StoreError, match="不是 GeoPackage"):
        open_store(str(path))


def test_ogrinfo_lists_layers_with_geometry_types_and_epsg_4490(demo_path):
    out = subprocess.run(["ogrinfo", "-ro", "-so", "-al", str(demo_path)], capture_output=True, text=True,
                         check=True).stdout
    blocks = {b.split("\n", 1)[0].strip(): b for b in out.split("Layer name: ")[1:]}
    expected = {"alleys": "Multi Line String", "rivers": "Multi Line String", "polders": "Multi Polygon",
                "markets": "Multi Polygon", "vending_points": "Multi Polygon", "billboards": "Point",
                "sluices": "Point", "street_offices": "Multi Polygon", "main_rivers": "Multi Line String",
                "projects": "None"}
    for layer, gtype in expected.items():
        assert f"Geometry: {gtype}" in blocks[layer], layer
        if gtype != "None":
            assert 'ID["EPSG",4490]' in blocks[layer], layer
    assert "Feature Count: 180" in blocks["projects"]
    assert "project_id: String" in blocks["rivers"]
    assert "valid_from: Date" in blocks["street_offices"]
    assert "planned_start: Date" in blocks["projects"]


def test_gdal_sees_a_spatial_index_on_every_feature_layer(demo_path):
    for layer in ("rivers", "billboards", "street_offices", "sluices"):
        out = subprocess.run(["ogrinfo", "-ro", "-q", str(demo_path), "-sql",
                              f"SELECT HasSpatialIndex('{layer}', 'geom')"], capture_output=True, text=True,
                             check=True).stdout
        assert "= 1" in out, (layer, out)


def test_gdal_reads_chinese_names_from_the_demo(demo_path):
    out = subprocess.run(["ogrinfo", "-ro", "-q", str(demo_path), "-sql",
                          "SELECT name FROM projects WHERE project_id = '2013-RIV-002'"],
                         capture_output=True, text=True, check=True).stdout
    assert "唐莊河整治" in out


def test_missing_dates_from_gdal_reads_are_stored_as_null(empty_store):
    row = project("2014-RIV-001", "rivers", planned_start=pd.Timestamp("2014-03-01"), actual_start=pd.NaT)
    empty_store.write(Batch(pd.DataFrame([row]), {"rivers": features("2014-RIV-001", LINE)}))
    con = sqlite3.connect(empty_store.path)
    assert con.execute("SELECT planned_start, actual_start FROM projects").fetchone() == ("2014-03-01", None)
