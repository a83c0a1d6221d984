"""Interface text from message catalogs: every entry translated in both scripts, and people-facing output
in one script only (the Simplified unchanged by OpenCC tw2s, the Traditional unchanged by s2tw)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import opencc
import openpyxl
import pytest
from babel.messages.extract import extract, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from registry import i18n, model, script
from registry.cli import cli, main
from registry.cli_options import _CLICK_MODULES
from registry.exchange.export import export
from registry.exchange.importer import import_file
from registry.store import GeoPackageStore

from .conftest import ROOT, run_cli

_ONE_SCRIPT = {"zh-Hans": "tw2s", "zh-Hant": "s2tw"}  # a text in one script is unchanged by the other's conversion
_PAGES = ["/?f=html", "/collections?f=html", "/collections/rivers?f=html", "/collections/rivers/items?f=html&limit=20",
          "/collections/rivers/items/1?f=html", "/projects?f=html&limit=40", "/projects/2013-POL-004?f=html",
          "/streets?f=html", "/streets/LF/projects?f=html", "/stats?f=html&by=street", "/map", "/conformance?f=html",
          "/login", "/downloads", "/qa?f=html", "/collections/rivers/queryables?f=html", "/api?f=html"]


@pytest.mark.parametrize("chosen", model.SCRIPTS)
def test_every_catalog_entry_is_translated_and_passes_babels_checks(chosen):
    catalog = i18n.read_catalog(chosen)
    entries = [m for m in catalog if m.id]
    assert entries
    assert [m.id for m in entries if not m.string or m.fuzzy] == []
    assert [(m.id, errors) for m, errors in catalog.check()] == []


def test_every_marked_message_and_project_field_is_in_the_catalogs():
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    marked = {message for _, _, message, _, _ in extract_from_dir(
        ROOT, method_map, options_map, keywords={"_": None, "gettext": None, "template": None})}
    wanted = marked | {f.name for f in model.PROJECT_FIELDS}
    for chosen in model.SCRIPTS:
        assert wanted - {m.id for m in i18n.read_catalog(chosen)} == set()


def test_both_catalogs_hold_the_same_messages():
    assert {m.id for m in i18n.read_catalog("zh-Hans")} == {m.id for m in i18n.read_catalog("zh-Hant")}


@pytest.mark.parametrize("chosen", model.SCRIPTS)
@pytest.mark.parametrize("page", _PAGES)
def test_every_page_is_in_one_script(client, page, chosen):
    response = client.get(f"{page}{'&' if '?' in page else '?'}lang={chosen}")
    assert response.status_code == 200 and response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert f'<html lang="{chosen}">' in text
    assert opencc.OpenCC(_ONE_SCRIPT[chosen]).convert(text) == text


@pytest.mark.parametrize("chosen", model.SCRIPTS)
@pytest.mark.parametrize("kind", ["by=status&street=LF", "theme=investment"])
def test_a_map_is_in_one_script(client, chosen, kind):
    response = client.get(f"/maps?f=svg&{kind}&lang={chosen}")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert ("街道界线" if chosen == "zh-Hans" else "街道界線") in text  # the base map's legend
    assert opencc.OpenCC(_ONE_SCRIPT[chosen]).convert(text) == text


@pytest.mark.parametrize(("chosen", "config"), list(_ONE_SCRIPT.items()))
def test_the_cli_table_is_in_one_script(demo_path, chosen, config):
    done = run_cli("--lang", chosen, "query", "--store", str(demo_path), "--year", "2013")
    assert done.returncode == 0, done.stderr
    assert ("项目名称" if chosen == "zh-Hans" else "專案名稱") in done.stdout
    assert opencc.OpenCC(config).convert(done.stdout) == done.stdout


def test_a_simplified_xlsx_speaks_simplified_and_imports_back_to_the_same_codes(demo_result, demo_copy, tmp_path):
    with script.use("zh-Hans"):
        report = export(demo_result, tmp_path / "out.xlsx")
    workbook = openpyxl.load_workbook(report.path, read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    assert workbook.worksheets[0].title == "项目" and rows[0][:3] == ("项目编号", "项目名称", "类别")
    text = "\n".join(str(cell) for row in rows for cell in row if cell is not None)
    assert "低洼易淹易涝片区" in text and opencc.OpenCC("tw2s").convert(text) == text
    imported = import_file(GeoPackageStore(demo_copy), report.path)
    assert imported.written and not imported.rejected
    after = GeoPackageStore(demo_copy).projects().set_index("project_id")
    before = demo_result.projects.set_index("project_id")
    for column in ("category", "status", "street_codes", "lead_department", "site_type", "billboard_action"):
        assert after[column].equals(before.loc[after.index, column]), column


_REFUSED = ["/projects?year=13", "/projects?bbox=10,10,11,11", "/projects?category=parks", "/projects?sortby=colour",
            "/collections/rivers/items?filter=colour%3D%27red%27", "/collections/nosuch/items",
            "/projects/2099-RIV-001", "/projects?as_of=soon", "/maps?f=gif"]
_CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize(("chosen", "config"), list(_ONE_SCRIPT.items()))
def test_problem_documents_are_in_one_script(client, chosen, config):
    for url in _REFUSED:
        body = client.get(f"{url}&lang={chosen}" if "?" in url else f"{url}?lang={chosen}",
                          headers={"Accept": "application/json"}).get_json()
        assert body["status"] in (400, 404) and _CJK.search(body["detail"]), (url, body)
        assert opencc.OpenCC(config).convert(body["detail"]) == body["detail"], url


@pytest.mark.parametrize(("chosen", "config"), list(_ONE_SCRIPT.items()))
def test_cli_errors_are_in_one_script(demo_path, tmp_path, chosen, config):
    for args in (["query", "--bbox", "0,0,1,1"], ["export", "--to", str(tmp_path / "out.dat")],
                 ["import", str(tmp_path / "missing.csv")]):
        done = run_cli("--lang", chosen, args[0], "--store", str(demo_path), *args[1:])
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and _CJK.search(done.stderr), done.stderr
        assert opencc.OpenCC(config).convert(done.stderr) == done.stderr


def test_every_word_click_marks_is_in_the_catalogs():
    sources = {Path(module.__file__) for module in _CLICK_MODULES}
    marked = {message if isinstance(message, str) else message[0]
              for source in sources
              for _, message, _, _ in extract("python", source.open("rb"), keywords={"_": None, "ngettext": (1, 2)})}
    assert len(marked) > 50 and "No such option {name!r}." in marked
    for chosen in model.SCRIPTS:
        assert (marked | {"required"}) - {m.id if isinstance(m.id, str) else m.id[0]
                                         for m in i18n.read_catalog(chosen)} == set()


def _registry(capsys, *args: str) -> tuple[int, str, str]:
    """The ``registry`` command run in this process: exit code, stdout, stderr."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def _command_paths(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subcommands = getattr(command, "commands", {}).items()
    return [path, *(p for name, sub in subcommands for p in _command_paths(sub, (*path, name)))]


