"""Hostile input: requests and files made to crash a worker, hang it, or slip past the documented limits.

Every request of the corpus is answered within ``REQUEST_SECONDS``, with 200 or with a 400 problem naming the
parameter at fault (never a 500, never a hang: a threaded worker cannot be interrupted, so bounded input is
what bounds it). Every hostile file is refused by ``registry import`` in one line with exit code 2 and the
store left byte for byte as it was; a valid shapefile beside an unrelated CSV imports. Several requests and
files of the corpus crashed the process before (cql2-rs and GEOS overflowing their stacks), so a regression
fails this module loudly. The limits are registry/limits.py's, as the README states them.
"""

from __future__ import annotations

import json
import random
import sqlite3
import struct
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from registry import cql, limits, model
from registry.errors import RegistryError, ValidationError
from registry.exchange.importer import import_file
from registry.store import Batch, GeoPackageStore

from .conftest import POLYGON, digest, feature_count, features, project, reference_only, run_cli

REQUEST_SECONDS = 3.0  # the catastrophic LIKE took over 30 s; a request that parses its input answers in well under 1 s
EPSG_4549 = "http://www.opengis.net/def/crs/EPSG/0/4549"
EPSG_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
ITEMS = "/collections/alleys/items"
DEEP = 30_000  # levels of nesting: GEOS overflows an 8 MB stack on about 21,000 (WKT), cql2-rs on 1,500


def _nested_wkt(levels: int) -> str:
    return "GEOMETRYCOLLECTION(" * levels + "POINT(120.7 31.3)" + ")" * levels


def _nested_geojson(levels: int) -> str:
    point = '{"type":"Point","coordinates":[120.7,31.3]}'
    return '{"type":"GeometryCollection","geometries":[' * levels + point + "]}" * levels


def _zigzag(count: int) -> str:
    """A line whose buffer is the costliest to compute: every tooth's offset crosses every other's."""
    xs = np.linspace(120.65, 120.85, count)
    return "LINESTRING(" + ",".join(f"{x:.5f} {31.34 + 0.05 * (i % 2):.5f}" for i, x in enumerate(xs)) + ")"


def _multipoint(count: int) -> str:
    xs = np.linspace(120.70, 120.72, count)
    return "MULTIPOINT(" + ",".join(f"{x:.7f} 31.3" for x in xs) + ")"


