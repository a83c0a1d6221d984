"""What every store promises, run against both: the GeoPackage file and a PostGIS database.

Each test gets an empty registry of either kind (a real file; a schema of a real PostgreSQL server
the tests started) and checks answers against the batches it wrote or a brute-force computation.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from shapely import LineString, Point, Polygon

from registry import editing, model, validate
from registry.errors import ValidationError
from registry.features import build_view, parse_items, select
from registry.features import view as served_view
from registry.store import Batch, GeoPackageStore, PostGISStore, Store, create_store, gpkgblob, open_store
from registry.store.base import LOCAL
from registry.store.edits import Records
from registry.streets import street_area

from .conftest import LINE, POINT, POLYGON, SELF_CROSSING, features, postgis_schema, project, river_batch, schema_of


@pytest.fixture(params=["gpkg", "postgis"])
def store(request, tmp_path) -> Store:
    """An empty registry (no projects, empty reference layers): a GeoPackage file, or a fresh PostGIS schema."""
    if request.param == "gpkg":
        return create_store(str(tmp_path / "contract.gpkg"))
    return create_store(request.getfixturevalue("postgis_url"))


def plain(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain values (not their version), None for every kind of missing value."""
    frame = frame.drop(columns=[model.VERSION_COLUMN], errors="ignore")
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def content(store: Store) -> tuple[list[dict], dict[str, list]]:
    """Everything a store holds for the registry's projects, in a comparable form."""
    layers = {}
    for spec in model.PROJECT_LAYERS:
        frame = store.features(spec.name)
        layers[spec.name] = sorted(zip(frame["project_id"], frame["name"].fillna(""), frame.geometry.to_wkb()))
    return plain(store.projects()), layers


def test_open_store_gives_the_kind_the_location_names(store):
    assert type(open_store(store.location if isinstance(store, GeoPackageStore) else store.url)) is type(store)


@pytest.mark.parametrize(("layer", "category", "geom", "stored_type"),
                         [("rivers", "rivers", LINE, "MultiLineString"),
                          ("old_compounds", "old_compounds", POLYGON, "MultiPolygon"),
                          ("billboards", "billboards", POINT, "Point")])
def test_a_project_and_its_feature_round_trip_with_chinese_text(store, layer, category, geom, stored_type):
    code = {"rivers": "RIV", "old_compounds": "OLD", "billboards": "BBD"}[category]
    pid = f"2014-{code}-001"
    row = project(pid, category, notes="備註:婁葑、斜塘", planned_start="2014-03-01", length_m=1250.5, stalls=12)
    store.write(Batch(pd.DataFrame([row]), {layer: features(pid, geom, name="勝浦段")}))
    back = store.projects()
    assert plain(back) == [{**{f.name: None for f in model.PROJECT_FIELDS}, **row}]
    assert back.dtypes["year"] == np.int64 and back.dtypes["stalls"] == "Int64"
    stored = store.features(layer)
    assert stored["name"].tolist() == ["勝浦段"] and stored["project_id"].tolist() == [pid]
    assert stored.geometry.iloc[0].geom_type == stored_type
    assert shapely.equals_exact(stored.geometry.iloc[0], validate.as_multi(np.array([geom]))[0], tolerance=1e-9)
    assert stored.crs.to_epsg() == model.STORAGE_EPSG and stored.index.name == "fid"


def test_simplified_chinese_is_stored_in_traditional(store):
    row = project("2014-OLD-001", "old_compounds", name="娄葑老新村整治", lead_department="规划建设局")
    store.write(Batch(pd.DataFrame([row]), {"old_compounds": features("2014-OLD-001", POLYGON, name="东区")}))
    assert store.projects()[["name", "lead_department"]].values.tolist() == [["婁葑老新村整治", "規劃建設局"]]
    assert store.features("old_compounds")["name"].tolist() == ["東區"]


def test_a_batch_failing_in_its_last_layer_changes_nothing(store):
    store.write(river_batch(1, 30, seed=1))
    before, revision = content(store), store.revision()
    again = river_batch(1, 30, seed=2)
    bad = Batch(pd.concat([again.projects, pd.DataFrame([project("2014-OLD-001", "old_compounds")])]),
                {**again.features, "old_compounds": features("2014-OLD-001", SELF_CROSSING)})
    with pytest.raises(ValidationError, match="Self-intersection"):
        store.write(bad, mode="upsert")
    assert content(store) == before and store.revision() == revision


def test_insert_refuses_an_existing_project_and_changes_nothing(store):
    store.write(river_batch(1, 3, seed=1))
    before = content(store)
    with pytest.raises(ValidationError, match="專案 2014-RIV-002 已存在"):
        store.write(river_batch(2, 1, seed=3), mode="insert")
    assert content(store) == before


