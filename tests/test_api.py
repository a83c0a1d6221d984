"""The HTTP API's behaviour through Flask's in-process test client: status codes, headers, JSON shapes,
problem documents and downloads, with answers checked against independent computations.

Outside clients that need a real server (GDAL's OAPIF driver, OWSLib) are in test_api_gdal_owslib.py.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from decimal import Decimal

import pyogrio
import pytest
import shapely
from flask.testing import FlaskClient
from shapely import Polygon
from werkzeug.test import TestResponse

from registry.query import find
from registry.store import GeoPackageStore

from .conftest import STREET_ORDER, feature_count


def get(client: FlaskClient, path: str, **params) -> TestResponse:
    """GET ``path`` (relative to the API's root) with ``params`` as its query string."""
    return client.get("/" + path, query_string=params)


# -- landing, conformance, OpenAPI, collections ------------------------------------------------------------
def test_landing_page_is_json_without_accept_header(client):
    response = client.get("/", headers={"User-Agent": "OWSLib"})
    assert response.headers["Content-Type"].startswith("application/json")
    rels = {link["rel"]: link for link in response.json["links"]}
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert {"conformance", "data", "self"} <= set(rels)


def test_landing_page_is_html_when_a_browser_asks(client):
    response = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.headers["Content-Type"].startswith("text/html")
    assert "專案登記簿" in response.text


def test_conformance_declares_core_crs_and_filter(client):
    classes = get(client, "conformance").json["conformsTo"]
    for part in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-2/1.0/conf/crs",
                 "ogcapi-features-3/1.0/conf/filter", "cql2/1.0/conf/cql2-text"):
        assert any(c.endswith(part) for c in classes), part


def test_openapi_states_the_limit_maximum_and_queryable_parameters(client):
    response = get(client, "api")
    assert response.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    doc = response.json
    assert doc["openapi"].startswith("3.0")
    assert doc["components"]["parameters"]["limit"]["schema"]["maximum"] >= 100_000
    names = {p.get("name") for p in doc["paths"]["/collections/rivers/items"]["get"]["parameters"]}
    assert {"status", "project_id", "year"} <= names


