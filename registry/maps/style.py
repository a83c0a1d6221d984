"""How the registry's maps look and are written: the CJK font, symbols, base-map colours, rcParams,
output (the colours of categories and statuses are ``registry.palette``'s).

matplotlib keeps its settings (rcParams) and font cache per process, so every map is built and
saved inside ``drawing()``: one process-wide lock plus ``rc_context``. Figures themselves are
private to each call (the object-oriented API, Agg canvas, no pyplot), so a threaded server can
render maps safely; renders in one process simply take turns.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib import colors, font_manager
from matplotlib.figure import Figure
from matplotlib.typing import ColorType

from .. import model
from ..errors import RegistryError, ValidationError
from ..i18n import gettext
from .options import DPI_RANGE, FORMATS

# Any face of the Noto Sans CJK collection covers the registry's text; the TC face draws the
# traditional characters the registry stores in their Taiwan/Hong Kong forms.
CJK_FAMILIES = ("Noto Sans CJK TC", "Noto Sans CJK HK", "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK KR")

_LOCK = threading.RLock()


@functools.cache
def cjk_font() -> str:
    """The family name of the installed Noto Sans CJK face every label is set in."""
    names = {entry.name for entry in font_manager.fontManager.ttflist}
    if not names.intersection(CJK_FAMILIES):  # the font cache predates the fonts: add the files
        for path in font_manager.findSystemFonts():
            if Path(path).name.startswith("NotoSansCJK"):
                font_manager.fontManager.addfont(path)
        names = {entry.name for entry in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in names:
            return family
    raise RegistryError(gettext("maps need the Noto Sans CJK font and none is installed; install it (Debian: apt-get "
                                "install fonts-noto-cjk)"))


def _rc() -> dict[str, object]:
    """The rcParams every map is built and saved with."""
    return {
        "font.family": [cjk_font()],
        "font.size": 9,
        "axes.unicode_minus": False,
        "svg.fonttype": "none",  # text stays <text>: searchable, and editable in Illustrator/Inkscape
        "svg.hashsalt": "registry-maps",  # stable element ids, so the same map gives the same bytes
        # Type 3 embeds the glyphs drawn; Type 42 would write the collection's CFF outlines under a
        # TrueType descriptor, which poppler reports as a font-type mismatch.
        "pdf.fonttype": 3,
        "figure.dpi": 100,
        "savefig.facecolor": "white",
    }


@contextmanager
def drawing() -> Iterator[None]:
    """Build or save a figure: hold the drawing lock with the maps' rcParams in force."""
    with _LOCK, matplotlib.rc_context(_rc()):
        yield


def check_output(fmt: str, dpi: int) -> None:
    """Refuse an unknown format or an unreasonable resolution before any drawing starts."""
    if fmt not in FORMATS:
        raise ValidationError(gettext("map format must be one of %(values)s, got %(value)s", values=", ".join(FORMATS),
                                      value=repr(fmt)), param="format")
    if not DPI_RANGE[0] <= dpi <= DPI_RANGE[1]:
        raise ValidationError(gettext("%(param)s must be %(bound)s, got %(value)s", param="dpi", value=dpi,
                                      bound=gettext("between %(low)s and %(high)s", low=DPI_RANGE[0],
                                                    high=DPI_RANGE[1])), param="dpi")


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 150) -> bytes:
    """A finished figure as PNG, SVG or PDF bytes; dates are left out so output is reproducible."""
    check_output(fmt, dpi)
    title = fig.get_suptitle()
    metadata: dict[str, str | None] = {"Title": title}
    if fmt == "svg":
        metadata["Date"] = None
    elif fmt == "pdf":
        metadata["CreationDate"] = None
    buffer = io.BytesIO()
    with drawing():
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return buffer.getvalue()


@dataclass(frozen=True)
class Symbol:
    """How one project layer is drawn: a line of a width, a filled area, or a point marker."""

    kind: str  # "line", "fill" or "marker"
    zorder: float
    width: float = 0.0  # line width in points
    alpha: float = 0.85  # fill opacity; large areas are see-through so what lies in them shows
    marker: str = ""
    size: float = 0.0  # marker area in points²


_LARGE_AREAS = ("polders", "urban_fringes", "urban_villages")
SYMBOLS: dict[str, Symbol] = {
    **{c.slug: Symbol("fill", 3.0 if c.slug in _LARGE_AREAS else 3.5, width=0.6,
                      alpha=0.35 if c.slug in _LARGE_AREAS else 0.85)
       for c in model.CATEGORIES if "Polygon" in c.geometry_type},
    "rivers": Symbol("line", 4.0, width=2.0),
    "alleys": Symbol("line", 4.1, width=1.6),
    "sluices": Symbol("marker", 5.0, marker="s", size=16),
    "billboards": Symbol("marker", 5.1, marker="^", size=20),
}
# Draw order: large areas under small ones, areas under lines, lines under points.
DRAW_ORDER = tuple(sorted(SYMBOLS, key=lambda layer: SYMBOLS[layer].zorder))

# The base map: park, street offices, water.
PARK_FILL, OUTSIDE_FILL, PARK_EDGE = "#ffffff", "#ecebe6", "#4d4d4d"
STREET_EDGE, STREET_LABEL = "#8a8a8a", "#7a7a7a"
LAKE_FILL, WATER_EDGE, WATER_LABEL = "#cfe3f3", "#8fb9dc", "#2f6fa8"
NEUTRAL = "#5a5a5a"


def year_colours(years: list[int]) -> dict[int, str]:
    """Distinct colours for the years shown: a qualitative palette, or viridis beyond eight years."""
    ordered = sorted(set(years))
    palette = matplotlib.colormaps["Dark2"] if len(ordered) <= 8 else matplotlib.colormaps["viridis"].resampled(
        len(ordered))
    return {year: colors.to_hex(palette(i)) for i, year in enumerate(ordered)}


def darker(colour: ColorType, factor: float = 0.7) -> str:
    """The same hue, darker: the outline of an area filled with ``colour``."""
    red, green, blue = colors.to_rgb(colour)
    return colors.to_hex((red * factor, green * factor, blue * factor))