def test_upsert_replaces_a_projects_features_and_delete_removes_them(store):
    store.write(river_batch(1, 3, seed=1))
    store.write(Batch(pd.DataFrame([project("2014-RIV-002", "rivers", status="in_progress",
                                            actual_start="2014-04-01")]),
                      {"rivers": features("2014-RIV-002", LINE, name="新段")}), mode="upsert")
    rivers = store.features("rivers")
    assert rivers[rivers["project_id"] == "2014-RIV-002"]["name"].tolist() == ["新段"]
    assert (rivers["project_id"] != "2014-RIV-002").sum() == 20
    assert store.projects(["2014-RIV-002"])["status"].tolist() == ["in_progress"]
    store.delete(["2014-RIV-001", "2014-RIV-002"])
    assert store.projects()["project_id"].tolist() == ["2014-RIV-003"]
    assert set(store.features("rivers")["project_id"]) == {"2014-RIV-003"}


def test_bbox_and_project_filters_match_brute_force(store):
    batch = river_batch(1, 100, seed=4)
    store.write(batch)
    everything = store.features("rivers")
    bounds = shapely.bounds(everything.geometry.values)
    rng = np.random.default_rng(5)
    for _ in range(10):
        x, y = rng.uniform(120.62, 120.84), rng.uniform(31.23, 31.39)
        box = (x, y, x + 0.03, y + 0.03)
        meets = ((bounds[:, 0] <= box[2]) & (bounds[:, 2] >= box[0]) & (bounds[:, 1] <= box[3])
                 & (bounds[:, 3] >= box[1]))
        assert sorted(store.features("rivers", bbox=box).index) == sorted(everything.index[meets])
    wanted = ["2014-RIV-007", "2014-RIV-050"]
    picked = store.features("rivers", project_ids=wanted)
    assert sorted(picked.index) == sorted(everything.index[everything["project_id"].isin(wanted)])
    assert len(picked) == 20


def test_fid_filter_picks_those_features_from_loaded_and_changed_rows(store):
    store.write(river_batch(1, 40, seed=6))
    with store.snapshot() as view:
        view.features("rivers")  # the state is loaded: the edit below is then merged into it as changed rows
    store.write(river_batch(1, 2, seed=7))  # two projects' features replaced: new fids
    everything = store.features("rivers")
    wanted = [int(everything.index[-1]), int(everything.index[3]), 10**9, int(everything.index[3])]
    picked = store.features("rivers", fids=wanted)
    pd.testing.assert_frame_equal(picked, everything.loc[sorted({wanted[0], wanted[1]})])
    box = tuple(everything.geometry.iloc[3].bounds)
    assert list(store.features("rivers", fids=wanted, bbox=box).index) == [wanted[1]]
    with store.snapshot() as view:
        assert list(view.feature_columns("rivers", ["name"], fids=wanted).fids) == sorted({wanted[0], wanted[1]})


def test_feature_columns_are_the_features_answer_as_arrays_in_fid_order(store):
    store.write(river_batch(1, 60, seed=8))
    with store.snapshot() as view:
        view.features("rivers")  # the state is loaded: the edit below is then merged into it as changed rows
    store.write(river_batch(1, 3, seed=9))  # the first three projects' features replaced: new fids, in a delta
    with store.snapshot() as view:
        for box in (None, (120.62, 31.23, 120.74, 31.31), (120.70, 31.28, 120.84, 31.39)):
            frame = view.features("rivers", bbox=box)
            found = view.feature_columns("rivers", ["project_id", "name"], bbox=box)
            assert list(found.fids) == sorted(frame.index) == list(frame.index)
            assert list(found.values["project_id"]) == list(frame["project_id"])
            assert list(found.values["name"]) == list(frame["name"])
            assert shapely.equals_exact(found.geometry, frame.geometry.values, 0).all()


def test_layers_report_counts_and_extents(store):
    store.write(river_batch(1, 20, seed=6))
    info = {layer.name: layer for layer in store.layers()}
    rivers = store.features("rivers")
    assert info["rivers"].count == len(rivers) == 200 and info["projects"].count == 20
    assert np.allclose(info["rivers"].extent, rivers.total_bounds)
    assert info["lakes"].count == 0 and info["rivers"].epsg == model.STORAGE_EPSG


def test_revision_moves_on_with_each_write(store):
    first = store.revision()
    store.write(river_batch(1, 1, seed=7))
    second = store.revision()
    store.delete(["2014-RIV-001"])
    assert len({first, second, store.revision()}) == 3
    assert store.meta()["schema_version"] == str(model.SCHEMA_VERSION)


