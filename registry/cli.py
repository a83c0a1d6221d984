"""The ``registry`` command line: thin wrappers over the library, one line on stderr per error."""

from __future__ import annotations

import contextvars
import json
import sys
from importlib import metadata
from pathlib import Path

import click

from . import model, script
from .cli_options import (
    STORE_OPTION,
    choose_lang,
    filter_options,
    print_csv,
    print_table,
    query_params,
    read_view,
    speak_script,
    use_registry_script,
    use_script_of,
)
from .errors import RegistryError, ValidationError
from .exchange.commands import export_command, import_command
from .history_command import history_command, upgrade_command
from .i18n import gettext
from .maps.command import map_command
from .report.command import report_command
from .store import create_store, open_store, store_location
from .text import to_script
from .users_command import user_command


def show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``: the installed version, in the command's script (click's own option words it at import)."""
    if value and not ctx.resilient_parsing:
        click.echo(gettext("%(prog)s, version %(version)s", prog=ctx.find_root().info_name,
                           version=metadata.version("renovation-registry")))
        ctx.exit()


@click.group()
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=show_version,
              help="Show the version and exit.")
@click.option("--lang", default=None, is_eager=True, callback=lambda _ctx, _param, value: choose_lang(value),
              help="Script of names and messages: zh-Hans or zh-Hant (default: the registry's).")
def cli(lang: str | None) -> None:
    """GIS registry of urban-renovation projects (城市環境綜合整治專案登記簿)."""


@cli.group()
def config() -> None:
    """Show or change the registry's settings (registry_meta)."""


@config.command("script")
@STORE_OPTION
@click.argument("value", required=False)
def config_script(store: str | None, value: str | None) -> None:
    """The registry's display script: zh-Hans (Simplified) or zh-Hant (Traditional); without VALUE, show it."""
    from . import script

    opened = open_store(store_location(store))
    if value is not None:
        opened.set_meta({script.META_KEY: script.parse(value, "script")})
    use_registry_script(opened)
    click.echo(gettext("%(store)s: script %(script)s", store=opened.location,
                       script=script.registry_default(opened.meta())))


@cli.command()
@STORE_OPTION
@click.option("--force", is_flag=True, help="Replace an existing registry (file, or tables in the PostGIS schema).")
def init(store: str | None, force: bool) -> None:
    """Create an empty registry with every layer (a .gpkg file, or a postgresql:// URL's schema)."""
    created = create_store(store_location(store), overwrite=force)  # its location names a PostGIS schema
    click.echo(gettext("created empty registry %(store)s, replacing any registry there", store=created.location)
               if force else gettext("created empty registry %(store)s", store=created.location))


@cli.command()
@STORE_OPTION
@click.option("--force", is_flag=True, help="Replace an existing registry (file, or tables in the PostGIS schema).")
def demo(store: str | None, force: bool) -> None:
    """Build the demo registry of the seed's programme (180 projects, 36.33 億元)."""
    from .demo import build_demo

    built = build_demo(store_location(store), overwrite=force)  # its location names a PostGIS schema
    count = len(built.projects())
    click.echo(gettext("built demo registry %(store)s: %(count)s projects, replacing any registry there",
                       store=built.location, count=count) if force else
               gettext("built demo registry %(store)s: %(count)s projects", store=built.location, count=count))


