"""Exports of the demo registry, judged by GDAL's ogrinfo, openpyxl, QGIS and the files' own bytes.

Imports (and round trips through them) are in test_exchange_import.py, bad import input in
test_exchange_bad_input.py.
"""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import openpyxl
import orjson
import pyogrio
import pytest
import shapely

from registry import model
from registry.errors import ValidationError
from registry.exchange import export, export_bytes, fields
from registry.exchange.progress import progress_bar
from registry.query import QueryResult, find
from registry.store import GeoPackageStore

from .conftest import run_cli

RIVER_PROJECT = "2013-RIV-001"
RIVER_PROJECT_NAME = "4號河整治"
QGIS_SCRIPT = """
import json, os, sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
found = {}
for name in sys.argv[2:]:
    layer = QgsVectorLayer(f"{sys.argv[1]}|layername={name}", name, "ogr")
    renderer = layer.renderer()
    categories = renderer.categories() if renderer.type() == "categorizedSymbol" else []
    found[name] = {"valid": layer.isValid(), "count": layer.featureCount(), "renderer": renderer.type(),
                   "attribute": categories and renderer.classAttribute(),
                   "values": [c.value() for c in categories], "labels": [c.label() for c in categories]}
print(json.dumps(found, ensure_ascii=False))
sys.stdout.flush()
os._exit(0)  # QGIS 3.22's Python teardown can crash after the work is done
"""


def ogrinfo(*args: str) -> str:
    """Debian's ogrinfo, read-only, its output as text."""
    return subprocess.run(["ogrinfo", "-ro", *args], capture_output=True, text=True, check=True).stdout


def layer_facts(dataset: str, layer: str) -> tuple[int, str, int | None]:
    """(feature count, geometry type, EPSG code of the layer's CRS) as ogrinfo reports them."""
    text = ogrinfo("-so", dataset, layer)
    count = int(re.search(r"Feature Count: (\d+)", text).group(1))
    geometry = re.search(r"Geometry: (.+)", text).group(1)
    wkt = text.split("Layer SRS WKT:", 1)[1].split("Data axis", 1)[0] if "Data axis" in text else ""
    codes = re.findall(r'ID\["EPSG",(\d+)\]', wkt)
    return count, geometry, int(codes[-1]) if codes else None


def rivers(result: QueryResult) -> int:
    return int((result.features["layer"] == "rivers").sum())


# format, file name, CRS asked, how GDAL opens the rivers (dataset, layer), geometry type GDAL reports, CRS found
JUDGED = [
    ("geojson", "out.geojson", 4549, lambda p: (str(p), "out"), "Unknown (any)", 4326),
    ("shapefile", "out.shp.zip", 4490, lambda p: (f"/vsizip/{p}", "rivers"), "Line String", 4490),
    ("shapefile", "out.shp.zip", 4549, lambda p: (f"/vsizip/{p}", "rivers"), "Line String", 4549),
    ("gpkg", "out.gpkg", 4490, lambda p: (str(p), "rivers"), "Multi Line String", 4490),
    ("gpkg", "out.gpkg", 4326, lambda p: (str(p), "rivers"), "Multi Line String", 4326),
    ("flatgeobuf", "out.fgb", 4549, lambda p: (f"/vsizip/{p}/rivers.fgb", "rivers"), "Multi Line String", 4549),
    ("csv", "out.csv", 4490, lambda p: (str(p), "out"), "Unknown (any)", None),
]


@pytest.mark.parametrize(("fmt", "name", "epsg", "open_as", "geometry", "found_epsg"), JUDGED,
                         ids=[f"{j[0]}-{j[2]}" for j in JUDGED])
def test_ogrinfo_reads_each_export_with_count_type_crs_and_chinese(demo_result, tmp_path, fmt, name, epsg, open_as,
                                                                   geometry, found_epsg):
    report = export(demo_result, tmp_path / name, crs=epsg)
    dataset, layer = open_as(report.path)
    count, found_geometry, found_crs = layer_facts(dataset, layer)
    whole_file = fmt in ("geojson", "csv")
    assert count == (len(demo_result.features) if whole_file else rivers(demo_result))
    assert (found_geometry, found_crs) == (geometry, found_epsg)
    assert RIVER_PROJECT_NAME in ogrinfo("-q", dataset, layer, "-where", f"project_id = '{RIVER_PROJECT}'")


def test_ogrinfo_reads_chinese_from_a_gbk_shapefile(demo_result, tmp_path):
    report = export(demo_result, tmp_path / "gbk.shp.zip", encoding="gbk")
    with zipfile.ZipFile(report.path) as zf:
        assert zf.read("rivers.cpg").decode().strip() == "CP936"
        assert RIVER_PROJECT_NAME.encode("gbk") in zf.read("rivers.dbf")
    shown = ogrinfo("-q", f"/vsizip/{report.path}", "rivers", "-where", f"project_id = '{RIVER_PROJECT}'")
    assert RIVER_PROJECT_NAME in shown


