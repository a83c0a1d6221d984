"""Edits over HTTP: whole projects on /projects (create, replace, merge patch, delete) and single features on
/collections/{layer}/items (OGC API – Features Part 4), with ETags and If-Match; on both stores.

Each edit's outcome is checked against the store read back on its own, and a refused edit against the store
as it was before; the change log is read from the store's own table.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import opencc
import orjson
import pandas as pd
import psycopg
import pyproj
import pytest
import shapely
from flask.testing import FlaskClient
from shapely import LineString

from api import create_app
from registry import editing, limits, model
from registry.accounts import Credentials
from registry.errors import Conflict, Forbidden, NotFound, ValidationError
from registry.store import Batch, GeoPackageStore, PostGISStore, Store, create_store
from registry.store.edits import Author

from .conftest import LINE, POINT, POLYGON, basic, features, project, role_accounts, schema_of, serve

ADMIN = Author("ann", role="admin")
PLANNING = Author("pat", role="editor", department="規劃建設局")
CITY = Author("cui", role="editor", department="城市管理局")
SECOND = LineString([(120.672, 31.305), (120.678, 31.309)])
# Rules decided above the store (read-only properties, CRS, messages) are tested on one store; every operation
# and the concurrency of If-Match on both.
GPKG_ONLY = pytest.mark.parametrize("store", ["gpkg"], indirect=True)


def fill(made: Store) -> Store:
    """Three projects: two rivers of two departments (the first with two features) and a polder with a sluice."""
    rivers = pd.concat([features("2014-RIV-001", LINE), features("2014-RIV-001", SECOND, "第二段"),
                        features("2014-RIV-002", LINE, "城管段")])
    made.write(Batch(pd.DataFrame([project("2014-RIV-001", "rivers"),
                                   project("2014-RIV-002", "rivers", lead_department="城市管理局"),
                                   project("2014-POL-001", "polders")]),
                     {"rivers": rivers, "polders": features("2014-POL-001", POLYGON),
                      "sluices": features("2014-POL-001", POINT, "閘")}))
    return made


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """``fill``'s registry as a GeoPackage, made once: each test edits a copy."""
    path = tmp_path_factory.mktemp("edits") / "template.gpkg"
    fill(create_store(str(path)))
    return path


@pytest.fixture(params=["gpkg", "postgis"])
def store(request, template, tmp_path) -> Store:
    """``fill``'s registry: a copy of the GeoPackage template, or built in a fresh PostGIS schema."""
    if request.param == "gpkg":
        path = tmp_path / "edits.gpkg"
        shutil.copyfile(template, path)
        return GeoPackageStore(path)
    return fill(create_store(request.getfixturevalue("postgis_url")))


def fids(store: Store, layer: str, project_id: str) -> list[int]:
    return sorted(int(f) for f in store.features(layer, project_ids=[project_id]).index)


def state(store: Store) -> tuple:
    """Everything an edit could change: revision, projects, every project layer, and the change log's length."""
    layers = {layer.name: store.features(layer.name).sort_index().to_wkt().to_dict("split")
              for layer in model.PROJECT_LAYERS}
    projects = store.projects().sort_values("project_id").astype(object).to_dict("split")
    return store.revision(), str(projects), str(layers), len(log(store))


def log(store: Store) -> list[tuple]:
    """The change log, oldest first: (operation, layer, project_id, fid, version, conditional, who)."""
    query = "SELECT operation, layer, project_id, fid, version, conditional, who FROM changes ORDER BY change_id"
    if isinstance(store, GeoPackageStore):
        con = sqlite3.connect(store.path)
        try:
            return [(*r[:5], bool(r[5]), r[6]) for r in con.execute(query)]
        finally:
            con.close()
    params, schema = schema_of(store.url)
    with psycopg.connect(**params) as con:
        con.execute(f"SET search_path = {schema}, public")
        return [tuple(r) for r in con.execute(query)]


def etag(store: Store, project_id: str) -> str:
    with store.snapshot() as view:
        return editing.project_etag(editing.project_records(view, project_id), project_id)


