"""``registry map``: write an overlay map or a street choropleth of a query to a PNG, SVG or PDF file.

``registry.cli`` registers this command.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..cli_options import STORE_OPTION, filter_options, query_params, read_view, suffix_in
from ..i18n import gettext
from . import BY_CHOICES, FORMATS, THEMES, render_choropleth, render_map
from .options import DPI_RANGE


@click.command("map")
@STORE_OPTION
@filter_options
@click.option("--by", type=click.Choice(list(BY_CHOICES)), default=None,
              help="Overlay map: colour projects by category (default), status or year.")
@click.option("--theme", type=click.Choice(list(THEMES)), default=None,
              help="Instead a choropleth of the street offices by investment (萬元) or project count.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              callback=suffix_in(FORMATS), help="Output file: .png, .svg or .pdf.")
@click.option("--dpi", type=click.IntRange(*DPI_RANGE), default=150, show_default=True, help="PNG resolution.")
@click.option("--title", default=None, help="Map title (default: one naming the map's subject).")
def map_command(store: str | None, by: str | None, theme: str | None, out: Path, dpi: int, title: str | None,
                **options) -> None:
    """Draw the selected projects over street offices and water, or a street choropleth, to a file."""
    if by and theme:
        raise click.UsageError(gettext("--by (overlay map) and --theme (choropleth) exclude each other; give one"))
    fmt = out.suffix.lower().lstrip(".")
    params = query_params(options)
    with read_view(store, options.get("as_of")) as opened:  # in --lang or the registry's script
        if theme:
            data = render_choropleth(opened, params, value=theme, fmt=fmt, dpi=dpi, title=title)
        else:
            data = render_map(opened, params, by=by or "category", fmt=fmt, dpi=dpi, title=title)
    out.write_bytes(data)
    click.echo(gettext("wrote %(file)s (%(size)s bytes)", file=out, size=len(data)))