def test_shapefile_zip_has_a_shapefile_per_layer_and_the_field_mapping(demo_result, tmp_path):
    report = export(demo_result, tmp_path / "out.zip")
    with zipfile.ZipFile(report.path) as zf:
        names = set(zf.namelist())
        mapping = json.loads(zf.read(fields.MAPPING_FILE))
    layers = set(demo_result.features["layer"])
    assert names == {f"{layer}{suffix}" for layer in layers for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg")} | {
        fields.MAPPING_FILE}
    assert mapping == {fields.FIELD_BY_NAME[c].dbf: c for c in fields.EXPORT_COLUMNS}
    dbf_fields = list(pyogrio.read_info(f"/vsizip/{report.path}/rivers.shp")["fields"])
    assert dbf_fields == list(mapping)


def test_dbf_short_names_fit_ten_bytes_and_never_collide():
    short = list(fields.dbf_names().values())
    assert all(len(name.encode()) <= 10 and name.isascii() for name in short)
    assert len({name.lower() for name in short}) == len(fields.EXPORT_COLUMNS)


@pytest.mark.parametrize(("encoding", "kept"), [("utf-8", "整治" * 42), ("gbk", "整治" * 63 + "整")])
def test_long_text_is_cut_at_a_character_boundary_and_reported(demo_result, tmp_path, encoding, kept):
    features = demo_result.features.assign(tasks=demo_result.features["tasks"].astype(object))
    long = features["project_id"] == RIVER_PROJECT
    features.loc[long, "tasks"] = "整治" * 150
    report = export((demo_result.projects, features), tmp_path / "long.shp.zip", encoding=encoding)
    assert report.truncated == {"tasks": int(long.sum())}
    read = pyogrio.read_dataframe(f"/vsizip/{report.path}/rivers.shp", encoding=encoding)
    assert set(read.loc[read["project_id"] == RIVER_PROJECT, "tasks"]) == {kept}


def test_gbk_export_replaces_characters_gbk_lacks_and_reports_them(demo_result, tmp_path):
    features = demo_result.features.assign(feature_name=demo_result.features["feature_name"].astype(object))
    features.loc[features["project_id"] == RIVER_PROJECT, "feature_name"] = "𠮷河"
    report = export((demo_result.projects, features), tmp_path / "gbk.shp.zip", encoding="gbk")
    assert report.replaced == {"feature_name": 1}
    read = pyogrio.read_dataframe(f"/vsizip/{report.path}/rivers.shp", encoding="gbk")
    assert read.loc[read["project_id"] == RIVER_PROJECT, "feat_name"].tolist() == ["?河"]


def test_geojson_is_rfc7946_whatever_crs_is_asked(demo_result, tmp_path):
    report = export(demo_result, tmp_path / "out.geojson", crs="EPSG:4549")
    collection = orjson.loads(Path(report.path).read_bytes())
    assert "crs" not in collection and report.crs == "OGC:CRS84"
    geoms = shapely.from_geojson([orjson.dumps(f["geometry"]) for f in collection["features"]])
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    assert 120.6 < minx < maxx < 120.9 and 31.2 < miny < maxy < 31.5
    polygons = shapely.get_parts(geoms[shapely.get_type_id(geoms) == 6])
    assert shapely.is_ccw(shapely.get_exterior_ring(polygons)).all()
    decimals = re.findall(rb"\d+\.(\d+)", Path(report.path).read_bytes().split(b'"geometry"', 1)[1][:2000])
    assert max(len(d) for d in decimals) <= 7


def test_csv_starts_with_a_utf8_bom_and_holds_wkt(demo_result, tmp_path):
    report = export(demo_result, tmp_path / "out.csv")
    data = Path(report.path).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data[3:].decode("utf-8")
    assert text.splitlines()[0].replace('"', "").split(",")[:4] == ["WKT", "layer", "fid", "project_id"]
    assert RIVER_PROJECT_NAME in text and "MULTILINESTRING ((" in text


def test_xlsx_has_chinese_headers_openpyxl_reads(demo_result, tmp_path):
    report = export(demo_result, tmp_path / "out.xlsx")
    sheet = openpyxl.load_workbook(report.path, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == [f.zh for f in model.PROJECT_FIELDS]
    assert len(rows) == len(demo_result.projects) + 1
    assert (RIVER_PROJECT, RIVER_PROJECT_NAME) in {(r[0], r[1]) for r in rows[1:]}


def _styles(path: str) -> dict[str, ET.Element]:
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT f_table_name, f_geometry_column, styleQML, useAsDefault "
                           "FROM layer_styles").fetchall()
    finally:
        con.close()
    assert all(column == "geom" and default for _, column, _, default in rows)
    return {table: ET.fromstring(qml.split("\n", 1)[1]) for table, _, qml, _ in rows}


@pytest.mark.parametrize("attribute", ["category", "status"])
def test_geopackage_layer_styles_classify_each_value_present(demo_result, tmp_path, attribute):
    report = export(demo_result, tmp_path / "out.gpkg", style_by=attribute)
    styles = _styles(report.path)
    assert set(styles) == set(demo_result.features["layer"])
    for layer, root in styles.items():
        renderer = root.find("renderer-v2")
        assert (renderer.get("type"), renderer.get("attr")) == ("categorizedSymbol", attribute)
        values = [c.get("value") for c in renderer.iter("category")]
        present = demo_result.features.loc[demo_result.features["layer"] == layer, attribute]
        assert sorted(values) == sorted(set(present))
        assert len(renderer.find("symbols")) == len(values)


