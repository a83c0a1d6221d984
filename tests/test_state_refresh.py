"""A GeoPackage reader holding a state derives the next one from the rows the change log names after the
registry's own writes, and loads the file whole after anyone else's; either way its answers equal a reader
that loads the file afresh."""

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import shapely

from api import create_app, follow
from registry import editing, features, model, query
from registry.store import GeoPackageStore, create_store, frames, per_revision
from registry.store.edits import Author
from registry.streets import street_area

from .conftest import ROOT, STREET_ORDER, river_batch

ADMIN = Author("office", role="admin")


@pytest.fixture
def worker(demo_copy):
    """A second reader of the copy (as another gunicorn worker is), its state loaded and its street answers kept."""
    reader = GeoPackageStore(demo_copy)
    with reader.snapshot() as view:
        for street in areas(view):
            for layer in ("rivers", "alleys", "polders", "sluices"):
                view.features(layer, street=street)
    return reader


def areas(view):
    """The street offices' resolved boundaries on the registry's data date."""
    return [street_area(view, code, view.meta()["data_date"]) for code in STREET_ORDER[:4]]


def state(store):
    with store.snapshot() as view:
        return view._state


def same_answers(held: GeoPackageStore, fresh: GeoPackageStore) -> None:
    """Every table, every layer, and street, bbox and near answers of two readers are the same."""
    with held.snapshot() as a, fresh.snapshot() as b:
        assert a.revision() == b.revision()
        pd.testing.assert_frame_equal(a.projects(), b.projects())
        some = b.projects()["project_id"].iloc[::7].tolist()
        pd.testing.assert_frame_equal(a.projects(some), b.projects(some))
        assert [(i.name, i.count, i.extent) for i in a.layers()] == [(i.name, i.count, i.extent) for i in b.layers()]
        streets = areas(b)
        box = (120.66, 31.26, 120.74, 31.33)
        for layer in model.LAYER_BY_NAME:
            mine, theirs = a.features(layer), b.features(layer)
            assert list(mine.index) == list(theirs.index)
            pd.testing.assert_frame_equal(mine.drop(columns="geometry"), theirs.drop(columns="geometry"))
            assert shapely.equals_exact(mine.geometry.values, theirs.geometry.values, 0).all()
            assert list(a.features(layer, bbox=box).index) == list(b.features(layer, bbox=box).index)
            near = (shapely.Point(120.70, 31.30), 0.02)
            assert list(a.features(layer, near=near).index) == list(b.features(layer, near=near).index)
            if "project_id" in theirs.columns:  # the projects of every third feature, and of the last one
                owners = sorted(set(theirs["project_id"].iloc[::3]) | set(theirs["project_id"].iloc[-1:]))
                expected = list(theirs.index[theirs["project_id"].isin(owners)])
                assert list(a.features(layer, project_ids=owners).index) == expected
                assert list(b.features(layer, project_ids=owners).index) == expected
            for street in streets:
                assert list(a.features(layer, street=street).index) == list(b.features(layer, street=street).index)


def test_an_attribute_edit_keeps_every_layer_of_the_held_state(demo_copy, worker):
    before = state(worker)
    projects = worker.projects()
    planned = projects.loc[projects["status"] == "planned", "project_id"].iloc[0]
    editing.patch_project(GeoPackageStore(demo_copy), planned, {"status": "in_progress",
                          "actual_start": "2014-01-06", "progress_pct": 5}, ADMIN)
    after = state(worker)
    assert after is not before and after.revision != before.revision
    assert all(after.layers[name] is before.layers[name] for name in before.layers)  # derived, not loaded
    with worker.snapshot() as view:
        assert view.projects([planned])["status"].tolist() == ["in_progress"]
    same_answers(worker, GeoPackageStore(demo_copy))


def test_a_moved_feature_changes_only_its_layer_and_its_street_answers(demo_copy, worker):
    before = state(worker)
    writer = GeoPackageStore(demo_copy)
    with writer.snapshot() as view:
        river = view.features("rivers").iloc[0]
    moved = shapely.affinity.translate(river.geometry, 0.05, 0.02)  # into another street office's area
    editing.patch_project(writer, river["project_id"], {"features": [
        {"layer": "rivers", "fid": int(river.name), "name": river["name"],
         "geometry": shapely.geometry.mapping(moved)}]}, ADMIN)
    after = state(worker)
    assert after.layers["rivers"] is not before.layers["rivers"]
    assert after.layers["alleys"] is before.layers["alleys"]
    assert shapely.equals_exact(after.layers["rivers"].take().loc[river.name, "geometry"], moved, 1e-9)
    same_answers(worker, GeoPackageStore(demo_copy))


