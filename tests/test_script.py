"""The display script: a registry default (zh-Hant for the demo, zh-Hans for a new registry), chosen per
request by lang=, then Accept-Language; responses that depend on it vary by it."""

from __future__ import annotations

import pytest

from api import create_app
from registry import accounts, script
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


def _account_client(path, chosen: str | None):
    """An app on the registry at ``path`` and a Bearer header of a new viewer whose script is ``chosen``."""
    token = accounts.add(GeoPackageStore(path), "reader", "viewer", chosen_script=chosen).token
    app = create_app({"REGISTRY_STORE": str(path), "SECRET_KEY": "k" * 40})
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def test_a_signed_in_accounts_script_ranks_between_lang_and_accept_language(demo_copy):
    client, auth = _account_client(demo_copy, "zh-Hans")  # the demo's own default is zh-Hant
    assert "LF 娄葑" in _detail(client, headers={**auth, "Accept-Language": "zh-TW"})
    assert "LF 婁葑" in _detail(client, headers=auth, query_string={"lang": "zh-Hant"})
    assert "LF 婁葑" in _detail(client)  # anonymous: the registry's default


def test_an_account_without_a_script_follows_accept_language(demo_copy):
    client, auth = _account_client(demo_copy, None)
    assert "LF 娄葑" in _detail(client, headers={**auth, "Accept-Language": "zh-CN"})


def test_user_set_script_changes_what_the_account_sees(demo_copy):
    client, auth = _account_client(demo_copy, None)
    done = run_cli("user", "set", "reader", "--script", "zh-Hans", "--store", str(demo_copy))
    assert done.returncode == 0 and "zh-Hans" in done.stdout, done.stderr
    assert "LF 娄葑" in _detail(client, headers=auth)


def test_refusals_before_the_request_runs_speak_its_script(client):
    bad_lang = client.get("/projects", query_string={"lang": "fr"}, headers={"Accept-Language": "zh-CN"})
    assert bad_lang.get_json()["detail"].startswith("lang 须为 zh-Hans 或 zh-Hant")
    bad_date = client.get("/projects", query_string={"as_of": "soon", "lang": "zh-Hans"}).get_json()
    assert (bad_date["parameter"], bad_date["detail"]) == ("as_of", "as_of 须为 YYYY-MM-DD 格式的日期，收到的是 'soon'")
    wrong = client.get("/projects", headers={"Authorization": "Bearer nonsense", "Accept-Language": "zh-TW"})
    assert wrong.status_code == 401 and "帳號已停用" in wrong.get_json()["detail"]


def test_cli_refuses_a_bad_as_of_in_the_registrys_script(demo_path):
    done = run_cli("query", "--store", str(demo_path), "--as-of", "soon")  # the demo shows Traditional
    assert done.returncode == 2 and "as_of 須為 YYYY-MM-DD 格式的日期，收到的是 'soon'" in done.stderr
