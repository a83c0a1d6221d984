"""The parts every registry map shares: the A4 page, the base map, scale bar, north arrow,
stacked legends and collision-free labels.

Everything is drawn in EPSG:4549 (metres, Gauss-Kruger CM 120E), so a data unit is a metre on the
ground and the scale bar is true; the grid north of that projection is within half a degree of
true north over the park, so the north arrow points straight up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from matplotlib import patheffects
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle
from matplotlib.path import Path
from matplotlib.transforms import Bbox
from matplotlib.typing import ColorType

from .. import model, script
from ..i18n import gettext
from ..store import Store
from ..streets import streets_as_of
from ..text import to_script
from . import style

PAGE_INCHES = (11.69, 8.27)  # A4 landscape
MAP_BOX = (0.40, 0.62, 6.95, 6.68)  # left, bottom, width, height in inches
LEGEND_BOX = (7.65, 0.62, 3.75, 6.68)
_SCALE_LENGTHS = (100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 25_000, 50_000)
_MIN_EXTENT_M = 2_000.0
_PARK_DASHES = (0, (8, 2, 1.5, 2))  # dash-dot: an administrative boundary
_STREET_DASHES = (0, (5, 2))


@dataclass
class Base:
    """The base layers in EPSG:4549: park boundary, street offices valid on ``as_of``, lakes, rivers."""

    as_of: str
    park: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame  # code, name, geometry
    lakes: gpd.GeoDataFrame
    rivers: gpd.GeoDataFrame


def load_base(store: Store, as_of: str) -> Base:
    """Read the reference layers once per map, projected for drawing."""
    def metric(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return frame.to_crs(model.METRIC_EPSG).reset_index(drop=True)

    return Base(as_of=as_of, park=metric(store.features("park_boundary")),
                streets=metric(streets_as_of(store, as_of)),
                lakes=metric(store.features("lakes")), rivers=metric(store.features("main_rivers")))


@dataclass
class Section:
    """One legend block: a bold title over symbol-and-text rows."""

    title: str
    handles: list[Artist]
    labels: list[str]


@dataclass
class Label:
    """A label to place if it fits: text at a point (EPSG:4549), tried at each offset in turn."""

    text: str
    x: float
    y: float
    size: float = 7.0
    colour: str = "#222222"
    weight: str = "normal"
    rotation: float = 0.0
    # What keeps the text readable over the map: "halo" (a white outline; big text), "box" (a pale
    # box; small text, and far fewer bytes in SVG than a halo's outline paths) or "none".
    backdrop: str = "halo"
    zorder: float = 8.0
    offsets: tuple[tuple[float, float], ...] = ((0.0, 0.0),)  # points; (0, 0) centres on the point


POINT_OFFSETS = ((5.0, 0.0), (-5.0, 0.0), (0.0, 6.0), (0.0, -6.0))
AREA_OFFSETS = ((0.0, 0.0), (0.0, 9.0), (0.0, -9.0))


def new_page(title: str, subtitle: str, footer: Sequence[str]) -> tuple[Figure, Axes, Axes]:
    """An A4 landscape figure with title, subtitle and footer: the map frame and the legend panel."""
    width, height = PAGE_INCHES
    fig = Figure(figsize=PAGE_INCHES)
    FigureCanvasAgg(fig)
    fig.suptitle(title, x=MAP_BOX[0] / width, y=1 - 0.28 / height, ha="left", va="top",
                 fontsize=16, fontweight="bold")
    fig.text(MAP_BOX[0] / width, 1 - 0.72 / height, subtitle, ha="left", va="top", fontsize=9.5, color="#444444")
    for i, line in enumerate(reversed(footer)):
        fig.text(MAP_BOX[0] / width, (0.14 + 0.16 * i) / height, line, ha="left", va="bottom", fontsize=6.8,
                 color="#555555")

    def box(spec: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        left, bottom, w, h = spec
        return left / width, bottom / height, w / width, h / height

    ax = fig.add_axes(box(MAP_BOX))
    ax.set_facecolor(style.OUTSIDE_FILL)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.9)
    legend_ax = fig.add_axes(box(LEGEND_BOX))
    legend_ax.set_axis_off()
    return fig, ax, legend_ax


def footer_lines(meta: Mapping[str, str], as_of: str, *notes: str) -> list[str]:
    """The small print: data date, boundary date and CRS, any ``notes``, and the registry's notice."""
    notice = meta.get("notice", "")
    chinese = re.search(r"[\u3400-\u9fff].*", notice)  # the maps are in Chinese: its Chinese sentence
    lines = [gettext("Data date: %(date)s　Street boundaries: %(as_of)s　CRS: CGCS2000 / 3-degree Gauss-Kruger CM "
                     "120E (EPSG:4549)", date=meta.get("data_date", "-"), as_of=as_of), *notes]
    if notice:
        lines.append(to_script(chinese.group(0), script.current()) if chinese else notice)
    return lines