def test_created_and_deleted_projects_reach_the_held_state(demo_copy, worker):
    writer = GeoPackageStore(demo_copy)
    with writer.snapshot() as view:
        doomed = view.projects()["project_id"].iloc[-1]
    body = {"name": "新河道", "category": "rivers", "year": 2014, "investment_yuan": 1_000_000,
            "lead_department": "城市管理局", "street_codes": "LF", "status": "planned", "in_statement": False,
            "beyond_statement": False,
            "features": [{"layer": "rivers", "name": "全段", "geometry": {
                "type": "LineString", "coordinates": [[120.70, 31.30], [120.72, 31.31]]}}]}
    created, _ = editing.create_project(writer, body, ADMIN)
    editing.delete_project(writer, doomed, ADMIN)
    with worker.snapshot() as view:
        ids = set(view.projects()["project_id"])
    assert created in ids and doomed not in ids
    same_answers(worker, GeoPackageStore(demo_copy))


def edit_outside(path) -> None:
    """Rename a river with GDAL, as QGIS edits a GeoPackage: straight to the file, past the registry."""
    subprocess.run(["ogrinfo", str(path), "-sql",
                    "UPDATE rivers SET name = '外部改名' WHERE fid = (SELECT min(fid) FROM rivers)"],
                   check=True, capture_output=True)


def test_an_edit_by_another_program_before_the_registrys_makes_the_reader_load_whole(demo_copy, worker):
    edit_outside(demo_copy)
    editing.patch_project(GeoPackageStore(demo_copy), "2013-RIV-001", {"notes": "其後的登記"}, ADMIN)
    after = state(worker)
    assert "外部改名" in set(after.layers["rivers"].take()["name"])
    same_answers(worker, GeoPackageStore(demo_copy))


def test_an_edit_by_another_program_after_the_registrys_makes_the_reader_load_whole(demo_copy, worker):
    editing.patch_project(GeoPackageStore(demo_copy), "2013-RIV-001", {"notes": "其前的登記"}, ADMIN)
    edit_outside(demo_copy)
    after = state(worker)
    assert "外部改名" in set(after.layers["rivers"].take()["name"])
    same_answers(worker, GeoPackageStore(demo_copy))


def test_a_replaced_reference_layer_makes_the_reader_load_whole(demo_copy, worker):
    writer = GeoPackageStore(demo_copy)
    with writer.snapshot() as view:
        lakes = view.features("lakes")
    writer.replace_reference("lakes", lakes.iloc[:-1])
    assert len(state(worker).layers["lakes"].take()) == len(lakes) - 1
    same_answers(worker, GeoPackageStore(demo_copy))


def test_the_writes_mark_that_their_log_covers_them(demo_copy):
    store = GeoPackageStore(demo_copy)
    editing.patch_project(store, "2013-RIV-001", {"notes": "一"}, ADMIN)
    meta = store.meta()
    editing.patch_project(store, "2013-RIV-001", {"notes": "二"}, ADMIN)
    assert store.meta()["unlogged"] == "0"
    assert store.meta().get("reload_at") == meta.get("reload_at")  # a logged write asks no one to reload
    assert int(store.meta()["revision"]) == int(meta["revision"]) + 1


def same_served(worker: GeoPackageStore, demo_copy, held: str, layers) -> None:
    """The worker's served layers, brought forward from revision ``held``, equal those built from a fresh load."""
    fresh = GeoPackageStore(demo_copy)
    with worker.snapshot() as mine, fresh.snapshot() as theirs:
        assert mine.changes_since(held) is not None  # brought forward, not built anew
        for layer in layers:
            served, built = features.view(mine, layer), features.build_view(theirs, layer)
            pd.testing.assert_frame_equal(served.frame.drop(columns="geometry"), built.frame.drop(columns="geometry"))
            assert shapely.equals_exact(served.frame.geometry.values, built.frame.geometry.values, 0).all()
            assert (served.extent, served.interval) == (built.extent, built.interval)
            rows = np.arange(len(built.frame))
            assert served.fragments().join(rows) == built.fragments().join(rows)


def served_once(worker: GeoPackageStore, layers) -> str:
    """Serve the layers once, GeoJSON text included, as a worker has; the revision served."""
    with worker.snapshot() as view:
        for layer in layers:
            features.view(view, layer).fragments()
        return view.revision()


