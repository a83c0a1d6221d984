"""The registry served from PostGIS: the CLI builds and reads it, and the API serves it to GDAL as it does a file.

A demo built into a schema of the tests' own PostgreSQL server must give the same answers as the demo
GeoPackage, through the real command line, the API in-process, and GDAL's OAPIF driver against gunicorn.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pandas as pd
import psycopg
import pyogrio
import pytest
from flask.testing import FlaskClient

from api import create_app
from registry.store import open_store

from .conftest import postgis_schema, run_cli, schema_of, serve


@pytest.fixture(scope="module")
def postgis_demo(postgis_server) -> str:
    """A schema holding the demo registry, built by ``registry demo --store URL``."""
    with postgis_schema(postgis_server) as url:
        built = run_cli("demo", "--store", url)
        assert built.returncode == 0, built.stderr
        yield url


@pytest.fixture(scope="module")
def postgis_api(postgis_demo) -> str:
    with serve(postgis_demo) as url:
        yield url


@pytest.fixture(scope="module")
def postgis_client(postgis_demo) -> FlaskClient:
    """The API serving the PostGIS demo in this process, for HTTP answers that need no outside client."""
    return create_app({"REGISTRY_STORE": postgis_demo}).test_client()


def test_cli_statistics_from_postgis_equal_those_from_the_geopackage(postgis_demo, demo_path):
    for by in ("street", "category"):
        ours = run_cli("stats", "--store", postgis_demo, "--by", by, "--format", "json")
        theirs = run_cli("stats", "--store", str(demo_path), "--by", by, "--format", "json")
        assert ours.returncode == 0, ours.stderr
        assert json.loads(ours.stdout) == json.loads(theirs.stdout)


def test_cli_query_by_street_from_postgis_equals_the_geopackage(postgis_demo, demo_path):
    for street in ("LF", "SP"):
        ours = run_cli("query", "--store", postgis_demo, "--street", street, "--as-of", "2015-06-01", "--format", "csv")
        theirs = run_cli("query", "--store", str(demo_path), "--street", street, "--as-of", "2015-06-01",
                         "--format", "csv")
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == theirs.stdout and ours.stdout.count("\n") > 2


def test_demo_does_not_replace_a_registry_in_postgis_without_force(postgis_demo):
    revision = run_cli("info", "--store", postgis_demo, "--format", "json")
    done = run_cli("demo", "--store", postgis_demo)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "中已有登记簿" in done.stderr
    assert run_cli("info", "--store", postgis_demo, "--format", "json").stdout == revision.stdout


def test_cli_names_an_unreachable_database_in_one_line():
    done = run_cli("info", "--store", "postgresql://nobody:secret@127.0.0.1:1/none")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "无法连接 PostgreSQL" in done.stderr
    assert "secret" not in done.stderr


def test_ogrinfo_reads_every_collection_from_a_postgis_registry(postgis_api, demo_path):
    out = subprocess.run(["ogrinfo", "-ro", "-so", "-al", f"OAPIF:{postgis_api}"], capture_output=True, text=True,
                         timeout=300).stdout
    blocks = {b.split("\n", 1)[0].strip(): b for b in out.split("Layer name: ")[1:]}
    con = sqlite3.connect(demo_path)
    for layer in ("rivers", "billboards", "street_offices", "sluices", "old_compounds"):
        expected = con.execute(f'SELECT count(*) FROM "{layer}"').fetchone()[0]
        assert f"Feature Count: {expected}" in blocks[layer], layer


@pytest.mark.parametrize(("path", "params"), [
    ("collections/rivers/items", {"bbox": "120.65,31.28,120.72,31.33", "limit": 1000}),
    ("collections/alleys/items", {"limit": 1000}),
    ("collections/billboards/items", {"filter": "status = 'completed' OR year = 2015 AND in_statement = true",
                                      "limit": 1000}),
    ("projects", {"street": "XT", "category": "rivers"}),
    ("stats", {"by": "street"}),
], ids=["bbox", "whole", "filter", "projects", "stats"])
def test_api_answers_from_postgis_as_from_the_geopackage(postgis_client, client, path, params):
    ours = postgis_client.get("/" + path, query_string=params)
    theirs = client.get("/" + path, query_string=params)
    assert ours.status_code == theirs.status_code == 200, ours.text
    a, b = ours.json, theirs.json
    for doc in (a, b):
        doc.pop("links", None)
        doc.pop("timeStamp", None)
    assert a == b


def test_gdal_reads_the_postgis_layers_as_typed_tables_in_4490(postgis_demo, demo_path):
    parts, schema = schema_of(postgis_demo)
    source = (f"PG:host={parts['host']} port={parts['port']} dbname={parts['dbname']} user={parts['user']} "
              f"active_schema={schema}")
    con = sqlite3.connect(demo_path)
    for layer, geometry in (("rivers", "Multi Line String"), ("billboards", "Point"),
                            ("old_compounds", "Multi Polygon")):
        out = subprocess.run(["ogrinfo", "-ro", "-so", source, layer], capture_output=True, text=True,
                             timeout=120).stdout
        assert f"Geometry: {geometry}" in out, out
        assert f"Feature Count: {con.execute(f'SELECT count(*) FROM {layer}').fetchone()[0]}" in out
        assert 'ID["EPSG",4490]' in out


def test_an_export_from_postgis_holds_what_one_from_the_geopackage_holds(postgis_demo, demo_path, tmp_path):
    for store, name in ((postgis_demo, "ours.gpkg"), (str(demo_path), "theirs.gpkg")):
        done = run_cli("export", "--store", store, "--street", "XT", "--to", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
    for layer in ("rivers", "old_compounds", "projects"):
        ours = pyogrio.read_dataframe(tmp_path / "ours.gpkg", layer=layer)
        theirs = pyogrio.read_dataframe(tmp_path / "theirs.gpkg", layer=layer)
        assert len(ours) > 0 and len(ours) == len(theirs), layer
        pd.testing.assert_frame_equal(ours.drop(columns="geometry", errors="ignore"),
                                      theirs.drop(columns="geometry", errors="ignore"))
        if "geometry" in ours:
            assert ours.geometry.geom_equals_exact(theirs.geometry, tolerance=1e-9).all()


# -- schema commands touch only their own schema ----------------------------------------------------------
def table_counts(url: str) -> dict[str, int]:
    """Every table of a ``postgis_schema`` URL's schema with its row count, read with qualified names."""
    parts, schema = schema_of(url)
    with psycopg.connect(**parts) as con:
        tables = [row[0] for row in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))]
        return {t: con.execute(f'SELECT count(*) FROM "{schema}"."{t}"').fetchone()[0] for t in tables}