# (path, parameters, expected status, the parameter a 400 names)
CORPUS = [
    pytest.param("/projects", {"limit": "²"}, 400, "limit", id="limit-superscript-two"),
    pytest.param("/projects", {"limit": "١٢"}, 400, "limit", id="limit-arabic-indic-digits"),
    pytest.param("/projects", {"offset": "³"}, 400, "offset", id="offset-superscript"),
    pytest.param("/projects", {"investment_min": "½"}, 400, "investment_min", id="investment-vulgar-fraction"),
    pytest.param("/projects", {"limit": "9" * 30}, 400, "limit", id="limit-30-digits"),
    pytest.param("/projects", {"year": "٢٠١٣"}, 400, "year", id="year-arabic-indic-digits"),
    pytest.param("/maps", {"dpi": "²"}, 400, "dpi", id="dpi-superscript-two"),
    pytest.param("/maps", {"dpi": "１５０"}, 400, "dpi", id="dpi-fullwidth-digits"),
    pytest.param(ITEMS, {"limit": "²"}, 400, "limit", id="items-limit-superscript"),
    pytest.param(ITEMS, {"after": "²"}, 400, "after", id="items-after-superscript"),
    pytest.param(ITEMS, {"year": "²"}, 400, "year", id="items-queryable-superscript"),
    pytest.param("/projects", {"bbox": "1,2,3,4", "bbox-crs": "EPSG:²"}, 400, "bbox-crs", id="bbox-crs-superscript"),
    pytest.param("/projects", {"bbox": "1,2,3,4", "bbox-crs": "EPSG:4978"}, 400, "bbox-crs", id="bbox-crs-geocentric"),
    pytest.param("/projects", {"bbox": "0,0,0,0"}, 400, "bbox", id="bbox-zero"),
    pytest.param(ITEMS, {"bbox": "0,0,0,0"}, 400, "bbox", id="items-bbox-zero"),
    pytest.param(ITEMS, {"datetime": "-1"}, 400, "datetime", id="datetime-year-minus-one"),
    pytest.param(ITEMS, {"datetime": "now"}, 400, "datetime", id="datetime-not-rfc-3339"),
    pytest.param("/projects", {"bbox": "nan,31,121,32"}, 400, "bbox", id="bbox-nan"),
    pytest.param("/projects", {"bbox": "1e308,1e308,1.7e308,1.7e308", "bbox-crs": "EPSG:4549"}, 400, "bbox",
                 id="bbox-beyond-epsg-4549"),
    pytest.param("/projects", {"bbox": "-1e300,-1e300,1e300,1e300"}, 200, None, id="bbox-huge-lonlat"),
    pytest.param("/projects", {"polygon": _nested_wkt(DEEP)}, 400, "polygon", id="polygon-nested-wkt"),
    pytest.param("/projects", {"near": _nested_geojson(2_000), "distance": "10"}, 400, "near",
                 id="near-nested-geojson"),
    pytest.param("/projects", {"polygon": _multipoint(limits.MAX_VERTICES + 1)}, 400, "polygon",
                 id="polygon-over-the-vertex-limit"),
    pytest.param("/projects", {"near": _zigzag(limits.MAX_NEAR_VERTICES), "distance": "50000", "predicate": "within"},
                 200, None, id="near-zigzag-within-50-km"),
    pytest.param("/projects", {"near": _zigzag(limits.MAX_NEAR_VERTICES + 1), "distance": "10"}, 400, "near",
                 id="near-over-its-vertex-limit"),
    pytest.param("/projects", {"sortby": ",".join(["name"] * 3000)}, 400, "sortby", id="sortby-a-field-3000-times"),
    pytest.param(ITEMS, {"sortby": "-year,name,year"}, 400, "sortby", id="items-sortby-a-field-twice"),
    pytest.param("/projects", {"q": "字" * 20_000}, 400, "q", id="q-longer-than-any-name"),
    pytest.param("/projects", {"near": "河" * 20_000, "distance": "10"}, 400, "near", id="near-name-too-long"),
    pytest.param("/maps", {"title": "字" * 20_000}, 400, "title", id="map-title-too-long"),
    pytest.param(ITEMS, {"filter": "name LIKE '" + "%" * 24 + "Z'"}, 200, None, id="like-24-percent"),
    pytest.param(ITEMS, {"filter": "name LIKE '" + "%a" * 30 + "%Z'"}, 200, None, id="like-30-pieces"),
    pytest.param(ITEMS, {"filter": "NOT " * 250 + "year = 2013"}, 400, "filter", id="filter-250-nots"),
    pytest.param(ITEMS, {"filter": "(" * 1900 + "year = 2013" + ")" * 1900}, 400, "filter",
                 id="filter-1900-parentheses"),
    pytest.param(ITEMS, {"filter": "(" * 3990}, 400, "filter", id="filter-unclosed-parentheses"),
    pytest.param(ITEMS, {"filter": "year = " + "-" * 3980 + "1"}, 400, "filter", id="filter-unary-minus-chain"),
    pytest.param(ITEMS, {"filter": "year = " + "+".join(["1"] * 1000)}, 400, "filter", id="filter-long-sum"),
    pytest.param(ITEMS, {"filter": " AND ".join(["year = 2013"] * 1000)}, 400, "filter", id="filter-too-long"),
    pytest.param(ITEMS, {"filter": '{"op":"not","args":[' * 60 + '{"op":"=","args":[{"property":"year"},2013]}'
                         + "]}" * 60}, 400, "filter", id="filter-json-60-nots"),
    pytest.param(ITEMS, {"filter": "[" * 1990 + "]" * 1990, "filter-lang": "cql2-json"}, 400, "filter",
                 id="filter-json-nested-arrays"),
]


@pytest.mark.parametrize(("path", "params", "status", "param"), CORPUS)
def test_hostile_request_is_answered_in_bounded_time(client, path, params, status, param):
    started = time.perf_counter()
    response = client.get(path, query_string=params)
    elapsed = time.perf_counter() - started
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if param is not None:
        assert response.get_json()["parameter"] == param
    assert elapsed < REQUEST_SECONDS


def _layer(demo_path: Path, layer: str) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(demo_path, layer=layer, fid_as_index=True)


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return {f["id"] for f in response.get_json()["features"]}


def test_point_sized_bbox_finds_the_features_under_the_point(client, demo_path):
    markets = _layer(demo_path, "markets")
    point = shapely.point_on_surface(markets.geometry.iloc[0])
    expected = set(markets.index[shapely.intersects(markets.geometry.values, point)])
    box = f"{point.y},{point.x},{point.y},{point.x}"  # EPSG:4490 by URI: latitude first
    found = _ids(client.get("/collections/markets/items", query_string={"bbox": box, "bbox-crs": EPSG_4490}))
    assert found == expected and expected