def test_a_served_layer_brought_forward_after_attribute_and_geometry_edits_equals_one_built_afresh(demo_copy,
                                                                                                   worker):
    held = served_once(worker, ["rivers"])
    with worker.snapshot() as view:
        river = view.features("rivers").iloc[2]
    editing.patch_project(GeoPackageStore(demo_copy), river["project_id"], {
        "investment_yuan": 7_654_000, "notes": "改了投資和走向", "features": [
            {"layer": "rivers", "fid": int(river.name), "name": river["name"],
             "geometry": shapely.geometry.mapping(shapely.affinity.translate(river.geometry, 0.0, 0.01))}]}, ADMIN)
    same_served(worker, demo_copy, held, ["rivers"])


def test_served_layers_brought_forward_after_edits_equal_those_built_afresh(demo_copy, worker):
    layers = ("rivers", "alleys", "polders", "sluices")
    held = served_once(worker, layers)
    with worker.snapshot() as view:
        river = view.features("rivers").iloc[0]
        polder = view.projects().query("category == 'polders'")["project_id"].iloc[0]
    writer = GeoPackageStore(demo_copy)
    editing.patch_project(writer, river["project_id"], {"investment_yuan": 4_321_000, "features": [
        {"layer": "rivers", "fid": int(river.name), "name": "移過的河段",
         "geometry": shapely.geometry.mapping(shapely.affinity.translate(river.geometry, 0.01, 0.0))}]}, ADMIN)
    editing.create_project(writer, {
        "name": "新河道", "category": "rivers", "year": 2014, "investment_yuan": 1_000_000,
        "lead_department": "城市管理局", "street_codes": "LF", "status": "planned", "in_statement": False,
        "beyond_statement": False, "features": [{"layer": "rivers", "name": "全段", "geometry": {
            "type": "LineString", "coordinates": [[120.70, 31.30], [120.72, 31.31]]}}]}, ADMIN)
    editing.delete_project(writer, polder, ADMIN)
    same_served(worker, demo_copy, held, layers)


def move_river_at_edge(demo_copy, worker, edge: str, dx: float) -> np.ndarray:
    """Move the river reaching furthest to ``edge`` (minx or maxx) by ``dx`` degrees east; the rivers' bounds
    before."""
    with worker.snapshot() as view:
        rivers = view.features("rivers")
    bounds = rivers.geometry.bounds[edge].to_numpy()
    river = rivers.iloc[int(np.argmin(bounds) if edge == "minx" else np.argmax(bounds))]
    moved = shapely.affinity.translate(river.geometry, dx, 0.0)
    editing.patch_project(GeoPackageStore(demo_copy), river["project_id"], {"features": [
        {"layer": "rivers", "fid": int(river.name), "name": river["name"],
         "geometry": shapely.geometry.mapping(moved)}]}, ADMIN)
    return rivers.total_bounds


def test_a_served_extent_shrinks_when_the_feature_at_its_edge_moves_inwards(demo_copy, worker):
    held = served_once(worker, ["rivers"])
    before = move_river_at_edge(demo_copy, worker, "minx", 0.02)
    with worker.snapshot() as view:
        assert features.view(view, "rivers").extent[0] > before[0]  # the edge moved with it
    same_served(worker, demo_copy, held, ["rivers"])


def test_a_held_extent_grows_when_the_feature_at_its_edge_moves_outwards(demo_copy, worker):
    before = move_river_at_edge(demo_copy, worker, "maxx", 0.002)
    with worker.snapshot() as view:
        assert {i.name: i.extent for i in view.layers()}["rivers"][2] > before[2]
    same_answers(worker, GeoPackageStore(demo_copy))


def items_text(view, layer_view, args: dict) -> bytes:
    """An items page's features as the API encodes them."""
    query = features.parse_items(view, layer_view.name, args)
    selection = features.select(view, layer_view, query)
    return b"".join(features.encode_page(layer_view, selection.rows, query))


def test_items_after_two_edits_are_answered_from_patches_as_from_a_layer_built_afresh(demo_copy, worker):
    held = served_once(worker, ["rivers"])
    with worker.snapshot() as view:
        first, second = view.features("rivers").iloc[[0, 5]].itertuples()
    writer = GeoPackageStore(demo_copy)
    editing.patch_project(writer, first.project_id, {"notes": "第一次修改"}, ADMIN)
    editing.patch_project(writer, second.project_id, {"features": [
        {"layer": "rivers", "fid": int(second.Index), "name": "改名的河段"}]}, ADMIN)
    asked = [{"limit": "1000"}, {"sortby": "-feature_name,year", "limit": "50"}, {"bbox": "120.6,31.2,120.9,31.45"},
             {"limit": "7", "after": str(int(second.Index) - 1)}]
    with worker.snapshot() as mine, GeoPackageStore(demo_copy).snapshot() as theirs:
        served, built = features.view(mine, "rivers"), features.build_view(theirs, "rivers")
        for args in asked:
            assert items_text(mine, served, args) == items_text(theirs, built, args), args
        assert not isinstance(served._frame, pd.DataFrame)  # answered without making the layer's frame anew
        names = {f["properties"]["feature_name"] for f in json.loads(b"[" + items_text(mine, served, {}) + b"]")}
        assert "改名的河段" in names
    same_served(worker, demo_copy, held, ["rivers"])