def document(store: Store, project_id: str) -> dict:
    with store.snapshot() as view:
        return editing.project_document(editing.project_records(view, project_id), project_id)


def geojson(geom: shapely.Geometry) -> dict:
    return shapely.geometry.mapping(geom)


# -- projects -------------------------------------------------------------------------------------------------
def test_put_of_a_project_keeps_its_features_fids_and_adds_new_ones(store):
    before = fids(store, "rivers", "2014-RIV-001")
    doc = document(store, "2014-RIV-001")
    doc["notes"] = "加一段"
    doc["features"][0]["name"] = "改名段"
    doc["features"].append({"layer": "rivers", "name": "新段", "geometry": geojson(LINE.offset_curve(0.001))})
    editing.replace_project(store, "2014-RIV-001", doc, ADMIN)
    after = store.features("rivers", project_ids=["2014-RIV-001"]).sort_index()
    assert list(after.index[:2]) == before and len(after) == 3
    assert after.index[2] > max(int(f) for f in store.features("rivers").index if f not in after.index[2:])
    assert after.loc[before[0], "name"] == "改名段" and after.loc[before[1], "name"] == "第二段"
    assert store.projects(["2014-RIV-001"]).iloc[0]["notes"] == "加一段"


@GPKG_ONLY
def test_put_leaving_a_feature_out_deletes_it_and_only_it(store):
    keep, drop = fids(store, "rivers", "2014-RIV-001")
    doc = document(store, "2014-RIV-001")
    doc["features"] = [f for f in doc["features"] if f["fid"] == keep]
    editing.replace_project(store, "2014-RIV-001", doc, ADMIN)
    assert fids(store, "rivers", "2014-RIV-001") == [keep]
    assert len(fids(store, "rivers", "2014-RIV-002")) == 1


@GPKG_ONLY
def test_merge_patch_changes_only_what_it_names(store):
    versions = store.features("rivers", project_ids=["2014-RIV-001"])[model.VERSION_COLUMN].tolist()
    editing.patch_project(store, "2014-RIV-001", {"notes": "補記", "tasks": None}, ADMIN)
    row = store.projects(["2014-RIV-001"]).iloc[0]
    assert row["notes"] == "補記" and row["tasks"] is None and row["name"] == "唐莊河整治"
    assert int(row[model.VERSION_COLUMN]) == 2
    assert store.features("rivers", project_ids=["2014-RIV-001"])[model.VERSION_COLUMN].tolist() == versions


@GPKG_ONLY
def test_a_changed_project_id_is_refused_and_changes_nothing(store):
    was = state(store)
    with pytest.raises(ValidationError) as refused:
        editing.patch_project(store, "2014-RIV-001", {"project_id": "2014-RIV-009"}, ADMIN)
    assert refused.value.param == "project_id"
    assert state(store) == was


def test_an_invalid_project_edit_names_the_field_and_changes_nothing(store):
    was = state(store)
    for patch, field in (({"investment_yuan": -5}, "investment_yuan"), ({"category": "moats"}, "category"),
                         ({"status": "completed"}, "status"),
                         ({"features": [{"geometry": geojson(POLYGON)}]}, "geometry")):
        with pytest.raises(ValidationError) as refused:
            editing.patch_project(store, "2014-RIV-001", patch, ADMIN)
        assert refused.value.param == field, patch
    assert state(store) == was


def test_post_without_an_id_assigns_the_next_number_of_its_year_and_category(store):
    body = {k: v for k, v in project("2014-RIV-001", "rivers").items() if k != "project_id"}
    body["features"] = [{"name": "新河", "geometry": geojson(SECOND)}]
    first, _ = editing.create_project(store, body, ADMIN)
    second, records = editing.create_project(store, body, ADMIN)
    assert (first, second) == ("2014-RIV-003", "2014-RIV-004")
    assert fids(store, "rivers", second) == [int(f) for f in records.features["rivers"].query(
        "project_id == @second").index]


@GPKG_ONLY
def test_post_of_an_existing_id_is_refused(store):
    with pytest.raises(ValidationError) as refused:
        editing.create_project(store, project("2014-RIV-002", "rivers"), ADMIN)
    assert refused.value.param == "project_id"