def test_geopackage_holds_every_layer_and_the_projects_table(demo_result, tmp_path):
    report = export(demo_result, tmp_path / "out.gpkg")
    listed = {name for name, _ in pyogrio.list_layers(report.path)}
    assert listed == set(demo_result.features["layer"]) | {"projects", "layer_styles"}
    projects = pyogrio.read_dataframe(report.path, layer="projects")
    assert sorted(projects["project_id"]) == sorted(demo_result.projects["project_id"])
    kept = pyogrio.read_dataframe(report.path, layer="rivers", fid_as_index=True)
    store_fids = demo_result.features.loc[demo_result.features["layer"] == "rivers", "fid"]
    assert sorted(kept.index) == sorted(store_fids)


def test_qgis_opens_the_geopackage_already_symbolised(demo_result, tmp_path):
    report = export(demo_result, tmp_path / "out.gpkg")
    layers = sorted(set(demo_result.features["layer"]))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run(["/usr/bin/python3", "-c", QGIS_SCRIPT, report.path, *layers], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    for layer in layers:
        present = set(demo_result.features.loc[demo_result.features["layer"] == layer, "category"])
        assert seen[layer]["valid"] and seen[layer]["count"] == int((demo_result.features["layer"] == layer).sum())
        assert (seen[layer]["renderer"], seen[layer]["attribute"]) == ("categorizedSymbol", "category")
        assert set(seen[layer]["values"]) == present
    assert seen["rivers"]["labels"] == ["城市河道"]


def test_flatgeobuf_of_one_layer_is_a_plain_file(demo_path, tmp_path):
    result = find(GeoPackageStore(demo_path), {"category": "rivers"})
    report = export(result, tmp_path / "rivers.fgb")
    assert report.path == str(tmp_path / "rivers.fgb") and report.media_type == "application/flatgeobuf"
    assert layer_facts(report.path, "rivers")[:2] == (rivers(result), "Multi Line String")


def test_flatgeobuf_of_several_layers_is_a_zip(demo_result, tmp_path):
    report = export(demo_result, tmp_path / "all.fgb")
    assert report.path == str(tmp_path / "all.fgb.zip") and report.media_type == "application/zip"
    with zipfile.ZipFile(report.path) as zf:
        assert set(zf.namelist()) == {f"{layer}.fgb" for layer in set(demo_result.features["layer"])}


def test_export_bytes_serves_http_without_a_named_file(demo_result):
    data, report = export_bytes(demo_result, "gpkg")
    assert data.startswith(b"SQLite format 3\x00")
    assert (report.path, report.filename, report.media_type) == (None, "registry.gpkg",
                                                                 "application/geopackage+sqlite3")
    workbook = openpyxl.load_workbook(io.BytesIO(export_bytes(demo_result, "xlsx")[0]), read_only=True)
    assert workbook.worksheets[0].title == "專案"


def test_export_refuses_a_crs_other_than_4490_4326_4549(demo_result, tmp_path):
    with pytest.raises(ValidationError, match="EPSG:4490、EPSG:4326 或 EPSG:4549"):
        export(demo_result, tmp_path / "out.gpkg", crs=3857)
    assert not (tmp_path / "out.gpkg").exists()


def test_export_refuses_gbk_for_formats_that_are_always_utf8(demo_result, tmp_path):
    with pytest.raises(ValidationError, match="只適用於匯出 Shapefile"):
        export(demo_result, tmp_path / "out.csv", encoding="gbk")


def test_cli_export_writes_the_filtered_query(demo_path, tmp_path):
    target = tmp_path / "lf.geojson"
    done = run_cli("export", "--store", str(demo_path), "--street", "LF", "--category", "rivers", "--to", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    assert f"已寫入 {target}" in done.stdout
    expected = find(GeoPackageStore(demo_path), {"street": "LF", "category": "rivers"})
    written = orjson.loads(target.read_bytes())["features"]
    assert sorted(f["properties"]["fid"] for f in written) == sorted(expected.features["fid"])


def test_cli_export_names_an_unknown_suffix_in_one_line(demo_path, tmp_path):
    done = run_cli("export", "--store", str(demo_path), "--to", str(tmp_path / "out.kml"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "請用 --format 指定" in done.stderr


def test_progress_bar_is_off_when_stderr_is_not_a_terminal(capsys):
    with progress_bar(10, "export gpkg") as bar:
        assert bar.disable
    assert capsys.readouterr().err == ""


def test_progress_bar_shows_only_after_a_second(capsys):
    with progress_bar(10, "export gpkg", enabled=True) as bar:
        bar.update(5)
        assert capsys.readouterr().err == ""
        time.sleep(1.1)
        bar.update(5)
    assert "export gpkg" in capsys.readouterr().err
