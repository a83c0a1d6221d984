"""The office edits in the browser: the edit form's rules in-process (statuses offered, refusals next to their
field in Chinese, CSRF, stale forms, who may open it) and the whole round in a real headless Chromium."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import opencc
import pytest
from flask.testing import FlaskClient
from playwright.sync_api import expect, sync_playwright

from api import create_app
from registry import accounts, editing, model
from registry.store import GeoPackageStore
from registry.store.edits import Author

from .conftest import serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DEPARTMENT = "城市管理局"
OTHER = "規劃建設局"


@pytest.fixture(scope="module")
def registry(tmp_path_factory, demo_path) -> tuple[Path, dict[str, accounts.Credentials]]:
    """A copy of the demo with an admin, a viewer and an editor of each of two departments (argon2 is slow: once)."""
    path = tmp_path_factory.mktemp("browser_edit") / "registry.gpkg"
    shutil.copyfile(demo_path, path)
    store = GeoPackageStore(path)
    made = {"admin": accounts.add(store, "admin1", "admin"), "viewer": accounts.add(store, "viewer1", "viewer"),
            "editor": accounts.add(store, "editor1", "editor", DEPARTMENT),
            "other": accounts.add(store, "editor2", "editor", OTHER)}
    return path, made


@pytest.fixture(scope="module")
def web(registry):
    """The app over the module's registry: tests that write each change a project of their own."""
    return create_app({"REGISTRY_STORE": str(registry[0]), "SECRET_KEY": "test-browser-edit"})


@pytest.fixture(scope="module")
def store(web) -> GeoPackageStore:
    """The app's own store (it reloads when the file changes)."""
    return web.extensions["registry_store"]


@pytest.fixture(scope="module")
def creds(registry) -> dict[str, accounts.Credentials]:
    return registry[1]


@pytest.fixture(scope="module")
def planned(store) -> list[str]:
    """The planned projects of the editor's department as the demo has them; a test that writes takes its own."""
    rows = store.projects()
    return sorted(rows[(rows["status"] == "planned") & (rows["lead_department"] == DEPARTMENT)]["project_id"])


@pytest.fixture(scope="module")
def clients(web, creds) -> dict[str, FlaskClient]:
    """A browser (test client) signed in for each account, and an anonymous one (``None``)."""
    return {None: web.test_client(), **{role: _signed_in(web, cred) for role, cred in creds.items()}}


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def _signed_in(web, cred: accounts.Credentials) -> FlaskClient:
    client = web.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"name": cred.name, "password": cred.password,
                                       "csrf_token": token}).status_code == 302
    return client


def _form(client: FlaskClient, pid: str, lang: str = "zh-Hant") -> dict[str, str]:
    """The edit form's fields as a browser showing it in ``lang`` would submit them unchanged."""
    page = client.get(f"/projects/{pid}/edit?lang={lang}").get_data(as_text=True)
    fields = dict(re.findall(r'<input[^>]*?id="(\w+)"[^>]*?value="([^"]*)"', page))
    fields.update(re.findall(r'<textarea[^>]*?id="(\w+)"[^>]*>\s*([^<]*)</textarea>', page))
    fields["status"] = re.search(r'<option selected value="(\w+)"', page).group(1)
    return fields


def _error(page: str, field: str) -> str:
    found = re.search(rf'id="{field}-error" role="alert">([^<]*)<', page)
    return found.group(1) if found else ""


def _row(store: GeoPackageStore, pid: str) -> dict:
    return store.projects([pid]).iloc[0].to_dict()


def _state(store: GeoPackageStore, pid: str) -> tuple[int, int]:
    """A project's version and the number of its change-log entries: both stay if nothing was written."""
    return int(_row(store, pid)["version"]), len(store.log(project_id=pid))


def test_the_form_offers_the_current_status_and_the_allowed_next_ones(store, planned, clients):
    pid = planned[0]
    for role, extra in (("editor", []), ("admin", ["cancelled"])):
        page = clients[role].get(f"/projects/{pid}/edit").get_data(as_text=True)
        select = re.search(r'<select[^>]*name="status".*?</select>', page, re.S).group(0)
        assert re.findall(r'value="(\w+)"', select) == ["planned", *model.TRANSITIONS["planned"], *extra]