def test_delete_removes_the_project_and_its_features(store):
    editing.delete_project(store, "2014-POL-001", ADMIN)
    assert store.projects(["2014-POL-001"]).empty
    assert store.features("sluices").empty and store.features("polders").empty
    with pytest.raises(NotFound):
        editing.delete_project(store, "2014-POL-001", ADMIN)


def test_an_editor_may_not_touch_another_departments_project(store):
    was = state(store)
    with pytest.raises(Forbidden):
        editing.patch_project(store, "2014-RIV-002", {"notes": "x"}, PLANNING)
    assert state(store) == was
    editing.patch_project(store, "2014-RIV-002", {"notes": "x"}, CITY)
    assert store.projects(["2014-RIV-002"]).iloc[0]["notes"] == "x"


# -- ETags and If-Match ---------------------------------------------------------------------------------------
@GPKG_ONLY
def test_a_stale_if_match_is_a_conflict_naming_the_current_etag(store):
    tag = etag(store, "2014-RIV-001")
    editing.patch_project(store, "2014-RIV-001", {"notes": "先"}, ADMIN, if_match=[tag])
    now = etag(store, "2014-RIV-001")
    assert now != tag
    with pytest.raises(Conflict) as refused:
        editing.patch_project(store, "2014-RIV-001", {"notes": "後"}, ADMIN, if_match=[tag])
    assert refused.value.current == now
    assert store.projects(["2014-RIV-001"]).iloc[0]["notes"] == "先"


@GPKG_ONLY
def test_a_features_edit_moves_its_projects_etag(store):
    tag = etag(store, "2014-RIV-001")
    editing.patch_item(store, "rivers", fids(store, "rivers", "2014-RIV-001")[0], {"properties": {"feature_name": "x"}},
                       ADMIN)
    assert etag(store, "2014-RIV-001") != tag


@GPKG_ONLY
def test_writes_with_and_without_if_match_are_logged_as_such(store):
    editing.patch_project(store, "2014-RIV-001", {"notes": "a"}, ADMIN)
    editing.patch_project(store, "2014-RIV-001", {"notes": "b"}, ADMIN, if_match=[etag(store, "2014-RIV-001")])
    entries = [e for e in log(store) if e[0] == "update" and e[1] == "projects"]
    assert [e[5] for e in entries] == [False, True]
    assert [e[4] for e in entries] == [2, 3]


@GPKG_ONLY
def test_if_match_on_a_feature_that_is_gone_is_a_conflict_and_without_it_not_found(store):
    fid = fids(store, "rivers", "2014-RIV-001")[0]
    with store.snapshot() as view:
        tag = editing.item_etag(editing.item_records(view, "rivers", fid), "rivers", fid)
    editing.delete_item(store, "rivers", fid, ADMIN, if_match=[tag])
    with pytest.raises(Conflict) as refused:
        editing.delete_item(store, "rivers", fid, ADMIN, if_match=[tag])
    assert refused.value.current is None
    with pytest.raises(NotFound):
        editing.delete_item(store, "rivers", fid, ADMIN)


# -- items (Part 4) ---------------------------------------------------------------------------------------------
def test_item_create_replace_patch_delete(store):
    fid, _ = editing.create_item(store, "rivers", {"type": "Feature", "properties": {
        "project_id": "2014-RIV-001", "feature_name": "支流"}, "geometry": geojson(SECOND)}, PLANNING)
    assert fid in fids(store, "rivers", "2014-RIV-001")
    moved = LINE.offset_curve(0.002)
    editing.replace_item(store, "rivers", fid, {"type": "Feature", "properties": {
        "project_id": "2014-RIV-001", "feature_name": "支流二"}, "geometry": geojson(moved)}, PLANNING)
    row = store.features("rivers").loc[fid]
    assert row["name"] == "支流二" and row.geometry.equals_exact(shapely.multilinestrings([moved]), 1e-7)
    editing.patch_item(store, "rivers", fid, {"properties": {"feature_name": "支流三"}}, PLANNING)
    editing.patch_item(store, "rivers", fid, {"geometry": geojson(SECOND)}, PLANNING)
    row = store.features("rivers").loc[fid]
    assert row["name"] == "支流三" and row.geometry.equals_exact(shapely.multilinestrings([SECOND]), 1e-7)
    editing.delete_item(store, "rivers", fid, PLANNING)
    assert fid not in store.features("rivers").index


