"""Files for people: CSV and XLSX text that a spreadsheet would run as a formula is neutralised, and imports back."""

from __future__ import annotations

import csv

import openpyxl
import pandas as pd
import pytest

from registry import model
from registry.exchange import export, fields, import_file
from registry.query import find
from registry.store import Batch, GeoPackageStore

from .conftest import run_cli

# Stored values and how a spreadsheet must receive them (OWASP: a ' in front of = + - @).
HOSTILE = {"=1+2": "'=1+2", "-x": "'-x", "@SUM(A1:A2)": "'@SUM(A1:A2)", "'=quoted": "''=quoted",
           '=HYPERLINK("http://example.com")': '\'=HYPERLINK("http://example.com")', "+1": "'+1"}


@pytest.fixture
def hostile_store(demo_copy) -> GeoPackageStore:
    """The demo with three projects whose name and notes begin like formulas (features kept)."""
    store = GeoPackageStore(demo_copy)
    ids = store.projects()["project_id"].iloc[:3].tolist()
    projects = store.projects(ids).reset_index(drop=True)
    texts = list(HOSTILE)
    projects["name"], projects["notes"] = texts[:3], texts[3:]
    features = {}
    for layer in model.PROJECT_LAYERS:
        found = store.features(layer.name, project_ids=ids)
        if len(found):
            features[layer.name] = found.reset_index(drop=True)[["project_id", "name", "geometry"]]
    store.write(Batch(projects, features))
    assert sorted(store.projects(ids)[["name", "notes"]].to_numpy().ravel()) == sorted(HOSTILE)
    return store


def test_neutralising_prefixes_formula_text_and_leaves_numbers_and_other_text():
    from registry.exchange.rows import neutralise_cell

    cells = {"=1": "'=1", "+1": "'+1", "-1": "'-1", "@A": "'@A", "\tA": "'\tA", "\rA": "'\rA", "'=A": "''=A",
             "A=1": "A=1", "'A": "'A", "": "", "街道": "街道", -5: -5, -2.5: -2.5, None: None}
    assert {value: neutralise_cell(value) for value in cells} == cells


def test_csv_export_writes_formula_text_with_a_quote_in_front_and_numbers_as_numbers(hostile_store, tmp_path):
    result = find(hostile_store, {})
    features = result.features.copy()
    first = features["project_id"].iloc[0]
    features.loc[features["project_id"] == first, "length_m"] = -12.5  # a negative number, not a formula
    report = export((result.projects, features), tmp_path / "out.csv")
    with open(report.path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    written = {row["name"] for row in rows} | {row["notes"] for row in rows}
    assert {HOSTILE[v] for v in HOSTILE} <= written
    text = [c for c in fields.EXPORT_COLUMNS if fields.FIELD_BY_NAME[c].kind == "text"]
    assert not [row[c] for row in rows for c in text if row[c][:1] in ("=", "+", "-", "@")]
    assert {row["length_m"] for row in rows if row["project_id"] == first} == {"-12.5"}


@pytest.mark.parametrize("name", ["out.csv", "out.xlsx"])
def test_neutralised_export_imports_back_to_the_same_values(hostile_store, demo_copy, demo_path, tmp_path, name):
    expected = hostile_store.projects().reset_index(drop=True)
    report = export(find(hostile_store, {}), tmp_path / name)
    target_path = tmp_path / "target.gpkg"
    target_path.write_bytes(demo_path.read_bytes())
    target = GeoPackageStore(target_path)
    if name.endswith(".csv"):  # features and projects: into a registry without projects
        target.delete(target.projects()["project_id"].tolist())
    imported = import_file(target, report.path)
    assert imported.written and not imported.rejected
    pd.testing.assert_frame_equal(expected.drop(columns=["version"]),  # a project imported anew starts at 1
                                  target.projects().reset_index(drop=True).drop(columns=["version"]))


def test_xlsx_export_cells_begin_with_a_quote(hostile_store, tmp_path):
    report = export(find(hostile_store, {}), tmp_path / "out.xlsx")
    sheet = openpyxl.load_workbook(report.path, read_only=True).worksheets[0]
    cells = {cell for row in sheet.iter_rows(values_only=True) for cell in row if isinstance(cell, str)}
    assert {HOSTILE[v] for v in HOSTILE} <= cells and not cells & set(HOSTILE)


def test_cli_query_csv_neutralises_formula_text(hostile_store):
    out = run_cli("query", "--store", hostile_store.location, "--format", "csv", "--name", "SUM")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(out.stdout.splitlines()))
    assert [row["name"] for row in rows] == ["'@SUM(A1:A2)"]
