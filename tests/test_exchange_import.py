"""Imports: round trips of every export format, Shapefiles from GDAL, and the row-by-row report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

from registry import model
from registry.exchange import RowsRejected, export, import_file, sources
from registry.store import GeoPackageStore

from .conftest import digest, reference_only, run_cli

CSV_HEADER = ("project_id,name,category,year,investment_yuan,lead_department,street_codes,status,in_statement,"
              "beyond_statement,lon,lat")


@pytest.fixture
def reference_registry(demo_copy) -> GeoPackageStore:
    """An empty registry with the demo's reference layers (street offices, park, lakes, rivers)."""
    return reference_only(demo_copy)


def ordered(frame) -> tuple[list, np.ndarray]:
    """A layer's (project_id, name) rows and normalised geometries in one order, whatever the fids."""
    points = shapely.get_coordinates(shapely.point_on_surface(frame.geometry.values))
    frame = frame.assign(_x=points[:, 0], _y=points[:, 1]).sort_values(["project_id", "name", "_x", "_y"])
    return list(zip(frame["project_id"], frame["name"])), shapely.normalize(frame.geometry.values)


def attributes(store: GeoPackageStore, ids=None) -> pd.DataFrame:
    """A store's project attributes (not their versions: a project imported anew starts at 1)."""
    return store.projects(ids).drop(columns=[model.VERSION_COLUMN]).reset_index(drop=True)


def assert_same_content(expected: GeoPackageStore, actual: GeoPackageStore, layers=model.PROJECT_LAYERS) -> None:
    """The same projects with the same attributes, and the same features within 1e-7 degree."""
    pd.testing.assert_frame_equal(attributes(expected), attributes(actual))
    for layer in layers:
        rows_a, geoms_a = ordered(expected.features(layer.name))
        rows_b, geoms_b = ordered(actual.features(layer.name))
        assert rows_a == rows_b, layer.name
        assert shapely.equals_exact(geoms_a, geoms_b, tolerance=1e-7).all(), layer.name


ROUND_TRIPS = [
    ("out.geojson", {}, {}),
    ("out.shp.zip", {}, {}),
    ("out.shp.zip", {"encoding": "gbk"}, {}),
    ("out.shp.zip", {"crs": 4549}, {}),
    ("out.gpkg", {}, {}),
    ("out.gpkg", {"crs": 4326}, {}),
    ("out.fgb", {}, {}),
    ("out.fgb", {"crs": 4549}, {}),
    ("out.csv", {}, {}),
    ("out.csv", {"crs": 4549}, {"crs": "EPSG:4549"}),
]


@pytest.mark.parametrize(("name", "options", "import_options"), ROUND_TRIPS,
                         ids=[f"{n}-{'-'.join(map(str, o.values())) or 'default'}" for n, o, _ in ROUND_TRIPS])
def test_export_then_import_gives_the_same_registry(demo_path, demo_result, reference_registry, tmp_path, name, options,
                                                    import_options):
    report = export(demo_result, tmp_path / name, **options)
    imported = import_file(reference_registry, report.path, **import_options)
    assert imported.written and imported.projects_new == len(demo_result.projects) and not imported.rejected
    assert_same_content(GeoPackageStore(demo_path), reference_registry)


def test_shapefiles_read_in_parallel_parts_import_the_same_registry(demo_path, demo_result, reference_registry,
                                                                     tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "SPLIT_ROWS", 10)  # every layer of 20 or more features is read in parts
    report = export(demo_result, tmp_path / "out.shp.zip")
    import_file(reference_registry, report.path)
    assert_same_content(GeoPackageStore(demo_path), reference_registry)


def test_upsert_of_an_export_into_a_copy_leaves_it_the_same(demo_path, demo_copy, demo_result, tmp_path):
    report = export(demo_result, tmp_path / "out.gpkg")
    imported = import_file(GeoPackageStore(demo_copy), report.path, mode="upsert")
    assert imported.projects_updated == len(demo_result.projects) and imported.projects_new == 0
    assert_same_content(GeoPackageStore(demo_path), GeoPackageStore(demo_copy))


def test_a_registry_file_itself_imports_with_its_feature_names(demo_path, reference_registry):
    import_file(reference_registry, demo_path)
    assert_same_content(GeoPackageStore(demo_path), reference_registry)


def test_xlsx_updates_project_attributes_and_keeps_their_features(demo_path, demo_copy, demo_result, tmp_path):
    report = export(demo_result, tmp_path / "out.xlsx")
    workbook = openpyxl.load_workbook(report.path)
    sheet = workbook.worksheets[0]
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "2014-RIV-001")
    row[header.index("狀態")].value = "在建"  # the Chinese label of in_progress
    row[header.index("實際開工")].value = "2014-03-02"  # which entering in_progress needs
    row[header.index("牽頭部門")].value = "规划建设局"  # simplified
    workbook.save(report.path)
    imported = import_file(GeoPackageStore(demo_copy), report.path)
    assert (imported.mode, imported.projects_updated, imported.features) == ("upsert", len(demo_result.projects), {})
    after = GeoPackageStore(demo_copy).projects().set_index("project_id")
    assert after.loc["2014-RIV-001", "status"] == "in_progress"
    assert after.loc["2014-RIV-001", "lead_department"] == "規劃建設局"
    before = GeoPackageStore(demo_path).projects().set_index("project_id")
    assert after.drop(index="2014-RIV-001").equals(before.drop(index="2014-RIV-001"))
    for layer in model.PROJECT_LAYERS:
        assert ordered(GeoPackageStore(demo_copy).features(layer.name))[0] == ordered(
            GeoPackageStore(demo_path).features(layer.name))[0]


