"""The ``registry export`` and ``registry import`` commands: thin wrappers over the exchange library."""

from __future__ import annotations

from pathlib import Path

import click

from .. import validate
from ..cli_options import (
    STORE_OPTION,
    author_options,
    cli_author,
    filter_options,
    query_params,
    read_view,
    use_registry_script,
)
from ..store import open_store
from .export import FORMATS, export
from .importer import RowsRejected, import_file
from .styles import STYLE_ATTRIBUTES

REPORT_LIMIT = 1000  # rejected rows printed; the rest are counted


@click.command("export")
@STORE_OPTION
@filter_options
@click.option("--to", "target", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write; its suffix gives the format (.geojson .shp.zip .gpkg .fgb .csv .xlsx).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="The format, if not the suffix's.")
@click.option("--encoding", type=click.Choice(["utf-8", "gbk"], case_sensitive=False), default="utf-8",
              show_default=True, help="Text encoding of a Shapefile's DBF.")
@click.option("--style-by", type=click.Choice(STYLE_ATTRIBUTES), default="category", show_default=True,
              help="What the GeoPackage's QGIS styles colour by.")
def export_command(store: str | None, target: Path, fmt: str | None, encoding: str, style_by: str, **options) -> None:
    """Export the projects a query finds, with their features, to a GIS or spreadsheet file.

    --crs (EPSG:4490 default, EPSG:4326 or EPSG:4549) is the CRS of the file written as well as that of
    --bbox/--polygon/--near; GeoJSON is always longitude/latitude (RFC 7946).
    """
    from ..query import find

    with read_view(store, options.get("as_of")) as opened:
        result = find(opened, query_params(options))
        report = export(result, target, fmt, crs=options.get("crs"), encoding=encoding, style_by=style_by,
                        store=opened)
    click.echo(report.summary())


@click.command("import")
@STORE_OPTION
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--layer", default=None, help="Registry layer of the features, when the file does not tell.")
@click.option("--crs", default=None, help="CRS of the file's coordinates (e.g. EPSG:4549), when it declares none "
                                          "or one GDAL does not know; overrides the file's.")
@click.option("--encoding", default=None,
              help="Text encoding of a Shapefile or CSV (default: its .cpg, else detected).")
@click.option("--mapping", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON file: source field → registry column (a Shapefile export's fields.json is one).")
@click.option("--mode", type=click.Choice(validate.WRITE_MODES), default=None,
              help="insert new projects only, or upsert (replace whole projects). Default: insert, or upsert for "
                   "attribute-only files such as XLSX.")
@click.option("--skip-invalid", is_flag=True, help="Import the valid projects and report the rejected rows.")
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@author_options
def import_command(store: str | None, file: Path, layer: str | None, crs: str | None, encoding: str | None,
                   mapping: Path | None, mode: str | None, skip_invalid: bool, dry_run: bool,
                   correction: str | None, recorded_at: str | None) -> None:
    """Import a Shapefile (folder, .shp or .zip), GeoJSON, GeoPackage, FlatGeobuf, CSV or XLSX.

    Every row is validated; the report lists rows accepted and rejected (row number, field, reason).
    Nothing is written if any row is rejected, unless --skip-invalid.
    """
    opened = open_store(store)
    use_registry_script(opened)  # the report and refusals in --lang or the registry's script
    try:
        report = import_file(opened, file, layer=layer, crs=crs, encoding=encoding, mapping=mapping,
                             mode=mode, skip_invalid=skip_invalid, dry_run=dry_run,
                             author=cli_author(correction, recorded_at))
    except RowsRejected as exc:
        for line in exc.report.lines(REPORT_LIMIT):
            click.echo(line)
        raise
    for line in report.lines(REPORT_LIMIT):
        click.echo(line)
