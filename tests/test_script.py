"""The display script: a registry default (zh-Hant for the demo, zh-Hans for a new registry), chosen per
request by lang=, then Accept-Language; responses that depend on it vary by it."""

from __future__ import annotations

import pytest

from registry import script
from registry.errors import ValidationError
from registry.store import GeoPackageStore

from .conftest import run_cli

_UNKNOWN_STREET = "streets/ZZ/projects"


def _detail(client, **kwargs) -> str:
    return client.get(_UNKNOWN_STREET, **kwargs).get_json()["detail"]


def test_the_demo_shows_traditional_by_default(client):
    assert "LF 婁葑" in _detail(client)


def test_lang_chooses_the_script(client):
    assert "LF 娄葑" in _detail(client, query_string={"lang": "zh-Hans"})


def test_accept_language_chooses_the_script(client):
    assert "SP 胜浦" in _detail(client, headers={"Accept-Language": "en;q=0.9, zh-CN;q=0.8"})


def test_lang_wins_over_accept_language(client):
    assert "SP 勝浦" in _detail(client, query_string={"lang": "zh-Hant"}, headers={"Accept-Language": "zh-CN"})


def test_an_unknown_lang_is_a_400_naming_both_scripts(client):
    body = client.get("/projects", query_string={"lang": "fr"}).get_json()
    assert (body["status"], body["parameter"]) == (400, "lang")
    assert "zh-Hans" in body["detail"] and "zh-Hant" in body["detail"]


def test_responses_vary_by_accept_language_and_etags_differ_by_script(client):
    hans = client.get("/projects", query_string={"limit": 1}, headers={"Accept-Language": "zh-CN"})
    hant = client.get("/projects", query_string={"limit": 1}, headers={"Accept-Language": "zh-TW"})
    assert "Accept-Language" in hans.headers["Vary"]
    assert hans.headers["ETag"] != hant.headers["ETag"]


@pytest.mark.parametrize(("header", "expected"), [
    ("zh-TW,zh;q=0.9", "zh-Hant"), ("zh-Hans-CN", "zh-Hans"), ("en-GB, zh-HK;q=0.5", "zh-Hant"),
    ("zh-TW;q=0, zh-CN;q=0.1", "zh-Hans"), ("en, zh", None), (None, None),
])
def test_accept_language_is_read_by_quality(header, expected):
    assert script.from_accept_language(header) == expected


def test_a_new_registry_shows_simplified_and_the_environment_overrides_it(empty_store, monkeypatch):
    assert script.registry_default(empty_store.meta()) == "zh-Hans"
    monkeypatch.setenv(script.ENV, "zh-Hant")
    assert script.registry_default(empty_store.meta()) == "zh-Hant"
    monkeypatch.setenv(script.ENV, "Klingon")
    with pytest.raises(ValidationError):
        script.registry_default(empty_store.meta())


def test_config_script_sets_the_registry_default(demo_copy):
    done = run_cli("config", "script", "zh-Hans", "--store", str(demo_copy))
    assert done.returncode == 0, done.stderr
    assert GeoPackageStore(demo_copy).meta()["script"] == "zh-Hans"


def test_cli_lang_chooses_the_script_of_messages(demo_path):
    done = run_cli("--lang", "zh-Hans", "query", "--store", str(demo_path), "--category", "河流域")
    assert done.returncode == 2 and "polders (低洼易淹易涝片区)" in done.stderr
    done = run_cli("query", "--store", str(demo_path), "--category", "河流域")
    assert done.returncode == 2 and "polders (低窪易淹易澇片區)" in done.stderr