def test_projects_created_in_several_years_take_their_places_in_the_held_projects_table(demo_copy, worker):
    writer = GeoPackageStore(demo_copy)
    created = []
    for year, category in ((2015, "alleys"), (2013, "rivers"), (2014, "markets"), (2013, "alleys")):
        body = {"name": f"新{year}{category}", "category": category, "year": year, "investment_yuan": 1_000_000,
                "lead_department": "城市管理局", "street_codes": "LF", "status": "planned", "in_statement": False,
                "beyond_statement": False, "features": []}
        created.append(editing.create_project(writer, body, ADMIN)[0])
    held = state(worker).projects.whole()
    assert set(created) <= set(held["project_id"])
    assert list(held["project_id"]) == sorted(held["project_id"])  # in id order, as a whole load reads them
    same_answers(worker, GeoPackageStore(demo_copy))


def test_patches_of_many_edits_made_into_one_table_answer_as_a_fresh_load(demo_copy, worker, monkeypatch):
    monkeypatch.setattr(frames, "_PATCH_ROWS", 2)  # past two rows patched, a table is made whole
    monkeypatch.setattr(frames, "_PATCH_SHARE", 0.0)
    held = served_once(worker, ["rivers", "alleys"])
    with worker.snapshot() as view:
        ids = view.features("rivers")["project_id"].drop_duplicates().iloc[:4].tolist()
    writer = GeoPackageStore(demo_copy)
    for n, project_id in enumerate(ids):
        editing.patch_project(writer, project_id, {"notes": f"第{n}次修改"}, ADMIN)
        with worker.snapshot() as view:
            features.view(view, "rivers")  # brought forward after each edit: the patches pile up
    same_answers(worker, GeoPackageStore(demo_copy))
    same_served(worker, demo_copy, held, ["rivers", "alleys"])


def test_the_planned_interval_follows_an_edit_of_the_project_at_its_end_and_back(demo_copy, worker):
    held = served_once(worker, ["rivers"])
    with worker.snapshot() as view:
        project = view.projects().iloc[3]
    writer = GeoPackageStore(demo_copy)
    editing.patch_project(writer, project["project_id"], {"planned_finish": "2031-12-31"}, ADMIN)
    with worker.snapshot() as view:
        assert features.view(view, "rivers").interval[1] == "2031-12-31"  # widened by the edited project
    editing.patch_project(writer, project["project_id"], {"planned_finish": project["planned_finish"]}, ADMIN)
    same_served(worker, demo_copy, held, ["rivers"])  # narrowed again: the end is found among every project


def project_answers(store: GeoPackageStore) -> list:
    """The projects (ids, in order) of queries whose answers a reader keeps per revision: by category and status
    codes, by street, by name."""
    with store.snapshot() as view:
        return [list(query.find(view, args).projects["project_id"]) for args in (
            {"category": "rivers,polders", "limit": "1000"}, {"status": "in_progress", "limit": "1000"},
            {"street": "LF", "category": "alleys", "limit": "1000"}, {"q": "河", "limit": "1000"})]


def test_query_answers_kept_per_revision_follow_edits_of_codes_and_of_which_projects_exist(demo_copy, worker):
    project_answers(worker)  # kept for the revision served: carried past edits that leave them true
    writer = GeoPackageStore(demo_copy)
    with worker.snapshot() as view:
        projects = view.projects()
    river = projects.loc[projects["category"] == "rivers", "project_id"].iloc[0]
    planned = projects.loc[projects["status"] == "planned", "project_id"].iloc[0]
    editing.patch_project(writer, river, {"notes": "只改備註"}, ADMIN)  # no code changed: answers carried
    assert project_answers(worker) == project_answers(GeoPackageStore(demo_copy))
    editing.patch_project(writer, planned, {"status": "in_progress", "actual_start": "2014-01-06"}, ADMIN)
    assert project_answers(worker) == project_answers(GeoPackageStore(demo_copy))
    editing.delete_project(writer, river, ADMIN)
    assert project_answers(worker) == project_answers(GeoPackageStore(demo_copy))
    editing.create_project(writer, {
        "name": "新河道", "category": "rivers", "year": 2014, "investment_yuan": 1_000_000,
        "lead_department": "城市管理局", "street_codes": "LF", "status": "in_progress", "actual_start": "2014-01-02",
        "in_statement": False, "beyond_statement": False, "features": [{"layer": "rivers", "name": "全段", "geometry": {
            "type": "LineString", "coordinates": [[120.70, 31.30], [120.72, 31.31]]}}]}, ADMIN)
    assert project_answers(worker) == project_answers(GeoPackageStore(demo_copy))


