"""Bad import input: each is one clear ValidationError and leaves the store byte-for-byte unchanged."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from registry.errors import ValidationError
from registry.exchange import export, import_file
from registry.exchange.archive import extract_zip
from registry.query import find
from registry.store import GeoPackageStore

from .conftest import digest, run_cli


@pytest.fixture(scope="module")
def rivers_shapefile(demo_path, tmp_path_factory) -> Path:
    """The demo's rivers exported as a shapefile folder (rivers.shp, .shx, .dbf, .prj, .cpg)."""
    folder = tmp_path_factory.mktemp("rivers")
    report = export(find(GeoPackageStore(demo_path), {"category": "rivers"}), folder / "rivers.shp.zip")
    with zipfile.ZipFile(report.path) as zf:
        zf.extractall(folder / "shp")
    return folder / "shp"


@pytest.fixture
def shapefile(rivers_shapefile, tmp_path) -> Path:
    """A private copy of the rivers shapefile folder that a test may break."""
    return Path(shutil.copytree(rivers_shapefile, tmp_path / "shp"))


def refused(store_path: Path, source: Path, match: str, **options) -> None:
    """Importing ``source`` raises one ValidationError matching ``match`` and leaves the store as it was."""
    before = digest(store_path)
    with pytest.raises(ValidationError, match=match):
        import_file(GeoPackageStore(store_path), source, mode="upsert", **options)
    assert digest(store_path) == before


def test_zip_with_path_traversal_is_refused_and_unpacks_nothing(demo_copy, shapefile, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in shapefile.iterdir():
            zf.write(part, arcname=part.name)
        zf.writestr("../../escaped.txt", "outside")
    refused(demo_copy, archive, "path traversal")
    assert not list(tmp_path.parent.glob("**/escaped.txt"))


def test_zip_with_absolute_member_path_is_refused(demo_copy, tmp_path):
    archive = tmp_path / "absolute.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("/etc/registry-escaped.txt", "outside")
    refused(demo_copy, archive, "path traversal")


def test_zip_bomb_is_refused_before_unpacking(demo_copy, tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("rivers.dbf", "w") as sink:
        block = bytes(1024**2)
        for _ in range(200):
            sink.write(block)
    refused(demo_copy, archive, "zip bomb")


def test_zip_unpacking_to_more_than_the_cap_is_refused(shapefile, tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in shapefile.iterdir():
            zf.write(part, arcname=part.name)
    with pytest.raises(ValidationError, match="超過上限 1000 位元組"):
        extract_zip(archive, tmp_path / "out", max_bytes=1000)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_shapefile_missing_its_shp_is_refused(demo_copy, shapefile):
    (shapefile / "rivers.shp").unlink()
    refused(demo_copy, shapefile, r"shapefile rivers：缺少 \.shp")


def test_shapefile_missing_its_dbf_is_refused(demo_copy, shapefile):
    (shapefile / "rivers.dbf").unlink()
    refused(demo_copy, shapefile / "rivers.shp", r"缺少 \.dbf")


def test_cpg_naming_an_unknown_encoding_is_refused(demo_copy, shapefile):
    (shapefile / "rivers.cpg").write_text("KLINGON-8", encoding="ascii")
    refused(demo_copy, shapefile, "未知的編碼 'KLINGON-8'")


def test_unknown_encoding_option_is_refused(demo_copy, shapefile):
    refused(demo_copy, shapefile, "未知的編碼 'martian'", encoding="martian")


def test_prj_naming_no_known_crs_is_refused(demo_copy, shapefile):
    (shapefile / "rivers.prj").write_text('GEOGCS["unknown local",DATUM["local"]]', encoding="ascii")
    refused(demo_copy, shapefile, r"其 \.prj 所指的坐標系無法識別；請用 --crs 指定")


def test_prj_of_a_crs_without_epsg_code_is_refused(demo_copy, shapefile):
    (shapefile / "rivers.prj").write_text(
        'PROJCS["Suzhou_Local",GEOGCS["GCS_Beijing_1954",DATUM["D_Beijing_1954",SPHEROID["Krasovsky_1940",'
        '6378245.0,298.3]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],'
        'PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",50000.0],PARAMETER["False_Northing",-3350000.0],'
        'PARAMETER["Central_Meridian",120.5833333],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],'
        'UNIT["Meter",1.0]]', encoding="ascii")
    refused(demo_copy, shapefile, "不對應任何已知的 EPSG 坐標系；請用 --crs 指定")


def test_shapefile_without_prj_is_refused(demo_copy, shapefile):
    (shapefile / "rivers.prj").unlink()
    refused(demo_copy, shapefile, "未宣告坐標系；請用 --crs 指定")


def test_mixed_geometry_types_are_refused(demo_copy, tmp_path):
    feature = {"type": "Feature", "properties": {"project_id": "2013-RIV-001", "layer": "rivers"}}
    collection = {"type": "FeatureCollection", "features": [
        {**feature, "geometry": {"type": "LineString", "coordinates": [[120.70, 31.30], [120.71, 31.31]]}},
        {**feature, "geometry": {"type": "Point", "coordinates": [120.70, 31.30]}},
    ]}
    source = tmp_path / "mixed.geojson"
    source.write_text(json.dumps(collection), encoding="utf-8")
    refused(demo_copy, source, "圖層 rivers 的要素混有 LineString, Point 幾何類型")


def test_empty_file_is_refused(demo_copy, tmp_path):
    source = tmp_path / "empty.geojson"
    source.write_bytes(b"")
    refused(demo_copy, source, "檔案為空")


def test_file_without_features_is_refused(demo_copy, tmp_path):
    source = tmp_path / "none.geojson"
    source.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    refused(demo_copy, source, "沒有可匯入的要素或列")


def test_not_a_zip_is_refused(demo_copy, tmp_path):
    source = tmp_path / "broken.zip"
    source.write_bytes(b"PK\x03\x04 not really")
    refused(demo_copy, source, "不是可讀取的 zip 檔案")


def test_cli_reports_bad_input_in_one_line_with_exit_code_2(demo_copy, shapefile):
    (shapefile / "rivers.dbf").unlink()
    before = digest(demo_copy)
    done = run_cli("import", "--store", str(demo_copy), str(shapefile))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("registry: 錯誤：shapefile rivers：缺少 .dbf")
    assert digest(demo_copy) == before