_ENGLISH_WORDS = re.compile(r"[A-Za-z]{2,}(?: [a-z]{2,}){2}")  # English words in a row (not metavars): untranslated
_CLICK_WORDS = {"zh-Hans": ("用法:", "选项:", "显示本帮助并退出。"),
                "zh-Hant": ("用法:", "選項:", "顯示本說明並結束。")}


@pytest.mark.parametrize(("chosen", "config"), list(_ONE_SCRIPT.items()))
def test_every_commands_help_is_in_one_script(capsys, monkeypatch, chosen, config):
    monkeypatch.setenv(script.ENV, chosen)  # the command line's script until it opens a registry
    for path in _command_paths(cli):
        code, out, _ = _registry(capsys, *path, "--help")
        assert code == 0 and all(words in out for words in _CLICK_WORDS[chosen]), path
        assert opencc.OpenCC(config).convert(out) == out, path
        body = out.split("\n", 1)[1]  # after the usage line, which names the command (and ends COMMAND [ARGS]...)
        assert _ENGLISH_WORDS.findall(body) == [] and "..." not in body, path  # "...": a command's help cut short
    _, root, _ = _registry(capsys, "--help")
    assert ("导入项目" if chosen == "zh-Hans" else "匯入專案") in root


_USAGE_ERRORS = [
    (["--category"], "没有选项 '--category'", "沒有選項 '--category'"),
    (["query", "--nope"], "没有选项 '--nope'", "沒有選項 '--nope'"),
    (["query", "--limit", "x"], "'--limit' 的值无效：'x' 不是有效的数字", "'--limit' 的值無效：'x' 不是有效的數字"),
    (["user", "add", "planner"], "缺少选项 '--role'", "缺少選項 '--role'"),
    (["user", "set"], "缺少位置参数 'NAME'", "缺少位置引數 'NAME'"),
    (["nosuchcommand"], "没有命令 'nosuchcommand'", "沒有命令 'nosuchcommand'"),
]


@pytest.mark.parametrize(("args", "hans", "hant"), _USAGE_ERRORS)
@pytest.mark.parametrize(("chosen", "config"), list(_ONE_SCRIPT.items()))
def test_clicks_usage_errors_are_one_line_in_one_script(capsys, monkeypatch, chosen, config, args, hans, hant):
    monkeypatch.setenv(script.ENV, chosen)
    code, out, err = _registry(capsys, *args)
    prefix = {"zh-Hans": "registry: 错误：", "zh-Hant": "registry: 錯誤："}[chosen]
    assert (code, out, err.count("\n")) == (2, "", 1) and err.startswith(prefix), err
    assert (hans if chosen == "zh-Hans" else hant) in err
    assert opencc.OpenCC(config).convert(err) == err


def test_lang_chooses_the_script_of_the_help_shown_after_it(capsys):
    _, out, _ = _registry(capsys, "--lang", "zh-Hant", "query", "--help")
    assert "依區域和屬性查詢專案" in out and "顯示本說明並結束。" in out


def test_a_reports_lang_chooses_the_script_of_its_help_shown_after_it(capsys, monkeypatch):
    monkeypatch.setenv(script.ENV, "zh-Hans")
    _, out, _ = _registry(capsys, "report", "summary", "--lang", "zh-Hant", "--help")
    assert "顯示本說明並結束。" in out and "显示" not in out
