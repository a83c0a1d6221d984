"""The change log, history and as-of: every write logged once in its own transaction, the log append-only,
as-of answers equal to a rebuild from the log, direct PostGIS edits logged under the database role, the
workflow's transitions, and schema upgrades that keep every row of a registry the previous schema wrote."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import shapely
from shapely import LineString

from api import create_app
from registry import accounts, model
from registry.demo import build_demo
from registry.errors import StoreError, ValidationError
from registry.store import Author, Batch, GeoPackageStore, create_store, open_store, read_store
from registry.store.edits import Records
from registry.store.history import day_start_utc, project_history

from .conftest import features, project, run_cli

SCHEMA1 = Path(__file__).parent / "data" / "registry-schema1.gpkg"  # the demo as schema version 1 wrote it
LINE = LineString([(120.66, 31.30), (120.665, 31.302)])
DAYS = ["2014-02-03", "2014-02-10", "2014-03-01", "2014-03-15"]


@pytest.fixture(params=["gpkg", "postgis"])
def store(request, tmp_path):
    if request.param == "gpkg":
        return GeoPackageStore.create(tmp_path / "h.gpkg")
    return create_store(request.getfixturevalue("postgis_url"))


def on(day: str, **extra) -> Author:
    return Author("clerk", role="admin", at=day_start_utc(day), **extra)


def set_fields(store, project_id: str, author: Author, **values) -> None:
    """Change some attributes of one project, keeping its features."""
    def change(before: Records) -> Records:
        projects = before.projects.copy()
        for column, value in values.items():
            projects.loc[projects["project_id"] == project_id, column] = value
        return Records(projects, before.features)
    store.edit([project_id], change, author)


def simulate_days(store) -> None:
    """Four days of edits: registration, a start, a geometry change and a new project, a completion and a delete."""
    store.write(Batch(pd.DataFrame([project("2014-RIV-001", "rivers"), project("2014-RIV-002", "rivers")]),
                      {"rivers": pd.concat([features("2014-RIV-001", LINE, "甲段"),
                                            features("2014-RIV-002", LINE, "乙段")])}), author=on(DAYS[0]))
    set_fields(store, "2014-RIV-001", on(DAYS[1]), status="in_progress", actual_start="2014-02-10")
    moved = shapely.affinity.translate(LINE, 0.01, 0.0)
    store.write(Batch(pd.DataFrame([project("2014-RIV-002", "rivers", notes="改線")]),
                      {"rivers": features("2014-RIV-002", moved, "乙段")}), author=on(DAYS[2]))
    store.write(Batch(pd.DataFrame([project("2014-RIV-003", "rivers")]), {"rivers": features("2014-RIV-003", LINE)}),
                author=on(DAYS[2]))
    set_fields(store, "2014-RIV-001", on(DAYS[3]), status="completed", actual_finish="2014-03-14")
    store.delete(["2014-RIV-003"], on(DAYS[3]))


def plain_wkb(blob: bytes) -> bytes:
    """A GeoPackage geometry blob's WKB: after 8 header bytes and the envelope its flags announce (GPKG 2.1.3)."""
    return blob[8 + {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(blob[3] >> 1) & 7]:]


def raw_log(store) -> list[dict]:
    """The change log read with the database's own driver, not the store's code."""
    if isinstance(store, GeoPackageStore):
        con = sqlite3.connect(store.path)
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute("SELECT * FROM changes ORDER BY at, change_id")]
        for row in rows:
            row["after"] = json.loads(row["after"]) if row["after"] else None
            row["geom"] = shapely.from_wkb(plain_wkb(row["geom"])) if row["geom"] else None
        return rows
    with psycopg.connect(store.url) as con:
        cur = con.execute("SELECT change_id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
                          "operation, layer, project_id, fid, after, ST_AsBinary(geom), who FROM changes "
                          "ORDER BY at, change_id")
        return [{"change_id": r[0], "at": r[1], "operation": r[2], "layer": r[3], "project_id": r[4], "fid": r[5],
                 "after": r[6], "geom": shapely.from_wkb(bytes(r[7])) if r[7] else None, "who": r[8]}
                for r in cur.fetchall()]


def rebuilt(log: list[dict], until: str) -> tuple[dict, dict]:
    """The registry folded from the log by hand: project_id → attributes, (layer, fid) → (name, WKT)."""
    projects, feats = {}, {}
    for entry in log:
        if entry["at"] >= until:
            continue
        key = entry["project_id"] if entry["layer"] == "projects" else (entry["layer"], entry["fid"])
        table = projects if entry["layer"] == "projects" else feats
        if entry["operation"] == "delete":
            table.pop(key, None)
        elif entry["layer"] == "projects":
            table[key] = (entry["after"]["status"], entry["after"]["notes"])
        else:
            table[key] = (entry["after"]["name"], entry["geom"].wkt)
    return projects, feats


