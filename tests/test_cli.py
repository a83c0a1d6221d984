"""The ``registry`` command: init, demo, info, query output, and one-line errors with exit code 2.

Each command's own answers are checked in its module: stats in test_stats.py, qa in test_qa.py, export and
import in test_exchange_*.py, map in test_maps.py.
"""

from __future__ import annotations

import json
import sqlite3

import geopandas as gpd
import pytest
from shapely import Point

from registry import model

from .conftest import run_cli


def test_init_creates_an_empty_registry_that_info_reads(tmp_path):
    path = tmp_path / "new.gpkg"
    done = run_cli("init", "--store", str(path))
    assert done.returncode == 0, done.stderr
    info = json.loads(run_cli("info", "--store", str(path), "--format", "json").stdout)
    assert info["schema_version"] == model.SCHEMA_VERSION
    assert {layer["name"]: layer["count"] for layer in info["layers"]}["rivers"] == 0


def test_init_refuses_to_overwrite_an_existing_file(demo_copy):
    done = run_cli("init", "--store", str(demo_copy))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "文件已存在" in done.stderr  # the command speaks Simplified until a registry names its script
    assert sqlite3.connect(demo_copy).execute("SELECT count(*) FROM projects").fetchone()[0] == 180


def test_demo_replaces_an_existing_registry_only_with_force(tmp_path):
    target = tmp_path / "mine.gpkg"
    assert run_cli("init", "--store", str(target)).returncode == 0
    before = target.read_bytes()
    done = run_cli("demo", "--store", str(target))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--force" in done.stderr
    assert target.read_bytes() == before
    assert run_cli("demo", "--store", str(target), "--force").returncode == 0
    assert sqlite3.connect(target).execute("SELECT count(*) FROM projects").fetchone()[0] == 180


def test_demo_builds_in_the_working_directory_by_default(tmp_path):
    done = run_cli("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sqlite3.connect(tmp_path / "registry.gpkg").execute("SELECT count(*) FROM projects").fetchone()[0] == 180


def test_info_json_reports_counts_extent_and_crs(demo_path):
    info = json.loads(run_cli("info", "--store", str(demo_path), "--format", "json").stdout)
    con = sqlite3.connect(demo_path)
    layers = {layer["name"]: layer for layer in info["layers"]}
    for name in ("rivers", "billboards", "street_offices", "projects"):
        assert layers[name]["count"] == con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    assert layers["rivers"]["crs"] == "EPSG:4490"
    minx, miny, maxx, maxy = layers["park_boundary"]["extent"]
    assert 120.6 < minx < maxx < 120.9 and 31.2 < miny < maxy < 31.5
    assert "illustrative" in info["notice"]


def test_info_table_lists_every_layer(demo_path):
    out = run_cli("info", "--store", str(demo_path)).stdout
    for name in ("projects", "alleys", "sluices", "street_offices", "lakes", "main_rivers"):
        assert f"\n{name} " in out
    assert "EPSG:4490" in out


def test_store_taken_from_the_environment(demo_path, tmp_path):
    import os

    env = {**os.environ, "REGISTRY_STORE": str(demo_path)}
    out = json.loads(run_cli("info", "--format", "json", cwd=tmp_path, env=env).stdout)
    assert out["store"] == str(demo_path)


def test_query_json_lists_projects_with_their_features(demo_path):
    done = run_cli("query", "--store", str(demo_path), "--street", "娄葑", "--category", "rivers", "--format", "json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["total"] == len(payload["projects"]) > 0
    first = payload["projects"][0]
    assert {"project_id", "name", "investment_yuan", "features"} <= set(first)
    assert first["features"][0]["geometry"]["type"] == "MultiLineString"


def test_query_geojson_is_a_feature_collection_in_longitude_latitude(demo_path):
    done = run_cli("query", "--store", str(demo_path), "--bbox", "120.65,31.25,120.75,31.35", "--format", "geojson")
    collection = json.loads(done.stdout)
    assert collection["type"] == "FeatureCollection" and collection["features"]
    assert all(-180 <= f["geometry"]["coordinates"][0][0][0] <= 180 for f in collection["features"]
               if f["geometry"]["type"] == "MultiLineString")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--street", "虎丘"], "有效的街道"),
        (["--polygon", "POLYGON((1 2"], "polygon"),
        (["--bbox", "1,2,3,4", "--crs", "EPSG:123456"], "未知的 EPSG 代碼"),
        (["--near", "唐莊河", "--distance", "-3"], "distance"),
        (["--bbox", "120.8,31.3,120.7,31.4"], "最小值不能大於最大值"),
        (["--bbox", "31.2,120.7,31.3,120.8"], "經緯度似乎寫反了"),
        (["--bbox", "0,0,1,1"], "離園區很遠"),
    ],
)
def test_bad_query_is_one_line_error_with_no_output(demo_path, args, needle):
    done = run_cli("query", "--store", str(demo_path), *args, "--format", "json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and needle in done.stderr


def assert_one_line_error(done, *needles):
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0]
    assert done.stdout == ""


def test_missing_store_is_one_line_error(tmp_path):
    assert_one_line_error(run_cli("info", "--store", str(tmp_path / "nope.gpkg")), "nope.gpkg", "没有这个文件")


def test_non_geopackage_is_one_line_error(tmp_path):
    path = tmp_path / "x.gpkg"
    path.write_bytes(b"\x00" * 200)
    assert_one_line_error(run_cli("info", "--store", str(path)), "x.gpkg", "不是 GeoPackage")


def test_geopackage_without_registry_layers_is_one_line_error(tmp_path):
    path = tmp_path / "plain.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(120.7, 31.3)], crs=4490).to_file(path)
    assert_one_line_error(run_cli("info", "--store", str(path)), "plain.gpkg", "不是登记簿")


def test_unknown_option_is_one_line_error():
    assert_one_line_error(run_cli("info", "--colour"), "--colour")