@GPKG_ONLY
def test_a_layers_geopackage_extent_follows_its_features_through_edits(store):
    """The extent gpkg_contents records for GDAL and QGIS, which an edit widens by the boxes it writes instead of
    reading the whole R-tree, stays the R-tree's and the features' as edits widen it, leave it and shrink it."""
    def extents() -> tuple[tuple, tuple]:
        con = sqlite3.connect(store.path)
        try:
            return (con.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = 'rivers'")
                    .fetchone(), con.execute("SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "
                                             "rtree_rivers_geom").fetchone())
        finally:
            con.close()

    far = LineString([(120.70, 31.33), (120.71, 31.34)])
    fid, _ = editing.create_item(store, "rivers", {"type": "Feature", "properties": {
        "project_id": "2014-RIV-001", "feature_name": "遠段"}, "geometry": geojson(far)}, PLANNING)
    for edit in (lambda: None, lambda: editing.patch_item(store, "rivers", fid, {"properties": {"feature_name": "遠"}},
                                                          PLANNING),
                 lambda: editing.patch_item(store, "rivers", fid, {"geometry": geojson(SECOND)}, PLANNING),
                 lambda: editing.delete_item(store, "rivers", fid, PLANNING)):
        edit()
        held, tree = extents()
        assert held == tree
        assert held == pytest.approx(tuple(store.features("rivers").total_bounds), abs=1e-4)  # float32, outwards
    assert extents()[0][2] < 120.70  # the far feature's widening is gone with it


@GPKG_ONLY
def test_content_crs_is_honoured_in_its_axis_order(store):
    to_4549 = pyproj.Transformer.from_crs(4490, 4549, always_xy=True)
    east_north = shapely.transform(SECOND, lambda xy: __import__("numpy").column_stack(to_4549.transform(*xy.T)))
    north_east = shapely.transform(east_north, lambda xy: xy[:, ::-1])  # EPSG:4549's axis order: northing first
    fid, _ = editing.create_item(store, "rivers", {"type": "Feature", "properties": {"project_id": "2014-RIV-001"},
                                                   "geometry": geojson(north_east)}, ADMIN,
                                 content_crs="<http://www.opengis.net/def/crs/EPSG/0/4549>")
    stored = store.features("rivers").loc[fid].geometry
    assert stored.equals_exact(shapely.multilinestrings([SECOND]), 1e-6)


@GPKG_ONLY
def test_a_project_attribute_on_an_item_is_read_only_and_points_to_the_project(store):
    fid = fids(store, "rivers", "2014-RIV-001")[0]
    was = state(store)
    with pytest.raises(ValidationError) as refused:
        editing.patch_item(store, "rivers", fid, {"properties": {"status": "completed"}}, ADMIN)
    assert refused.value.param == "status" and "/projects/2014-RIV-001" in refused.value.message
    with pytest.raises(ValidationError) as refused:
        editing.patch_item(store, "rivers", fid, {"properties": {"investment_share_yuan": 1}}, ADMIN)
    assert refused.value.param == "investment_share_yuan"
    assert state(store) == was
    editing.patch_item(store, "rivers", fid, {"properties": {"status": "planned", "feature_name": "同"}}, ADMIN)
    assert store.features("rivers").loc[fid, "name"] == "同"


@GPKG_ONLY
def test_an_item_may_move_to_another_project_of_the_editors_department_only(store):
    fid = fids(store, "rivers", "2014-RIV-001")[0]
    with pytest.raises(Forbidden):
        editing.patch_item(store, "rivers", fid, {"properties": {"project_id": "2014-RIV-002"}}, PLANNING)
    editing.patch_item(store, "rivers", fid, {"properties": {"project_id": "2014-RIV-002"}}, ADMIN)
    assert fid in fids(store, "rivers", "2014-RIV-002")


