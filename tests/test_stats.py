"""Apportioned statistics and QA, checked against independent computations."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from shapely import LineString, Point, Polygon

from registry.errors import ValidationError
from registry.qa import run_qa
from registry.stats import statistics
from registry.store import Batch, GeoPackageStore

from .conftest import run_cli

_TO_METRIC = pyproj.Transformer.from_crs(4490, 4549, always_xy=True)
_TO_GEO = pyproj.Transformer.from_crs(4549, 4490, always_xy=True)


def to_metric(geom):
    return shapely.transform(geom, lambda xy: np.column_stack(_TO_METRIC.transform(xy[:, 0], xy[:, 1])))


def to_geo(geom):
    return shapely.transform(geom, lambda xy: np.column_stack(_TO_GEO.transform(xy[:, 0], xy[:, 1])))


def yuan(text: str) -> Decimal:
    return Decimal(text)


def test_streets_add_up_to_the_park_total_exactly(demo_path):
    result = statistics(GeoPackageStore(demo_path), {}, "street").to_json()
    assert sum(yuan(r["investment_yuan"]) for r in result["rows"]) == Decimal("3633000000.00")
    assert result["totals"]["investment_yuan"] == "3633000000.00"
    assert result["totals"]["projects"] == 180
    con = sqlite3.connect(demo_path)
    stalls, spaces, length = con.execute(
        "SELECT sum(stalls), sum(parking_spaces), sum(length_m) FROM projects").fetchone()
    assert sum(r["stalls"] for r in result["rows"]) == stalls
    assert sum(r["parking_spaces"] for r in result["rows"]) == spaces
    assert sum(r["length_m"] for r in result["rows"]) == pytest.approx(length, abs=0.1)


def test_crossing_projects_count_in_each_street_they_touch(demo_path):
    result = statistics(GeoPackageStore(demo_path), {"as_of": "2014-01-01"}, "street").to_json()
    assert sum(r["projects"] for r in result["rows"]) > 180
    assert {r["street"] for r in result["rows"]} == {"LF", "XT", "WT", "SP"}


def test_street_year_groups_add_up_to_each_year(demo_path):
    result = statistics(GeoPackageStore(demo_path), {}, "street,year").to_json()
    for year, total in ((2013, "603000000.00"), (2014, "1620000000.00"), (2015, "1410000000.00")):
        assert sum(yuan(r["investment_yuan"]) for r in result["rows"] if r["year"] == year) == Decimal(total)


def test_grouping_by_category_counts_each_project_once(demo_path):
    result = statistics(GeoPackageStore(demo_path), {"year": "2013"}, "category").to_json()
    con = sqlite3.connect(demo_path)
    expected = dict(con.execute("SELECT category, count(*) FROM projects WHERE year = 2013 GROUP BY category"))
    assert {r["category"]: r["projects"] for r in result["rows"]} == expected
    assert result["totals"]["investment_yuan"] == "603000000.00"


@pytest.fixture
def split_project(demo_copy):
    """A 1,000 m straight line that crosses the 婁葑/金雞湖 boundary: 300 m in 婁葑, 700 m in 金雞湖."""
    streets = pyogrio.read_dataframe(demo_copy, layer="street_offices")
    current = streets[streets["valid_to"].isna()].set_index("code").geometry
    lf, jjh = to_metric(current["LF"]), to_metric(current["JJH"])
    seam = shapely.intersection(lf.boundary, jjh.boundary)
    middle = seam.interpolate(0.5, normalized=True)
    line = LineString([(middle.x - 300, middle.y), (middle.x + 700, middle.y)])
    assert shapely.intersection(line, lf).length == pytest.approx(300, abs=0.5)  # the seam is nearly north-south
    lf_share = shapely.intersection(line, lf).length / line.length
    store = GeoPackageStore(demo_copy)
    project = {"project_id": "2016-ALY-001", "name": "跨界示範巷", "category": "alleys", "year": 2016,
               "investment_yuan": 1_000_000, "lead_department": "規劃建設局", "street_codes": "LF,JJH",
               "status": "planned", "in_statement": False, "beyond_statement": False, "length_m": 1000}
    store.write(Batch(pd.DataFrame([project]),
                      {"alleys": gpd.GeoDataFrame({"project_id": ["2016-ALY-001"]}, geometry=[to_geo(line)],
                                                  crs=4490)}))
    return store, lf_share


def test_project_split_30_70_gets_30_70_of_its_investment(split_project):
    store, lf_share = split_project
    rows = {r["street"]: r for r in statistics(store, {"year": "2016"}, "street").to_json()["rows"]}
    assert set(rows) == {"LF", "JJH"}
    assert yuan(rows["LF"]["investment_yuan"]) + yuan(rows["JJH"]["investment_yuan"]) == Decimal("1000000.00")
    assert float(rows["LF"]["investment_yuan"]) == pytest.approx(1_000_000 * lf_share, abs=0.01)
    assert float(rows["LF"]["investment_yuan"]) == pytest.approx(300_000, abs=1.0)
    assert rows["LF"]["length_m"] == pytest.approx(300, abs=0.5)
    assert rows["LF"]["projects"] == rows["JJH"]["projects"] == 1


def test_street_filter_shows_only_that_streets_share(split_project):
    store, _ = split_project
    result = statistics(store, {"year": "2016", "street": "JJH"}, "street").to_json()
    assert [r["street"] for r in result["rows"]] == ["JJH"]
    assert float(result["rows"][0]["investment_yuan"]) == pytest.approx(700_000, abs=1.0)


def test_unknown_group_key_is_refused(demo_path):
    with pytest.raises(ValidationError, match="by must list") as info:
        statistics(GeoPackageStore(demo_path), {}, "district")
    assert info.value.param == "by"


# -- QA -----------------------------------------------------------------------------------------
def test_qa_of_the_demo_finds_nothing(demo_path):
    assert run_qa(GeoPackageStore(demo_path)) == []


def test_qa_finds_each_planted_defect(demo_copy):
    bowtie = Polygon([(120.70, 31.28), (120.71, 31.29), (120.71, 31.28), (120.70, 31.29)])
    pyogrio.write_dataframe(gpd.GeoDataFrame({"project_id": ["2014-OLD-001"], "name": ["壞"]}, geometry=[bowtie],
                                             crs=4490), demo_copy, layer="old_compounds", append=True,
                            promote_to_multi=True)
    pyogrio.write_dataframe(gpd.GeoDataFrame({"project_id": ["2013-BBD-003"], "name": ["園外"]},
                                             geometry=[Point(120.95, 31.30)], crs=4490),
                            demo_copy, layer="billboards", append=True)
    overlap = Polygon([(120.66, 31.30), (120.68, 31.30), (120.68, 31.31), (120.66, 31.31)])
    pyogrio.write_dataframe(gpd.GeoDataFrame({"code": ["XT"], "name": ["斜塘"], "valid_from": ["2021-12-10"],
                                              "valid_to": [None]}, geometry=[overlap], crs=4490),
                            demo_copy, layer="street_offices", append=True, promote_to_multi=True)
    con = sqlite3.connect(demo_copy)
    con.execute("UPDATE projects SET length_m = length_m * 1.5 WHERE project_id = '2013-ALY-001'")
    con.execute("UPDATE projects SET street_codes = 'SP' WHERE project_id = '2013-MKT-001'")
    con.execute("DELETE FROM markets WHERE project_id = '2013-MKT-002'")
    con.commit()
    con.close()
    findings = {(f.check, f.project_id) for f in run_qa(GeoPackageStore(demo_copy))}
    assert ("invalid_geometry", "2014-OLD-001") in findings
    assert ("outside_park", "2013-BBD-003") in findings
    assert ("quantity_mismatch", "2013-ALY-001") in findings
    assert ("street_mismatch", "2013-MKT-001") in findings
    assert ("no_features", "2013-MKT-002") in findings
    assert ("street_overlap", None) in findings


# -- CLI ----------------------------------------------------------------------------------------
def test_cli_query_json_shape(demo_path):
    done = run_cli("query", "--store", str(demo_path), "--street", "娄葑", "--category", "rivers", "--format", "json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["total"] == len(payload["projects"]) > 0
    first = payload["projects"][0]
    assert {"project_id", "name", "investment_yuan", "features"} <= set(first)
    assert first["features"][0]["geometry"]["type"] == "MultiLineString"


def test_cli_query_geojson_is_a_feature_collection(demo_path):
    done = run_cli("query", "--store", str(demo_path), "--bbox", "120.65,31.25,120.75,31.35", "--format", "geojson")
    collection = json.loads(done.stdout)
    assert collection["type"] == "FeatureCollection" and collection["features"]
    assert all(-180 <= f["geometry"]["coordinates"][0][0][0] <= 180 for f in collection["features"]
               if f["geometry"]["type"] == "MultiLineString")


def test_cli_stats_json_shape(demo_path):
    done = run_cli("stats", "--store", str(demo_path), "--by", "street,category", "--format", "json")
    payload = json.loads(done.stdout)
    assert payload["by"] == ["street", "category"]
    assert {"street", "category", "projects", "investment_yuan"} <= set(payload["rows"][0])
    assert payload["totals"]["investment_yuan"] == "3633000000.00"


def test_cli_stats_csv_has_a_header_and_rows(demo_path):
    lines = run_cli("stats", "--store", str(demo_path), "--by", "year", "--format", "csv").stdout.splitlines()
    assert lines[0].startswith("year,projects,investment_yuan")
    assert len(lines) == 4


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--street", "虎丘"], "valid on"),
        (["--polygon", "POLYGON((1 2"], "polygon"),
        (["--bbox", "1,2,3,4", "--crs", "EPSG:123456"], "unknown EPSG code"),
        (["--near", "唐莊河", "--distance", "-3"], "distance"),
        (["--bbox", "120.8,31.3,120.7,31.4"], "min must not exceed max"),
        (["--bbox", "31.2,120.7,31.3,120.8"], "swapped"),
        (["--bbox", "0,0,1,1"], "far from the park"),
    ],
)
def test_cli_bad_query_is_one_line_error_with_no_output(demo_path, args, needle):
    done = run_cli("query", "--store", str(demo_path), *args, "--format", "json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and needle in done.stderr


def test_cli_qa_reports_no_findings_on_the_demo(demo_path):
    done = run_cli("qa", "--store", str(demo_path), "--format", "json")
    assert done.returncode == 0 and json.loads(done.stdout) == []