def test_an_edit_that_changes_nothing_leaves_the_revision_and_the_log(store):
    """A merge patch of the values stored already writes no row: no new revision for every worker to refresh
    to, and nothing in the history."""
    store.write(river_batch(1, 1, seed=9))
    stored = store.projects(["2014-RIV-001"]).iloc[0]
    revision, logged = store.revision(), len(store.log())
    editing.patch_project(store, "2014-RIV-001", {"name": stored["name"], "status": stored["status"]}, LOCAL)
    assert store.revision() == revision and len(store.log()) == logged
    editing.patch_project(store, "2014-RIV-001", {"name": stored["name"] + "（改）"}, LOCAL)
    assert store.revision() != revision and len(store.log()) == logged + 1


def test_edits_that_change_nothing_beside_concurrent_edits_log_exactly_the_changes(store):
    """Threads send no-op patches of one project while others rename two more: the no-ops roll back in their own
    write transactions and never swallow or repeat a concurrent writer's change."""
    store.write(river_batch(1, 3, seed=10))
    stored = store.projects(["2014-RIV-001"]).iloc[0]
    logged = len(store.log())

    def no_op(_: int) -> None:
        editing.patch_project(store, "2014-RIV-001", {"name": stored["name"]}, LOCAL)

    def rename(n: int) -> None:
        project = f"2014-RIV-00{2 + n % 2}"
        editing.patch_project(store, project, {"name": f"改名{n}"}, LOCAL)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: (no_op if n % 2 else rename)(n // 2), range(24)))
    log = store.log()
    assert len(log) == logged + 12 and set(log["project_id"].iloc[logged:]) == {"2014-RIV-002", "2014-RIV-003"}
    names = dict(zip(store.projects()["project_id"], store.projects()["name"]))
    assert names["2014-RIV-001"] == stored["name"] and {names["2014-RIV-002"], names["2014-RIV-003"]} <= \
        {f"改名{n}" for n in range(12)}


def test_an_edit_by_another_client_moves_the_revision_and_is_read(store):
    """As QGIS editing a layer in place would: plain SQL, not through the registry."""
    store.write(river_batch(1, 2, seed=8))
    store.projects()  # cached now
    before = store.revision()
    if isinstance(store, GeoPackageStore):
        with sqlite3.connect(store.path) as con:
            gpkgblob.register_functions(con)  # GDAL's triggers call them, as in any GeoPackage editor
            con.execute("UPDATE rivers SET name = '改名段' WHERE fid = 1")
            con.execute("UPDATE projects SET status = 'completed' WHERE project_id = '2014-RIV-001'")
    else:
        parts, schema = schema_of(store.url)
        with psycopg.connect(**parts) as con:  # the server's default search_path: the schema named in full
            con.execute(f'UPDATE "{schema}".rivers SET name = %s WHERE fid = 1', ("改名段",))
            con.execute(f"UPDATE \"{schema}\".projects SET status = 'completed' WHERE project_id = '2014-RIV-001'")
    assert store.revision() != before
    assert store.features("rivers").loc[1, "name"] == "改名段"
    assert store.projects(["2014-RIV-001"])["status"].tolist() == ["completed"]


def named(changes) -> tuple[set[str], dict[str, set[int]]]:
    """A Changes' projects and (non-empty) features per layer, as plain sets."""
    return set(changes.projects), {layer: set(fids) for layer, fids in changes.fids.items() if fids}


def test_changes_since_names_the_projects_and_features_written_since(store):
    store.write(river_batch(1, 3, seed=2))
    doomed = set(store.features("rivers", project_ids=["2014-RIV-003"]).index)
    moved = int(store.features("rivers", project_ids=["2014-RIV-002"]).index[4])
    with store.snapshot() as view:
        held = view.revision()
    editing.patch_project(store, "2014-RIV-001", {"notes": "改了備注"}, LOCAL)  # attributes only
    store.edit(["2014-RIV-002"], lambda before: Records(before.projects, {"rivers": before.features["rivers"].assign(
        geometry=lambda f: f.geometry.where(f.index != moved, LineString([(120.7, 31.3), (120.71, 31.3)])))}))
    store.delete(["2014-RIV-003"])
    with store.snapshot() as view:
        assert named(view.changes_since(held)) == ({"2014-RIV-001", "2014-RIV-002", "2014-RIV-003"},
                                                   {"rivers": doomed | {moved}})


def test_postgis_brings_what_it_served_forward_past_a_direct_edit(postgis_url):
    """QGIS editing a layer in place writes plain SQL: the log's triggers name its rows, and a layer served
    before is brought forward from them to what a fresh build gives."""
    store = create_store(postgis_url)
    store.write(river_batch(1, 4, seed=5))
    renamed = int(store.features("rivers", project_ids=["2014-RIV-002"]).index[0])
    with store.snapshot() as view:
        served_view(view, "rivers").fragments()  # served, GeoJSON text included
        held = view.revision()
    parts, schema = schema_of(store.url)
    with psycopg.connect(**parts) as con:
        con.execute(f'UPDATE "{schema}".rivers SET name = %s WHERE fid = %s', ("改名段", renamed))
    editing.patch_project(store, "2014-RIV-001", {"investment_yuan": 2_000_000}, LOCAL)  # every share changes
    with store.snapshot() as view:
        assert named(view.changes_since(held)) == ({"2014-RIV-001", "2014-RIV-002"}, {"rivers": {renamed}})
        served, built = served_view(view, "rivers"), build_view(view, "rivers")
        pd.testing.assert_frame_equal(served.frame.drop(columns="geometry"), built.frame.drop(columns="geometry"))
        rows = np.arange(len(built.frame))
        assert served.fragments().join(rows) == built.fragments().join(rows)
        assert "改名段" in served.fragments().join(rows).decode()
        for args in ({"limit": "1000"}, {"filter": "feature_name = '改名段'"}):  # answered from the served layer
            query = parse_items(view, "rivers", args)
            page = select(view, served, query).rows
            expected = view.features("rivers") if "limit" in args else view.features("rivers", fids=[renamed])
            assert list(served.fids[page]) == list(expected.index)
        brought = view.projects()  # the projects table too, from the rows of the projects written
    pd.testing.assert_frame_equal(brought, PostGISStore(store.url).projects())  # a store of its own loads it whole


def test_changes_since_is_unknown_after_a_reference_layer_is_replaced(store):
    store.write(river_batch(1, 1, seed=3))
    with store.snapshot() as view:
        held = view.revision()
    store.replace_reference("lakes", gpd.GeoDataFrame({"name": ["金雞湖"]}, geometry=[Point(120.70, 31.3).buffer(0.01)],
                                                      crs=4490))
    with store.snapshot() as view:
        assert view.changes_since(held) is None  # what it served must be built anew


def reported(committed: Callable[[], bool], seconds: float = 5) -> bool:
    """Whether a commit watch reports a commit within ``seconds`` (PostgreSQL's notifications arrive after the
    commit, not with it), polled as a server worker's follower polls it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if committed():
            return True
        time.sleep(0.005)
    return False


def test_the_commit_watch_reports_another_stores_commits_and_not_its_own(store):
    store.write(river_batch(1, 2, seed=3))
    other = open_store(store.location if isinstance(store, GeoPackageStore) else store.url)
    committed = store.commit_watch()
    assert not reported(committed, 0.2)
    editing.patch_project(store, "2014-RIV-001", {"notes": "自己寫的"}, LOCAL)
    assert not reported(committed, 0.2)  # its own worker brings its own write forward at its next read
    editing.patch_project(other, "2014-RIV-001", {"notes": "別人寫的"}, LOCAL)
    assert reported(committed)
    assert not reported(committed, 0.2)  # reported once


def test_the_postgis_commit_watch_reports_a_direct_edit_in_the_table(postgis_url):
    """QGIS editing a layer in place commits plain SQL: the revision trigger tells the listening workers."""
    store = create_store(postgis_url)
    store.write(river_batch(1, 2, seed=3))
    committed = store.commit_watch()
    parts, schema = schema_of(store.url)
    with psycopg.connect(**parts) as con:
        con.execute(f'UPDATE "{schema}".rivers SET name = %s WHERE project_id = %s', ("改名段", "2014-RIV-002"))
    assert reported(committed)


def test_the_postgis_commit_watch_ignores_another_registrys_commits(postgis_server, postgis_url):
    store = create_store(postgis_url)
    committed = store.commit_watch()
    with postgis_schema(postgis_server) as elsewhere:
        create_store(elsewhere).write(river_batch(1, 2, seed=3))
    assert not reported(committed, 0.5)
    PostGISStore(store.url).write(river_batch(1, 2, seed=3))  # its own registry's, written by another worker
    assert reported(committed)


def test_the_postgis_commit_watch_listens_again_after_a_lost_connection_but_not_at_every_poll(postgis_url):
    store = create_store(postgis_url)
    committed = store.commit_watch()
    parts, _ = schema_of(store.url)
    with psycopg.connect(**parts, autocommit=True) as con:  # as a server restart or a network fault would
        ended = con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE query = 'LISTEN registry_changed' AND pid <> pg_backend_pid()").fetchall()
    assert ended == [(True,)]
    answers, deadline = [], time.monotonic() + 0.5
    while time.monotonic() < deadline:  # polled as a follower polls it
        answers.append(committed())
        time.sleep(0.005)
    assert not any(answers)  # the loss is found, and no connection is tried at every poll meanwhile
    time.sleep(1.1)
    assert committed()  # listening again: what was committed meanwhile may have been missed


def failures_at_once(work: Callable[[int], object], arguments: range) -> list[BaseException]:
    """Run ``work`` on every argument in threads of its own, all at once; the exceptions they raised."""
    with ThreadPoolExecutor(len(arguments)) as pool:
        done = [pool.submit(work, argument) for argument in arguments]
    return [future.exception() for future in done if future.exception() is not None]


def test_concurrent_writers_each_land_whole(store):
    assert not failures_at_once(lambda first: store.write(river_batch(first, 5, seed=first), mode="insert"),
                                range(1, 41, 5))
    assert len(store.projects()) == 40 and len(store.features("rivers")) == 400
    counts = store.features("rivers").groupby("project_id").size()
    assert (counts == 10).all()


def test_concurrent_inserts_of_one_project_give_one_write_and_clear_refusals(store):
    failed = failures_at_once(lambda seed: store.write(river_batch(1, 3, seed=seed), mode="insert"), range(6))
    assert len(failed) == 5
    assert all(isinstance(exc, ValidationError) and "已存在" in exc.message for exc in failed)
    assert len(store.projects()) == 3 and len(store.features("rivers")) == 30


def test_concurrent_upserts_of_the_same_projects_leave_one_whole_version(store):
    store.write(river_batch(1, 5, seed=1))
    assert not failures_at_once(lambda seed: store.write(river_batch(1, 5, seed=seed), mode="upsert"), range(10, 18))
    stored = sorted(shapely.to_wkb(store.features("rivers").geometry.values))
    versions = [sorted(shapely.to_wkb(validate.as_multi(np.asarray(river_batch(1, 5, seed=seed).features["rivers"]
                                                                   .geometry.array))))
                for seed in range(10, 18)]
    assert len(stored) == 50 and stored in versions


def test_reference_layers_are_replaced_whole(store):
    lakes = gpd.GeoDataFrame({"name": ["金雞湖", "獨墅湖"]},
                             geometry=[Polygon([(120.68, 31.30), (120.70, 31.30), (120.70, 31.32)]),
                                       Point(120.70, 31.27).buffer(0.01)], crs=4490)
    store.replace_reference("lakes", lakes)
    store.replace_reference("lakes", lakes.iloc[[1]])
    assert store.features("lakes")["name"].tolist() == ["獨墅湖"]


def test_street_membership_is_answered_alike_by_both_stores(demo_path, postgis_url):
    from registry.demo import build_demo

    theirs = build_demo(postgis_url)
    ours = GeoPackageStore(demo_path)
    assert isinstance(theirs, PostGISStore)
    for layer in ("rivers", "billboards", "old_compounds"):
        for street, as_of in (("LF", "2026-01-01"), ("XT", "2015-06-01"), ("JJH", "2026-01-01")):
            area = street_area(ours, street, as_of)
            a = theirs.features(layer, street=area)
            b = ours.features(layer, street=area)
            assert sorted(zip(a["project_id"], a["name"], a.geometry.to_wkb())) == \
                sorted(zip(b["project_id"], b["name"], b.geometry.to_wkb()))


def test_a_line_along_a_street_boundary_is_not_in_it(store):
    square = Polygon([(120.70, 31.30), (120.72, 31.30), (120.72, 31.32), (120.70, 31.32)])
    streets = gpd.GeoDataFrame({"code": ["LF"], "name": ["婁葑"], "valid_from": ["2012-01-01"], "valid_to": [None]},
                               geometry=[square], crs=4490)
    store.replace_reference("street_offices", streets)
    edge = LineString([(120.70, 31.305), (120.70, 31.315)])  # along the boundary: not inside
    inside = LineString([(120.705, 31.305), (120.71, 31.31)])
    store.write(Batch(pd.DataFrame([project("2014-RIV-001", "rivers"), project("2014-RIV-002", "rivers")]),
                      {"rivers": gpd.GeoDataFrame({"project_id": ["2014-RIV-001", "2014-RIV-002"]},
                                                  geometry=[edge, inside], crs=4490)}))
    assert store.features("rivers", street=street_area(store, "LF", "2012-01-01"))["project_id"].tolist() == [
        "2014-RIV-002"]
