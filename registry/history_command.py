"""``registry history PROJECT_ID`` and ``registry upgrade``: the change log of a project, and schema upgrades."""

from __future__ import annotations

import json

import click

from .cli_options import STORE_OPTION, print_table, read_view, use_script_of
from .errors import NotFound
from .i18n import gettext
from .store import backend, store_location
from .store.history import project_history


@click.command("history")
@STORE_OPTION
@click.argument("project_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def history_command(store: str | None, project_id: str, fmt: str) -> None:
    """Every recorded change of a project and its features: when, who, what (oldest first)."""
    with read_view(store) as opened:
        entries = project_history(opened, project_id)
    if not entries:
        raise NotFound(gettext("project %(id)s has no recorded changes (is the id right?)", id=project_id),
                       param="project_id")
    if fmt == "json":
        click.echo(json.dumps(entries, ensure_ascii=False))
        return
    print_table([gettext("Time (Asia/Shanghai)"), gettext("Who"), gettext("Operation"), gettext("Layer"), "fid",
                 gettext("Version"), gettext("Changes")],
                [[e["local_time"], e["who"],
                  gettext(e["operation"]) + (f"({gettext('correction')})" if e["reason"] else ""), e["layer"],
                  e["fid"] if e["fid"] is not None else "", e["version"],
                  "; ".join(f"{k}: {v[0]} → {v[1]}" if k != "geometry" else gettext("geometry")
                            for k, v in e["changes"].items()) if e["operation"] == "update" else ""]
                 for e in entries])


@click.command("upgrade")
@STORE_OPTION
def upgrade_command(store: str | None) -> None:
    """Bring a registry's schema up to this software's version (the migrations it has not run, in one go)."""
    location = store_location(store)
    use_script_of(location)  # the registry's script, when this software opens it before the upgrade
    ran = backend(location).upgrade(location)
    click.echo(gettext("%(store)s: ran migrations %(migrations)s", store=location, migrations=", ".join(ran)) if ran
               else gettext("%(store)s: schema up to date", store=location))