def set_extent(ax: Axes, bounds: Sequence[float], pad: float = 0.04) -> None:
    """Show ``bounds`` (EPSG:4549) with a margin, widened to the frame's shape so metres stay square."""
    minx, miny, maxx, maxy = bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    w = max(maxx - minx, _MIN_EXTENT_M) * (1 + 2 * pad)
    h = max(maxy - miny, _MIN_EXTENT_M) * (1 + 2 * pad)
    frame = MAP_BOX[2] / MAP_BOX[3]
    if w / h < frame:
        w = h * frame
    else:
        h = w / frame
    ax.set_xlim(cx - w / 2, cx + w / 2)
    ax.set_ylim(cy - h / 2, cy + h / 2)
    ax.set_aspect("equal", adjustable="datalim")


def geometry_path(geom: shapely.Geometry) -> Path:
    """A (multi)polygon or (multi)linestring as one path: one feature, one path, holes kept."""
    if "Polygon" in geom.geom_type:
        geom = shapely.orient_polygons(geom)  # holes run against their exterior: holes under any fill rule
        rings = [ring for part in shapely.get_parts(geom) for ring in (part.exterior, *part.interiors)]
        return Path.make_compound_path(*[Path(np.asarray(ring.coords)[:, :2], closed=True) for ring in rings])
    return Path.make_compound_path(*[Path(np.asarray(part.coords)[:, :2]) for part in shapely.get_parts(geom)])


def add_shapes(ax: Axes, geoms: Sequence[shapely.Geometry], *, face: ColorType = "none", edge: ColorType = "none",
               width: float = 0.0, zorder: float = 1.0, gid: str | None = None,
               linestyle: str | tuple = "solid") -> PathCollection:
    """Draw areas or lines as one collection, one path per geometry (``gid`` names it in SVG)."""
    shapes = PathCollection([geometry_path(g) for g in geoms if not g.is_empty], facecolors=face,
                            edgecolors=edge, linewidths=width, linestyles=linestyle, zorder=zorder,
                            capstyle="round", joinstyle="round")
    shapes.set_gid(gid)
    ax.add_collection(shapes, autolim=False)
    return shapes


def draw_land(ax: Axes, base: Base) -> None:
    """The park's land on the grey of the world outside it."""
    add_shapes(ax, base.park.geometry.values, face=style.PARK_FILL, zorder=1.0, gid="park")


def draw_water(ax: Axes, base: Base) -> None:
    """Lakes and main rivers, under the projects."""
    add_shapes(ax, base.lakes.geometry.values, face=style.LAKE_FILL, edge=style.WATER_EDGE, width=0.5,
               zorder=2.0, gid="lakes")
    add_shapes(ax, base.rivers.geometry.values, edge=style.WATER_EDGE, width=2.2, zorder=2.1, gid="main-rivers")


def draw_boundaries(ax: Axes, base: Base) -> None:
    """Street-office boundaries and, over everything, the park boundary."""
    add_shapes(ax, shapely.boundary(base.streets.geometry.values), edge=style.STREET_EDGE, width=0.9,
               zorder=2.5, gid="street-boundaries", linestyle=_STREET_DASHES)
    add_shapes(ax, base.park.geometry.values, edge=style.PARK_EDGE, width=1.8, zorder=6.0, gid="park-boundary",
               linestyle=_PARK_DASHES)


def base_legend(base: Base) -> Section:
    """The legend block of the base map."""
    handles: list[Artist] = [
        Line2D([], [], color=style.PARK_EDGE, linewidth=1.8, linestyle=_PARK_DASHES),
        Line2D([], [], color=style.STREET_EDGE, linewidth=0.9, linestyle=_STREET_DASHES),
        Patch(facecolor=style.LAKE_FILL, edgecolor=style.WATER_EDGE, linewidth=0.5),
        Line2D([], [], color=style.WATER_EDGE, linewidth=2.2),
    ]
    labels = [gettext("Park boundary"), gettext("Street boundaries (%(as_of)s)", as_of=base.as_of), gettext("Lakes"),
              gettext("Main rivers")]
    return Section(gettext("Base map"), handles, labels)


