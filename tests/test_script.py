"""The display script: a registry default (zh-Hant for the demo, zh-Hans for a new registry), chosen per
request by lang=, the account's setting, the pages' switch, then Accept-Language; responses that depend on it
vary by it."""

from __future__ import annotations

import html
import re

import pytest
from flask.testing import FlaskClient

from api import create_app
from api.i18n import COOKIE
from registry import accounts, script
from registry.errors import RegistryError, ValidationError
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


def test_a_bad_tile_origin_is_refused_at_start_up_in_the_commands_script_else_the_registrys(demo_path):
    config = {"REGISTRY_STORE": str(demo_path), "REGISTRY_TILE_ORIGIN": "https://t.example.org/tiles"}
    with script.use("zh-Hans"), pytest.raises(RegistryError) as hans:  # as `registry --lang zh-Hans serve` runs it
        create_app(config)
    with pytest.raises(RegistryError) as hant:  # gunicorn: the demo registry's own script, Traditional
        create_app(config)
    assert hans.value.param == hant.value.param == "REGISTRY_TILE_ORIGIN"
    assert hans.value.message.startswith("REGISTRY_TILE_ORIGIN 须为 https://tiles.example.org 这样的源")
    assert hant.value.message.startswith("REGISTRY_TILE_ORIGIN 須為 https://tiles.example.org 這樣的來源")
    assert "'https://t.example.org/tiles'" in hant.value.message


_PAGE = "/projects?f=html&limit=2&street=LF"


def _switch(client, chosen: str, page: str = _PAGE, **extra):
    """Press the navigation's button for ``chosen`` on ``page``, as a browser does (the form's CSRF token)."""
    form = re.search(r'<form method="post" action="/script".*?</form>', client.get(page).get_data(as_text=True), re.S)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.group(0)).group(1)
    back = html.unescape(re.search(r'name="next" value="([^"]+)"', form.group(0)).group(1))
    return client.post("/script", data={"script": chosen, "next": back, "csrf_token": token, **extra})


def test_the_switch_shows_the_page_again_in_the_chosen_script_with_its_query(app):
    client = app.test_client()
    assert '<html lang="zh-Hant">' in client.get(_PAGE).get_data(as_text=True)  # the demo's default
    switched = _switch(client, "zh-Hans", _PAGE + "&lang=zh-Hant")
    assert switched.status_code == 303
    assert switched.headers["Location"] == _PAGE  # the query kept, the lang= that would outrank the switch dropped
    assert "Max-Age" not in switched.headers["Set-Cookie"] and "Expires" not in switched.headers["Set-Cookie"]
    page = client.get(switched.headers["Location"])
    assert '<html lang="zh-Hans">' in page.get_data(as_text=True) and "LF 娄葑" in _detail(client)


def test_the_switch_ranks_above_accept_language_and_below_lang(app):
    client = app.test_client()
    _switch(client, "zh-Hans")
    assert "LF 娄葑" in _detail(client, headers={"Accept-Language": "zh-TW"})
    assert "LF 婁葑" in _detail(client, query_string={"lang": "zh-Hant"})


def test_responses_vary_by_the_switch_and_their_etags_differ_by_it(app):
    client = app.test_client()
    hant = client.get("/projects", query_string={"limit": 1})
    _switch(client, "zh-Hans")
    hans = client.get("/projects", query_string={"limit": 1})
    assert "Cookie" in hans.headers["Vary"] and "Accept-Language" in hans.headers["Vary"]
    assert hans.headers["ETag"] != hant.headers["ETag"]


def test_an_accounts_own_script_ranks_above_the_switchs_cookie(demo_copy):
    client, auth = _account_client(demo_copy, "zh-Hant")
    client.set_cookie(COOKIE, "zh-Hans")
    assert "LF 婁葑" in _detail(client, headers=auth)
    assert "LF 娄葑" in _detail(client)  # anonymous, the same browser: its switch


def test_a_cookie_naming_no_script_is_passed_over(app):
    client = app.test_client()
    client.set_cookie(COOKIE, "klingon")
    assert "LF 娄葑" in _detail(client, headers={"Accept-Language": "zh-CN"})


def _signed_in(path) -> tuple[FlaskClient, accounts.Credentials]:
    """A browser signed in, by the sign-in page, as a new viewer of the registry at ``path`` with no script."""
    credentials = accounts.add(GeoPackageStore(path), "planner", "viewer")
    password = credentials.password
    client = create_app({"REGISTRY_STORE": str(path), "SECRET_KEY": "k" * 40}).test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
    assert client.post("/login", data={"name": "planner", "password": password, "csrf_token": token}).status_code == 302
    return client, credentials


def _account_script(path) -> str | None:
    return next(u.script for u in accounts.list_users(GeoPackageStore(path)) if u.name == "planner")


def test_the_switch_saves_a_signed_in_accounts_script(demo_copy):
    browser, credentials = _signed_in(demo_copy)
    assert _switch(browser, "zh-Hans").status_code == 303
    assert _account_script(demo_copy) == "zh-Hans"
    program = create_app({"REGISTRY_STORE": str(demo_copy)}).test_client()  # no cookie: the account's own setting
    assert "LF 娄葑" in _detail(program, headers={"Authorization": f"Bearer {credentials.token}"})


def test_the_switch_without_the_csrf_token_is_refused(demo_copy):
    client, _ = _signed_in(demo_copy)
    refused = client.post("/script", data={"script": "zh-Hans", "next": _PAGE})
    assert refused.status_code == 400 and refused.get_json()["parameter"] == "csrf_token"
    assert COOKIE not in refused.headers.get("Set-Cookie", "") and _account_script(demo_copy) is None
    assert '<html lang="zh-Hant">' in client.get(_PAGE).get_data(as_text=True)
