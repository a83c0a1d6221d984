"""One engine: /projects, /collections/{layer}/items and `registry query` select the same features for the
same parameters, and no module of the registry imports one above it."""

from __future__ import annotations

import ast
import itertools
import json
from pathlib import Path

import pytest

from .conftest import ROOT, run_cli

POLYGON = "POLYGON((120.66 31.28,120.74 31.28,120.74 31.34,120.66 31.34,120.66 31.28))"
WHERE = [{}, {"street": "LF"}, {"street": "斜塘", "as_of": "2015-06-01"}, {"street": "XT", "predicate": "within"},
         {"bbox": "120.68,31.26,120.80,31.36"}, {"polygon": POLYGON}, {"near": "唐莊河", "distance": "300"}]
WHAT = [{}, {"category": "rivers"}, {"category": "billboards,polders"}, {"year": "2014"},
        {"status": "completed,long_term_management"}, {"investment_min": "1000000", "q": "河"}]


def projects_road(client, params: dict) -> set[tuple[str, int]]:
    doc = client.get("/projects", query_string={**params, "limit": "1000"}).get_json()
    assert doc["total"] == len(doc["projects"])
    return {(f["layer"], f["fid"]) for p in doc["projects"] for f in p["features"]}


CATEGORIES = ["alleys", "rivers", "polders", "construction_sites", "parking_lots", "markets", "vending_points",
              "billboards", "old_compounds", "urban_villages", "shanty_areas", "urban_fringes"]


def items_road(client, params: dict) -> set[tuple[str, int]]:
    """The features of every layer the categories own (a polder's sluices too), asked of each collection."""
    chosen = params["category"].split(",") if params.get("category") else CATEGORIES
    found = set()
    for layer in chosen + (["sluices"] if "polders" in chosen else []):
        response = client.get(f"/collections/{layer}/items", query_string={**params, "limit": "100000"})
        assert response.status_code == 200, response.get_data(as_text=True)
        doc = response.get_json()
        assert doc["numberMatched"] == len(doc["features"])
        found |= {(layer, f["id"]) for f in doc["features"]}
    return found


@pytest.mark.parametrize(("where", "what"), list(itertools.product(WHERE, WHAT)),
                         ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "all")
def test_projects_and_collection_items_select_the_same_features(client, where, what):
    params = {**where, **what}
    expected = items_road(client, params)
    assert projects_road(client, params) == expected
    if where or what:  # a grid that always selects everything would prove nothing
        assert expected != items_road(client, {})


@pytest.mark.parametrize("params", [{"street": "LF", "category": "rivers"}, {"polygon": POLYGON, "year": "2013"},
                                    {"near": "唐莊河", "distance": "300", "category": "alleys,rivers"}])
def test_the_cli_query_selects_what_the_api_selects(client, demo_path, params):
    options = []
    for key, value in params.items():
        options += [f"--{key}", value]
    run = run_cli("query", "--store", str(demo_path), *options, "--format", "json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert {(f["layer"], f["fid"]) for p in doc["projects"] for f in p["features"]} == projects_road(client, params)


def test_items_refuse_what_the_projects_road_refuses_with_the_same_message(client):
    for params in ({"category": "河"}, {"status": "done"}, {"year": "13"}, {"street": "XX"}):
        a = client.get("/projects", query_string=params).get_json()
        b = client.get("/collections/rivers/items", query_string=params).get_json()
        assert (a["status"], a["parameter"], a["detail"]) == (b["status"], b["parameter"], b["detail"])


# The layering README.md draws: a module may import only from its own layer or those below it.
LAYERS = [
    {"errors", "model", "text", "limits", "palette", "script", "i18n", "progress", "numbers"},
    {"crs", "spatial", "validate", "apportion"},
    {"store"},
    {"streets", "cql", "output"},
    {"params"},
    {"select"},
    {"query", "features", "stats", "qa"},
    {"exchange", "maps", "demo", "backup", "accounts", "editing", "report", "overview"},
    {"cli", "cli_options", "__main__", "exchange.commands", "maps.command", "history_command",
     "users_command", "report.command"},  # the command line's own modules
]


def _layer_of(module: str) -> int:
    """A module's layer: its own entry, else its package's (``exchange.export`` is in ``exchange``'s)."""
    for name in (module, module.split(".")[0]):
        for level, members in enumerate(LAYERS):
            if name in members:
                return level
    raise AssertionError(f"registry.{module} is in no layer of the README's drawing; add it")


def _registry_imports(path: Path, package: Path) -> set[str]:
    """The registry modules a file imports (relative or absolute), as paths below the package."""
    here = path.relative_to(package).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(here[:len(here) - node.level])
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                names = [target] if node.module else [".".join([*base, a.name]) for a in node.names]
            elif node.module and node.module.startswith("registry"):
                names = [node.module.removeprefix("registry").lstrip(".")]
            else:
                continue
            found |= {n for n in names if n}
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("registry.") for a in node.names if a.name.startswith("registry.")}
    return found


def test_no_registry_module_imports_one_above_it():
    package = ROOT / "registry"
    upward = []
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package).with_suffix("").parts)
        if module == "__init__":
            continue
        for target in _registry_imports(path, package):
            if _layer_of(target) > _layer_of(module):
                upward.append(f"registry.{module} imports registry.{target}")
    assert upward == []
