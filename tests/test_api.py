"""The HTTP API over real HTTP: a gunicorn server started on a free port, judged by plain requests,
GDAL's OAPIF driver and OWSLib, with answers checked against independent computations."""

from __future__ import annotations

import sqlite3
import subprocess
from decimal import Decimal

import pyogrio
import pytest
import requests
import shapely
from shapely import Polygon

from .conftest import serve

ORDER = ["LF", "XT", "WT", "SP", "JJH"]


@pytest.fixture(scope="module")
def server(demo_path):
    """The demo registry served over real HTTP."""
    with serve(str(demo_path)) as url:
        yield url


def get(url: str, **params):
    return requests.get(url, params=params, timeout=60)


# -- landing, conformance, OpenAPI, collections ------------------------------------------------------------
def test_landing_page_is_json_without_accept_header(server):
    response = requests.get(server, headers={"User-Agent": "OWSLib"}, timeout=10)
    assert response.headers["Content-Type"].startswith("application/json")
    rels = {link["rel"]: link for link in response.json()["links"]}
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert {"conformance", "data", "self"} <= set(rels)


def test_landing_page_is_html_when_a_browser_asks(server):
    response = requests.get(server, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, timeout=10)
    assert response.headers["Content-Type"].startswith("text/html")
    assert "專案登記簿" in response.text


def test_conformance_declares_core_crs_and_filter(server):
    classes = get(server + "conformance").json()["conformsTo"]
    for part in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-2/1.0/conf/crs",
                 "ogcapi-features-3/1.0/conf/filter", "cql2/1.0/conf/cql2-text"):
        assert any(c.endswith(part) for c in classes), part


def test_openapi_states_the_limit_maximum_and_queryable_parameters(server):
    response = get(server + "api")
    assert response.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    doc = response.json()
    assert doc["openapi"].startswith("3.0")
    assert doc["components"]["parameters"]["limit"]["schema"]["maximum"] >= 100_000
    names = {p.get("name") for p in doc["paths"]["/collections/rivers/items"]["get"]["parameters"]}
    assert {"status", "project_id", "year"} <= names


def test_collections_list_every_layer_with_extent_and_crs(server, demo_path):
    doc = get(server + "collections").json()
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


def test_unknown_collection_is_a_404_problem_naming_it(server):
    response = get(server + "collections/parks/items")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "parks" in response.json()["detail"]


# -- items ------------------------------------------------------------------------------------------------
def count(demo_path, layer: str, where: str = "1") -> int:
    return sqlite3.connect(demo_path).execute(f"SELECT count(*) FROM {layer} WHERE {where}").fetchone()[0]


def test_items_number_matched_is_the_layer_count(server, demo_path):
    for layer in ("rivers", "billboards", "street_offices"):
        doc = get(server + f"collections/{layer}/items", limit=5).json()
        assert doc["numberMatched"] == count(demo_path, layer)
        assert doc["numberReturned"] == len(doc["features"]) == min(5, doc["numberMatched"])


def test_paging_through_next_links_returns_every_feature_once(server, demo_path):
    url, seen = server + "collections/billboards/items?limit=17", []
    while url:
        doc = requests.get(url, timeout=30).json()
        seen += [f["id"] for f in doc["features"]]
        url = next((link["href"] for link in doc["links"] if link["rel"] == "next"), None)
    assert sorted(seen) == [r[0] for r in sqlite3.connect(demo_path).execute("SELECT fid FROM billboards ORDER BY 1")]
    assert len(seen) == len(set(seen))


def test_next_links_carry_a_keyset_position(server):
    doc = get(server + "collections/billboards/items", limit=10).json()
    next_link = next(link["href"] for link in doc["links"] if link["rel"] == "next")
    assert f"after={doc['features'][-1]['id']}" in next_link


def test_bbox_matches_brute_force(server, demo_path):
    box = (120.68, 31.26, 120.76, 31.32)
    frame = pyogrio.read_dataframe(demo_path, layer="rivers", fid_as_index=True)
    expected = {int(fid) for fid, g in zip(frame.index, frame.geometry) if g.intersects(shapely.box(*box))}
    doc = get(server + "collections/rivers/items", bbox=",".join(map(str, box)), limit=1000).json()
    assert {f["id"] for f in doc["features"]} == expected and doc["numberMatched"] == len(expected)