def land_points(base: Base, geoms: Sequence[shapely.Geometry], ax: Axes) -> np.ndarray:
    """A point inside each geometry's visible, dry part (street names stay off the lakes)."""
    view = _view(ax)
    water = shapely.union_all(base.lakes.geometry.values)
    dry = [shapely.intersection(shapely.difference(g, water), view) for g in geoms]
    return np.array([shapely.point_on_surface(g) if not g.is_empty else None for g in dry], dtype=object)


def _view(ax: Axes) -> shapely.Geometry:
    """The map frame's extent as a box in EPSG:4549."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    return shapely.box(x0, y0, x1, y1)


def street_labels(base: Base, ax: Axes) -> list[Label]:
    """The street offices' names, each on a visible dry part of its street."""
    points = land_points(base, base.streets.geometry.values, ax)
    chosen = script.current()
    return [Label(gettext("%(street)s street", street=model.name_label("street", code, chosen)), point.x, point.y,
                  size=13, colour=style.STREET_LABEL, weight="bold", zorder=7.0)
            for code, point in zip(base.streets["code"], points) if point is not None]


def lake_labels(base: Base, ax: Axes) -> list[Label]:
    """The lakes' names, on their visible parts."""
    view, found = _view(ax), []
    for name, lake in zip(base.lakes["name"], base.lakes.geometry.values):
        visible = shapely.intersection(lake, view)
        if not visible.is_empty:
            point = shapely.point_on_surface(visible)
            found.append(Label(to_script(name, script.current()), point.x, point.y, size=8.5,
                               colour=style.WATER_LABEL, zorder=7.0))
    return found


def river_labels(base: Base, ax: Axes) -> list[Label]:
    """The main rivers' names, along the middle of their longest visible stretch, beside the line."""
    view, found = _view(ax), []
    for name, river in zip(base.rivers["name"], base.rivers.geometry.values):
        visible = shapely.line_merge(shapely.intersection(river, view))
        if visible.is_empty:
            continue
        longest = max(shapely.get_parts(visible), key=lambda part: part.length)
        a, b = longest.interpolate(0.47, normalized=True), longest.interpolate(0.53, normalized=True)
        angle = float(np.degrees(np.arctan2(b.y - a.y, b.x - a.x)))
        angle = angle - 180 if angle > 90 else angle + 180 if angle < -90 else angle  # never upside down
        middle = longest.interpolate(0.5, normalized=True)
        across = np.radians(angle + 90)
        side = (6.5 * float(np.cos(across)), 6.5 * float(np.sin(across)))
        found.append(Label(to_script(name, script.current()), middle.x, middle.y, size=7, colour=style.WATER_LABEL,
                           rotation=angle, zorder=7.0, offsets=(side, (-side[0], -side[1]))))
    return found


def place_labels(ax: Axes, labels: Sequence[Label], taken: list[Bbox], limit: int | None = None) -> None:
    """Place labels in order where they fit inside the frame without touching ``taken`` (extended).

    A label is tried at each of its offsets; one that fits nowhere is left out, and after ``limit``
    placed labels the rest are. A halo is a white copy drawn with a stroke under the text (gid
    ``halo``), so that the text itself stays text in SVG and PDF.
    """
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer).padded(-3)
    placed = 0
    for label in labels:
        if limit is not None and placed >= limit:
            break
        for dx, dy in label.offsets:
            options = {
                "xytext": (dx, dy), "textcoords": "offset points", "fontsize": label.size,
                "fontweight": label.weight, "rotation": label.rotation, "rotation_mode": "anchor",
                "annotation_clip": False,
                "ha": "center" if label.rotation or not dx else "left" if dx > 0 else "right",
                "va": "center" if label.rotation or dx else "bottom" if dy > 0 else "top" if dy < 0 else "center",
            }
            box = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}
            text = ax.annotate(label.text, (label.x, label.y), color=label.colour, zorder=label.zorder,
                               bbox=box if label.backdrop == "box" else None, **options)
            extent = text.get_window_extent(renderer).padded(2.5)
            fits = (frame.x0 <= extent.x0 and extent.x1 <= frame.x1 and frame.y0 <= extent.y0
                    and extent.y1 <= frame.y1 and not any(extent.overlaps(other) for other in taken))
            if not fits:
                text.remove()
                continue
            taken.append(extent)
            placed += 1
            if label.backdrop == "halo":
                halo = ax.annotate(label.text, (label.x, label.y), color="white", zorder=label.zorder - 0.01,
                                   path_effects=[patheffects.withStroke(linewidth=2.6, foreground="white")],
                                   **options)
                halo.set_gid("halo")
            break