def test_as_of_each_day_equals_a_rebuild_from_the_log(store):
    simulate_days(store)
    log = raw_log(store)
    location = store.location if isinstance(store, GeoPackageStore) else store.url
    for day in ["2014-02-01", *DAYS]:
        projects, feats = rebuilt(log, day_start_utc((pd.Timestamp(day) + pd.Timedelta(days=1)).date().isoformat()))
        with read_store(location, day) as view:
            ours = {r.project_id: (r.status, None if pd.isna(r.notes) else r.notes)
                    for r in view.projects().itertuples()}
            got = view.features("rivers")
            ours_features = {("rivers", int(fid)): (row["name"], row.geometry.wkt) for fid, row in got.iterrows()}
        assert ours == projects, day
        assert ours_features == feats, day
    assert rebuilt(log, "9999")[0] == {"2014-RIV-001": ("completed", None), "2014-RIV-002": ("planned", "改線")}


def test_every_changed_row_is_logged_once_and_unchanged_rows_not_at_all(store):
    simulate_days(store)
    before = len(raw_log(store))
    set_fields(store, "2014-RIV-002", on("2014-04-01"), notes="再改")
    added = raw_log(store)[before:]
    assert [(e["operation"], e["layer"], e["project_id"]) for e in added] == [("update", "projects", "2014-RIV-002")]
    store.write(Batch(pd.DataFrame([{**project("2014-RIV-002", "rivers"), "notes": "再改"}]),
                      {"rivers": features("2014-RIV-002", shapely.affinity.translate(LINE, 0.01, 0.0), "乙段")}))
    assert len(raw_log(store)) == before + 1  # the same project again: nothing differs, nothing is logged


def test_the_fids_of_unchanged_features_survive_a_reimport(store):
    simulate_days(store)
    fids = store.features("rivers", project_ids=["2014-RIV-001"]).index.tolist()
    store.write(Batch(pd.DataFrame([{**project("2014-RIV-001", "rivers"), "status": "completed",
                                     "actual_start": "2014-02-10", "actual_finish": "2014-03-14"}]),
                      {"rivers": pd.concat([features("2014-RIV-001", LINE, "甲段"),
                                            features("2014-RIV-001", LINE, "丙段")])}))
    after = store.features("rivers", project_ids=["2014-RIV-001"])
    assert after.index[after["name"] == "甲段"].tolist() == fids
    assert len(after) == 2