def test_bbox_in_epsg_4490_is_latitude_first(server):
    crs84 = get(server + "collections/rivers/items", bbox="120.68,31.26,120.76,31.32", limit=1000).json()
    lat_first = get(server + "collections/rivers/items", bbox="31.26,120.68,31.32,120.76",
                    **{"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4490", "limit": 1000}).json()
    assert {f["id"] for f in crs84["features"]} == {f["id"] for f in lat_first["features"]}


def test_crs_parameter_sets_axis_order_and_content_crs(server):
    plain = get(server + "collections/billboards/items", limit=1)
    assert plain.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    lon, lat = plain.json()["features"][0]["geometry"]["coordinates"]
    assert 120 < lon < 121 and 31 < lat < 32
    geographic = get(server + "collections/billboards/items", limit=1, crs="http://www.opengis.net/def/crs/EPSG/0/4490")
    assert geographic.headers["Content-Crs"].endswith("/4490>")
    assert geographic.json()["features"][0]["geometry"]["coordinates"] == [lat, lon]
    metric = get(server + "collections/billboards/items", limit=1, crs="http://www.opengis.net/def/crs/EPSG/0/4549")
    north, east = metric.json()["features"][0]["geometry"]["coordinates"]
    assert 3.4e6 < north < 3.5e6 and 5.4e5 < east < 6.0e5


def test_datetime_matches_the_planned_interval(server, demo_path):
    doc = get(server + "collections/rivers/items", datetime="2014-06-01", limit=1000).json()
    con = sqlite3.connect(demo_path)
    expected = {r[0] for r in con.execute(
        "SELECT r.fid FROM rivers r JOIN projects p USING (project_id) "
        "WHERE p.planned_start <= '2014-06-01' AND p.planned_finish >= '2014-06-01'")}
    assert {f["id"] for f in doc["features"]} == expected and expected


def test_street_boundaries_as_of_a_date_through_datetime(server):
    doc = get(server + "collections/street_offices/items", datetime="2015-01-01").json()
    assert sorted(f["properties"]["code"] for f in doc["features"]) == sorted(["LF", "XT", "WT", "SP"])


def test_cql2_text_filter_matches_brute_force(server, demo_path):
    doc = get(server + "collections/rivers/items", limit=1000,
              filter="status = 'planned' AND investment_yuan > 4000000").json()
    con = sqlite3.connect(demo_path)
    expected = {r[0] for r in con.execute("SELECT r.fid FROM rivers r JOIN projects p USING (project_id) "
                                          "WHERE p.status = 'planned' AND p.investment_yuan > 4000000")}
    assert {f["id"] for f in doc["features"]} == expected and expected


def test_cql2_spatial_filter_and_json_and_gdal_alias(server, demo_path):
    poly = Polygon([(120.64, 31.25), (120.74, 31.25), (120.74, 31.33), (120.64, 31.33)])
    frame = pyogrio.read_dataframe(demo_path, layer="old_compounds", fid_as_index=True)
    expected = {int(fid) for fid, g in zip(frame.index, frame.geometry) if g.intersects(poly)}
    text = get(server + "collections/old_compounds/items", limit=1000,
               filter=f"S_INTERSECTS(geometry, {poly.wkt})").json()
    alias = get(server + "collections/old_compounds/items", limit=1000, **{"filter-lang": "cql-text"},
                filter=f"S_INTERSECTS(geometry, {poly.wkt})").json()
    as_json = get(server + "collections/old_compounds/items", limit=1000, **{"filter-lang": "cql2-json"},
                  filter=requests.models.complexjson.dumps(
                      {"op": "s_intersects", "args": [{"property": "geometry"}, shapely.geometry.mapping(poly)]})
                  ).json()
    for doc in (text, alias, as_json):
        assert {f["id"] for f in doc["features"]} == expected and expected


