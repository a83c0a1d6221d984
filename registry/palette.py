"""The registry's one palette: the colour of each category (and of the layers a category owns) and of each status.

Static maps (``registry.maps``), the QGIS styles of GeoPackage exports (``exchange.styles``) and the web
map (given these by the server as JSON data) all take their colours from here, so a category is drawn
in the same colour wherever it is shown.
"""

from __future__ import annotations

from . import model

CATEGORY_COLOURS: dict[str, str] = {
    "alleys": "#e6550d",
    "rivers": "#1d4f91",
    "polders": "#1c9099",
    "construction_sites": "#8c510a",
    "parking_lots": "#6a51a3",
    "markets": "#238b45",
    "vending_points": "#d4a200",
    "billboards": "#dd3497",
    "old_compounds": "#fd8d3c",
    "urban_villages": "#f768a1",
    "shanty_areas": "#cb181d",
    "urban_fringes": "#9e9ac8",
}
# A layer a category owns (model.category_layers) gets its own colour: a polder's sluice gates in dark blue.
OWNED_LAYER_COLOURS: dict[str, str] = {"sluices": "#08306b"}
STATUS_COLOURS: dict[str, str] = {
    "planned": "#7b3294",
    "in_progress": "#f28e2b",
    "completed": "#1a9850",
    "long_term_management": "#2c7bb6",
    "delayed": "#d7191c",
    "cancelled": "#969696",
}


def layer_colour(layer: str) -> str:
    """The colour a project layer's features are drawn in: its category's, or its own for a layer a
    category owns (sluices)."""
    return CATEGORY_COLOURS.get(layer) or OWNED_LAYER_COLOURS[layer]


def rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` as integer red, green, blue (QGIS writes colours as ``r,g,b,a``)."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _check() -> None:
    """Refuse a palette that misses a category, a status or an owned layer of the model."""
    owned = {layer for c in model.CATEGORIES for layer in model.category_layers(c.slug)} - set(model.CATEGORY_BY_SLUG)
    for name, table, wanted in (("CATEGORY_COLOURS", CATEGORY_COLOURS, set(model.CATEGORY_BY_SLUG)),
                                ("STATUS_COLOURS", STATUS_COLOURS, set(model.STATUSES)),
                                ("OWNED_LAYER_COLOURS", OWNED_LAYER_COLOURS, owned)):
        if set(table) != wanted:
            raise RuntimeError(f"palette.{name} must colour exactly {sorted(wanted)}, not {sorted(table)}")


_check()
