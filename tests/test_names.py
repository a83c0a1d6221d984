"""Chinese names for every code, both ways: one table in the model, every road resolving any spelling
(code, Traditional or Simplified name, alias) to what is stored, and data text in either script."""

from __future__ import annotations

import json
from collections import defaultdict

import geopandas as gpd
import opencc
import pandas as pd
import pytest

from registry import model
from registry.errors import ValidationError
from registry.query import find
from registry.store import Batch, GeoPackageStore
from registry.text import fold, to_script, to_traditional

from .conftest import LINE, ROOT, project, run_cli


def _ids(result) -> list[str]:
    return sorted(result.projects["project_id"])


@pytest.mark.parametrize(("kind", "spelling", "stored"), [
    ("category", "河道", "rivers"), ("category", "城市河道", "rivers"), ("category", "RIV", "rivers"),
    ("category", "Rivers", "rivers"), ("category", "低洼易淹易涝片区", "polders"), ("category", "圩区", "polders"),
    ("status", "已完成", "completed"), ("status", "长效管理", "long_term_management"), ("status", "計畫", "planned"),
    ("street", "胜浦", "SP"), ("street", "婁葑街道", "LF"), ("street", "jjh", "JJH"),
    ("lead_department", "城管局", "城市管理局"), ("lead_department", "规划建设局", "規劃建設局"),
    ("lead_department", "traffic_police", "交巡警大隊"), ("site_type", "拆迁", "demolition"),
    ("billboard_action", "整治", "renovate"),
])
def test_a_spelling_resolves_to_the_stored_value(kind, spelling, stored):
    assert model.resolve_name(kind, spelling) == stored


def test_no_spelling_means_two_values_of_one_kind():
    clashes = []
    for kind, names in model.NAMES.items():
        meanings = defaultdict(set)
        for name in names:
            for spelling in (name.code, name.hant, name.hans, *name.aliases):
                meanings[fold(spelling).lower()].add(name.code)
        clashes += [(kind, s) for s, codes in meanings.items() if len(codes) > 1]
    assert clashes == []


def test_the_table_holds_every_code_the_model_defines():
    assert [n.code for n in model.NAMES["category"]] == [c.slug for c in model.CATEGORIES]
    assert {n.code: n.hant for n in model.NAMES["status"]} == model.STATUSES
    assert {n.code: n.hant for n in model.NAMES["street"]} == model.STREETS
    assert tuple(n.hant for n in model.NAMES["lead_department"]) == model.LEAD_DEPARTMENTS
    assert {n.code: n.hant for n in model.NAMES["site_type"]} == model.SITE_TYPES
    assert {n.code: n.hant for n in model.NAMES["billboard_action"]} == model.BILLBOARD_ACTIONS


def test_simplified_names_are_the_traditional_ones_in_simplified_characters():
    to_simplified = opencc.OpenCC("t2s")
    wrong = [(n.hant, n.hans) for names in model.NAMES.values() for n in names
             if to_simplified.convert(n.hant) != n.hans]
    assert wrong == []


def test_a_label_follows_the_script():
    assert model.name_label("category", "polders", "zh-Hans") == "低洼易淹易涝片区"
    assert model.name_label("category", "polders", "zh-Hant") == "低窪易淹易澇片區"
    assert model.name_label("lead_department", "國土房產局", "zh-Hans") == "国土房产局"
    assert model.name_label("status", "unheard_of", "zh-Hans") == "unheard_of"


@pytest.mark.parametrize(("param", "spellings"), [
    ("category", ["rivers", "RIV", "城市河道", "河道"]),
    ("status", ["completed", "已完成", "完工"]),
    ("department", ["城市管理局", "城管局", "urban_management"]),
    ("street", ["SP", "勝浦", "胜浦街道"]),
])
def test_filters_by_code_and_either_name_select_the_same_projects(demo_path, demo_result, param, spellings):
    projects = demo_result.projects
    column = {"category": ("category", "rivers"), "status": ("status", "completed"),
              "department": ("lead_department", "城市管理局")}.get(param)
    store = GeoPackageStore(demo_path)
    found = [_ids(find(store, {param: spelling})) for spelling in spellings]
    assert all(ids == found[0] for ids in found)
    if column:  # an attribute filter: the projects whose stored value is the code
        assert found[0] == sorted(projects.loc[projects[column[0]] == column[1], "project_id"])
    assert found[0]


