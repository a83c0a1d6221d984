"""Where answers disagreed: a street's shares under a street filter, and the investment share exports carry.

Each figure is checked against a computation made here with GeoPandas and GDAL alone (lengths, areas
and points inside a street office; investments read back from the exported files), not against the
registry's own output.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from matplotlib.figure import Figure

from registry import apportion, model
from registry.exchange import export
from registry.maps import overlay_figure
from registry.query import find
from registry.stats import statistics
from registry.store import GeoPackageStore

PROGRAMME_YUAN = 3_633_000_000
BILLBOARDS_PROJECT = "2013-BBD-010"  # 105 billboards removed beyond the statement, 315 萬元 in all


def yuan(text: str) -> Decimal:
    return Decimal(text)


def measure(geoms: gpd.GeoSeries, geometry_type: str) -> np.ndarray:
    """What a feature's share is measured by: length of lines, area of polygons (metres), one per point."""
    if geometry_type == "Point":
        return np.ones(len(geoms))
    return (geoms.length if "Line" in geometry_type else geoms.area).to_numpy()


@pytest.fixture(scope="module")
def store(demo_path) -> GeoPackageStore:
    return GeoPackageStore(demo_path)


@pytest.fixture(scope="module")
def street_investment(demo_path) -> pd.DataFrame:
    """Yuan of each (street, category) computed here: each project's investment times the share of its own
    layer's length (lines), area (polygons, both in EPSG:4549) or points inside the street valid today."""
    projects = pyogrio.read_dataframe(demo_path, layer="projects", read_geometry=False).set_index("project_id")
    streets = pyogrio.read_dataframe(demo_path, layer="street_offices")
    streets = streets[streets["valid_to"].isna()].to_crs(model.METRIC_EPSG)
    rows = []
    for category in model.CATEGORIES:
        frame = pyogrio.read_dataframe(demo_path, layer=category.slug).to_crs(model.METRIC_EPSG)
        if frame.empty:
            continue
        total = pd.Series(measure(frame.geometry, category.geometry_type), index=frame.index)
        for code, boundary in zip(streets["code"], streets.geometry):
            if category.geometry_type == "Point":
                inside = frame.geometry.within(boundary).astype(float)
            else:
                inside = pd.Series(measure(frame.geometry.intersection(boundary), category.geometry_type),
                                   index=frame.index)
            share = inside.groupby(frame["project_id"]).sum() / total.groupby(frame["project_id"]).sum()
            money = share * projects.loc[share.index, "investment_yuan"].astype(float)
            rows.append({"street": code, "category": category.slug, "yuan": float(money.sum()),
                         "projects": int((share > 0).sum())})
    return pd.DataFrame(rows).set_index(["street", "category"])


def test_a_street_filter_gives_the_streets_shares_under_every_grouping(store, street_investment):
    for code in ("LF", "JJH"):
        own = street_investment.loc[code]
        for by in ("year", "status"):
            result = statistics(store, {"street": code}, by).to_json()
            total = sum(yuan(r["investment_yuan"]) for r in result["rows"])
            assert float(total) == pytest.approx(own["yuan"].sum(), abs=0.01 * own["projects"].sum()), (code, by)
            assert yuan(result["totals"]["investment_yuan"]) == total
        by_category = {r["category"]: r for r in statistics(store, {"street": code}, "category").to_json()["rows"]}
        for category, expected in own[own["projects"] > 0].iterrows():  # each category to the fen of each project
            assert float(by_category[category]["investment_yuan"]) == pytest.approx(
                expected["yuan"], abs=0.01 * expected["projects"])
            assert by_category[category]["projects"] == expected["projects"]


def test_the_categories_of_each_street_add_up_to_its_row(store):
    streets = {r["street"]: r for r in statistics(store, {}, "street").to_json()["rows"]}
    cells = statistics(store, {}, "street,category").to_json()["rows"]
    for code, row in streets.items():
        mine = [c for c in cells if c["street"] == code]
        assert sum(yuan(c["investment_yuan"]) for c in mine) == yuan(row["investment_yuan"])
        assert sum(c["length_m"] for c in mine) == pytest.approx(row["length_m"], abs=0.01 * len(mine))
        assert sum(c["projects"] for c in mine) == row["projects"]
        if code in model.STREETS:  # the same cells as a street filter grouped by category gives
            filtered = statistics(store, {"street": code}, "category").to_json()["rows"]
            assert {c["category"]: c["investment_yuan"] for c in filtered} == {
                c["category"]: c["investment_yuan"] for c in mine}


def subtitle(fig: Figure) -> str:
    return next(t.get_text() for t in fig.texts if "投資" in t.get_text())