@GPKG_ONLY
def test_a_feature_of_the_wrong_layer_or_geometry_is_refused(store):
    with pytest.raises(ValidationError) as refused:
        editing.create_item(store, "rivers", {"type": "Feature", "properties": {"project_id": "2014-RIV-001"},
                                              "geometry": geojson(POINT)}, ADMIN)
    assert refused.value.param == "geometry"
    with pytest.raises(ValidationError) as refused:
        editing.create_item(store, "polders", {"type": "Feature", "properties": {"project_id": "2014-RIV-001"},
                                               "geometry": geojson(POLYGON)}, ADMIN)
    assert refused.value.param == "project_id"


# -- over HTTP ----------------------------------------------------------------------------------------------------
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def api(store) -> tuple[FlaskClient, dict[str, dict[str, str]], dict[str, Credentials]]:
    """A test client of the API on ``store``, a Bearer header per role and the accounts' credentials (the
    editor leads 城市管理局's projects)."""
    accounts = role_accounts(store)
    tokens = {role: {"Authorization": f"Bearer {c.token}"} for role, c in accounts.items()}
    location = store.url if isinstance(store, PostGISStore) else str(store.path)
    return create_app({"REGISTRY_STORE": location}).test_client(), tokens, accounts


def test_http_project_create_replace_patch_delete(api):
    client, tokens, _ = api
    admin = tokens["admin"]
    body = {k: v for k, v in project("2014-RIV-001", "rivers").items() if k != "project_id"}
    body["features"] = [{"name": "新河", "geometry": geojson(SECOND)}]
    created = client.post("/projects", json=body, headers=admin)
    assert created.status_code == 201 and created.headers["Location"].endswith("/projects/2014-RIV-003")
    read = client.get(created.headers["Location"])
    assert read.headers["ETag"] == created.headers["ETag"] and read.get_json() == created.get_json()
    doc = read.get_json()
    doc["notes"] = "改"
    replaced = client.put("/projects/2014-RIV-003", json=doc, headers={**admin, "If-Match": read.headers["ETag"]})
    assert replaced.status_code == 200 and replaced.get_json()["notes"] == "改"
    assert replaced.get_json()["features"][0]["fid"] == doc["features"][0]["fid"]
    patched = client.patch("/projects/2014-RIV-003", data=orjson.dumps({"notes": None}), headers={**admin, **MERGE})
    assert patched.status_code == 200 and patched.get_json()["notes"] is None
    assert patched.headers["ETag"] == client.get("/projects/2014-RIV-003").headers["ETag"] != replaced.headers["ETag"]
    gone = client.delete("/projects/2014-RIV-003", headers={**admin, "If-Match": patched.headers["ETag"]})
    assert gone.status_code == 204 and client.get("/projects/2014-RIV-003").status_code == 404


def test_http_stale_if_match_is_412_with_the_current_etag_and_body(api):
    client, tokens, _ = api
    tag = client.get("/projects/2014-RIV-002").headers["ETag"]
    first = client.patch("/projects/2014-RIV-002", data=b'{"notes": "first"}',
                         headers={**tokens["editor"], **MERGE, "If-Match": tag})
    late = client.patch("/projects/2014-RIV-002", data=b'{"notes": "late"}',
                        headers={**tokens["editor"], **MERGE, "If-Match": tag})
    now = client.get("/projects/2014-RIV-002")
    assert first.status_code == 200 and late.status_code == 412
    assert late.headers["ETag"] == now.headers["ETag"] == first.headers["ETag"]
    assert late.get_json() == now.get_json() and now.get_json()["notes"] == "first"


