"""Faults are answered as faults: a PostgreSQL outage under a running API is a 503 with Retry-After that
tells nothing of the database, the first request after it returns is served, and a 500's traceback
reaches the server's error log (not the client)."""

from __future__ import annotations

import requests

from registry.store import create_store

from .conftest import run_cli, serve


def test_a_pooled_connection_lost_in_an_outage_is_replaced_not_handed_out(postgis_server, postgis_url):
    store = create_store(postgis_url)
    with store.snapshot() as view:  # the pool now holds a connection
        before = view.revision()
    postgis_server.halt()
    postgis_server.boot()
    with store.snapshot() as view:  # that connection died with the server; the pool must not hand it out
        assert view.revision() == before


def test_an_outage_is_a_503_without_the_databases_details_and_the_first_request_after_it_succeeds(
        postgis_server, postgis_url, tmp_path):
    assert run_cli("init", "--store", postgis_url).returncode == 0
    log = tmp_path / "error.log"
    with serve(postgis_url, error_log=log) as base:
        items = base + "collections/rivers/items?limit=1"
        assert requests.get(items, timeout=60).status_code == 200
        postgis_server.halt()
        try:
            down = requests.get(items, timeout=60)
        finally:
            postgis_server.boot()
        up = requests.get(items, timeout=60)
    assert down.status_code == 503 and down.headers["Content-Type"] == "application/problem+json"
    assert int(down.headers["Retry-After"]) > 0 and down.json()["status"] == 503
    for detail in ("127.0.0.1", str(postgis_server.port), "postgres", "SELECT", "registry_meta", "Traceback"):
        assert detail not in down.text, detail
    assert up.status_code == 200 and up.json()["type"] == "FeatureCollection"
    logged = log.read_text()
    assert "store unavailable" in logged and f"127.0.0.1:{postgis_server.port}" in logged  # for the operator


def test_a_500_logs_its_traceback_to_gunicorns_error_log_and_not_to_the_client(demo_path, tmp_path):
    store, log = tmp_path / "registry.gpkg", tmp_path / "error.log"
    store.write_bytes(demo_path.read_bytes())
    with serve(str(store), error_log=log) as base:
        store.write_bytes(b"not a GeoPackage any more " * 4096)  # replaced under the running server
        response = requests.get(base + "projects", timeout=60)
    assert response.status_code == 500 and response.headers["Content-Type"] == "application/problem+json"
    assert "Traceback" not in response.text and str(store) not in response.text
    logged = log.read_text()
    assert "Traceback (most recent call last)" in logged and "GET /projects" in logged
    assert "file is not a database" in logged