@pytest.fixture
def empty_schema_first(postgis_server, postgis_demo) -> str:
    """A URL whose search_path names an empty schema first, then the demo's schema (then public)."""
    with postgis_schema(postgis_server) as empty:
        yield f"{postgis_server.url}?options=-csearch_path%3D{schema_of(empty)[1]},{schema_of(postgis_demo)[1]},public"


def test_init_in_an_empty_schema_ignores_a_registry_further_along_the_search_path(empty_schema_first, postgis_demo):
    before = table_counts(postgis_demo)
    done = run_cli("init", "--store", empty_schema_first)
    assert done.returncode == 0, done.stderr
    assert f"schema {schema_of(empty_schema_first)[1]}" in done.stdout
    assert table_counts(empty_schema_first)["registry_meta"] > 0 and table_counts(empty_schema_first)["rivers"] == 0
    assert table_counts(postgis_demo) == before


def test_init_force_replaces_only_the_current_schema_and_names_it(empty_schema_first, postgis_demo):
    before = table_counts(postgis_demo)
    assert before["projects"] == 180
    for _ in range(2):  # the second replaces the registry the first made
        done = run_cli("init", "--store", empty_schema_first, "--force")
        assert done.returncode == 0, done.stderr
        assert f"schema {schema_of(empty_schema_first)[1]}" in done.stdout and "替换了原有的登记簿" in done.stdout
    assert table_counts(postgis_demo) == before


def test_a_server_running_while_its_registry_is_made_anew_with_force_serves_the_new_one(postgis_server):
    with postgis_schema(postgis_server) as url:
        assert run_cli("demo", "--store", url).returncode == 0
        client = create_app({"REGISTRY_STORE": url}).test_client()
        assert client.get("/collections/rivers/items?limit=1").json["numberMatched"] > 0  # served, answers kept
        before = int(open_store(url).revision())
        done = run_cli("init", "--store", url, "--force")
        assert done.returncode == 0, done.stderr
        # revisions key the answers a server keeps and its ETags: the new registry's count on past the old's
        assert int(open_store(url).revision()) > before
        assert client.get("/collections/rivers/items?limit=1").json["numberMatched"] == 0


def test_a_store_opens_only_a_registry_in_its_own_schema(empty_schema_first):
    done = run_cli("info", "--store", empty_schema_first)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert f"模式 {schema_of(empty_schema_first)[1]} 中没有登记簿" in done.stderr


def test_a_search_path_naming_a_missing_schema_first_is_refused(postgis_server, postgis_demo):
    before = table_counts(postgis_demo)
    url = f"{postgis_server.url}?options=-csearch_path%3Dno_such_schema,{schema_of(postgis_demo)[1]},public"
    done = run_cli("init", "--store", url, "--force")
    assert done.returncode == 2 and "模式 no_such_schema" in done.stderr and "不存在" in done.stderr
    assert table_counts(postgis_demo) == before