def test_bbox_without_height_finds_the_features_it_crosses(client, demo_path):
    rivers = _layer(demo_path, "rivers")
    line = shapely.LineString([(120.62, 31.33), (120.88, 31.33)])
    expected = set(rivers.index[shapely.intersects(rivers.geometry.values, line)])
    found = _ids(client.get("/collections/rivers/items", query_string={"bbox": "120.62,31.33,120.88,31.33",
                                                                      "limit": "1000"}))
    assert found == expected and expected


def test_huge_bbox_in_epsg_4549_holds_the_whole_layer(client, demo_path):
    response = client.get(ITEMS, query_string={"bbox": "-1e300,-1e300,1e300,1e300", "bbox-crs": EPSG_4549,
                                               "limit": "1"})
    assert response.status_code == 200
    assert response.get_json()["numberMatched"] == feature_count(demo_path, "alleys")


def test_huge_bbox_in_epsg_4549_finds_every_located_project(client, demo_path):
    union = " UNION ".join(f'SELECT project_id FROM "{layer.name}"' for layer in model.PROJECT_LAYERS)
    with sqlite3.connect(demo_path) as con:
        located = con.execute(f"SELECT count(*) FROM ({union})").fetchone()[0]
    response = client.get("/projects", query_string={"bbox": "-1e300,-1e300,1e300,1e300", "bbox-crs": "EPSG:4549"})
    assert response.status_code == 200
    assert response.get_json()["total"] == located


def test_long_or_chain_within_the_limit_matches_sqlite(client, demo_path):
    text = " OR ".join(["year=2013"] * 300)  # a left-deep tree 300 deep
    assert len(text) <= limits.MAX_FILTER_CHARS
    with sqlite3.connect(demo_path) as con:
        expected = con.execute("SELECT count(*) FROM alleys JOIN projects USING (project_id) "
                               "WHERE projects.year = 2013").fetchone()[0]
    response = client.get(ITEMS, query_string={"filter": text, "limit": "1"})
    assert response.status_code == 200
    assert response.get_json()["numberMatched"] == expected > 0


def _like(texts: list[str], pattern: str) -> list[bool]:
    frame = gpd.GeoDataFrame({"name": texts}, geometry=[None] * len(texts))
    node = cql.parse_filter({"op": "like", "args": [{"property": "name"}, pattern]})
    return cql.filter_mask(frame, node, {"name": "text"}).tolist()


def test_like_matches_what_sqlite_like_matches():
    rng = random.Random(11)
    alphabet = "ab%_\\字"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7))) for _ in range(60)]
    con = sqlite3.connect(":memory:")
    con.execute("PRAGMA case_sensitive_like = ON")
    for _ in range(200):
        pattern = ""
        for _ in range(rng.randint(0, 7)):
            char = rng.choice(alphabet)
            pattern += char + (rng.choice(alphabet) if char == "\\" else "")  # an escape always escapes something
        expected = [bool(con.execute("SELECT ? LIKE ? ESCAPE '\\'", (t, pattern)).fetchone()[0]) for t in texts]
        assert _like(texts, pattern) == expected, pattern


@pytest.mark.parametrize("pattern", ["%" * 24 + "Z", "%a" * 30 + "%Z", "%" + "a" * 500 + "b%", "_" * 3_000 + "%a%Z"])
def test_like_takes_time_linear_in_the_text(pattern):
    texts = ["a" * limits.MAX_TEXT_CHARS] * 20
    started = time.perf_counter()
    assert _like(texts, pattern) == [False] * 20
    assert time.perf_counter() - started < 1.0


# -- files -----------------------------------------------------------------------------------------------
def _import(store: Path, file: Path) -> tuple[object, str]:
    """Run ``registry import`` on a copy of a registry; the result and the store's digest after."""
    result = run_cli("import", "--store", str(store), str(file))
    return result, digest(store)