def test_collections_list_every_layer_with_extent_and_crs(client, demo_path):
    doc = get(client, "collections").json
    ids = {c["id"]: c for c in doc["collections"]}
    con = sqlite3.connect(demo_path)
    layers = [r[0] for r in con.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'")]
    assert set(ids) == set(layers)
    rivers = ids["rivers"]
    assert rivers["itemType"] == "feature"
    minx, miny, maxx, maxy = rivers["extent"]["spatial"]["bbox"][0]
    assert 120.6 < minx < maxx < 120.9 and 31.2 < miny < maxy < 31.5
    assert "http://www.opengis.net/def/crs/EPSG/0/4549" in rivers["crs"]
    assert rivers["storageCrs"].endswith("/4490")
    assert any(link["rel"] == "items" and link["type"] == "application/geo+json" for link in rivers["links"])
    assert rivers["extent"]["temporal"]["interval"][0][0].startswith("2013")


def test_unknown_collection_is_a_404_problem_naming_it(client):
    response = get(client, "collections/parks/items")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "parks" in response.json["detail"]


# -- items ------------------------------------------------------------------------------------------------
def test_items_number_matched_is_the_layer_count(client, demo_path):
    for layer in ("rivers", "billboards", "street_offices"):
        doc = get(client, f"collections/{layer}/items", limit=5).json
        assert doc["numberMatched"] == feature_count(demo_path, layer)
        assert doc["numberReturned"] == len(doc["features"]) == min(5, doc["numberMatched"])


def test_paging_through_next_links_returns_every_feature_once(client, demo_path):
    url, seen = "/collections/billboards/items?limit=17", []
    while url:
        doc = client.get(url).json  # the next links are absolute URLs of the app's host
        seen += [f["id"] for f in doc["features"]]
        url = next((link["href"] for link in doc["links"] if link["rel"] == "next"), None)
    assert sorted(seen) == [r[0] for r in sqlite3.connect(demo_path).execute("SELECT fid FROM billboards ORDER BY 1")]
    assert len(seen) == len(set(seen))


def test_next_links_carry_a_keyset_position(client):
    doc = get(client, "collections/billboards/items", limit=10).json
    next_link = next(link["href"] for link in doc["links"] if link["rel"] == "next")
    assert f"after={doc['features'][-1]['id']}" in next_link


def test_bbox_matches_brute_force(client, demo_path):
    box = (120.68, 31.26, 120.76, 31.32)
    frame = pyogrio.read_dataframe(demo_path, layer="rivers", fid_as_index=True)
    expected = {int(fid) for fid, g in zip(frame.index, frame.geometry) if g.intersects(shapely.box(*box))}
    doc = get(client, "collections/rivers/items", bbox=",".join(map(str, box)), limit=1000).json
    assert {f["id"] for f in doc["features"]} == expected and doc["numberMatched"] == len(expected)


def test_bbox_in_epsg_4490_is_latitude_first(client):
    crs84 = get(client, "collections/rivers/items", bbox="120.68,31.26,120.76,31.32", limit=1000).json
    lat_first = get(client, "collections/rivers/items", bbox="31.26,120.68,31.32,120.76",
                    **{"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4490", "limit": 1000}).json
    assert {f["id"] for f in crs84["features"]} == {f["id"] for f in lat_first["features"]}


def test_crs_parameter_sets_axis_order_and_content_crs(client):
    plain = get(client, "collections/billboards/items", limit=1)
    assert plain.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    lon, lat = plain.json["features"][0]["geometry"]["coordinates"]
    assert 120 < lon < 121 and 31 < lat < 32
    geographic = get(client, "collections/billboards/items", limit=1, crs="http://www.opengis.net/def/crs/EPSG/0/4490")
    assert geographic.headers["Content-Crs"].endswith("/4490>")
    assert geographic.json["features"][0]["geometry"]["coordinates"] == [lat, lon]
    metric = get(client, "collections/billboards/items", limit=1, crs="http://www.opengis.net/def/crs/EPSG/0/4549")
    north, east = metric.json["features"][0]["geometry"]["coordinates"]
    assert 3.4e6 < north < 3.5e6 and 5.4e5 < east < 6.0e5


def test_datetime_matches_the_planned_interval(client, demo_path):
    doc = get(client, "collections/rivers/items", datetime="2014-06-01", limit=1000).json
    con = sqlite3.connect(demo_path)
    expected = {r[0] for r in con.execute(
        "SELECT r.fid FROM rivers r JOIN projects p USING (project_id) "
        "WHERE p.planned_start <= '2014-06-01' AND p.planned_finish >= '2014-06-01'")}
    assert {f["id"] for f in doc["features"]} == expected and expected


def test_street_boundaries_as_of_a_date_through_datetime(client):
    doc = get(client, "collections/street_offices/items", datetime="2015-01-01").json
    assert sorted(f["properties"]["code"] for f in doc["features"]) == sorted(["LF", "XT", "WT", "SP"])


def test_cql2_text_filter_matches_brute_force(client, demo_path):
    doc = get(client, "collections/rivers/items", limit=1000,
              filter="status = 'planned' AND investment_yuan > 4000000").json
    con = sqlite3.connect(demo_path)
    expected = {r[0] for r in con.execute("SELECT r.fid FROM rivers r JOIN projects p USING (project_id) "
                                          "WHERE p.status = 'planned' AND p.investment_yuan > 4000000")}
    assert {f["id"] for f in doc["features"]} == expected and expected


SPATIAL_FILTER = Polygon([(120.64, 31.25), (120.74, 31.25), (120.74, 31.33), (120.64, 31.33)])


@pytest.mark.parametrize("params", [
    {"filter": f"S_INTERSECTS(geometry, {SPATIAL_FILTER.wkt})"},
    {"filter-lang": "cql-text", "filter": f"S_INTERSECTS(geometry, {SPATIAL_FILTER.wkt})"},  # GDAL's alias
    {"filter-lang": "cql2-json", "filter": json.dumps(
        {"op": "s_intersects", "args": [{"property": "geometry"}, shapely.geometry.mapping(SPATIAL_FILTER)]})},
], ids=["cql2-text", "cql-text", "cql2-json"])
def test_spatial_filter_matches_brute_force_in_each_filter_language(client, demo_path, params):
    frame = pyogrio.read_dataframe(demo_path, layer="old_compounds", fid_as_index=True)
    expected = {int(fid) for fid, g in zip(frame.index, frame.geometry) if g.intersects(SPATIAL_FILTER)}
    doc = get(client, "collections/old_compounds/items", limit=1000, **params).json
    assert {f["id"] for f in doc["features"]} == expected and expected


def test_investment_shares_add_up_to_each_project_and_the_programme(client, demo_path):
    con = sqlite3.connect(demo_path)
    money = dict(con.execute("SELECT project_id, investment_yuan FROM projects"))
    total = Decimal(0)
    per_project: dict[str, Decimal] = {}
    for layer in [r[0] for r in con.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'")]:
        doc = get(client, f"collections/{layer}/items", limit=100_000).json
        for feature in doc["features"]:
            share = feature["properties"].get("investment_share_yuan")
            if share is not None:
                per_project[feature["properties"]["project_id"]] = \
                    per_project.get(feature["properties"]["project_id"], Decimal(0)) + Decimal(str(share))
                total += Decimal(str(share))
    assert total == Decimal("3633000000")
    assert all(per_project[p] == Decimal(money[p]) for p in money)


def test_properties_keeps_only_the_named_properties(client):
    doc = get(client, "collections/rivers/items", properties="project_id,investment_yuan",
              sortby="-investment_yuan", limit=50).json
    assert set(doc["features"][0]["properties"]) == {"project_id", "investment_yuan"}


def test_sortby_descending_orders_the_features(client):
    doc = get(client, "collections/rivers/items", properties="project_id,investment_yuan",
              sortby="-investment_yuan", limit=50).json
    money = [f["properties"]["investment_yuan"] for f in doc["features"]]
    assert money == sorted(money, reverse=True)


def test_single_feature_by_its_id(client):
    doc = get(client, "collections/rivers/items/2").json
    assert doc["id"] == 2 and doc["properties"]["feature_name"] == "唐莊河"


def test_missing_feature_is_a_404_naming_it(client):
    missing = get(client, "collections/rivers/items/999999")
    assert missing.status_code == 404 and "999999" in missing.json["detail"]


@pytest.mark.parametrize(
    ("params", "param"),
    [({"bbox": "1,2,3"}, "bbox"), ({"bbox": "120.8,31.3,120.7,31.4"}, "bbox"), ({"filter": "status = "}, "filter"),
     ({"filter": "colour = 'red'"}, "filter"), ({"crs": "EPSG:3857"}, "crs"), ({"limit": "0"}, "limit"),
     ({"limit": "100001"}, "limit"), ({"datetime": "yesterday"}, "datetime"), ({"sortby": "colour"}, "sortby"),
     ({"filter-lang": "sql", "filter": "a = 1"}, "filter-lang"), ({"offset": "-1"}, "offset")],
)
def test_bad_items_parameters_are_400_naming_the_parameter(client, params, param):
    response = get(client, "collections/rivers/items", **params)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json["parameter"] == param


def test_if_none_match_with_the_etag_is_a_304_and_another_query_a_200(client):
    tag = get(client, "collections/rivers/items", limit=3).headers["ETag"]
    again = client.get("/collections/rivers/items?limit=3", headers={"If-None-Match": tag})
    assert again.status_code == 304
    other = client.get("/collections/rivers/items?limit=4", headers={"If-None-Match": tag})
    assert other.status_code == 200


def test_items_carry_last_modified(client):
    assert get(client, "collections/rivers/items", limit=3).headers["Last-Modified"]


# -- registry endpoints -----------------------------------------------------------------------------------
def test_projects_json_shape_and_filters(client):
    doc = get(client, "projects", street="娄葑", category="rivers").json
    assert doc["total"] == len(doc["projects"]) > 0
    assert all(p["category"] == "rivers" and p["features"] for p in doc["projects"])


def test_projects_as_geojson_are_a_feature_collection_of_the_matched_projects(client):
    geo = get(client, "projects", f="geojson", year="2013")
    assert geo.headers["Content-Type"].startswith("application/geo+json")
    assert geo.json["type"] == "FeatureCollection" and geo.json["numberMatched"] == 81


def test_projects_as_csv_start_with_a_bom_and_a_wkt_column(client):
    table = get(client, "projects", f="csv", year="2013")
    assert table.data.startswith(b"\xef\xbb\xbf") and '"WKT"' in table.text.splitlines()[0]


def test_projects_as_html_list_the_projects(client):
    page = client.get("/projects", headers={"Accept": "text/html"})
    assert "唐莊河整治" in page.text


def test_project_page_holds_every_feature(client):
    doc = get(client, "projects/2013-RIV-013").json
    assert len(doc["features"]) == 21


def test_missing_project_is_a_404_naming_it(client):
    missing = get(client, "projects/2099-RIV-001")
    assert missing.status_code == 404 and "2099-RIV-001" in missing.json["detail"]


def test_street_projects_match_the_query_rule(client, demo_path):
    for code in STREET_ORDER:
        doc = get(client, f"streets/{code}/projects", limit="1000").json
        expected = find(GeoPackageStore(demo_path), {"street": code})
        assert sorted(p["project_id"] for p in doc["projects"]) == sorted(expected.projects["project_id"])


def test_unknown_street_lists_the_valid_ones(client):
    response = get(client, "streets/ZZ/projects")
    assert response.status_code == 400 and "LF 婁葑" in response.json["detail"]


def test_streets_are_listed_in_the_membership_order(client):
    streets = get(client, "streets").json["streets"]
    assert [s["code"] for s in streets] == STREET_ORDER


def test_stats_by_street_and_category_add_up_to_the_programme(client):
    stats = get(client, "stats", by="street,category").json
    assert stats["totals"]["investment_yuan"] == "3633000000.00"
    assert sum(Decimal(r["investment_yuan"]) for r in stats["rows"]) == Decimal("3633000000.00")


def test_qa_endpoint(client):
    assert get(client, "qa").json == {"findings": []}


def test_no_traceback_for_garbage_paths(client):
    for path in ("collections/rivers/items/abc", "projects/%00", "nothing/here"):
        response = get(client, path)
        assert response.status_code in (400, 404)
        assert "Traceback" not in response.text


# -- static maps ------------------------------------------------------------------------------------------
def test_static_map_as_png(client):
    png = get(client, "maps", f="png", street="LF", dpi="60")
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.data.startswith(b"\x89PNG")


def test_static_map_as_svg_keeps_street_names_and_units_as_text(client):
    svg = get(client, "maps", f="svg", theme="investment")
    assert svg.headers["Content-Type"].startswith("image/svg+xml")
    assert all(name in svg.text for name in ("婁葑", "斜塘", "唯亭", "勝浦", "金雞湖", "萬元"))


def test_static_map_as_pdf(client):
    pdf = get(client, "maps", f="pdf", by="status")
    assert pdf.data.startswith(b"%PDF")


@pytest.mark.parametrize(("params", "param"), [({"f": "gif"}, "f"), ({"dpi": "9000"}, "dpi"),
                                               ({"by": "year", "theme": "count"}, "theme")])
def test_bad_static_map_request_names_the_parameter(client, params, param):
    response = get(client, "maps", **params)
    assert response.status_code == 400 and response.json["parameter"] == param


# -- downloads (the exchange formats over HTTP) -------------------------------------------------------------
def test_projects_download_as_zipped_shapefile_read_by_ogrinfo(client, tmp_path, demo_path):
    response = get(client, "projects", f="shp", street="LF", encoding="gbk")
    assert response.headers["Content-Type"] == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    path = tmp_path / "lf.shp.zip"
    path.write_bytes(response.data)
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-so", f"/vsizip/{path}"], capture_output=True, text=True,
                         check=True).stdout
    expected = find(GeoPackageStore(demo_path), {"street": "LF"}).features
    counts = [int(line.split(":")[1]) for line in out.splitlines() if line.startswith("Feature Count:")]
    assert sum(counts) == len(expected)


def test_collection_download_as_geopackage_in_epsg_4549(client, tmp_path, demo_path):
    response = get(client, "collections/rivers/items", f="gpkg", crs="http://www.opengis.net/def/crs/EPSG/0/4549")
    path = tmp_path / "rivers.gpkg"
    path.write_bytes(response.data)
    frame = pyogrio.read_dataframe(path, layer="rivers")
    assert len(frame) == feature_count(demo_path, "rivers")
    assert frame.crs.to_epsg() == 4549 and frame.total_bounds[0] > 500_000  # easting first, metres


def test_reference_layers_are_not_offered_as_downloads(client):
    response = get(client, "collections/lakes/items", f="shp")
    assert response.status_code == 400 and response.json["parameter"] == "f"
