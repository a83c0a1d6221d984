"""Static maps for reports: overlay maps of the projects a query selects and choropleths of their
investment or count by street office, as PNG, SVG or PDF bytes with Chinese text in Noto Sans CJK.

The CLI (``registry map``) and the HTTP API call ``render_map`` and ``render_choropleth``; the
``*_figure`` functions return the matplotlib figure itself, for callers that add to it or test it.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..params import Query
from ..store import Store
from .choropleth import THEMES, choropleth_figure, classify
from .overlay import BY_CHOICES, overlay_figure
from .style import FORMATS, check_output, cjk_font, figure_bytes

__all__ = ["BY_CHOICES", "FORMATS", "THEMES", "choropleth_figure", "cjk_font", "classify", "figure_bytes",
           "overlay_figure", "render_choropleth", "render_map"]


def render_map(store: Store, params: Query | Mapping[str, str], by: str = "category", fmt: str = "png",
               dpi: int = 150, title: str | None = None) -> bytes:
    """The overlay map of a query's projects coloured ``by`` category, status or year, as file bytes."""
    check_output(fmt, dpi)
    return figure_bytes(overlay_figure(store, params, by=by, title=title), fmt, dpi)


def render_choropleth(store: Store, params: Query | Mapping[str, str], value: str = "investment",
                      fmt: str = "png", dpi: int = 150, title: str | None = None) -> bytes:
    """The street-office choropleth of a query's investment (萬元) or project count, as file bytes."""
    check_output(fmt, dpi)
    return figure_bytes(choropleth_figure(store, params, value=value, title=title), fmt, dpi)
