"""The demo registry reproduces the seed document's figures.

Everything is read back with plain sqlite3 and pyogrio, not with the store code that wrote it.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections import Counter

import geopandas as gpd
import pyogrio
import pytest
import shapely

from registry.demo import build_demo

from .conftest import ROOT, digest


@pytest.fixture(scope="module")
def db(demo_path):
    con = sqlite3.connect(demo_path)
    con.row_factory = sqlite3.Row
    yield con
    con.close()


def rows(db, sql, *args):
    return [dict(r) for r in db.execute(sql, args)]


def one(db, sql, *args):
    return db.execute(sql, args).fetchone()[0]


def test_programme_has_180_projects_over_three_years(db):
    assert one(db, "SELECT count(*) FROM projects") == 180
    by_year = dict(db.execute("SELECT year, count(*) FROM projects GROUP BY year").fetchall())
    assert by_year == {2013: 81, 2014: 48, 2015: 51}


def test_yearly_investment_is_stored_exactly_and_totals_36_33_yi(db):
    by_year = dict(db.execute("SELECT year, sum(investment_yuan) FROM projects GROUP BY year"))
    assert by_year == {2013: 603_000_000, 2014: 1_620_000_000, 2015: 1_410_000_000}
    assert one(db, "SELECT sum(investment_yuan) FROM projects") == 3_633_000_000


def test_2013_statement_has_61_projects_by_the_seeds_categories(db):
    counts = dict(db.execute(
        "SELECT category, count(*) FROM projects WHERE year = 2013 AND in_statement GROUP BY category"))
    assert counts == {"alleys": 5, "rivers": 12, "polders": 4, "construction_sites": 16, "markets": 5,
                      "vending_points": 2, "parking_lots": 8, "billboards": 9}
    assert sum(counts.values()) == 61
    assert one(db, "SELECT count(*) FROM projects WHERE year = 2013 AND NOT in_statement") == 20


def test_statement_alleys_markets_vending_are_complete(db):
    statuses = {r["status"] for r in rows(db, "SELECT status FROM projects WHERE year = 2013 AND in_statement "
                                              "AND category IN ('alleys', 'markets', 'vending_points')")}
    assert statuses == {"completed"}


def test_statement_rivers_eleven_dredged_one_net_clearance_all_long_term(db):
    rivers = rows(db, "SELECT name, tasks, status FROM projects WHERE year = 2013 AND in_statement "
                      "AND category = 'rivers'")
    assert len(rivers) == 12
    assert {r["status"] for r in rivers} == {"long_term_management"}
    dredged = [r for r in rivers if "清淤" in r["tasks"]]
    nets = [r for r in rivers if "漁網" in r["tasks"]]
    assert len(dredged) == 11 and len(nets) == 1
    assert "彌陀涇" in nets[0]["name"]
    for name in ("4號河", "唐莊河", "洋涇河"):
        assert any(name in r["name"] for r in dredged), name


def test_polders_three_complete_and_litang_delayed_by_quicksand(db):
    polders = {r["name"]: r for r in rows(db, "SELECT * FROM projects WHERE year = 2013 AND in_statement "
                                                "AND category = 'polders'")}
    done = [n for n, r in polders.items() if r["status"] == "completed"]
    for name in ("婁葑鎮區圩", "唯亭老鎮區圩", "勝浦市鎮圩區"):
        assert any(n.startswith(name) for n in done), name
    litang = next(r for n, r in polders.items() if n.startswith("蠡塘圩"))
    assert litang["status"] == "delayed"
    assert "流砂" in litang["delay_reason"] and "2號閘" in litang["delay_reason"]
    assert litang["planned_finish"] == "2014-03-31"


def test_construction_sites_cover_the_four_site_types(db):
    types = Counter(r["site_type"] for r in rows(
        db, "SELECT site_type FROM projects WHERE year = 2013 AND in_statement AND category = 'construction_sites'"))
    assert sum(types.values()) == 16
    assert set(types) == {"building", "municipal", "demolition", "awaiting"}


def test_vending_points_have_152_stalls(db):
    assert one(db, "SELECT sum(stalls) FROM projects WHERE year = 2013 AND in_statement "
                   "AND category = 'vending_points'") == 152


def test_parking_lots_146000_m2_1494_spaces_in_four_streets(db):
    lots = rows(db, "SELECT street_codes, area_m2, parking_spaces FROM projects WHERE year = 2013 "
                    "AND in_statement AND category = 'parking_lots'")
    assert len(lots) == 8
    assert sum(r["area_m2"] for r in lots) == 146_000
    assert sum(r["parking_spaces"] for r in lots) == 1_494
    assert {r["street_codes"] for r in lots} == {"LF", "XT", "WT", "SP"}


def test_billboards_two_removed_seven_renovated(db):
    actions = Counter(r["billboard_action"] for r in rows(
        db, "SELECT billboard_action FROM projects WHERE year = 2013 AND in_statement AND category = 'billboards'"))
    assert actions == {"remove": 2, "renovate": 7}


def test_work_beyond_statement_is_two_multi_feature_projects(db, demo_path):
    beyond = {r["category"]: r for r in rows(db, "SELECT * FROM projects WHERE beyond_statement")}
    assert set(beyond) == {"rivers", "billboards"}
    rivers, boards = beyond["rivers"], beyond["billboards"]
    assert rivers["investment_yuan"] > 17_000_000 and rivers["status"] == "in_progress"
    assert rivers["planned_finish"].startswith("2014-04")
    assert boards["status"] == "completed" and boards["billboard_action"] == "remove"
    assert not rivers["in_statement"] and not boards["in_statement"]
    river_features = pyogrio.read_dataframe(demo_path, layer="rivers", where=f"project_id = '{rivers['project_id']}'")
    board_features = pyogrio.read_dataframe(demo_path, layer="billboards",
                                            where=f"project_id = '{boards['project_id']}'")
    assert len(river_features) == 21
    assert len(board_features) == 105


def test_2014_plan_has_48_projects_by_the_seeds_counts(db):
    counts = dict(db.execute("SELECT category, count(*) FROM projects WHERE year = 2014 GROUP BY category"))
    assert counts == {"urban_fringes": 1, "urban_villages": 1, "shanty_areas": 1, "old_compounds": 15, "alleys": 8,
                      "rivers": 12, "polders": 1, "construction_sites": 7, "markets": 1, "parking_lots": 1}


def test_project_ids_follow_year_category_number(db):
    ids = [r[0] for r in db.execute("SELECT project_id FROM projects")]
    assert "2013-RIV-004" in ids
    codes = {"alleys": "ALY", "rivers": "RIV", "polders": "POL", "construction_sites": "CST",
             "parking_lots": "PRK", "markets": "MKT", "vending_points": "VND", "billboards": "BBD",
             "old_compounds": "OLD", "urban_villages": "VIL", "shanty_areas": "SHT", "urban_fringes": "FRG"}
    for r in rows(db, "SELECT project_id, category, year FROM projects"):
        assert r["project_id"].startswith(f"{r['year']}-{codes[r['category']]}-")
    seed_order = rows(db, "SELECT project_id, name FROM projects WHERE project_id IN "
                          "('2013-RIV-001', '2013-RIV-002', '2013-RIV-003', '2013-RIV-012')")
    assert [r["name"][:3] for r in sorted(seed_order, key=lambda r: r["project_id"])] == ["4號河", "唐莊河", "洋涇河",
                                                                                          "彌陀涇"]


def test_every_project_has_features_and_every_feature_a_project(db, demo_path):
    ids = {r[0] for r in db.execute("SELECT project_id FROM projects")}
    with_features = set()
    for layer in ("alleys", "rivers", "polders", "construction_sites", "parking_lots", "markets", "vending_points",
                  "billboards", "old_compounds", "urban_villages", "shanty_areas", "urban_fringes", "sluices"):
        frame = pyogrio.read_dataframe(demo_path, layer=layer)
        assert set(frame["project_id"]) <= ids, layer
        with_features |= set(frame["project_id"])
    assert with_features == ids


def _streets_2013(demo_path) -> dict[str, shapely.Geometry]:
    streets = pyogrio.read_dataframe(demo_path, layer="street_offices")
    valid = streets[streets["valid_from"].astype(str) <= "2013-09-01"]
    valid = valid[valid["valid_to"].isna() | (valid["valid_to"].astype(str) >= "2013-09-01")]
    return dict(zip(valid["code"], gpd.GeoSeries(valid.geometry, crs=4490).to_crs(4549)))


def test_features_lie_in_their_declared_streets_but_a_few_cross(db, demo_path):
    streets = _streets_2013(demo_path)
    declared = dict(db.execute("SELECT project_id, street_codes FROM projects"))
    crossing = 0
    for layer in ("alleys", "rivers", "polders", "old_compounds", "construction_sites", "billboards", "parking_lots"):
        frame = pyogrio.read_dataframe(demo_path, layer=layer).to_crs(4549)
        for pid, geom in zip(frame["project_id"], frame.geometry):
            codes = declared[pid].split(",")
            area = shapely.union_all([streets[c] for c in codes])
            assert area.buffer(0.01).covers(geom), (pid, codes)
            touched = [c for c in codes if shapely.intersection(geom, streets[c]).length > 1
                       or shapely.intersection(geom, streets[c]).area > 1]
            if len(codes) > 1 and len(touched) > 1 and geom.geom_type != "Point":
                crossing += 1
    assert 3 <= crossing <= 12


def test_geodata_generator_rewrites_the_committed_files(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_geodata.py"), "--out", str(tmp_path)], check=True)
    for path in sorted((ROOT / "geodata").rglob("*")):
        if path.is_file() and path.suffix in (".csv", ".geojson"):
            assert (tmp_path / path.relative_to(ROOT / "geodata")).read_bytes() == path.read_bytes(), path


def test_demo_build_is_byte_for_byte_reproducible(demo_path, tmp_path):
    again = tmp_path / "again.gpkg"
    build_demo(again)  # the session's demo_path was built the same way, earlier
    assert digest(again) == digest(demo_path)


def test_street_offices_partition_the_park_in_each_validity_period(demo_path):
    park = pyogrio.read_dataframe(demo_path, layer="park_boundary").to_crs(4549).geometry.iloc[0]
    streets = pyogrio.read_dataframe(demo_path, layer="street_offices").to_crs(4549)
    periods = streets.groupby(streets["valid_from"].astype(str))
    assert len(periods) == 2
    for _, period in periods:
        geoms = list(period.geometry)
        assert abs(shapely.union_all(geoms).area - park.area) < 10  # m²: no gap
        overlap = sum(shapely.intersection(a, b).area for i, a in enumerate(geoms) for b in geoms[i + 1:])
        assert overlap < 10  # m²: no overlap
    current = streets[streets["valid_to"].isna()]
    assert set(current["code"]) == {"LF", "XT", "WT", "SP", "JJH"}
    assert 250e6 < park.area < 320e6  # about 278 km²
