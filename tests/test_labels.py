"""Machine formats keep the codes and add each coded field's name in the reader's script (``<field>_label``)."""

from __future__ import annotations

import json
import os
import subprocess

import opencc

from registry import model, script
from registry.exchange import export
from registry.query import find
from registry.store import GeoPackageStore

from .conftest import run_cli

_POLDERS = {"zh-Hans": "低洼易淹易涝片区", "zh-Hant": "低窪易淹易澇片區"}


def test_project_documents_add_labels_in_the_chosen_script(client):
    for lang, polders in _POLDERS.items():
        body = client.get("/projects", query_string={"category": "polders", "lang": lang}).get_json()
        assert body["projects"] and {p["category_label"] for p in body["projects"]} == {polders}
        assert {p["category"] for p in body["projects"]} == {"polders"}


def test_every_coded_field_gets_its_label(client):
    body = client.get("/projects", query_string={"lang": "zh-Hans", "limit": 1000}).get_json()
    names = {kind: {n.code: n.hans for n in model.NAMES[kind]} for kind in model.NAMES}
    departments = {n.hant: n.hans for n in model.NAMES["lead_department"]}
    for p in body["projects"]:
        assert p["status_label"] == names["status"][p["status"]]
        assert p["lead_department_label"] == departments[p["lead_department"]]
        assert p["street_codes_label"] == ",".join(names["street"][c] for c in p["street_codes"].split(","))
        if p["site_type"]:
            assert p["site_type_label"] == names["site_type"][p["site_type"]]


def test_collection_items_carry_labels_per_script(client):
    query = {"limit": 5, "status": "long_term_management"}
    hans = client.get("/collections/rivers/items", query_string={**query, "lang": "zh-Hans"}).get_json()
    hant = client.get("/collections/rivers/items", query_string={**query, "lang": "zh-Hant"}).get_json()
    assert [f["id"] for f in hans["features"]] == [f["id"] for f in hant["features"]]
    assert {f["properties"]["status_label"] for f in hans["features"]} == {"长效管理"}
    assert {f["properties"]["status_label"] for f in hant["features"]} == {"長效管理"}


def test_cli_json_carries_labels(demo_path):
    done = run_cli("--lang", "zh-Hans", "query", "--store", str(demo_path), "--category", "BBD",
                   "--format", "json")
    assert done.returncode == 0, done.stderr
    projects = json.loads(done.stdout)["projects"]
    assert projects and {p["category_label"] for p in projects} == {"户外广告"}


def test_a_geopackage_export_carries_codes_and_names(demo_result, tmp_path):
    import pyogrio

    from registry import script
    from registry.exchange.export import export

    with script.use("zh-Hans"):
        report = export(demo_result, tmp_path / "out.gpkg")
    rivers = pyogrio.read_dataframe(report.path, layer="rivers")
    names = model.name_labels("status", "zh-Hans")
    assert list(rivers["status_label"]) == [names[s] for s in rivers["status"]]
    assert set(rivers["category_label"]) == {"城市河道"}


def test_qgis_styles_name_classes_in_the_script():
    from registry import script
    from registry.exchange.styles import layer_qml

    with script.use("zh-Hans"):
        assert "长效管理" in layer_qml("rivers", "status", ["long_term_management"])
    with script.use("zh-Hant"):
        assert "長效管理" in layer_qml("rivers", "status", ["long_term_management"])


_QGIS_FIELDS = """
import json, os, sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
seen = []
for path in sys.argv[1:]:
    layer = QgsVectorLayer(f"{path}|layername=rivers", "rivers", "ogr")
    fields = layer.fields()
    seen.append({"aliases": {name: layer.attributeAlias(fields.indexOf(name))
                             for name in ("category", "status", "lead_department", "investment_yuan")},
                 "widget": layer.editorWidgetSetup(fields.indexOf("status")).type(),
                 "map": layer.editorWidgetSetup(fields.indexOf("status")).config().get("map"),
                 "classes": [c.label() for c in layer.renderer().categories()]})
print(json.dumps(seen, ensure_ascii=False))
sys.stdout.flush()
os._exit(0)  # QGIS 3.22's Python teardown can crash after the work is done
"""
_ALIASES = {"zh-Hans": {"category": "类别", "status": "状态", "lead_department": "牵头部门",
                        "investment_yuan": "投资(元)"},
            "zh-Hant": {"category": "類別", "status": "狀態", "lead_department": "牽頭部門",
                        "investment_yuan": "投資(元)"}}


def test_qgis_shows_a_geopackage_exports_fields_and_codes_by_their_names_in_its_script(demo_path, tmp_path):
    result = find(GeoPackageStore(demo_path), {"category": "rivers"})
    paths = []
    for chosen in model.SCRIPTS:
        with script.use(chosen):
            paths.append(export(result, tmp_path / f"{chosen}.gpkg", style_by="status").path)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run(["/usr/bin/python3", "-c", _QGIS_FIELDS, *paths], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    present = set(result.features["status"])
    for chosen, seen in zip(model.SCRIPTS, json.loads(done.stdout.strip().splitlines()[-1])):
        names = {n.code: n.hans if chosen == "zh-Hans" else n.hant for n in model.NAMES["status"]}
        assert seen["aliases"] == _ALIASES[chosen]
        assert seen["widget"] == "ValueMap" and seen["map"] == [{names[code]: code} for code in names]
        assert seen["classes"] == [names[code] for code in names if code in present]
        text = json.dumps(seen, ensure_ascii=False)
        assert opencc.OpenCC("tw2s" if chosen == "zh-Hans" else "s2tw").convert(text) == text