def test_cql2_compares_coded_properties_with_names(demo_path, demo_result):
    store = GeoPackageStore(demo_path)
    by_name = find(store, {"filter": "category = '河道' AND status IN ('已完成', '长效管理')"})
    by_code = find(store, {"filter": "category = 'rivers' AND status IN ('completed', 'long_term_management')"})
    projects = demo_result.projects
    expected = projects[(projects["category"] == "rivers")
                        & projects["status"].isin(["completed", "long_term_management"])]
    assert _ids(by_name) == _ids(by_code) == sorted(expected["project_id"])


def test_an_unknown_name_is_refused_listing_the_names(demo_path):
    with pytest.raises(ValidationError) as caught:
        find(GeoPackageStore(demo_path), {"category": "河流域"})
    assert caught.value.param == "category"
    assert "rivers (城市河道)" in caught.value.message and "alleys (背街小巷)" in caught.value.message


def test_http_parameters_take_names(client):
    by_name = client.get("/projects", query_string={"status": "已完成", "category": "农贸市场",
                                                    "limit": 1000}).get_json()
    by_code = client.get("/projects", query_string={"status": "completed", "category": "markets",
                                                    "limit": 1000}).get_json()
    assert by_name["total"] == by_code["total"] > 0
    assert all(p["status"] == "completed" for p in by_name["projects"])


def test_items_equality_on_a_coded_property_takes_a_name(client):
    by_name = client.get("/collections/rivers/items", query_string={"status": "长效管理", "limit": 1000}).get_json()
    by_code = client.get("/collections/rivers/items",
                         query_string={"status": "long_term_management", "limit": 1000}).get_json()
    assert [f["id"] for f in by_name["features"]] == [f["id"] for f in by_code["features"]]
    assert by_name["features"] and {f["properties"]["status"] for f in by_name["features"]} == {"long_term_management"}


def test_the_cli_takes_names(demo_path):
    out = run_cli("query", "--store", str(demo_path), "--category", "河道", "--status", "长效管理", "--format", "json")
    assert out.returncode == 0, out.stderr
    projects = json.loads(out.stdout)["projects"]
    assert projects and {(p["category"], p["status"]) for p in projects} == {("rivers", "long_term_management")}


def test_a_write_stores_names_as_codes(empty_store):
    row = project("2014-RIV-001", "城市河道", status="已完成", street_codes="娄葑、斜塘", lead_department="城管局",
                  name="娄葑社区河道整治")
    features = gpd.GeoDataFrame({"project_id": ["2014-RIV-001"], "name": ["第一段"]}, geometry=[LINE], crs=4490)
    empty_store.write(Batch(projects=pd.DataFrame([row]), features={"rivers": features}), mode="insert")
    stored = empty_store.projects().iloc[0]
    assert (stored["category"], stored["status"], stored["street_codes"], stored["lead_department"]) == (
        "rivers", "completed", "LF,XT", "城市管理局")
    assert stored["name"] == "婁葑社區河道整治"  # 社区 is 社區 (a community), not Taiwan's 社群


def test_simplified_input_keeps_the_sources_characters_and_wording():
    assert to_traditional("群众为设置文件") == "群眾為設置文件"  # s2t gives 羣衆爲; s2twp gives 設定檔案


def test_input_normalisation_leaves_every_stored_demo_text_unchanged():
    projects = pd.read_csv(ROOT / "geodata" / "projects.csv", dtype=str)
    texts = {t for c in ("name", "lead_department", "delay_reason", "tasks", "notes") for t in projects[c].dropna()}
    assert texts and [t for t in texts if to_traditional(t) != t] == []


def test_simplified_output_uses_mainland_wording():
    assert to_script("城市環境綜合整治專案登記簿", "zh-Hans") == "城市环境综合整治项目登记簿"
    assert to_script("城市環境綜合整治專案登記簿", "zh-Hant") == "城市環境綜合整治專案登記簿"


@pytest.mark.parametrize("text", ["唐莊河", "唐庄河"])
def test_a_name_searched_in_either_script_finds_the_stored_text(demo_path, demo_result, text):
    projects = demo_result.projects
    expected = sorted(projects.loc[projects["name"].str.contains("唐莊河"), "project_id"])
    assert expected and _ids(find(GeoPackageStore(demo_path), {"q": text})) == expected