def test_investment_shares_add_up_to_each_project_and_the_programme(server, demo_path):
    con = sqlite3.connect(demo_path)
    money = dict(con.execute("SELECT project_id, investment_yuan FROM projects"))
    total = Decimal(0)
    per_project: dict[str, Decimal] = {}
    for layer in [r[0] for r in con.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'")]:
        doc = get(server + f"collections/{layer}/items", limit=100_000).json()
        for feature in doc["features"]:
            share = feature["properties"].get("investment_share_yuan")
            if share is not None:
                per_project[feature["properties"]["project_id"]] = \
                    per_project.get(feature["properties"]["project_id"], Decimal(0)) + Decimal(str(share))
                total += Decimal(str(share))
    assert total == Decimal("3633000000")
    assert all(per_project[p] == Decimal(money[p]) for p in money)


def test_properties_and_sortby(server):
    doc = get(server + "collections/rivers/items", properties="project_id,investment_yuan",
              sortby="-investment_yuan", limit=50).json()
    assert set(doc["features"][0]["properties"]) == {"project_id", "investment_yuan"}
    money = [f["properties"]["investment_yuan"] for f in doc["features"]]
    assert money == sorted(money, reverse=True)


def test_single_feature_and_missing_feature(server):
    doc = get(server + "collections/rivers/items/2").json()
    assert doc["id"] == 2 and doc["properties"]["feature_name"] == "唐莊河"
    missing = get(server + "collections/rivers/items/999999")
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]


@pytest.mark.parametrize(
    ("params", "param"),
    [({"bbox": "1,2,3"}, "bbox"), ({"bbox": "120.8,31.3,120.7,31.4"}, "bbox"), ({"filter": "status = "}, "filter"),
     ({"filter": "colour = 'red'"}, "filter"), ({"crs": "EPSG:3857"}, "crs"), ({"limit": "0"}, "limit"),
     ({"limit": "100001"}, "limit"), ({"datetime": "yesterday"}, "datetime"), ({"sortby": "colour"}, "sortby"),
     ({"filter-lang": "sql", "filter": "a = 1"}, "filter-lang"), ({"offset": "-1"}, "offset")],
)
def test_bad_items_parameters_are_400_naming_the_parameter(server, params, param):
    response = get(server + "collections/rivers/items", **params)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["parameter"] == param


def test_etag_and_if_none_match(server):
    first = get(server + "collections/rivers/items", limit=3)
    tag = first.headers["ETag"]
    again = requests.get(server + "collections/rivers/items?limit=3", headers={"If-None-Match": tag}, timeout=10)
    assert again.status_code == 304
    other = requests.get(server + "collections/rivers/items?limit=4", headers={"If-None-Match": tag}, timeout=10)
    assert other.status_code == 200
    assert first.headers["Last-Modified"]


# -- registry endpoints -----------------------------------------------------------------------------------
def test_projects_json_shape_and_filters(server):
    doc = get(server + "projects", street="娄葑", category="rivers").json()
    assert doc["total"] == len(doc["projects"]) > 0
    assert all(p["category"] == "rivers" and p["features"] for p in doc["projects"])


def test_projects_geojson_csv_and_html(server):
    geo = get(server + "projects", f="geojson", year="2013")
    assert geo.headers["Content-Type"].startswith("application/geo+json")
    assert geo.json()["type"] == "FeatureCollection" and geo.json()["numberMatched"] == 81
    table = get(server + "projects", f="csv", year="2013")
    assert table.content.startswith(b"\xef\xbb\xbf") and '"WKT"' in table.text.splitlines()[0]
    page = requests.get(server + "projects", headers={"Accept": "text/html"}, timeout=10)
    assert "唐莊河整治" in page.text


def test_project_page_and_missing_project(server):
    doc = get(server + "projects/2013-RIV-013").json()
    assert len(doc["features"]) == 21
    missing = get(server + "projects/2099-RIV-001")
    assert missing.status_code == 404 and "2099-RIV-001" in missing.json()["detail"]


def test_street_projects_match_the_query_rule(server, demo_path):
    from registry.query import find
    from registry.store import GeoPackageStore

    for code in ORDER:
        doc = get(server + f"streets/{code}/projects", limit="1000").json()
        expected = find(GeoPackageStore(demo_path), {"street": code})
        assert sorted(p["project_id"] for p in doc["projects"]) == sorted(expected.projects["project_id"])


def test_unknown_street_lists_the_valid_ones(server):
    response = get(server + "streets/ZZ/projects")
    assert response.status_code == 400 and "LF 婁葑" in response.json()["detail"]


def test_streets_and_stats(server):
    streets = get(server + "streets").json()["streets"]
    assert [s["code"] for s in streets] == ORDER
    stats = get(server + "stats", by="street,category").json()
    assert stats["totals"]["investment_yuan"] == "3633000000.00"
    assert sum(Decimal(r["investment_yuan"]) for r in stats["rows"]) == Decimal("3633000000.00")


