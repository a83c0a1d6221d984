"""QA of a registry: the demo is clean, and each planted defect is found (library and CLI)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely import Point, Polygon

from registry.qa import run_qa
from registry.store import GeoPackageStore

from .conftest import run_cli


def test_qa_of_the_demo_finds_nothing(demo_path):
    assert run_qa(GeoPackageStore(demo_path)) == []


@pytest.fixture(scope="module")
def planted_findings(demo_path, tmp_path_factory) -> set[tuple[str, str | None]]:
    """(check, project_id) of every QA finding on a copy of the demo with one defect of each kind planted."""
    path = tmp_path_factory.mktemp("qa") / "registry.gpkg"
    path.write_bytes(Path(demo_path).read_bytes())
    bowtie = Polygon([(120.70, 31.28), (120.71, 31.29), (120.71, 31.28), (120.70, 31.29)])
    pyogrio.write_dataframe(gpd.GeoDataFrame({"project_id": ["2014-OLD-001"], "name": ["壞"]}, geometry=[bowtie],
                                             crs=4490), path, layer="old_compounds", append=True,
                            promote_to_multi=True)
    pyogrio.write_dataframe(gpd.GeoDataFrame({"project_id": ["2013-BBD-003"], "name": ["園外"]},
                                             geometry=[Point(120.95, 31.30)], crs=4490),
                            path, layer="billboards", append=True)
    overlap = Polygon([(120.66, 31.30), (120.68, 31.30), (120.68, 31.31), (120.66, 31.31)])
    pyogrio.write_dataframe(gpd.GeoDataFrame({"code": ["XT"], "name": ["斜塘"], "valid_from": ["2021-12-10"],
                                              "valid_to": [None]}, geometry=[overlap], crs=4490),
                            path, layer="street_offices", append=True, promote_to_multi=True)
    con = sqlite3.connect(path)
    con.execute("UPDATE projects SET length_m = length_m * 1.5 WHERE project_id = '2013-ALY-001'")
    con.execute("UPDATE projects SET street_codes = 'SP' WHERE project_id = '2013-MKT-001'")
    con.execute("DELETE FROM markets WHERE project_id = '2013-MKT-002'")
    con.commit()
    con.close()
    return {(f.check, f.project_id) for f in run_qa(GeoPackageStore(path))}


@pytest.mark.parametrize("finding", [
    ("invalid_geometry", "2014-OLD-001"),  # a bow-tie polygon
    ("outside_park", "2013-BBD-003"),  # a billboard east of the park
    ("quantity_mismatch", "2013-ALY-001"),  # declared length 1.5 times the drawn one
    ("street_mismatch", "2013-MKT-001"),  # declared in 勝浦, drawn elsewhere
    ("no_features", "2013-MKT-002"),  # its market deleted
    ("street_overlap", None),  # a second current 斜塘 overlapping its neighbours
], ids=lambda finding: finding[0])
def test_qa_finds_a_planted_defect(planted_findings, finding):
    assert finding in planted_findings


def test_cli_qa_reports_no_findings_on_the_demo(demo_path):
    done = run_cli("qa", "--store", str(demo_path), "--format", "json")
    assert done.returncode == 0 and json.loads(done.stdout) == []