def test_gbk_shapefile_without_cpg_from_ogr2ogr_imports_with_chinese_intact(demo_path, demo_result,
                                                                           reference_registry, tmp_path):
    gpkg = export(demo_result, tmp_path / "out.gpkg").path
    folder = tmp_path / "shp"
    subprocess.run(["ogr2ogr", "-f", "ESRI Shapefile", "-lco", "ENCODING=GBK", str(folder), gpkg, "rivers"],
                   check=True, capture_output=True)
    (folder / "rivers.cpg").unlink()
    assert "號河".encode("gbk") in (folder / "rivers.dbf").read_bytes()
    imported = import_file(reference_registry, folder)
    assert "rivers.shp 的文字按 gbk (自動識別) 讀取" in imported.notes
    expected = GeoPackageStore(demo_path)
    river_ids = expected.projects().query("category == 'rivers'")["project_id"]
    pd.testing.assert_frame_equal(attributes(expected, river_ids), attributes(reference_registry))
    assert ordered(expected.features("rivers"))[0] == ordered(reference_registry.features("rivers"))[0]


def write_csv(path: Path, *rows: str, header: str = CSV_HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


GOOD = "2031-BBD-001,唯亭廣告整治,billboards,2031,10000,城市管理局,WT,planned,false,false,120.78,31.36"
BAD_STATUS = "2031-BBD-002,唯亭廣告整治,billboards,2031,10000,城市管理局,WT,unheard_of,false,false,120.78,31.36"
SWAPPED = "2031-BBD-003,唯亭廣告整治,billboards,2031,10000,城市管理局,WT,planned,false,false,31.36,120.78"


def test_rejected_rows_are_named_and_nothing_is_written(demo_copy, tmp_path):
    source = write_csv(tmp_path / "billboards.csv", GOOD, BAD_STATUS, SWAPPED)
    before = digest(demo_copy)
    with pytest.raises(RowsRejected) as caught:
        import_file(GeoPackageStore(demo_copy), source)
    found = [(r.row, r.field) for r in caught.value.report.rejected]
    assert found == [(3, "status"), (4, "geometry")]
    assert "經緯度寫反了" in caught.value.report.rejected[1].reason
    assert digest(demo_copy) == before


def test_skip_invalid_writes_the_valid_projects(demo_copy, tmp_path):
    source = write_csv(tmp_path / "billboards.csv", GOOD, BAD_STATUS, SWAPPED)
    report = import_file(GeoPackageStore(demo_copy), source, skip_invalid=True)
    assert (report.written, report.projects_new, len(report.rejected)) == (True, 1, 2)
    ids = set(GeoPackageStore(demo_copy).features("billboards")["project_id"])
    assert "2031-BBD-001" in ids and "2031-BBD-002" not in ids


def test_dry_run_reports_and_writes_nothing(demo_copy, tmp_path):
    source = write_csv(tmp_path / "billboards.csv", GOOD)
    before = digest(demo_copy)
    report = import_file(GeoPackageStore(demo_copy), source, dry_run=True)
    assert (report.written, report.projects_new, report.features) == (False, 1, {"billboards": 1})
    assert digest(demo_copy) == before


def test_insert_refuses_existing_projects_and_suggests_upsert(demo_copy, demo_result, tmp_path):
    report = export(demo_result, tmp_path / "out.geojson")
    with pytest.raises(RowsRejected, match="請使用 --mode upsert"):
        import_file(GeoPackageStore(demo_copy), report.path, mode="insert")


def test_duplicate_ids_in_a_sheet_are_rejected_on_every_row(demo_copy, tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["專案編號", "狀態"])
    sheet.append(["2013-RIV-001", "completed"])
    sheet.append(["2013-RIV-002", "completed"])
    sheet.append(["2013-RIV-001", "delayed"])
    workbook.save(tmp_path / "status.xlsx")
    with pytest.raises(RowsRejected) as caught:
        import_file(GeoPackageStore(demo_copy), tmp_path / "status.xlsx")
    assert [(r.row, r.reason) for r in caught.value.report.rejected] == [
        (2, "project_id 2013-RIV-001 重複"), (4, "project_id 2013-RIV-001 重複(首次出現在第 2 列)")]


def test_conflicting_attributes_of_one_project_are_rejected(reference_registry, tmp_path):
    other = GOOD.replace("10000", "20000").replace("120.78,31.36", "120.79,31.37")
    source = write_csv(tmp_path / "billboards.csv", GOOD, other)
    with pytest.raises(RowsRejected) as caught:
        import_file(reference_registry, source)
    rejected = caught.value.report.rejected
    assert [(r.row, r.field) for r in rejected] == [(3, "investment_yuan")]
    assert "在第 2 列" in rejected[0].reason


def test_chinese_headers_and_values_map_to_the_model(reference_registry, tmp_path):
    header = "專案編號,專案名稱,類別,年度,投資(元),牽頭部門,街道,狀態,責任狀專案,責任狀外追加,經度,緯度"
    row = "2031-BBD-001,唯亭廣告整治,戶外廣告,2031,10000,城市管理局,唯亭、婁葑,計劃,是,否,120.78,31.36"
    source = write_csv(tmp_path / "廣告.csv", row, header=header)
    import_file(reference_registry, source)
    project = reference_registry.projects().iloc[0]
    assert (project["category"], project["street_codes"], project["status"], project["in_statement"]) == (
        "billboards", "WT,LF", "planned", True)
    assert len(reference_registry.features("billboards")) == 1


def test_a_gbk_csv_is_detected_and_read_with_chinese_intact(reference_registry, tmp_path):
    source = tmp_path / "billboards.csv"
    source.write_bytes("\n".join([CSV_HEADER, GOOD]).encode("gbk"))
    report = import_file(reference_registry, source)
    assert report.projects_new == 1
    assert reference_registry.projects()["name"].tolist() == ["唯亭廣告整治"]


def test_a_mapping_file_maps_other_column_names(reference_registry, tmp_path):
    header = CSV_HEADER.replace("project_id", "CODE").replace("investment_yuan", "MONEY")
    source = write_csv(tmp_path / "billboards.csv", GOOD, header=header)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"CODE": "project_id", "MONEY": "investment_yuan"}), encoding="utf-8")
    import_file(reference_registry, source, mapping=mapping)
    assert reference_registry.projects()[["project_id", "investment_yuan"]].values.tolist() == [["2031-BBD-001", 10000]]


