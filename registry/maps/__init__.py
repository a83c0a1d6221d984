"""Static maps for reports: overlay maps of the projects a query selects and choropleths of their
investment or count by street office, as PNG, SVG or PDF bytes with Chinese text in Noto Sans CJK.

The CLI (``registry map``) and the HTTP API call ``render_map`` and ``render_choropleth``; the
``*_figure`` functions return the matplotlib figure itself, for callers that add to it or test it.
matplotlib is imported when a map is first drawn, not by every process that imports the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any

from ..params import Query
from ..store import Store
from .options import BY_CHOICES, DPI_RANGE, FORMATS, THEMES

__all__ = ["BY_CHOICES", "DPI_RANGE", "FORMATS", "THEMES", "choropleth_figure", "cjk_font", "classify",
           "figure_bytes", "overlay_figure", "render_choropleth", "render_map"]
_DRAWING = {"choropleth_figure": "choropleth", "classify": "choropleth", "overlay_figure": "overlay",
            "cjk_font": "style", "figure_bytes": "style"}


def __getattr__(name: str) -> Any:
    """The drawing functions, from their modules on first use (PEP 562)."""
    if name in _DRAWING:
        return getattr(import_module(f".{_DRAWING[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def render_map(store: Store, params: Query | Mapping[str, str], by: str = "category", fmt: str = "png",
               dpi: int = 150, title: str | None = None) -> bytes:
    """The overlay map of a query's projects coloured ``by`` category, status or year, as file bytes."""
    from .overlay import overlay_figure
    from .style import check_output, figure_bytes

    check_output(fmt, dpi)
    return figure_bytes(overlay_figure(store, params, by=by, title=title), fmt, dpi)


def render_choropleth(store: Store, params: Query | Mapping[str, str], value: str = "investment",
                      fmt: str = "png", dpi: int = 150, title: str | None = None) -> bytes:
    """The street-office choropleth of a query's investment (萬元) or project count, as file bytes."""
    from .choropleth import choropleth_figure
    from .style import check_output, figure_bytes

    check_output(fmt, dpi)
    return figure_bytes(choropleth_figure(store, params, value=value, title=title), fmt, dpi)