def test_a_forbidden_transition_is_shown_next_to_the_status_in_chinese_and_changes_nothing(store, planned, clients):
    pid = planned[0]
    before = _state(store, pid)
    client = clients["editor"]
    response = client.post(f"/projects/{pid}/edit?lang=zh-Hant", data={**_form(client, pid), "status": "completed"})
    assert response.status_code == 422
    message = _error(response.get_data(as_text=True), "status")
    assert "計劃" in message and "已完成" in message and "在建" in message and "延期" in message
    assert _state(store, pid) == before


def test_entering_in_progress_without_an_actual_start_is_shown_next_to_that_field(store, planned, clients):
    pid = planned[0]
    before = _state(store, pid)
    client = clients["editor"]
    response = client.post(f"/projects/{pid}/edit?lang=zh-Hans",
                           data={**_form(client, pid, "zh-Hans"), "status": "in_progress"})
    assert response.status_code == 422
    assert _error(response.get_data(as_text=True), "actual_start") == "改为“在建”须填写此项"
    assert _state(store, pid) == before


def test_a_progress_over_100_is_shown_next_to_its_field_and_changes_nothing(store, planned, clients):
    pid = planned[0]
    before = _state(store, pid)
    client = clients["editor"]
    response = client.post(f"/projects/{pid}/edit?lang=zh-Hant", data={**_form(client, pid), "progress_pct": "150"})
    assert response.status_code == 422
    assert "100" in _error(response.get_data(as_text=True), "progress_pct")
    assert _state(store, pid) == before


def test_an_error_page_is_in_one_script(store, planned, clients):
    pid = planned[0]
    client = clients["editor"]
    for chosen, config in (("zh-Hans", "tw2s"), ("zh-Hant", "s2tw")):
        data = {**_form(client, pid, chosen), "status": "in_progress", "investment_yuan": "-1"}
        text = client.post(f"/projects/{pid}/edit?lang={chosen}", data=data).get_data(as_text=True)
        assert _error(text, "investment_yuan") and opencc.OpenCC(config).convert(text) == text


def test_a_valid_edit_is_one_change_by_the_signed_in_editor_then_the_project_page(store, planned, clients):
    pid = planned[1]
    row, entries = _row(store, pid), _state(store, pid)[1]
    client = clients["editor"]
    data = {**_form(client, pid), "status": "in_progress", "actual_start": "2014-02-03", "progress_pct": "12.5",
            "notes": "已進場"}
    response = client.post(f"/projects/{pid}/edit", data=data)
    assert response.status_code == 302 and response.headers["Location"].startswith(f"/projects/{pid}?")
    after, entries_after = _row(store, pid), _state(store, pid)[1]
    assert (after["status"], after["actual_start"], after["progress_pct"], after["notes"]) == \
        ("in_progress", "2014-02-03", 12.5, "已進場")
    assert after["version"] == row["version"] + 1 and after["investment_yuan"] == row["investment_yuan"]
    assert entries_after == entries + 1
    last = store.log(project_id=pid).iloc[-1]
    assert (last["who"], bool(last["conditional"])) == ("editor1", True)
    page = client.get(response.headers["Location"] + "&lang=zh-Hant").get_data(as_text=True)
    assert f'<p class="flash" role="status">專案 {pid} 已儲存</p>' in page


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant"])
def test_a_form_sent_back_unchanged_writes_nothing(store, planned, clients, lang):
    pid = planned[0]
    before = _state(store, pid)
    response = clients["editor"].post(f"/projects/{pid}/edit?lang={lang}", data=_form(clients["editor"], pid, lang))
    assert response.status_code == 302 and _state(store, pid) == before


def test_a_stale_form_is_refused_and_keeps_the_other_change(store, planned, clients):
    pid = planned[2]
    client = clients["editor"]
    stale = _form(client, pid)
    editing.patch_project(store, pid, {"notes": "他人先改"}, Author("someone", "admin"))
    before = _state(store, pid)
    response = client.post(f"/projects/{pid}/edit?lang=zh-Hant", data={**stale, "notes": "我的修改"})
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "已有他人修改" in text and "他人先改" in text  # the form now shows the stored project
    assert _state(store, pid) == before and _row(store, pid)["notes"] == "他人先改"


