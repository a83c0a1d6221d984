"""QGIS layer styles for GeoPackage exports, so a file opens in QGIS already symbolised.

QGIS keeps styles in a GeoPackage's ``layer_styles`` table (one row per layer, QML text, and
``useAsDefault`` = 1 for the style applied on open). Each layer gets a categorised renderer on
``category`` (the category's colour, or in a layer a category owns, such as sluices, that layer's) or
on ``status``, with one class per value present and Chinese labels; colours are ``registry.palette``'s,
as on the static and web maps. The QML carries both the ``<Option>`` map of current QGIS and the
``<prop>`` list of older versions.
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from .. import model, palette, script
from ..i18n import gettext

STYLE_ATTRIBUTES = ("category", "status")
QGIS_VERSION = "3.22.0-Białowieża"
_OTHER = "120,120,120"  # a value outside the model (QGIS still draws it)
_VALUE_MAPPED = ("category", "status", "site_type", "billboard_action")  # coded fields holding one code each
# QGIS symbol type, symbol layer class, geometry type code of the QML, properties given a colour
_KINDS = {
    "MultiLineString": ("line", "SimpleLine", 1),
    "MultiPolygon": ("fill", "SimpleFill", 2),
    "Point": ("marker", "SimpleMarker", 0),
}

_LAYER_STYLES_DDL = (
    'CREATE TABLE "layer_styles" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "f_table_catalog" TEXT(256), '
    '"f_table_schema" TEXT(256), "f_table_name" TEXT(256), "f_geometry_column" TEXT(256), "styleName" TEXT(30), '
    '"styleQML" TEXT, "styleSLD" TEXT, "useAsDefault" BOOLEAN, "description" TEXT, "owner" TEXT(30), '
    '"ui" TEXT(30), "update_time" DATETIME DEFAULT (strftime(\'%Y-%m-%dT%H:%M:%fZ\',\'now\')))'
)


def _properties(symbol: str, colour: str) -> dict[str, str]:
    """The symbol layer's properties: a visible line, a translucent fill with an outline, or a dot."""
    if symbol == "line":
        return {"line_color": f"{colour},255", "line_width": "0.6", "line_width_unit": "MM",
                "line_style": "solid", "capstyle": "round", "joinstyle": "round"}
    if symbol == "fill":
        return {"color": f"{colour},160", "style": "solid", "outline_color": f"{colour},255",
                "outline_style": "solid", "outline_width": "0.4", "outline_width_unit": "MM", "joinstyle": "bevel"}
    return {"name": "circle", "color": f"{colour},255", "size": "2.4", "size_unit": "MM",
            "outline_color": "35,35,35,255", "outline_style": "solid", "outline_width": "0.2",
            "outline_width_unit": "MM"}


def _symbol(parent: ET.Element, name: str, geometry_type: str, colour: str) -> None:
    symbol_type, layer_class, _ = _KINDS[geometry_type]
    symbol = ET.SubElement(parent, "symbol", {"type": symbol_type, "name": name, "alpha": "1",
                                              "clip_to_extent": "1", "force_rhr": "0"})
    layer = ET.SubElement(symbol, "layer", {"class": layer_class, "pass": "0", "enabled": "1", "locked": "0"})
    properties = _properties(symbol_type, colour)
    options = ET.SubElement(layer, "Option", {"type": "Map"})
    for key, value in properties.items():
        ET.SubElement(options, "Option", {"type": "QString", "name": key, "value": value})
    for key, value in properties.items():
        ET.SubElement(layer, "prop", {"k": key, "v": value})


def _colour(layer: str, attribute: str, value: str) -> str:
    """The palette's colour of a class as QGIS writes it (``r,g,b``)."""
    if attribute == "status":
        colour = palette.STATUS_COLOURS.get(value)
    else:  # every feature of a layer is of the category that owns it
        colour = palette.layer_colour(layer) if layer in model.category_layers(value) else None
    return ",".join(map(str, palette.rgb(colour))) if colour else _OTHER


def layer_qml(layer: str, attribute: str, values: Iterable[str]) -> str:
    """QML of a categorised renderer on ``attribute`` for a project layer: one class per value, in the model's order;
    with the project fields' names (aliases) and the names of coded values (value maps) in the export's script."""
    labels = model.name_labels(attribute, script.current())  # the legend in the export's script
    geometry_type = model.LAYER_BY_NAME[layer].geometry_type
    present = set(values)
    ordered = [v for v in labels if v in present] + sorted(str(v) for v in present - set(labels))
    root = ET.Element("qgis", {"version": QGIS_VERSION, "styleCategories": "Symbology|Fields|Forms"})
    renderer = ET.SubElement(root, "renderer-v2", {
        "type": "categorizedSymbol", "attr": attribute, "symbollevels": "0", "enableorderby": "0",
        "forceraster": "0", "referencescale": "-1"})
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for i, value in enumerate(ordered):
        ET.SubElement(categories, "category", {"value": value, "label": labels.get(value, value),
                                               "symbol": str(i), "render": "true"})
        _symbol(symbols, str(i), geometry_type, _colour(layer, attribute, value))
    source = ET.SubElement(renderer, "source-symbol")
    _symbol(source, "0", geometry_type, _OTHER)
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerGeometryType").text = str(_KINDS[geometry_type][2])
    _fields(root)
    ET.indent(root, space=" ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode")


def _fields(root: ET.Element) -> None:
    """What QGIS shows for the project fields a feature carries: each field by its name in the script (its alias),
    and a coded field's values by their names (a value map: QGIS stores and filters by the code, shows the name)."""
    chosen = script.current()
    configuration = ET.SubElement(root, "fieldConfiguration")
    for kind in _VALUE_MAPPED:
        field = ET.SubElement(configuration, "field", {"name": model.NAME_FIELDS[kind], "configurationFlags": "None"})
        widget = ET.SubElement(field, "editWidget", {"type": "ValueMap"})
        options = ET.SubElement(ET.SubElement(widget, "config"), "Option", {"type": "Map"})
        entries = ET.SubElement(options, "Option", {"type": "List", "name": "map"})
        for code, label in model.name_labels(kind, chosen).items():
            ET.SubElement(ET.SubElement(entries, "Option", {"type": "Map"}), "Option",
                          {"type": "QString", "name": label, "value": code})
    aliases = ET.SubElement(root, "aliases")
    for index, field in enumerate(model.PROJECT_FIELDS):
        ET.SubElement(aliases, "alias", {"field": field.name, "index": str(index), "name": gettext(field.name)})


def write_layer_styles(path: Path, styles: dict[str, str]) -> None:
    """Add QGIS's ``layer_styles`` table to a GeoPackage with a default style (QML) for each layer."""
    con = sqlite3.connect(path)
    try:
        with con:
            geometry_columns = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
            con.execute(_LAYER_STYLES_DDL)
            con.executemany(
                'INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, '
                'styleName, styleQML, styleSLD, useAsDefault, description, owner, ui) '
                "VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', '')",
                [(layer, geometry_columns[layer], layer, qml, "registry export style")
                 for layer, qml in styles.items()])
            con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                        "VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles')")
    finally:
        con.close()
