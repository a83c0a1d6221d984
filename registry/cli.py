"""The ``registry`` command line: thin wrappers over the library, one line on stderr per error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .errors import RegistryError
from .store import GeoPackageStore, open_store, store_location

STORE_OPTION = click.option(
    "--store", "store", envvar="REGISTRY_STORE", default=None,
    help="The registry: a .gpkg path (default: $REGISTRY_STORE, else registry.gpkg here).",
)


@click.group()
@click.version_option(package_name="renovation-registry")
def cli() -> None:
    """GIS registry of urban-renovation projects (城市環境綜合整治專案登記簿)."""


@cli.command()
@STORE_OPTION
@click.option("--force", is_flag=True, help="Replace an existing file.")
def init(store: str | None, force: bool) -> None:
    """Create an empty registry with every layer."""
    location = store_location(store)
    GeoPackageStore.create(location, overwrite=force)
    click.echo(f"created empty registry {location}")


@cli.command()
@STORE_OPTION
def demo(store: str | None) -> None:
    """Build the demo registry of the seed's programme (180 projects, 36.33 億元)."""
    from .demo import build_demo

    location = store_location(store)
    built = build_demo(location)
    count = len(built.projects())
    click.echo(f"built demo registry {location}: {count} projects")


@cli.command()
@STORE_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def info(store: str | None, fmt: str) -> None:
    """List layers with feature counts, geometry types, extents and CRS."""
    opened = open_store(store)
    meta = opened.meta()
    layers = opened.layers()
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
    click.echo(f"store: {opened.location}  schema {meta['schema_version']}  "
               f"data date {meta.get('data_date', '-')}")
    click.echo(f"note: {meta.get('notice', '')}")
    header = ("layer", "kind", "geometry", "count", "extent (lon/lat)", "crs")
    rows = [
        (i.name, i.kind, i.geometry_type or "-", str(i.count),
         ", ".join(f"{v:.4f}" for v in i.extent) if i.extent else "-",
         f"EPSG:{i.epsg}" if i.epsg else "-")
        for i in layers
    ]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


@cli.command()
@STORE_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(store: str | None, host: str, port: int) -> None:
    """Serve the registry over HTTP (OGC API - Features) with Flask's server."""
    from api import create_app

    location = store_location(store)
    open_store(location)  # fail now, with a clear message, rather than on the first request
    create_app({"REGISTRY_STORE": location}).run(host=host, port=port)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; user errors become one line on stderr and exit code 2."""
    try:
        code = cli.main(args=argv, prog_name="registry", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("registry: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"registry: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except RegistryError as exc:
        click.echo(f"registry: error: {' '.join(exc.message.split())}", err=True)
        sys.exit(2)
    except OSError as exc:
        name = Path(exc.filename).name if getattr(exc, "filename", None) else ""
        click.echo(f"registry: error: {name + ': ' if name else ''}{exc.strerror or exc}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)