def test_the_log_refuses_updates_and_deletes(store):
    simulate_days(store)
    if isinstance(store, GeoPackageStore):
        con = sqlite3.connect(store.path)
        for statement in ("UPDATE changes SET who = 'x'", "DELETE FROM changes"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(statement)
        return
    with psycopg.connect(store.url) as con:
        for statement in ("UPDATE changes SET who = 'x'", "DELETE FROM changes"):
            with pytest.raises(psycopg.Error, match="append-only"):
                con.execute(statement)
            con.rollback()


def test_a_direct_update_in_postgis_is_logged_under_the_database_role(postgis_url):
    store = create_store(postgis_url)
    simulate_days(store)
    with psycopg.connect(postgis_url) as con:
        role = con.execute("SELECT current_user").fetchone()[0]
        con.execute("UPDATE projects SET notes = '直接修改' WHERE project_id = '2014-RIV-002'")
        con.execute("UPDATE rivers SET name = '改名' WHERE project_id = '2014-RIV-002'")
    entries = project_history(store, "2014-RIV-002")
    direct = [e for e in entries if e["who"] == role]
    assert [(e["layer"], e["changes"]) for e in direct] == [
        ("projects", {"notes": ["改線", "直接修改"]}), ("rivers", {"name": ["乙段", "改名"]})]
    assert store.projects(["2014-RIV-002"])["version"].iloc[0] == 3  # registered, re-imported, edited directly


def test_a_forbidden_status_move_changes_nothing_and_names_the_allowed_ones(tmp_path):
    store = GeoPackageStore.create(tmp_path / "w.gpkg")
    simulate_days(store)
    logged = len(raw_log(store))
    with pytest.raises(ValidationError, match="下一步可改為：in_progress, delayed") as refused:
        set_fields(store, "2014-RIV-002", Author("clerk", role="editor", department="規劃建設局"), status="completed",
                   actual_finish="2014-04-01")
    assert refused.value.param == "status"
    assert store.projects(["2014-RIV-002"])["status"].iloc[0] == "planned"
    assert len(raw_log(store)) == logged


def test_a_delay_needs_a_reason_and_a_new_finish_and_keeps_the_first_one(tmp_path):
    store = GeoPackageStore.create(tmp_path / "w.gpkg")
    store.write(Batch(pd.DataFrame([project("2014-RIV-001", "rivers", planned_finish="2014-06-30")]),
                      {"rivers": features("2014-RIV-001", LINE)}))
    with pytest.raises(ValidationError, match="delay_reason") as refused:
        set_fields(store, "2014-RIV-001", on("2014-05-01"), status="delayed")
    assert refused.value.param == "delay_reason"
    with pytest.raises(ValidationError, match="須填寫新的 planned_finish"):
        set_fields(store, "2014-RIV-001", on("2014-05-01"), status="delayed", delay_reason="流砂")
    set_fields(store, "2014-RIV-001", on("2014-05-01"), status="delayed", delay_reason="流砂",
               planned_finish="2014-09-30")
    row = store.projects(["2014-RIV-001"]).iloc[0]
    assert (row["planned_finish"], row["planned_finish_original"]) == ("2014-09-30", "2014-06-30")


def test_an_admin_corrects_a_status_against_the_workflow_with_a_reason_logged(tmp_path):
    store = GeoPackageStore.create(tmp_path / "w.gpkg")
    simulate_days(store)
    set_fields(store, "2014-RIV-001", Author("office", role="admin", reason="誤報完工"), status="in_progress",
               actual_finish=None)
    last = project_history(store, "2014-RIV-001")[-1]
    assert (last["who"], last["reason"], last["changes"]["status"]) == ("office", "誤報完工", ["completed",
                                                                                             "in_progress"])


def test_the_demo_as_of_a_date_shows_the_programme_as_it_stood(demo_path):
    final = pd.read_csv(Path(__file__).parents[1] / "geodata" / "projects.csv", dtype=str, keep_default_na=False)
    for day in ("2013-08-15", "2013-10-01", "2013-11-20", "2013-12-25", "2014-01-10"):
        started = final["actual_start"].ne("") & (final["actual_start"] <= day)
        finished = final["actual_finish"].ne("") & (final["actual_finish"] <= day)
        expected = pd.Series("planned", index=final.index)
        expected[started] = "in_progress"
        expected[finished] = "completed"
        handed = finished & (final["status"] == "long_term_management") & (final["actual_finish"] < day)
        expected[handed] = "long_term_management"
        expected[(final["status"] == "delayed") & (day >= "2013-12-20")] = "delayed"
        with read_store(str(demo_path), day) as view:
            ours = view.projects().set_index("project_id")["status"]
        assert ours.to_dict() == dict(zip(final["project_id"], expected)), day
    with read_store(str(demo_path), "2013-05-01") as view:
        assert view.projects().empty and view.features("rivers").empty  # before the plan was drawn up


def test_a_registry_of_schema_1_is_refused_until_upgraded_and_keeps_every_row(tmp_path):
    path = tmp_path / "old.gpkg"
    shutil.copy(SCHEMA1, path)
    con = sqlite3.connect(path)
    before = {t: con.execute(f'SELECT * FROM "{t}" ORDER BY fid').fetchall()
              for t in ("projects", *model.LAYER_BY_NAME)}
    con.close()
    with pytest.raises(StoreError, match="registry upgrade"):
        GeoPackageStore(path)
    done = run_cli("upgrade", "--store", str(path))
    assert done.returncode == 0 and "0002" in done.stdout, done.stderr
    con = sqlite3.connect(path)
    for table, rows in before.items():
        width = len(rows[0]) if rows else 0
        after = [r[:width] for r in con.execute(f'SELECT * FROM "{table}" ORDER BY fid').fetchall()]
        assert after == rows, table
    baseline = con.execute("SELECT count(*) FROM changes WHERE operation = 'baseline'").fetchone()[0]
    assert baseline == len(before["projects"]) + sum(len(before[x.name]) for x in model.PROJECT_LAYERS)
    assert run_cli("upgrade", "--store", str(path)).stdout.strip().endswith(("数据结构已是最新", "資料結構已是最新"))
    assert len(GeoPackageStore(path).projects()) == 180


def test_a_postgis_registry_of_schema_1_upgrades_in_place_and_keeps_every_row(postgis_url):
    from registry.store.postgis import _create_tables  # the schema-1 tables, as the code before migrations made

    source = sqlite3.connect(SCHEMA1)
    with psycopg.connect(postgis_url) as con:
        _create_tables(con, dict(source.execute("SELECT key, value FROM registry_meta WHERE key = 'data_date'")))
        for table in ("projects", *(x.name for x in model.PROJECT_LAYERS)):
            columns = [r[1] for r in source.execute(f'PRAGMA table_info("{table}")') if r[1] not in ("fid", "geom")]
            geom = ", geom" if table != "projects" else ""
            rows = source.execute(f'SELECT {", ".join(columns)}{geom} FROM "{table}" ORDER BY fid').fetchall()
            flags = [c in ("in_statement", "beyond_statement") for c in columns]  # SQLite's 0/1, PostgreSQL's boolean
            rows = [tuple(bool(v) if flag else v for v, flag in zip(row, [*flags, False])) for row in rows]
            if geom:
                rows = [(*row[:-1], plain_wkb(row[-1])) for row in rows]
            names = ", ".join([*columns, *(["geom"] if geom else [])])
            marks = ", ".join(["%s"] * len(columns) + (["ST_GeomFromWKB(%s, 4490)"] if geom else []))
            with con.cursor() as cur:
                cur.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
    with pytest.raises(StoreError, match="registry upgrade"):
        open_store(postgis_url)
    done = run_cli("upgrade", "--store", postgis_url)
    assert done.returncode == 0, done.stderr
    store = open_store(postgis_url)
    ours = store.projects().drop(columns=["version", "progress_pct", "investment_completed_yuan",
                                          "planned_finish_original"])
    old = pd.read_sql_query("SELECT * FROM projects ORDER BY project_id", source).drop(columns=["fid"])
    assert ours["project_id"].tolist() == old["project_id"].tolist()
    assert ours["investment_yuan"].tolist() == old["investment_yuan"].tolist()
    assert ours["status"].tolist() == old["status"].tolist()
    for spec in model.PROJECT_LAYERS:
        count = source.execute(f'SELECT count(*) FROM "{spec.name}"').fetchone()[0]
        assert len(store.features(spec.name)) == count, spec.name
    assert len(store.log()) == len(old) + sum(len(store.features(x.name)) for x in model.PROJECT_LAYERS)


def test_the_demo_on_postgis_has_the_same_history_as_on_a_geopackage(postgis_url, demo_path):
    build_demo(postgis_url)
    ours = [(e["operation"], e["layer"], e["at"]) for e in project_history(open_store(postgis_url), "2013-POL-004")]
    theirs = [(e["operation"], e["layer"], e["at"]) for e in project_history(GeoPackageStore(demo_path),
                                                                             "2013-POL-004")]
    assert ours == theirs and len(ours) == 6


def test_history_over_http_names_who_to_signed_in_users_only(demo_copy):
    store = GeoPackageStore(demo_copy)
    token = accounts.add(store, "office", "admin").token
    client = create_app({"REGISTRY_STORE": str(demo_copy)}).test_client()
    anonymous = client.get("/projects/2013-POL-004/history").get_json()["changes"]
    signed_in = client.get("/projects/2013-POL-004/history", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [e["operation"] for e in anonymous] == [e["operation"] for e in signed_in["changes"]]
    assert {e["who"] for e in anonymous} == {None}
    assert {e["who"] for e in signed_in["changes"]} == {"演示"}
    delayed = signed_in["changes"][-1]
    assert delayed["changes"]["status"] == ["in_progress", "delayed"] and delayed["local_time"] == "2013-12-20 00:00"
    page = client.get("/projects/2013-POL-004/history?f=html")
    assert page.status_code == 200 and "2013-12-20 00:00" in page.get_data(as_text=True)
    assert client.get("/projects/2099-RIV-001/history").status_code == 404


@pytest.mark.parametrize(("field", "value"), [("progress_pct", 150), ("progress_pct", -1),
                                              ("investment_completed_yuan", -5)])
def test_workflow_figures_out_of_range_are_refused_naming_the_field(tmp_path, field, value):
    store = GeoPackageStore.create(tmp_path / "w.gpkg")
    simulate_days(store)
    with pytest.raises(ValidationError) as refused:
        set_fields(store, "2014-RIV-002", on("2014-04-01"), **{field: value})
    assert refused.value.param == field
    assert pd.isna(store.projects(["2014-RIV-002"]).iloc[0][field])