def _refused(result, *words: str) -> None:
    """One line on stderr naming what is wrong, exit code 2, no traceback."""
    assert result.returncode == 2, result.stderr[-500:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(("registry: 错误：", "registry: 錯誤：")), result.stderr[-500:]
    for word in words:
        assert word in lines[0]


def _market(pid: str = "2015-MKT-901", **extra) -> dict:
    return project(pid, "markets", **extra)


_POLYGON_JSON = json.loads(shapely.to_geojson(POLYGON))


def _shapefile_zip(path: Path, extra: dict[str, str] | None = None) -> Path:
    """A zipped shapefile of one market project, as an office's GIS writes it (DBF names of ten characters)."""
    folder = path.parent / f"{path.stem}-parts"
    folder.mkdir()
    frame = gpd.GeoDataFrame([_market()], geometry=[shapely.MultiPolygon([POLYGON])], crs=4490)
    frame.rename(columns={"investment_yuan": "invest_yn", "lead_department": "lead_dept", "street_codes": "streets",
                          "in_statement": "in_stmt", "beyond_statement": "beyond_st"}).to_file(folder / "markets.shp")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(folder.iterdir()):
            zf.write(part, part.name)
        for name, text in (extra or {}).items():
            zf.writestr(name, text)
    return path


def _write_geojson(path: Path, row: dict, geometry: dict) -> Path:
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": row, "geometry": geometry}]}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def test_corrupt_zip_is_refused_in_one_line(demo_copy, tmp_path):
    before = digest(demo_copy)
    archive = tmp_path / "corrupt.zip"
    archive.write_bytes(b"PK\x03\x04" + bytes(random.Random(1).randrange(256) for _ in range(4000)))
    result, after = _import(demo_copy, archive)
    _refused(result, "corrupt.zip")
    assert after == before


def test_zip_with_a_damaged_member_is_refused_naming_it(demo_copy, tmp_path):
    before = digest(demo_copy)
    source = _write_geojson(tmp_path / "markets.geojson", _market(), _POLYGON_JSON)
    archive = tmp_path / "damaged.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(source, source.name)
    data = bytearray(archive.read_bytes())
    start = 30 + len(source.name)  # the member's compressed data follows its local header
    data[start:start + 40] = bytes(b ^ 0x5A for b in data[start:start + 40])
    archive.write_bytes(bytes(data))
    with pytest.raises(ValidationError, match=f"成員 '{source.name}' 已損壞"):
        import_file(GeoPackageStore(demo_copy), archive)
    assert digest(demo_copy) == before


def test_ten_mib_text_value_is_refused_naming_the_field_and_the_limit(demo_copy, tmp_path):
    before = digest(demo_copy)
    big = _write_geojson(tmp_path / "big.geojson", _market(notes="字" * (10 * 1024**2 // 3)),
                         _POLYGON_JSON)
    result, after = _import(demo_copy, big)
    _refused(result, "notes", str(limits.MAX_TEXT_CHARS))
    assert after == before


def test_million_vertex_polygon_is_refused_naming_the_limit(demo_copy, tmp_path):
    before = digest(demo_copy)
    angles = np.linspace(0, 2 * np.pi, 1_000_000, endpoint=False)
    ring = np.column_stack([120.75 + 0.01 * np.cos(angles), 31.3 + 0.01 * np.sin(angles)])
    frame = gpd.GeoDataFrame([_market()], geometry=[shapely.MultiPolygon([shapely.Polygon(ring)])], crs=4490)
    frame.to_file(tmp_path / "million.gpkg", layer="markets")
    result, after = _import(demo_copy, tmp_path / "million.gpkg")
    _refused(result, "頂點", str(limits.MAX_VERTICES))
    assert after == before


def _nested_wkb(levels: int) -> bytes:
    wkb = struct.pack("<BIdd", 1, 1, 120.7, 31.3)
    return struct.pack("<BII", 1, 7, 1) * levels + wkb


def test_deeply_nested_geometry_in_a_geopackage_is_refused_before_geos_reads_it(demo_copy, tmp_path):
    before = digest(demo_copy)
    path = tmp_path / "deep.gpkg"
    gpd.GeoDataFrame([_market()], geometry=[shapely.GeometryCollection([POLYGON])], crs=4490).to_file(
        path, layer="markets", geometry_type="Unknown")
    with sqlite3.connect(path) as con:  # the blob GDAL hands on unread: a GeoPackage header and WKB
        for (trigger,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            con.execute(f'DROP TRIGGER "{trigger}"')
        con.execute("UPDATE markets SET geom = ?", (b"GP\x00\x01" + struct.pack("<i", 4490) + _nested_wkb(DEEP),))
    result, after = _import(demo_copy, path)
    _refused(result, "巢狀", str(limits.MAX_NESTING))
    assert after == before


def test_valid_shapefile_beside_an_unrelated_csv_imports(demo_path, tmp_path):
    archive = _shapefile_zip(tmp_path / "markets.zip", {"readme.csv": "序號,說明\n1,隨附說明\n"})
    target = tmp_path / "registry.gpkg"
    target.write_bytes(demo_path.read_bytes())
    reference_only(target)
    result = run_cli("import", "--store", str(target), str(archive))
    assert result.returncode == 0, result.stderr[-500:]
    with sqlite3.connect(target) as con:
        assert con.execute("SELECT project_id, name FROM projects").fetchall() == [("2015-MKT-901", "唐莊河整治")]
    assert feature_count(target, "markets") == 1


# -- relatives, in process: damaged copies of every format, and writes past the limits -------------------------
@pytest.fixture(scope="module")
def sound_files(tmp_path_factory) -> list[Path]:
    """One small valid file of each format the importer reads (a shapefile zipped)."""
    folder = tmp_path_factory.mktemp("sound")
    frame = gpd.GeoDataFrame([_market()], geometry=[shapely.MultiPolygon([POLYGON])], crs=4490)
    frame.to_file(folder / "markets.gpkg", layer="markets")
    frame.to_file(folder / "markets.fgb")
    frame.to_file(folder / "markets.geojson")
    _shapefile_zip(folder / "markets.zip")
    pd.DataFrame([_market() | {"wkt": POLYGON.wkt}]).to_csv(folder / "markets.csv", index=False)
    return [folder / n for n in ("markets.gpkg", "markets.fgb", "markets.geojson", "markets.zip", "markets.csv")]


@pytest.mark.parametrize("index", range(5), ids=["gpkg", "fgb", "geojson", "zip", "csv"])
def test_damaged_copies_are_refused_in_one_error_never_a_traceback(demo_path, sound_files, tmp_path, index):
    """Cut short or with bytes overwritten (fixed seeds): a RegistryError or a clean read, nothing else."""
    store = GeoPackageStore(demo_path)
    sound = sound_files[index]
    assert import_file(store, sound, dry_run=True).features == {"markets": 1}
    rng = random.Random(index)
    data = sound.read_bytes()
    refused = 0
    for trial in range(16):
        damaged = bytearray(data[: rng.randrange(1, len(data))] if trial % 2 else data)
        for _ in range(0 if trial % 2 else rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        copy = tmp_path / f"{trial}-{sound.name}"
        copy.write_bytes(bytes(damaged))
        try:
            import_file(store, copy, dry_run=True)
        except RegistryError:
            refused += 1
    assert refused > 0


def test_deeply_nested_wkt_in_a_csv_is_refused(demo_path, tmp_path):
    path = tmp_path / "deep.csv"
    pd.DataFrame([_market() | {"wkt": _nested_wkt(DEEP)}]).to_csv(path, index=False)
    with pytest.raises(ValidationError, match="巢狀") as info:
        import_file(GeoPackageStore(demo_path), path, dry_run=True)
    assert info.value.param == "geometry"


@pytest.mark.parametrize(("column", "limit"), [("name", limits.MAX_SHORT_TEXT_CHARS), ("notes", limits.MAX_TEXT_CHARS),
                                               ("status", limits.MAX_SHORT_TEXT_CHARS)])
def test_write_of_text_over_its_limit_is_refused_naming_field_and_limit(demo_copy, column, limit):
    before = digest(demo_copy)
    batch = Batch(pd.DataFrame([_market(**{column: "字" * (limit + 1)})]),
                  {"markets": features("2015-MKT-901", shapely.MultiPolygon([POLYGON]))})
    with pytest.raises(ValidationError, match=f"{limit + 1} 個字元，超過上限 {limit} 個") as info:
        GeoPackageStore(demo_copy).write(batch)
    assert info.value.param == column
    assert digest(demo_copy) == before


def test_write_of_text_at_its_limit_is_accepted(demo_copy):
    batch = Batch(pd.DataFrame([_market(notes="字" * limits.MAX_TEXT_CHARS)]),
                  {"markets": features("2015-MKT-901", shapely.MultiPolygon([POLYGON]))})
    GeoPackageStore(demo_copy).write(batch)
    assert GeoPackageStore(demo_copy).projects(["2015-MKT-901"])["notes"].str.len().tolist() == [limits.MAX_TEXT_CHARS]


def test_write_of_a_feature_over_the_vertex_limit_is_refused(demo_copy):
    before = digest(demo_copy)
    ring = shapely.segmentize(POLYGON.exterior, POLYGON.exterior.length / limits.MAX_VERTICES)
    assert shapely.get_num_coordinates(ring) > limits.MAX_VERTICES
    batch = Batch(pd.DataFrame([_market()]), {"markets": features("2015-MKT-901", shapely.Polygon(ring))})
    with pytest.raises(ValidationError, match=f"超過上限 {limits.MAX_VERTICES} 個") as info:
        GeoPackageStore(demo_copy).write(batch)
    assert info.value.param == "geometry"
    assert digest(demo_copy) == before
