"""Interface text from message catalogs: every entry translated in both scripts, and people-facing output
in one script only (the Simplified unchanged by OpenCC tw2s, the Traditional unchanged by s2tw)."""

from __future__ import annotations

import opencc
import pytest

from registry import i18n, model

from .conftest import run_cli


@pytest.mark.parametrize("chosen", model.SCRIPTS)
def test_every_catalog_entry_is_translated_and_passes_babels_checks(chosen):
    catalog = i18n.read_catalog(chosen)
    entries = [m for m in catalog if m.id]
    assert entries
    assert [m.id for m in entries if not m.string or m.fuzzy] == []
    assert [(m.id, errors) for m, errors in catalog.check()] == []


def test_both_catalogs_hold_the_same_messages():
    assert {m.id for m in i18n.read_catalog("zh-Hans")} == {m.id for m in i18n.read_catalog("zh-Hant")}


@pytest.mark.parametrize(("chosen", "config"), [("zh-Hans", "tw2s"), ("zh-Hant", "s2tw")])
def test_the_cli_table_is_in_one_script(demo_path, chosen, config):
    done = run_cli("--lang", chosen, "query", "--store", str(demo_path), "--year", "2013")
    assert done.returncode == 0, done.stderr
    assert ("项目名称" if chosen == "zh-Hans" else "專案名稱") in done.stdout
    assert opencc.OpenCC(config).convert(done.stdout) == done.stdout