_RENAME_IN_ANOTHER_PROCESS = """
import sys
from registry import editing
from registry.store import open_store
from registry.store.edits import Author
editing.patch_item(open_store(sys.argv[1]), "rivers", int(sys.argv[2]),
                   {"properties": {"feature_name": sys.argv[3]}}, Author("office", role="admin"))
"""


@pytest.fixture(params=["gpkg", "postgis"])
def served(request, demo_copy) -> str:
    """A registry with rivers: the demo's GeoPackage, or a PostGIS schema holding river projects."""
    if request.param == "gpkg":
        return str(demo_copy)
    url = request.getfixturevalue("postgis_url")
    create_store(url).write(river_batch(1, 3, seed=1))
    return url


def test_a_worker_follower_brings_its_served_layers_forward_when_another_process_commits(served):
    app = create_app({"REGISTRY_STORE": served})
    store = app.extensions["registry_store"]
    feature = app.test_client().get("/collections/rivers/items?limit=1").get_json()["features"][0]
    stop = follow(app, interval=0.005)
    try:
        subprocess.run([sys.executable, "-c", _RENAME_IN_ANOTHER_PROCESS, served, str(feature["id"]), "跟上的名字"],
                       check=True, cwd=ROOT)
        revision, deadline = store.revision(), time.monotonic() + 30
        while revision not in features._VIEWS[(store.location, "rivers")] and time.monotonic() < deadline:
            time.sleep(0.01)
        # No request was made since the edit: the follower brought the served layer forward by itself.
        held = features._VIEWS[(store.location, "rivers")][revision]
    finally:
        stop.set()
    assert held.values("feature_name", held.fids.get_indexer([feature["id"]]))[0] == "跟上的名字"


def test_threads_asking_for_a_layer_after_an_edit_bring_it_forward_once_and_share_it(demo_copy, worker, monkeypatch):
    with worker.snapshot() as view:
        features.view(view, "rivers")
        project_id = view.projects().query("category == 'rivers'")["project_id"].iloc[0]
    editing.patch_project(GeoPackageStore(demo_copy), project_id, {"notes": "一次就好"}, ADMIN)
    derived, together = [], threading.Barrier(8)
    derive = features.derived_view

    def slow_derive(*args):  # as long as a large layer's: every thread asks while the first one brings it forward
        derived.append(1)
        time.sleep(0.2)
        return derive(*args)

    def ask(view):
        together.wait()
        return features.view(view, "rivers")

    monkeypatch.setattr(features, "derived_view", slow_derive)
    with worker.snapshot() as view, ThreadPoolExecutor(8) as pool:
        served = list(pool.map(ask, [view] * 8))
    assert len(derived) == 1
    assert all(one is served[0] for one in served)


def test_a_request_still_on_the_revision_before_an_edit_is_served_the_layer_held_for_it(demo_copy, worker):
    with worker.snapshot() as before:
        served_before = features.view(before, "rivers")
        project_id = before.projects().query("category == 'rivers'")["project_id"].iloc[0]
        editing.patch_project(GeoPackageStore(demo_copy), project_id, {"notes": "之後的編輯"}, ADMIN)
        with worker.snapshot() as after:
            assert features.view(after, "rivers") is not served_before
        assert features.view(before, "rivers") is served_before  # not built again for the older request


def test_an_answer_kept_per_revision_is_carried_past_revisions_at_which_only_other_answers_were_made(demo_copy,
                                                                                                     worker):
    builds = []

    def carried(view):
        return per_revision(view, "carried", lambda: builds.append(view.revision()) or object(),
                            lambda changes, answer: True)

    with worker.snapshot() as view:
        first = carried(view)
        project_id = view.projects()["project_id"].iloc[0]
    writer = GeoPackageStore(demo_copy)
    for n in range(8):  # more revisions than answers are kept for per key, each with an answer of another key
        editing.patch_project(writer, project_id, {"notes": f"第{n}次"}, ADMIN)
        with worker.snapshot() as view:
            per_revision(view, "other", object)
    with worker.snapshot() as view:
        assert carried(view) is first
    assert len(builds) == 1
