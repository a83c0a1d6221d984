"""One rule each, used everywhere: the layers a category owns, the palette, a project's JSON, CSV for people."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyogrio
import pytest
from matplotlib import colors
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from registry import model, palette
from registry.exchange import export
from registry.exchange.csvfile import write_csv
from registry.maps import overlay_figure
from registry.store import GeoPackageStore

from .conftest import run_cli

POLDER_WITH_SLUICES = "2013-POL-001"
BOM = b"\xef\xbb\xbf"


# -- the layers a category owns ----------------------------------------------------------------------------

def test_each_project_layer_belongs_to_the_category_of_every_feature_in_it(demo_path):
    projects = pyogrio.read_dataframe(demo_path, layer="projects", read_geometry=False).set_index("project_id")
    owners = {layer: c.slug for c in model.CATEGORIES for layer in model.category_layers(c.slug)}
    assert sorted(owners) == sorted(layer.name for layer in model.PROJECT_LAYERS)  # every layer has one owner
    for layer in owners:
        frame = pyogrio.read_dataframe(demo_path, layer=layer, read_geometry=False)
        assert set(projects.loc[frame["project_id"], "category"]) <= {owners[layer]}, layer
    assert model.category_layers("polders") == ("polders", "sluices")
    assert {layer: model.layer_category(layer) for layer in owners} == owners


# -- a project's JSON ----------------------------------------------------------------------------------------

def test_a_projects_json_is_the_same_document_on_every_road(client, demo_path):
    one = client.get(f"/projects/{POLDER_WITH_SLUICES}").json
    listed = next(p for p in client.get("/projects", query_string={"category": "polders"}).json["projects"]
                  if p["project_id"] == POLDER_WITH_SLUICES)
    done = run_cli("query", "--store", str(demo_path), "--category", "polders", "--format", "json")
    assert done.returncode == 0, done.stderr
    printed = next(p for p in json.loads(done.stdout)["projects"] if p["project_id"] == POLDER_WITH_SLUICES)
    assert one == listed == printed
    with sqlite3.connect(demo_path) as con:  # its features, counted by SQLite: the polder and its sluices
        stored = {layer: con.execute(f"SELECT count(*) FROM {layer} WHERE project_id = ?",
                                     (POLDER_WITH_SLUICES,)).fetchone()[0] for layer in ("polders", "sluices")}
    assert stored["sluices"] > 0
    assert {layer: sum(f["layer"] == layer for f in one["features"]) for layer in stored} == stored


# -- one palette ---------------------------------------------------------------------------------------------

def rgb255(colour: str) -> tuple[int, int, int]:
    """A colour as 0-255 integers, by matplotlib (not the palette's own conversion)."""
    return tuple(round(v * 255) for v in colors.to_rgb(colour))


def qml_colours(path, attribute: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(layer, class value) → the colour of its symbol in the QGIS styles of an exported GeoPackage."""
    with sqlite3.connect(path) as con:
        styles = con.execute("SELECT f_table_name, styleQML FROM layer_styles").fetchall()
    found = {}
    for layer, qml in styles:
        renderer = ET.fromstring(qml.split("\n", 1)[1]).find("renderer-v2")
        assert renderer.get("attr") == attribute
        symbols = {s.get("name"): s for s in renderer.find("symbols")}
        for klass in renderer.find("categories"):
            props = {p.get("k"): p.get("v") for p in symbols[klass.get("symbol")].iter("prop")}
            value = props.get("line_color") if "line_color" in props else props["color"]
            found[(layer, klass.get("value"))] = tuple(int(v) for v in value.split(",")[:3])
    return found


def legend_colours(fig) -> dict[str, tuple[int, int, int]]:
    """Legend entry (without its count) → the colour of its symbol, from the map's first legend block."""
    legend = fig.findobj(Legend)[0]
    found = {}
    for handle, text in zip(legend.legend_handles, legend.get_texts()):
        if isinstance(handle, Patch):
            colour = handle.get_facecolor()
        elif isinstance(handle, Line2D) and handle.get_linestyle() == "None":
            colour = handle.get_markerfacecolor()
        else:
            colour = handle.get_color()
        found[re.sub(r"\(\d+[項處]\)$", "", text.get_text())] = rgb255(colors.to_hex(colour))
    return found


@pytest.fixture(scope="module")
def store(demo_path) -> GeoPackageStore:
    return GeoPackageStore(demo_path)


def test_qgis_styles_static_maps_and_web_map_colour_each_category_alike(demo_result, store, client, tmp_path):
    layer_zh = {layer.name: layer.title_zh for layer in model.PROJECT_LAYERS}
    wanted = {layer: rgb255(palette.layer_colour(layer)) for layer in layer_zh}
    # QGIS: every layer's class drawn in its layer's colour (sluices in theirs, polders in the polders')
    report = export(demo_result, tmp_path / "styled.gpkg")
    qgis = qml_colours(report.path, "category")
    assert {layer: colour for (layer, _), colour in qgis.items()} == wanted
    # the static map's legend
    mapped = legend_colours(overlay_figure(store, {}, by="category"))
    assert mapped == {layer_zh[layer]: colour for layer, colour in wanted.items()}
    # the web map: the colours the server gives the page as JSON data
    page = client.get("/map").get_data(as_text=True)
    config = json.loads(re.search(r'<script type="application/json" id="registry-config">(.*?)</script>', page,
                                  re.S).group(1))
    web = {layer["name"]: rgb255(layer["colour"]) for c in config["categories"] for layer in c["layers"]}
    assert web == wanted
    assert {c["slug"]: rgb255(c["colour"]) for c in config["categories"]} == {
        c.slug: wanted[c.slug] for c in model.CATEGORIES}


def test_qgis_styles_and_static_maps_colour_each_status_alike(demo_result, store, tmp_path):
    wanted = {status: rgb255(colour) for status, colour in palette.STATUS_COLOURS.items()}
    report = export(demo_result, tmp_path / "status.gpkg", style_by="status")
    qgis = qml_colours(report.path, "status")
    assert qgis and all(colour == wanted[status] for (_, status), colour in qgis.items())
    mapped = legend_colours(overlay_figure(store, {}, by="status"))
    shown = {s for s in model.STATUSES if model.STATUSES[s] in mapped}
    assert shown == set(demo_result.projects["status"])
    assert {model.STATUSES[s]: wanted[s] for s in shown} == mapped


# -- CSV for people --------------------------------------------------------------------------------------------

def test_csv_for_people_has_a_bom_neutralised_formulas_and_numbers_as_numbers():
    sink = io.BytesIO()
    write_csv(sink, pa.table({"name": ["=1+2", "婁葑", None], "yuan": [-3, 4, None]}))
    assert sink.getvalue().startswith(BOM)
    rows = list(csv.DictReader(io.StringIO(sink.getvalue().decode("utf-8-sig"))))
    assert [(r["name"], r["yuan"]) for r in rows] == [("'=1+2", "-3"), ("婁葑", "4"), ("", "")]


def test_every_csv_download_and_export_starts_with_a_bom(client, demo_result, tmp_path):
    stats = client.get("/stats", query_string={"by": "category", "f": "csv"})
    assert stats.data.startswith(BOM) and stats.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert next(csv.reader(io.StringIO(stats.data.decode("utf-8-sig"))))[:2] == ["category", "projects"]
    projects = client.get("/projects", query_string={"f": "csv", "year": "2013"})
    assert projects.data.startswith(BOM)
    assert Path(export(demo_result, tmp_path / "all.csv").path).read_bytes().startswith(BOM)


def test_cli_csv_has_a_bom_in_a_file_and_none_in_a_pipe(demo_path, tmp_path):
    args = ["stats", "--store", str(demo_path), "--by", "year", "--format", "csv"]
    piped = run_cli(*args)
    assert piped.returncode == 0, piped.stderr
    assert not piped.stdout.startswith("\ufeff")
    with open(tmp_path / "stats.csv", "wb") as sink:  # `registry stats ... > stats.csv`
        done = subprocess.run([sys.executable, "-m", "registry", *args], stdout=sink, stderr=subprocess.PIPE,
                              timeout=300)
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "stats.csv").read_bytes()
    assert written.startswith(BOM) and written[len(BOM):] == piped.stdout.encode()
    years = [row["year"] for row in csv.DictReader(io.StringIO(written.decode("utf-8-sig")))]
    assert years == ["2013", "2014", "2015"]
