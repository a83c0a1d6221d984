"""Overlay maps: the features of the projects a query selects, over the park's street offices and
water, coloured by category, status or year (lines by width, areas by fill, points by marker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import shapely
from matplotlib import colors
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .. import model, palette, script
from ..errors import ValidationError
from ..i18n import gettext
from ..numbers import format_wan
from ..params import Query, parse
from ..query import find
from ..stats import statistics
from ..store import Store
from ..text import to_script
from . import page, style
from .options import BY_CHOICES, query_caption

LABEL_LIMIT = 15  # project names on one map; more crowd out the base map


def _by_name(by: str) -> str:
    """What the map is coloured by, in the current script (類別 / 类别...)."""
    return {"category": gettext("category"), "status": gettext("status"), "year": gettext("year")}[by]


def _layer_name(layer: str) -> str:
    """A project layer's name in the current script: its category's name, or its own title (閘站)."""
    chosen = script.current()
    if layer in model.CATEGORY_BY_SLUG:
        return model.name_label("category", layer, chosen)
    return to_script(model.LAYER_BY_NAME[layer].title_zh, chosen)


@dataclass(frozen=True)
class Classes:
    """How features are grouped for colour: the column, each class's colour and legend name, in order."""

    column: str
    colours: dict[object, str]
    names: dict[object, str]


def _classes(features: gpd.GeoDataFrame, by: str) -> Classes:
    """The classes present among ``features``, in the model's order (years ascending)."""
    if by == "category":
        present = set(features["layer"])
        order = [layer.name for layer in model.PROJECT_LAYERS if layer.name in present]
        return Classes("layer", {k: palette.layer_colour(k) for k in order}, {k: _layer_name(k) for k in order})
    if by == "status":
        order = [s for s in model.STATUSES if s in set(features["status"])]
        names = model.name_labels("status", script.current())
        return Classes("status", {s: palette.STATUS_COLOURS[s] for s in order}, {s: names[s] for s in order})
    years = sorted(int(y) for y in set(features["year"]))
    return Classes("year", style.year_colours(years), {y: gettext("Year %(year)s", year=y) for y in years})


def _draw_projects(ax: Axes, features: gpd.GeoDataFrame, classes: Classes) -> None:
    """One collection per layer and class, named ``projects:<layer>:<class>``; one path or marker per feature."""
    for layer in style.DRAW_ORDER:
        in_layer = features[features["layer"] == layer]
        symbol = style.SYMBOLS[layer]
        for key, group in in_layer.groupby(classes.column, sort=False):
            colour, gid = classes.colours[key], f"projects:{layer}:{key}"
            geoms = group.geometry.values
            if symbol.kind == "marker":
                marks = ax.scatter(shapely.get_x(geoms), shapely.get_y(geoms), s=symbol.size, marker=symbol.marker,
                                   facecolors=colour, edgecolors="white", linewidths=0.5, zorder=symbol.zorder)
                marks.set_gid(gid)
            elif symbol.kind == "line":
                page.add_shapes(ax, geoms, edge=colour, width=symbol.width, zorder=symbol.zorder, gid=gid)
            else:
                page.add_shapes(ax, geoms, face=colors.to_rgba(colour, symbol.alpha), edge=style.darker(colour),
                                width=symbol.width, zorder=symbol.zorder, gid=gid)


def _handle(layer: str, colour: str) -> Artist:
    """The legend symbol of ``layer`` drawn in ``colour``."""
    symbol = style.SYMBOLS[layer]
    if symbol.kind == "line":
        return Line2D([], [], color=colour, linewidth=symbol.width, solid_capstyle="round")
    if symbol.kind == "marker":
        return Line2D([], [], linestyle="none", marker=symbol.marker, markersize=symbol.size ** 0.5 + 1,
                      markerfacecolor=colour, markeredgecolor="white", markeredgewidth=0.5)
    return page.fill_handle(colour, symbol.alpha)


def _legends(features: gpd.GeoDataFrame, classes: Classes, by: str) -> list[page.Section]:
    """The class block (with project counts), for status and year a block of the layers' shapes."""
    projects = features.groupby(classes.column)["project_id"].nunique()
    handles, labels = [], []
    for key, colour in classes.colours.items():
        if by == "category":
            handles.append(_handle(key, colour))
            owned = key not in model.CATEGORY_BY_SLUG  # a layer a category owns (sluices): its features count
            count = (features["layer"] == key).sum() if owned else projects[key]
            labels.append(gettext("%(name)s (%(count)s sites)", name=classes.names[key], count=count) if owned
                          else gettext("%(name)s (%(count)s projects)", name=classes.names[key], count=count))
        else:
            handles.append(page.fill_handle(colour, 1.0))
            labels.append(gettext("%(name)s (%(count)s projects)", name=classes.names[key], count=projects[key]))
    sections = [page.Section(gettext("Projects by %(by)s", by=_by_name(by)), handles, labels)]
    if by != "category" and len(features):
        present = set(features["layer"])
        shapes = [(_handle(layer, style.NEUTRAL), _layer_name(layer))
                  for layer in ("rivers", "alleys") if layer in present]
        if any(style.SYMBOLS[layer].kind == "fill" for layer in present):
            shapes.append((page.fill_handle(style.NEUTRAL, 0.35), gettext("Areas and plots")))
        shapes += [(_handle(layer, style.NEUTRAL), _layer_name(layer))
                   for layer in ("billboards", "sluices") if layer in present]
        sections.append(page.Section(gettext("Shapes"), [handle for handle, _ in shapes], [name for _, name in shapes]))
    return sections