def test_qa_endpoint(server):
    assert get(server + "qa").json() == {"findings": []}


def test_no_traceback_for_garbage_paths(server):
    for path in ("collections/rivers/items/abc", "projects/%00", "nothing/here"):
        response = get(server + path)
        assert response.status_code in (400, 404)
        assert "Traceback" not in response.text


# -- outside clients ----------------------------------------------------------------------------------------
def test_ogrinfo_lists_every_collection_with_its_count(server, demo_path):
    out = subprocess.run(["ogrinfo", "-ro", "-so", "-al", f"OAPIF:{server}"], capture_output=True, text=True,
                         timeout=300).stdout
    blocks = {b.split("\n", 1)[0].strip(): b for b in out.split("Layer name: ")[1:]}
    for layer in ("rivers", "billboards", "street_offices", "sluices"):
        assert f"Feature Count: {count(demo_path, layer)}" in blocks[layer], layer


def test_ogr2ogr_copies_a_collection_to_geopackage(server, demo_path, tmp_path):
    target = tmp_path / "copy.gpkg"
    subprocess.run(["ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{server}", "rivers"], check=True, timeout=300,
                   capture_output=True)
    copy = pyogrio.read_dataframe(target, layer="rivers")
    assert len(copy) == count(demo_path, "rivers")
    assert "唐莊河" in set(copy["feature_name"])


def test_ogr2ogr_attribute_filter_reaches_the_server(server, demo_path, tmp_path):
    target = tmp_path / "filtered.gpkg"
    subprocess.run(["ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{server}", "rivers", "-where",
                    "status = 'planned'"], check=True, timeout=300, capture_output=True)
    con = sqlite3.connect(demo_path)
    expected = con.execute("SELECT count(*) FROM rivers JOIN projects USING (project_id) "
                           "WHERE status = 'planned'").fetchone()[0]
    assert len(pyogrio.read_dataframe(target, layer="rivers")) == expected


def test_owslib_reads_collections_items_bbox_and_filter(server, demo_path):
    from owslib.ogcapi.features import Features

    api = Features(server)
    assert "rivers" in api.feature_collections()
    page = api.collection_items("rivers", bbox=[120.68, 31.26, 120.76, 31.32], limit=1000)
    frame = pyogrio.read_dataframe(demo_path, layer="rivers", fid_as_index=True)
    box = shapely.box(120.68, 31.26, 120.76, 31.32)
    assert {f["id"] for f in page["features"]} == {int(i) for i, g in zip(frame.index, frame.geometry)
                                                   if g.intersects(box)}
    filtered = api.collection_items("rivers", filter="status = 'long_term_management'", limit=1000)
    assert filtered["numberMatched"] == 12


# -- downloads (the exchange formats over HTTP) -------------------------------------------------------------
def test_projects_download_as_zipped_shapefile_read_by_ogrinfo(server, tmp_path, demo_path):
    response = get(server + "projects", f="shp", street="LF", encoding="gbk")
    assert response.headers["Content-Type"] == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    path = tmp_path / "lf.shp.zip"
    path.write_bytes(response.content)
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-so", f"/vsizip/{path}"], capture_output=True, text=True,
                         check=True).stdout
    from registry.query import find
    from registry.store import GeoPackageStore

    expected = find(GeoPackageStore(demo_path), {"street": "LF"}).features
    counts = [int(line.split(":")[1]) for line in out.splitlines() if line.startswith("Feature Count:")]
    assert sum(counts) == len(expected)


def test_collection_download_as_geopackage_in_epsg_4549(server, tmp_path, demo_path):
    response = get(server + "collections/rivers/items", f="gpkg", crs="http://www.opengis.net/def/crs/EPSG/0/4549")
    path = tmp_path / "rivers.gpkg"
    path.write_bytes(response.content)
    frame = pyogrio.read_dataframe(path, layer="rivers")
    assert len(frame) == count(demo_path, "rivers")
    assert frame.crs.to_epsg() == 4549 and frame.total_bounds[0] > 500_000  # easting first, metres


def test_reference_layers_are_not_offered_as_downloads(server):
    response = get(server + "collections/lakes/items", f="shp")
    assert response.status_code == 400 and response.json()["parameter"] == "f"