def test_a_post_without_the_csrf_token_is_refused(store, planned, clients):
    pid = planned[0]
    before = _state(store, pid)
    client = clients["editor"]
    data = {k: v for k, v in _form(client, pid).items() if k != "csrf_token"}
    response = client.post(f"/projects/{pid}/edit", data={**data, "notes": "無權杖"})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert _state(store, pid) == before


@pytest.mark.parametrize("path", ["/projects/{pid}/edit", "/my/projects"])
def test_an_anonymous_browser_is_sent_to_sign_in(planned, clients, path):
    target = path.format(pid=planned[0])
    response = clients[None].get(target)
    assert response.status_code == 302 and response.headers["Location"] == f"/login?next={target}"


@pytest.mark.parametrize(("role", "path"), [("viewer", "/projects/{pid}/edit"), ("other", "/projects/{pid}/edit"),
                                            ("viewer", "/my/projects")])
def test_a_viewer_or_another_departments_editor_gets_a_403_page(store, planned, clients, role, path):
    response = clients[role].get(path.format(pid=planned[0]))
    assert response.status_code == 403 and response.mimetype == "text/html"


def test_another_departments_editor_cannot_post_either(store, planned, clients):
    pid = planned[0]
    before = _state(store, pid)
    mine = _form(clients["editor"], pid)
    client = clients["other"]
    token = _csrf(client.get("/my/projects").get_data(as_text=True))
    response = client.post(f"/projects/{pid}/edit", data={**mine, "csrf_token": token, "notes": "越權"})
    assert response.status_code == 403 and _state(store, pid) == before


@pytest.mark.parametrize(("role", "department"), [("editor", DEPARTMENT), ("other", OTHER), ("admin", None)])
def test_my_projects_lists_the_departments_projects_with_edit_links(store, planned, clients, role, department):
    rows = store.projects()
    wanted = rows if department is None else rows[rows["lead_department"] == department]
    page = clients[role].get("/my/projects").get_data(as_text=True)
    assert re.findall(r'href="/projects/([\w-]+)/edit"', page) == sorted(wanted["project_id"])


def test_the_edit_link_and_my_projects_are_shown_only_to_those_who_may_edit(store, planned, clients):
    pid = planned[0]
    link = f'href="/projects/{pid}/edit"'
    for who, shown, nav in ((None, False, False), ("viewer", False, False), ("other", False, True),
                            ("editor", True, True), ("admin", True, True)):
        client = clients[who]
        page = client.get(f"/projects/{pid}?f=html").get_data(as_text=True)
        assert (link in page, 'href="/my/projects"' in page) == (shown, nav), who


def test_the_browser_edits_a_project_in_chromium(registry, planned):
    """Sign in, refuse a forbidden transition next to the status, then move planned → in_progress and see it on
    the project page and in its history."""
    cred, pid = registry[1]["editor"], planned[3]
    with serve(str(registry[0])) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                     "--no-first-run", "--disable-sync"])
        tab = browser.new_page(locale="zh-TW", extra_http_headers={"Accept-Language": "zh-TW"})
        tab.goto(f"{url}login?next=/projects/{pid}/edit")
        tab.fill("#name", cred.name)
        tab.fill("#password", cred.password)
        tab.click("#sign-in button[type=submit]")
        expect(tab.locator("#status")).to_be_visible()
        assert tab.locator("#status option").evaluate_all("os => os.map(o => o.value)") == \
            ["planned", *model.TRANSITIONS["planned"]]
        # A forbidden move (an option a stale or forged form could hold) is refused next to the status.
        tab.locator("#status").evaluate("s => s.add(new Option('已完成', 'completed'))")
        tab.select_option("#status", "completed")
        tab.click("#edit-form button[type=submit]")
        expect(tab.locator("#status-error")).to_contain_text("不能從「計劃」改為「已完成」")
        tab.select_option("#status", "in_progress")
        tab.fill("#actual_start", "2014-02-03")
        tab.click("#edit-form button[type=submit]")
        tab.wait_for_url(re.compile(rf"/projects/{pid}\?"))
        expect(tab.locator(".flash")).to_contain_text(f"專案 {pid} 已儲存")
        expect(tab.locator("table").first).to_contain_text("在建")
        expect(tab.locator("table").first).to_contain_text("2014-02-03")
        tab.click(f"a[href='/projects/{pid}/history?f=html']")
        last = tab.locator("table tr").last
        expect(last).to_contain_text("editor1")
        expect(last).to_contain_text("planned → in_progress")
        browser.close()