def scale_bar(ax: Axes) -> Bbox:
    """A true scale bar in metres (EPSG:4549 units) at the lower left; returns the area it covers."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    width, height = x1 - x0, y1 - y0
    length = max([n for n in _SCALE_LENGTHS if n <= width * 0.22] or [_SCALE_LENGTHS[0]])
    left, bottom, thick = x0 + 0.035 * width, y0 + 0.04 * height, height * 0.007
    backdrop = Rectangle((left - 0.015 * width, bottom - 0.018 * height), length + 0.1 * width, 0.062 * height,
                         facecolor="white", edgecolor="#999999", linewidth=0.5, alpha=0.85, zorder=9.0)
    ax.add_patch(backdrop)
    for i in range(4):
        ax.add_patch(Rectangle((left + i * length / 4, bottom), length / 4, thick, zorder=9.1, linewidth=0.6,
                               facecolor="black" if i % 2 == 0 else "white", edgecolor="black"))
    unit, per_unit = (gettext("km"), 1000) if length >= 1000 else (gettext("m"), 1)
    for fraction in (0.0, 0.5, 1.0):
        ax.text(left + fraction * length, bottom + thick + 0.006 * height, f"{length * fraction / per_unit:g}",
                ha="center", va="bottom", fontsize=7.5, zorder=9.2)
    ax.text(left + length + 0.012 * width, bottom + thick / 2, unit, ha="left", va="center", fontsize=7.5, zorder=9.2)
    return backdrop.get_window_extent(ax.figure.canvas.get_renderer())


def north_arrow(ax: Axes) -> Bbox:
    """A north arrow in the upper right of the map frame; returns the area it covers."""
    tip, half, depth = (0.945, 0.945), 0.018, 0.07
    base_y = tip[1] - depth
    notch = (tip[0], base_y + depth * 0.28)
    left = Polygon([tip, (tip[0] - half, base_y), notch], closed=True, facecolor="black", edgecolor="black",
                   linewidth=0.7, transform=ax.transAxes, zorder=9.0)
    right = Polygon([tip, (tip[0] + half, base_y), notch], closed=True, facecolor="white", edgecolor="black",
                    linewidth=0.7, transform=ax.transAxes, zorder=9.0)
    ax.add_patch(left)
    ax.add_patch(right)
    letter = ax.text(tip[0], tip[1] + 0.006, gettext("N"), transform=ax.transAxes, ha="center", va="bottom",
                     fontsize=10, fontweight="bold", zorder=9.0)
    renderer = ax.figure.canvas.get_renderer()
    return Bbox.union([artist.get_window_extent(renderer) for artist in (left, right, letter)]).padded(4)


def stack_legends(legend_ax: Axes, sections: Sequence[Section]) -> None:
    """Legend blocks one under another from the top of the legend panel."""
    renderer = legend_ax.figure.canvas.get_renderer()
    top = 1.0
    for section in sections:
        legend = Legend(legend_ax, section.handles, section.labels, title=section.title, loc="upper left",
                        bbox_to_anchor=(0.0, top), frameon=False, alignment="left", fontsize=8.5,
                        title_fontproperties={"weight": "bold", "size": 10}, handlelength=2.4, handleheight=1.1,
                        borderaxespad=0.0, labelspacing=0.45)
        legend_ax.add_artist(legend)
        extent = legend.get_window_extent(renderer).transformed(legend_ax.transAxes.inverted())
        top = extent.y0 - 0.035


def fill_handle(colour: ColorType, alpha: float) -> Patch:
    """The legend swatch of an area filled with ``colour``."""
    return Patch(facecolor=colour, edgecolor=style.darker(colour), linewidth=0.6, alpha=alpha)
