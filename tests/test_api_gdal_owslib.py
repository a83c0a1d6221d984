"""The API as desktop GIS and Python clients use it: GDAL's OAPIF driver (ogrinfo, ogr2ogr) and OWSLib
against the demo served by a real gunicorn, their answers checked against the demo's own counts."""

from __future__ import annotations

import sqlite3
import subprocess

import pyogrio
import shapely

from .conftest import feature_count


def test_ogrinfo_lists_every_collection_with_its_count(demo_server, demo_path):
    out = subprocess.run(["ogrinfo", "-ro", "-so", "-al", f"OAPIF:{demo_server}"], capture_output=True, text=True,
                         timeout=300).stdout
    blocks = {b.split("\n", 1)[0].strip(): b for b in out.split("Layer name: ")[1:]}
    for layer in ("rivers", "billboards", "street_offices", "sluices"):
        assert f"Feature Count: {feature_count(demo_path, layer)}" in blocks[layer], layer


def test_ogr2ogr_copies_a_collection_to_geopackage(demo_server, demo_path, tmp_path):
    target = tmp_path / "copy.gpkg"
    subprocess.run(["ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{demo_server}", "rivers"], check=True, timeout=300,
                   capture_output=True)
    copy = pyogrio.read_dataframe(target, layer="rivers")
    assert len(copy) == feature_count(demo_path, "rivers")
    assert "唐莊河" in set(copy["feature_name"])


def test_ogr2ogr_attribute_filter_reaches_the_server(demo_server, demo_path, tmp_path):
    target = tmp_path / "filtered.gpkg"
    subprocess.run(["ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{demo_server}", "rivers", "-where",
                    "status = 'planned'"], check=True, timeout=300, capture_output=True)
    con = sqlite3.connect(demo_path)
    expected = con.execute("SELECT count(*) FROM rivers JOIN projects USING (project_id) "
                           "WHERE status = 'planned'").fetchone()[0]
    assert len(pyogrio.read_dataframe(target, layer="rivers")) == expected


def test_owslib_lists_the_collections(demo_server):
    from owslib.ogcapi.features import Features

    assert "rivers" in Features(demo_server).feature_collections()


def test_owslib_bbox_items_match_brute_force(demo_server, demo_path):
    from owslib.ogcapi.features import Features

    page = Features(demo_server).collection_items("rivers", bbox=[120.68, 31.26, 120.76, 31.32], limit=1000)
    frame = pyogrio.read_dataframe(demo_path, layer="rivers", fid_as_index=True)
    box = shapely.box(120.68, 31.26, 120.76, 31.32)
    assert {f["id"] for f in page["features"]} == {int(i) for i, g in zip(frame.index, frame.geometry)
                                                   if g.intersects(box)}


def test_owslib_filter_reaches_the_server(demo_server):
    from owslib.ogcapi.features import Features

    filtered = Features(demo_server).collection_items("rivers", filter="status = 'long_term_management'", limit=1000)
    assert filtered["numberMatched"] == 12