def test_a_prj_naming_no_known_crs_imports_with_crs_given(reference_registry, demo_result, tmp_path):
    folder = tmp_path / "shp"
    subprocess.run(["unzip", "-q", export(demo_result, tmp_path / "out.shp.zip").path, "-d", str(folder)], check=True)
    (folder / "rivers.prj").write_text('GEOGCS["unknown local",DATUM["local"]]', encoding="ascii")
    report = import_file(reference_registry, folder / "rivers.shp", crs="EPSG:4490")
    assert report.features == {"rivers": int((demo_result.features["layer"] == "rivers").sum())}


def test_cli_import_prints_the_report_and_one_error_line(demo_copy, tmp_path):
    source = write_csv(tmp_path / "billboards.csv", GOOD, BAD_STATUS)
    before = digest(demo_copy)
    done = run_cli("import", "--store", str(demo_copy), str(source))
    assert done.returncode == 2
    assert "拒收：1 列" in done.stdout and "billboards.csv 第 3 列：status：" in done.stdout
    assert done.stderr.count("\n") == 1 and "未寫入任何資料" in done.stderr
    assert digest(demo_copy) == before


def test_cli_import_with_skip_invalid_reports_accepted_rows(demo_copy, tmp_path):
    source = write_csv(tmp_path / "billboards.csv", GOOD, BAD_STATUS)
    done = run_cli("import", "--store", str(demo_copy), str(source), "--skip-invalid")
    assert done.returncode == 0, done.stderr
    assert "接受：專案 1 個(新增 1 個，更新 0 個)，要素 1 個 (billboards 1)" in done.stdout
    assert "已在一個交易中寫入" in done.stdout


def test_layer_option_names_the_layer_of_features_the_file_does_not_place(demo_copy, tmp_path):
    source = tmp_path / "segments.csv"
    source.write_text("project_id,feature_name,WKT\n2013-RIV-001,新河段,\"LINESTRING (120.70 31.30, 120.71 31.31)\"\n",
                      encoding="utf-8")
    report = import_file(GeoPackageStore(demo_copy), source, layer="rivers", mode="upsert")
    assert (report.projects_updated, report.features) == (1, {"rivers": 1})
    segments = GeoPackageStore(demo_copy).features("rivers", project_ids=["2013-RIV-001"])
    assert segments["name"].tolist() == ["新河段"]


def test_geojson_arrays_are_read_as_items_joined_by_commas(reference_registry, tmp_path):
    properties = {"project_id": "2014-RIV-001", "name": "唐莊河整治", "category": "rivers", "year": 2014,
                  "investment_yuan": 1000, "lead_department": "規劃建設局", "street_codes": ["LF", "XT"],
                  "status": "planned", "in_statement": False, "beyond_statement": False}
    geometry = {"type": "LineString", "coordinates": [[120.66, 31.30], [120.67, 31.301]]}
    source = tmp_path / "arrays.geojson"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": properties, "geometry": geometry}]}, ensure_ascii=False), encoding="utf-8")
    report = import_file(reference_registry, source)
    assert report.written and any("street_codes 中的列表" in note for note in report.notes)
    assert reference_registry.projects()["street_codes"].tolist() == ["LF,XT"]
