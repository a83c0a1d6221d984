"""Accounts and roles: the CLI hands out secrets once and keeps hashes; the API knows callers by token
(Bearer, or Basic with the token as password) or by a signed-in session; anonymous reading can be switched off."""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from api import create_app
from registry import accounts
from registry.cli import main
from registry.store import GeoPackageStore, create_store

from .conftest import basic, role_accounts, serve

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
CHALLENGE = 'Basic realm="registry", Bearer'


def _client(store: GeoPackageStore, **config) -> FlaskClient:
    return create_app({"REGISTRY_STORE": store.location, "SECRET_KEY": "k" * 40, **config}).test_client()


def _printed(stdout: str) -> dict[str, str]:
    """The password and token a CLI command printed."""
    labels = {"密码": "password", "密碼": "password", "令牌": "token", "權杖": "token"}  # in the registry's script
    return {labels[k]: v for k, v in re.findall(r"^(密码|密碼|令牌|權杖)：(\S+)$", stdout, re.M)}


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def _sign_in(client: FlaskClient, name: str, password: str):
    token = _csrf(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token})


@pytest.fixture(scope="module")
def registry_with_accounts(tmp_path_factory) -> tuple[Path, dict[str, accounts.Credentials]]:
    """An empty registry with one account per role, built once (argon2 and a new GeoPackage take a while)."""
    path = tmp_path_factory.mktemp("accounts") / "registry.gpkg"
    return path, role_accounts(GeoPackageStore.create(path))


@pytest.fixture
def store(registry_with_accounts, tmp_path) -> GeoPackageStore:
    """A private copy of the registry with accounts."""
    path = tmp_path / "registry.gpkg"
    shutil.copyfile(registry_with_accounts[0], path)
    return GeoPackageStore(path)


@pytest.fixture
def creds(registry_with_accounts) -> dict[str, accounts.Credentials]:
    return registry_with_accounts[1]


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``registry`` command's entry point in this process: exit code, stdout, stderr."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


# -- the command line -------------------------------------------------------------------------------
def test_cli_add_prints_credentials_that_work_and_stores_only_their_hashes(store, capsys):
    code, out, err = _cli(capsys, "user", "add", "amy", "--role", "editor", "--department", "城管局",
                          "--store", store.location)
    assert code == 0, err
    printed = _printed(out)
    row = store.users().set_index("name").loc["amy"]
    assert (row["role"], row["department"]) == ("editor", "城市管理局")
    assert row["token_hash"] == hashlib.sha256(printed["token"].encode()).hexdigest()
    assert accounts.authenticate_password(store, "amy", printed["password"]).name == "amy"
    content = Path(store.location).read_bytes()
    assert printed["token"].encode() not in content and printed["password"].encode() not in content


def test_cli_list_shows_accounts_without_secrets(store, creds, capsys):
    code, out, err = _cli(capsys, "user", "list", "--store", store.location)
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines[1:]] == [["admin1", "admin"], ["editor1", "editor"],
                                                         ["viewer1", "viewer"]]
    assert not any(c.token in out or c.password in out for c in creds.values())


def test_cli_refuses_an_editor_without_department_in_one_line(store, capsys):
    code, _, err = _cli(capsys, "user", "add", "ed", "--role", "editor", "--store", store.location)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--department" in err
    assert "ed" not in set(store.users()["name"])