@cli.command()
@STORE_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def info(store: str | None, fmt: str) -> None:
    """List layers with feature counts, geometry types, extents and CRS."""
    with read_view(store) as opened:
        meta, layers = opened.meta(), opened.layers()
    if fmt == "json":
        payload = {
            "store": opened.location,
            "schema_version": int(meta["schema_version"]),
            "data_date": meta.get("data_date"),
            "notice": meta.get("notice"),
            "layers": [
                {"name": i.name, "kind": i.kind, "geometry_type": i.geometry_type, "count": i.count,
                 "extent": [round(v, 6) for v in i.extent] if i.extent else None,
                 "crs": f"EPSG:{i.epsg}" if i.epsg else None}
                for i in layers
            ],
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    click.echo(gettext("store: %(store)s  schema %(version)s  data date %(date)s", store=opened.location,
                       version=meta["schema_version"], date=meta.get("data_date", "-")))
    click.echo(gettext("note: %(note)s", note=to_script(meta.get("notice", ""), script.current())))
    header = (gettext("Layer"), gettext("Kind"), gettext("Geometry type"), gettext("Count"),
              gettext("Extent (lon/lat)"), gettext("CRS"))
    rows = [
        (i.name, i.kind, i.geometry_type or "-", str(i.count),
         ", ".join(f"{v:.4f}" for v in i.extent) if i.extent else "-",
         f"EPSG:{i.epsg}" if i.epsg else "-")
        for i in layers
    ]
    print_table(list(header), [list(row) for row in rows])


@cli.command()
@STORE_OPTION
@filter_options
@click.option("--sort", "sortby", default=None, help="[-]field,... (default project_id).")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Projects per page.")
@click.option("--offset", type=click.IntRange(min=0), default=None, help="Projects to skip.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "geojson", "csv"]), default="table",
              show_default=True)
def query(store: str | None, fmt: str, **options) -> None:
    """Find projects (and their matching features) by area and attributes."""
    from .numbers import format_wan
    from .output import QUERY_FEATURE_PROPERTIES, feature_collection, query_json, records
    from .query import find

    with read_view(store, options.get("as_of")) as opened:
        result = find(opened, query_params(options))
    if fmt == "json":
        click.echo(json.dumps(query_json(result), ensure_ascii=False))
    elif fmt == "geojson":
        chunks = feature_collection(result.features, QUERY_FEATURE_PROPERTIES,
                                    members={"numberMatched": result.total})
        click.echo(b"".join(chunks).decode())
    elif fmt == "csv":
        rows = records(result.projects, model.PROJECT_COLUMNS)
        print_csv(list(model.PROJECT_COLUMNS), [list(r.values()) for r in rows])
    else:  # for people: headers from the message catalog, names and data text in the command's script
        from .i18n import gettext as _
        from .output import with_labels
        from .text import to_script_all

        counts = result.feature_rows.groupby("project_id").size()
        shown, _columns = with_labels(result.projects, ["category", "status", "street_codes"])
        names = to_script_all(list(shown["name"]), script.current())
        print_table([_("project_id"), _("name"), _("category"), _("year"), _("investment"), _("status"),
                     _("street_codes"), _("features")],
                    [[r.project_id, name, r.category_label, r.year, format_wan(r.investment_yuan), r.status_label,
                      r.street_codes_label, int(counts.get(r.project_id, 0))]
                     for r, name in zip(shown.itertuples(), names)])
        click.echo(_("%(shown)s of %(total)s projects, %(features)s features", shown=len(result.projects),
                     total=result.total, features=len(result.feature_rows)))


@cli.command()
@STORE_OPTION
@click.option("--by", "by", default="street", show_default=True,
              help="Group by: street, category, year, status, department (comma-separated).")
@filter_options
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def stats(store: str | None, by: str, fmt: str, **options) -> None:
    """Project counts, investment and quantities grouped; streets apportioned by length/area."""
    from .numbers import format_wan
    from .stats import statistics

    with read_view(store, options.get("as_of")) as opened:
        result = statistics(opened, query_params(options), by)
    payload = result.to_json()
    if fmt == "json":
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    header = list(payload["rows"][0]) if payload["rows"] else [*result.by, "projects", "investment_yuan"]
    rows = [list(r.values()) for r in payload["rows"]]
    if fmt == "csv":
        print_csv(header, rows)
        return
    from .i18n import gettext as _

    chosen = script.current()  # for people: headers from the catalog, coded groups by their names
    money = header.index("investment_yuan")
    for row in rows:
        row[money] = format_wan(float(row[money]))
        for at, column in enumerate(header):
            if column in ("category", "status", "lead_department"):
                row[at] = model.name_label(column, row[at], chosen)
            elif column == "street_name":
                row[at] = model.name_label("street", row[header.index("street")], chosen)
    total = payload["totals"]
    titles = {"street": _("Code"), "street_name": _("Streets"), "projects": _("Number of projects"),
              "investment_yuan": _("investment")}  # shown in 萬元, not yuan
    print_table([titles[h] if h in titles else _(h) if h in model.FIELD_BY_NAME else h for h in header],
                [*rows, [_("Total"), *[""] * (len(result.by) - 1 + ("street" in result.by)),
                         *[format_wan(float(total[k])) if k == "investment_yuan" else total[k]
                           for k in header[len(result.by) + ("street" in result.by):]]]])
    if "street" in result.by or options.get("street"):  # a street filter shows that street's shares
        click.echo(_("A project crossing streets counts once in each street it touches; its investment, length and "
                     "area are apportioned by its share of length or area inside each street, so the streets add up "
                     "to the park total."))


@cli.command()
@STORE_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def qa(store: str | None, fmt: str) -> None:
    """Quality checks: geometry, streets, quantities, street boundaries."""
    from .qa import run_qa

    with read_view(store) as opened:
        findings = run_qa(opened)
    if fmt == "json":
        click.echo(json.dumps([f.to_json() for f in findings], ensure_ascii=False))
        return
    print_table([gettext("Check"), gettext("Layer"), "fid", gettext("project_id"), gettext("Detail")],
                [[f.check, f.layer, f.fid, f.project_id, f.detail] for f in findings])
    click.echo(gettext("%(count)s findings", count=len(findings)))


@cli.command()
@STORE_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(store: str | None, host: str, port: int) -> None:
    """Serve the registry over HTTP (OGC API - Features) with Flask's server."""
    from api import create_app

    location = store_location(store)
    use_registry_script(open_store(location))  # fail now, in the registry's script, rather than on a request
    create_app({"REGISTRY_STORE": location}).run(host=host, port=port)


@cli.command()
@STORE_OPTION
@click.option("--to", "target", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The backup file to write (a GeoPackage of a .gpkg store; a pg_dump file of a PostGIS store).")
@click.option("--force", is_flag=True, help="Replace the backup file if it exists.")
def backup(store: str | None, target: Path, force: bool) -> None:
    """Copy the registry as one committed state, while it is served and others write."""
    from .backup import backup as back_up

    use_script_of(store_location(store))
    click.echo(back_up(store_location(store), target, force=force).line())


@cli.command()
@STORE_OPTION
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the registry the store holds.")
def restore(store: str | None, file: Path, force: bool) -> None:
    """Check a backup written by `registry backup`, then put it back as the store's registry."""
    from .backup import restore as put_back

    use_script_of(store_location(store))
    click.echo(put_back(file, store_location(store), force=force).line())


# -- commands defined beside their libraries -----------------------------------------------
for _command in (export_command, import_command, map_command, user_command, history_command, upgrade_command,
                 report_command):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; user errors become one line on stderr and exit code 2."""
    # in a context of its own: the script a command chooses ends with it (tests call main in-process)
    sys.exit(contextvars.copy_context().run(run, argv))


def run(argv: list[str] | None) -> int:
    """Run one command line in ``REGISTRY_SCRIPT``'s script, else Simplified (until --lang or the registry
    chooses another), its help and click's words included; its exit code, with errors told on stderr in the
    script chosen by the time they happen."""
    script.set_current(script.DEFAULT)  # a bad REGISTRY_SCRIPT is refused in it
    try:
        script.set_current(script.registry_default({}))
    except ValidationError as exc:
        _error(exc.message)
        return 2
    speak_script(cli)
    try:
        code = cli.main(args=argv, prog_name="registry", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # `registry` alone: its help, as click shows it
        click.echo(exc.format_message(), err=True)
        return 2
    except click.exceptions.Abort:
        click.echo(gettext("registry: aborted"), err=True)
        return 1
    except click.ClickException as exc:  # one line: no usage, no "Try --help", a Choice's list run on
        _error(" ".join(exc.format_message().split()))
        return 2
    except RegistryError as exc:
        _error(" ".join(exc.message.split()))
        return 2
    except OSError as exc:
        name = Path(exc.filename).name if getattr(exc, "filename", None) else ""
        _error(f"{name + ': ' if name else ''}{exc.strerror or exc}")
        return 2
    return code if isinstance(code, int) else 0


def _error(message: str) -> None:
    """An error as one line on stderr, in the script chosen by now."""
    click.echo(gettext("registry: error: %(text)s", text=message), err=True)