# Words each refusal's detail must carry in each script (the catalogs' wording; the department's name converted
# from the stored 規劃建設局 as a mainland reader writes it).
_REFUSAL_WORDS = {"zh-Hans": {422: ("项目 2014-RIV-002", "status", "planned", "completed"),
                              403: ("项目 2014-RIV-001", "规划建设局", "城市管理局"),
                              412: ("项目 2014-RIV-002", "If-Match")},
                  "zh-Hant": {422: ("專案 2014-RIV-002", "status", "planned", "completed"),
                              403: ("專案 2014-RIV-001", "規劃建設局", "城市管理局"),
                              412: ("專案 2014-RIV-002", "If-Match")}}


@GPKG_ONLY
@pytest.mark.parametrize(("chosen", "config"), [("zh-Hans", "tw2s"), ("zh-Hant", "s2tw")])
def test_http_edit_refusals_are_in_the_requests_script(api, chosen, config):
    client, tokens, _ = api
    editor = {**tokens["editor"], **MERGE}
    stale = client.get("/projects/2014-RIV-002").headers["ETag"]
    refusals = {
        422: client.patch(f"/projects/2014-RIV-002?lang={chosen}", data=b'{"status": "completed"}', headers=editor),
        403: client.patch(f"/projects/2014-RIV-001?lang={chosen}", data=b'{"notes": "x"}', headers=editor),
    }
    assert client.delete("/projects/2014-RIV-002", headers=tokens["admin"]).status_code == 204
    refusals[412] = client.patch(f"/projects/2014-RIV-002?lang={chosen}", data=b'{"notes": "late"}',
                                 headers={**editor, "If-Match": stale})
    for status, response in refusals.items():
        detail = response.get_json()["detail"]
        assert response.status_code == status and all(w in detail for w in _REFUSAL_WORDS[chosen][status]), detail
        assert opencc.OpenCC(config).convert(detail) == detail


def test_http_same_etag_at_once_one_2xx_the_rest_412_and_the_log_holds_the_winner(api, store):
    client, tokens, _ = api
    app = client.application
    tag = client.get("/projects/2014-RIV-002").headers["ETag"]
    logged = len(log(store))
    statuses: dict[int, int] = {}
    start = threading.Barrier(5)

    def edit(i: int) -> None:
        start.wait()
        statuses[i] = app.test_client().patch("/projects/2014-RIV-002", data=orjson.dumps({"notes": f"第{i}"}),
                                              headers={**tokens["editor"], **MERGE, "If-Match": tag}).status_code

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, s in statuses.items() if s == 200]
    assert len(winners) == 1 and sorted(statuses.values()) == [200, 412, 412, 412, 412]
    entries = log(store)[logged:]
    assert [(e[0], e[1], e[2], e[4], e[5], e[6]) for e in entries] == [
        ("update", "projects", "2014-RIV-002", 2, True, "editor1")]
    assert store.projects(["2014-RIV-002"]).iloc[0]["notes"] == f"第{winners[0]}"


_PROCESS_EDIT = """
import sys
from registry import editing
from registry.errors import Conflict
from registry.store import Author, open_store
store = open_store(sys.argv[1])
try:
    editing.patch_project(store, "2014-RIV-002", {"notes": sys.argv[3]}, Author(f"p{sys.argv[3]}"), [sys.argv[2]])
    print("ok")
except Conflict:
    print("412")
"""