def test_cli_disable_refuses_the_account_and_reset_replaces_its_token(store, creds, capsys):
    client = _client(store)
    old = creds["viewer"].token
    assert _cli(capsys, "user", "disable", "viewer1", "--store", store.location)[0] == 0
    assert client.get("/collections", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert accounts.authenticate_password(store, "viewer1", creds["viewer"].password) is None
    code, out, err = _cli(capsys, "user", "reset", "viewer1", "--store", store.location)
    assert code == 0, err
    new = _printed(out)["token"]
    assert client.get("/collections", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    assert client.get("/collections", headers={"Authorization": f"Bearer {old}"}).status_code == 401


# -- the library ------------------------------------------------------------------------------------
def test_author_of_an_account_carries_its_role_and_department(store, creds):
    user = accounts.authenticate_token(store, creds["editor"].token)
    author = accounts.author_of(user)
    assert (author.name, author.role, author.department) == ("editor1", "editor", "城市管理局")


@pytest.mark.parametrize("kind", ["gpkg", "postgis"])
def test_store_saves_and_replaces_a_user_row_moving_the_revision(kind, request):
    location = request.getfixturevalue("postgis_url") if kind == "postgis" else None
    target = create_store(location) if location else request.getfixturevalue("store")
    row = {"name": "u", "role": "viewer", "department": None, "password_hash": "p", "token_hash": "t",
           "disabled": False, "created_at": "2026-01-01T00:00:00Z", "script": None}
    target.save_user(row)
    before = target.revision()
    target.save_user({**row, "role": "admin", "token_hash": "t2", "disabled": True})
    users = target.users()
    assert users[users["name"] == "u"].to_dict("records") == [{**row, "role": "admin", "token_hash": "t2",
                                                               "disabled": True}]
    assert target.revision() != before


# -- HTTP -------------------------------------------------------------------------------------------
def test_bearer_and_basic_with_the_token_are_accepted(store, creds):
    client = _client(store, REGISTRY_ANONYMOUS_READ=False)
    token = creds["editor"].token
    assert client.get("/collections", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/collections", headers=basic("editor1", token)).status_code == 200


@pytest.mark.parametrize("header", ["Bearer wrong", "Negotiate abc"])
def test_wrong_credentials_are_answered_401_with_a_challenge(store, creds, header):
    response = _client(store).get("/collections", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert response.mimetype == "application/problem+json"


def test_basic_with_another_accounts_name_or_the_password_is_refused(store, creds):
    client = _client(store)
    assert client.get("/collections", headers=basic("viewer1", creds["editor"].token)).status_code == 401
    assert client.get("/collections", headers=basic("editor1", creds["editor"].password)).status_code == 401


def test_anonymous_reading_is_on_by_default(store):
    assert _client(store).get("/collections").status_code == 200


def test_anonymous_reading_off_answers_api_clients_401_and_sends_browsers_to_sign_in(store, monkeypatch):
    monkeypatch.setenv("REGISTRY_ANONYMOUS_READ", "0")
    client = _client(store)
    api = client.get("/collections")
    assert api.status_code == 401 and api.headers["WWW-Authenticate"] == CHALLENGE
    page = client.get("/collections?f=html", headers=BROWSER)
    assert page.status_code == 302 and "WWW-Authenticate" not in page.headers
    assert page.headers["Location"].startswith("/login?next=")
    assert client.get(page.headers["Location"]).status_code == 200


def test_sign_in_without_the_csrf_token_is_refused(store, creds):
    client = _client(store, REGISTRY_ANONYMOUS_READ=False)
    response = client.post("/login", data={"name": "viewer1", "password": creds["viewer"].password})
    assert response.status_code == 400
    assert client.get("/collections?f=html", headers=BROWSER).status_code == 302  # still not signed in


def test_signed_in_pages_name_the_account_and_sign_out_needs_the_form(store, creds):
    client = _client(store, REGISTRY_ANONYMOUS_READ=False)
    response = _sign_in(client, "editor1", creds["editor"].password)
    assert response.status_code == 302
    page = client.get("/collections?f=html", headers=BROWSER)
    assert page.status_code == 200 and "editor1" in page.get_data(as_text=True)
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": _csrf(page.get_data(as_text=True))}).status_code == 302
    assert client.get("/collections?f=html", headers=BROWSER).status_code == 302


def test_a_reset_ends_sessions_signed_in_before(store, creds):
    client = _client(store, REGISTRY_ANONYMOUS_READ=False)
    _sign_in(client, "viewer1", creds["viewer"].password)
    assert client.get("/collections?f=html", headers=BROWSER).status_code == 200
    accounts.reset(store, "viewer1")
    assert client.get("/collections?f=html", headers=BROWSER).status_code == 302


def test_failed_sign_in_is_logged_without_the_password(store, creds, caplog):
    client = _client(store)
    response = _sign_in(client, "viewer1", "not-the-password-42")
    assert response.status_code == 200 and "不正确" in response.get_data(as_text=True)
    assert "failed sign-in" in caplog.text and "viewer1" in caplog.text
    assert "not-the-password-42" not in caplog.text


def test_passwords_are_argon2_hashes_in_the_file(store, creds):
    con = sqlite3.connect(store.location)
    hashes = [h for (h,) in con.execute("SELECT password_hash FROM users")]
    con.close()
    assert len(hashes) == 3 and all(h.startswith("$argon2id$") for h in hashes)


def test_gunicorn_workers_accept_each_others_sessions(store, creds, monkeypatch):
    """No REGISTRY_SECRET_KEY: the workers share the key kept in the instance folder, so a session cookie (and
    the sign-in form's CSRF token) made by one worker is good in the other; each request is a new connection."""
    monkeypatch.delenv("REGISTRY_SECRET_KEY", raising=False)
    monkeypatch.setenv("REGISTRY_ANONYMOUS_READ", "0")
    close = {"Connection": "close"}
    with serve(store.location) as url, requests.Session() as browser:
        token = _csrf(browser.get(url + "login", headers=close).text)
        signed = browser.post(url + "login", data={"name": "viewer1", "password": creds["viewer"].password,
                                                   "csrf_token": token}, headers=close, allow_redirects=False)
        assert signed.status_code == 302
        pages = [browser.get(url + "collections?f=html", headers={**BROWSER, **close}, allow_redirects=False)
                 for _ in range(8)]
    assert [p.status_code for p in pages] == [200] * 8
    assert all("viewer1" in p.text for p in pages)