def test_map_subtitle_under_a_street_filter_gives_the_streets_share(store, street_investment):
    shown = re.search(r"投資 ([\d,.]+) 萬元", subtitle(overlay_figure(store, {"street": "婁葑"})))
    assert float(shown.group(1).replace(",", "")) == pytest.approx(street_investment.loc["LF"]["yuan"].sum() / 1e4,
                                                                   abs=0.011)


# -- exports --------------------------------------------------------------------------------------------

def read_features(path: Path) -> pd.DataFrame:
    """Every project feature of an exported file (every layer, or a zip's every file), as GDAL reads it."""
    source = f"/vsizip/{path}" if path.suffix == ".zip" else str(path)
    frames = []
    for layer, _ in pyogrio.list_layers(source):
        if layer in ("projects", "layer_styles"):
            continue
        frame = pyogrio.read_dataframe(source, layer=layer, read_geometry=False)
        frames.append(frame.rename(columns={"inv_share": "investment_share_yuan", "invest_yn": "investment_yuan"}))
    features = pd.concat(frames, ignore_index=True)
    features["investment_share_yuan"] = features["investment_share_yuan"].astype(float)
    return features


@pytest.mark.parametrize("name", ["all.gpkg", "all.shp.zip", "all.fgb", "all.geojson", "all.csv"])
def test_summing_investment_share_over_an_export_gives_each_projects_investment(store, demo_path, tmp_path, name):
    report = export(find(store, {}), tmp_path / name, store=store)
    features = read_features(Path(report.path))
    projects = pyogrio.read_dataframe(demo_path, layer="projects", read_geometry=False).set_index("project_id")
    summed = features.groupby("project_id")["investment_share_yuan"].sum().round(2)
    located = projects.loc[summed.index, "investment_yuan"].astype(float)
    assert (summed == located).all()
    assert round(features["investment_share_yuan"].sum(), 2) == PROGRAMME_YUAN
    billboards = features[features["project_id"] == BILLBOARDS_PROJECT]
    assert len(billboards) == 105 and billboards["investment_yuan"].astype(float).sum() == 105 * 3_150_000
    assert billboards["investment_share_yuan"].sum() == pytest.approx(3_150_000)


def test_a_street_export_carries_each_features_share_of_its_whole_project(store, tmp_path, client):
    export(find(store, {"street": "LF"}), tmp_path / "lf.gpkg", store=store)
    features = read_features(tmp_path / "lf.gpkg")
    billboards = features[features["project_id"] == BILLBOARDS_PROJECT]
    assert len(billboards) == 17  # 17 of its 105 billboards stand in 婁葑, each 3,150,000 / 105 yuan
    assert (billboards["investment_share_yuan"] == 30_000).all()
    layers = [(layer, pyogrio.read_dataframe(tmp_path / "lf.gpkg", layer=layer, read_geometry=False, fid_as_index=True))
              for layer, _ in pyogrio.list_layers(tmp_path / "lf.gpkg") if layer not in ("projects", "layer_styles")]
    for layer, frame in layers:  # the same share the API's items carry
        items = client.get(f"/collections/{layer}/items", query_string={"street": "LF", "limit": 10_000}).json
        served = {f["id"]: f["properties"]["investment_share_yuan"] for f in items["features"]}
        assert dict(zip(frame.index, frame["investment_share_yuan"])) == served


def test_http_export_carries_the_share_too(client):
    response = client.get("/projects", query_string={"f": "csv", "category": "billboards", "year": "2013"})
    assert response.status_code == 200
    body = response.data.decode("utf-8-sig")
    rows = [r for r in csv.DictReader(io.StringIO(body)) if r["project_id"] == BILLBOARDS_PROJECT]
    assert len(rows) == 105 and sum(float(r["investment_share_yuan"]) for r in rows) == pytest.approx(3_150_000)


@pytest.mark.parametrize("projects, features", [(12, 40), (3000, 5000)], ids=["few (a dict)", "many (an index)"])
def test_each_features_project_is_found_at_its_row_or_not_at_all(projects, features):
    rng = np.random.default_rng(projects)
    ids = np.array([f"2013-RIV-{i:04d}" for i in rng.permutation(projects)], dtype=object)
    asked = np.array([f"2013-RIV-{i:04d}" for i in rng.integers(0, projects + projects // 3, features)], dtype=object)
    rows = {project_id: row for row, project_id in enumerate(ids.tolist())}
    found = apportion.project_positions(pd.DataFrame({"project_id": ids}), asked)
    assert found.tolist() == [rows.get(project_id, -1) for project_id in asked.tolist()]
    assert (found < 0).any() and (found >= 0).any()