def test_processes_with_the_same_etag_at_once_one_wins_and_the_log_holds_it(store):
    location = store.url if isinstance(store, PostGISStore) else str(store.path)
    with store.snapshot() as view:
        tag = editing.project_etag(editing.project_records(view, "2014-RIV-002"), "2014-RIV-002")
    logged = len(log(store))
    runs = [subprocess.Popen([sys.executable, "-c", _PROCESS_EDIT, location, tag, str(i)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for i in range(4)]
    answers = [run.communicate(timeout=120) for run in runs]
    outcomes = sorted(out.strip() for out, _ in answers)
    assert outcomes == ["412", "412", "412", "ok"], [err for _, err in answers]
    entries = log(store)[logged:]
    assert len(entries) == 1 and entries[0][:3] == ("update", "projects", "2014-RIV-002") and entries[0][5]
    winner = entries[0][6][1:]
    assert store.projects(["2014-RIV-002"]).iloc[0]["notes"] == winner


@GPKG_ONLY
def test_http_refused_edits_answer_problems_naming_the_field_and_change_nothing(api, store):
    client, tokens, _ = api
    fid = fids(store, "rivers", "2014-RIV-002")[0]
    item = f"/collections/rivers/items/{fid}"
    was = state(store)
    cases = [
        (client.patch("/projects/2014-RIV-002", data=b'{"notes": "x"}', headers=MERGE), 401, None),
        (client.patch("/projects/2014-RIV-002", data=b'{"notes": "x"}', headers={**tokens["viewer"], **MERGE}),
         403, None),
        (client.patch("/projects/2014-RIV-001", data=b'{"notes": "x"}', headers={**tokens["editor"], **MERGE}),
         403, None),
        (client.patch("/projects/2014-RIV-002", data=b'{"notes": ', headers={**tokens["editor"], **MERGE}),
         400, "body"),
        (client.patch("/projects/2014-RIV-002", data=b'[' * 100 + b']' * 100, headers={**tokens["editor"], **MERGE}),
         400, "body"),
        (client.patch("/projects/2014-RIV-002", data=b'{"investment_yuan": -1}', headers={**tokens["editor"], **MERGE}),
         422, "investment_yuan"),
        (client.patch("/projects/2014-RIV-002", data=b'{"project_id": "2014-RIV-007"}',
                      headers={**tokens["editor"], **MERGE}), 422, "project_id"),
        (client.patch("/projects/2014-RIV-002", data=b'{"status": "completed"}', headers={**tokens["editor"], **MERGE}),
         422, "status"),
        (client.patch(item, data=b'{"properties": {"lead_department": "x"}}', headers={**tokens["editor"], **MERGE}),
         422, "lead_department"),
        (client.patch(item, data=b'{"geometry": {"type": "Point", "coordinates": [120.7, 31.3]}}',
                      headers={**tokens["editor"], **MERGE}), 422, "geometry"),
        (client.put(item, data=b"{}", headers={**tokens["editor"], "Content-Type": "text/csv"}), 415, None),
        (client.post("/collections/rivers/items", data=b" " * (limits.MAX_UPLOAD_BYTES + 1),
                     headers={**tokens["editor"], "Content-Type": "application/geo+json"}), 413, None),
    ]
    for i, (response, status, field) in enumerate(cases):
        assert response.status_code == status, (i, response.get_json())
        assert response.mimetype == "application/problem+json"
        assert response.get_json().get("parameter") == field, i
    assert cases[0][0].headers["WWW-Authenticate"]
    assert state(store) == was


@GPKG_ONLY
def test_options_allow_lists_the_methods_this_caller_may_use(api, store):
    client, tokens, _ = api
    ours, theirs = fids(store, "rivers", "2014-RIV-002")[0], fids(store, "rivers", "2014-RIV-001")[0]

    def allowed(path: str, who: str | None) -> set[str]:
        response = client.options(path, headers=tokens.get(who, {}))
        assert response.status_code == 200
        return set(response.headers["Allow"].split(", "))

    reads = {"GET", "HEAD", "OPTIONS"}
    assert allowed("/collections/rivers/items", None) == allowed("/collections/rivers/items", "viewer") == reads
    assert allowed("/collections/rivers/items", "editor") == reads | {"POST"}
    assert allowed(f"/collections/rivers/items/{ours}", "editor") == reads | {"PUT", "PATCH", "DELETE"}
    assert allowed(f"/collections/rivers/items/{theirs}", "editor") == reads | {"PUT", "PATCH", "DELETE"}  # layer-wide
    assert allowed(f"/collections/rivers/items/{theirs}", "admin") == reads | {"PUT", "PATCH", "DELETE"}
    assert allowed("/collections/rivers/items/unknown_id", "editor") == reads | {"PUT", "PATCH", "DELETE"}
    assert allowed("/collections/lakes/items", "admin") == reads


def test_qgis_oapif_editing_sequence_replayed(api, store):
    """QGIS ≥ 3.32's OAPIF provider: OPTIONS probes, POST without id, the new id read from Location and the item
    read again, then a properties-only and a geometry-only merge patch; Basic auth, never If-Match. The layer is
    filtered to the editor's department (QGIS sends its filter to the server), so the feature QGIS probes is
    one the editor may change."""
    client, _, accounts = api
    auth = basic(accounts["editor"].name, accounts["editor"].token)
    first = client.get("/collections/rivers/items", query_string={"limit": 1, "filter": "lead_department='城市管理局'"},
                       headers=auth).get_json()["features"][0]["id"]
    assert "POST" in client.options("/collections/rivers/items", headers=auth).headers["Allow"]
    probe = client.options(f"/collections/rivers/items/{first}", headers=auth).headers["Allow"]
    assert {"PUT", "PATCH", "DELETE"} <= set(probe.split(", "))
    template = client.get(f"/collections/rivers/items/{first}", headers=auth).get_json()
    properties = dict.fromkeys(template["properties"])  # QGIS sends every field, the unset ones null
    properties.update(project_id="2014-RIV-002", feature_name="新段")
    created = client.post("/collections/rivers/items", headers={**auth, "Content-Type": "application/geo+json"},
                          data=orjson.dumps({"type": "Feature", "properties": properties,
                                             "geometry": geojson(SECOND)}))
    assert created.status_code == 201
    fid = int(created.headers["Location"].rsplit("/items/", 1)[1])
    again = client.get(f"/collections/rivers/items/{fid}", headers=auth).get_json()
    assert again["properties"]["lead_department"] == "城市管理局"  # server-set values visible after the save
    assert again["properties"]["investment_share_yuan"] > 0
    renamed = client.patch(f"/collections/rivers/items/{fid}", headers={**auth, **MERGE},
                           data=orjson.dumps({"properties": {"feature_name": "改名段"}}))
    moved = LINE.offset_curve(-0.002)
    reshaped = client.patch(f"/collections/rivers/items/{fid}", headers={**auth, **MERGE},
                            data=orjson.dumps({"geometry": geojson(moved)}))
    assert renamed.status_code == reshaped.status_code == 200
    row = store.features("rivers").loc[fid]
    assert row["name"] == "改名段" and row.geometry.equals_exact(shapely.multilinestrings([moved]), 1e-7)
    entries = [e for e in log(store) if e[1] == "rivers" and e[3] == fid]
    assert [(e[0], e[4], e[5], e[6]) for e in entries] == [("insert", 1, False, "editor1"),
                                                           ("update", 2, False, "editor1"),
                                                           ("update", 3, False, "editor1")]


def test_owslib_creates_replaces_and_deletes_a_feature_on_a_real_server(template, tmp_path):
    from owslib.ogcapi.features import Features
    from owslib.util import Authentication

    path = tmp_path / "served.gpkg"
    shutil.copyfile(template, path)
    store = GeoPackageStore(path)
    admin = role_accounts(store)["admin"]
    with serve(str(path)) as url:
        client = Features(url, auth=Authentication(admin.name, admin.token))
        client.collection_item_create("rivers", {"type": "Feature", "geometry": geojson(SECOND),
                                                 "properties": {"project_id": "2014-RIV-002", "feature_name": "外來"}})
        fid = int(client.response_headers["Location"].rsplit("/items/", 1)[1])
        assert client.collection_item("rivers", str(fid))["properties"]["feature_name"] == "外來"
        moved = SECOND.offset_curve(0.001)
        client.collection_item_update("rivers", str(fid), {"type": "Feature", "geometry": geojson(moved),
                                                           "properties": {"project_id": "2014-RIV-002",
                                                                          "feature_name": "外來二"}})
        row = store.features("rivers").loc[fid]
        assert row["name"] == "外來二" and row.geometry.equals_exact(shapely.multilinestrings([moved]), 1e-7)
        client.collection_item_delete("rivers", str(fid))
        assert fid not in store.features("rivers").index
    assert [(e[0], e[5], e[6]) for e in log(store) if e[1] == "rivers" and e[3] == fid] == [
        ("insert", False, "admin1"), ("update", False, "admin1"), ("delete", False, "admin1")]
