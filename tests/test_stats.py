"""Apportioned statistics (library and CLI), checked against independent computations; QA is in test_qa.py."""

from __future__ import annotations

import csv
import json
import sqlite3
from decimal import Decimal

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely import LineString

from registry.errors import ValidationError
from registry.stats import statistics
from registry.store import Batch, GeoPackageStore

from .conftest import run_cli, to_geo, to_metric


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
    with pytest.raises(ValidationError, match="by 須列出") as info:
        statistics(GeoPackageStore(demo_path), {}, "district")
    assert info.value.param == "by"


# -- CLI ----------------------------------------------------------------------------------------
def test_cli_stats_json_shape(demo_path):
    done = run_cli("stats", "--store", str(demo_path), "--by", "street,category", "--format", "json")
    payload = json.loads(done.stdout)
    assert payload["by"] == ["street", "category"]
    assert {"street", "category", "projects", "investment_yuan"} <= set(payload["rows"][0])
    assert payload["totals"]["investment_yuan"] == "3633000000.00"


def test_cli_stats_csv_has_a_header_and_rows(demo_path):
    lines = run_cli("stats", "--store", str(demo_path), "--by", "year", "--format", "csv").stdout.splitlines()
    rows = list(csv.reader(lines))
    assert rows[0][:3] == ["year", "projects", "investment_yuan"]
    assert [row[0] for row in rows[1:]] == ["2013", "2014", "2015"]


def test_statistics_as_of_a_day_long_before_the_registry_count_nothing(client):
    for day in ("1990-01-01", "0251-07-26"):  # a year under 1000 once compared as text after every later one
        answer = client.get(f"/stats?by=street&as_of={day}").get_json()
        assert answer["rows"] == [] and answer["totals"]["projects"] == 0