def _focus(query: Query, base: page.Base, features: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """The whole park, or, for a query limited in space, its area and the features found in it."""
    spatial_query = any(g is not None for g in (query.street, query.bbox, query.polygon, query.near))
    if not spatial_query:
        return tuple(base.park.total_bounds)
    areas = list(features.geometry.values)
    if query.street:
        areas.extend(base.streets.geometry.values[(base.streets["code"] == query.street).to_numpy()])
    regions = [g for g in (query.bbox, query.polygon) if g is not None]
    if query.near is not None:
        regions.append(query.near)
    if regions:
        metric = gpd.GeoSeries(regions, crs=model.STORAGE_EPSG).to_crs(model.METRIC_EPSG)
        areas.extend(metric.buffer(query.distance or 0.0).values)
    return tuple(shapely.union_all(areas).bounds) if areas else tuple(base.park.total_bounds)


def _project_labels(features: gpd.GeoDataFrame, projects: gpd.GeoDataFrame) -> list[page.Label]:
    """Project names, largest investment first, each at its project's largest feature."""
    geoms = features.geometry.values
    size = np.where(shapely.area(geoms) > 0, shapely.area(geoms), shapely.length(geoms))
    largest = features.assign(_size=size).sort_values("_size", ascending=False).drop_duplicates("project_id")
    largest = largest.set_index("project_id")
    found = []
    for pid, name in projects.sort_values("investment_yuan", ascending=False)[["project_id", "name"]].itertuples(
            index=False):
        if pid not in largest.index:
            continue
        geom = largest.geometry[pid]
        kind = style.SYMBOLS[largest.at[pid, "layer"]].kind
        if kind == "fill":
            point, offsets = shapely.point_on_surface(geom), page.AREA_OFFSETS
        elif kind == "line":
            point, offsets = shapely.line_interpolate_point(geom, 0.5, normalized=True), ((0.0, 7.0), (0.0, -7.0))
        else:
            point, offsets = geom, page.POINT_OFFSETS
        found.append(page.Label(to_script(name, script.current()), point.x, point.y, offsets=offsets, backdrop="box"))
    return found


def overlay_figure(store: Store, params: Query | Mapping[str, str], by: str = "category",
                   title: str | None = None) -> Figure:
    """The overlay map of every project a query selects (paging is ignored), as a matplotlib figure."""
    if by not in BY_CHOICES:
        raise ValidationError(gettext("by must be one of %(values)s, got %(value)s", values=", ".join(BY_CHOICES),
                                      value=repr(by)), param="by")
    query = params if isinstance(params, Query) else parse(params, store)
    result = find(store, replace(query, limit=None, offset=0))
    features = result.features.to_crs(model.METRIC_EPSG)
    base = page.load_base(store, query.as_of)
    meta = store.meta()
    # The investment as `registry stats` gives it: under a street filter, that street's shares.
    investment = statistics(store, query, "category").totals["investment_fen"] / 100
    subtitle = gettext("%(caption)s　%(projects)s projects, %(features)s shapes, investment %(investment)s",
                       caption=query_caption(query), projects=result.total, features=len(features),
                       investment=format_wan(investment))
    notes = [gettext("Project names are labelled by investment, largest first, at most %(limit)s, leaving out those "
                     "overlapping other labels.", limit=LABEL_LIMIT),
             *([gettext("A project crossing streets counts with its share of length or area (points by number) "
                        "inside this street.")] if query.street else [])]
    with style.drawing():
        fig, ax, legend_ax = page.new_page(title or gettext("Renovation projects (by %(by)s)", by=_by_name(by)),
                                           subtitle,
                                           page.footer_lines(meta, query.as_of, *notes))
        page.set_extent(ax, _focus(query, base, features))
        page.draw_land(ax, base)
        page.draw_water(ax, base)
        page.draw_boundaries(ax, base)
        if query.street:  # the street asked for, outlined boldly
            chosen = base.streets.geometry.values[(base.streets["code"] == query.street).to_numpy()]
            page.add_shapes(ax, shapely.boundary(chosen), edge=style.PARK_EDGE, width=1.6, zorder=2.6, gid="street")
        classes = _classes(features, by)
        _draw_projects(ax, features, classes)
        taken = [page.north_arrow(ax), page.scale_bar(ax)]
        page.place_labels(ax, [*page.street_labels(base, ax), *page.lake_labels(base, ax),
                               *page.river_labels(base, ax)], taken)
        if features.empty:
            ax.text(0.5, 0.5, gettext("No project matches"), transform=ax.transAxes, ha="center", va="center",
                    fontsize=14, color="#444444", zorder=10, bbox={"boxstyle": "round,pad=0.5", "facecolor": "white"})
        page.place_labels(ax, _project_labels(features, result.projects), taken, limit=LABEL_LIMIT)
        page.stack_legends(legend_ax, [*_legends(features, classes, by), page.base_legend(base)])
    return fig
