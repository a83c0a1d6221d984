"""Thematic maps: street offices shaded by the investment (萬元) or number of the projects a query
selects, from the apportioned statistics, in at most five classes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from .. import model, script
from ..errors import ValidationError
from ..i18n import gettext
from ..numbers import format_wan
from ..params import Query, parse
from ..stats import OUTSIDE, UNLOCATED, statistics
from ..store import Store
from . import page, style
from .options import THEMES, query_caption

MAX_CLASSES = 5
_COLOURMAPS = {"investment": "YlOrBr", "count": "YlGn"}


def _theme(value: str) -> tuple[str, str, str]:
    """A theme's name, unit and note on apportioning, in the current script."""
    if value == "investment":
        return (gettext("Investment"), gettext("10,000 yuan"),
                gettext("Projects crossing streets share their investment by their length or area (points by number) "
                        "inside each street; the streets add up to the total."))
    return (gettext("Number of projects"), gettext("projects (measure word)"),
            gettext("A project crossing streets counts once in each street it touches, so the streets may add up "
                    "to more than the number of projects."))


@dataclass(frozen=True)
class Classing:
    """Class bounds (lower, upper] in ascending order and the class index of each value."""

    bounds: list[tuple[float, float]]
    index: np.ndarray
    method: str


def _equal_steps(low: float, high: float, k: int) -> tuple[float, list[float]]:
    """The lower bound and class tops of at most ``k`` classes of one round width (1, 2, 2.5, 3, 4 or
    5 × 10ⁿ) from a multiple of that width up to ``high``: the narrowest such classes."""
    power = 10.0 ** math.floor(math.log10((high - low) / k))
    while True:
        for width in (m * power for m in (1, 2, 2.5, 3, 4, 5)):
            bottom, top = math.floor(low / width), math.ceil(high / width)
            if top - bottom <= k:
                return bottom * width, [width * i for i in range(bottom + 1, top + 1)]
        power *= 10


def classify(values: np.ndarray, k: int = MAX_CLASSES) -> Classing:
    """Classes for a choropleth: natural breaks (Jenks) when there are more than ``k`` distinct values,
    else equal round steps over the values' range (five street offices are too few for Jenks: each
    would be a class of its own).
    """
    import mapclassify  # imported here: it takes seconds to import, and only choropleths need it

    values = np.asarray(values, dtype=float)
    distinct = np.unique(values)
    if len(distinct) > k:
        uppers, lower, method = list(mapclassify.NaturalBreaks(values, k=k).bins), float(distinct[0]), "NaturalBreaks"
    elif len(distinct) > 1:
        (lower, uppers), method = _equal_steps(distinct[0], distinct[-1], len(distinct)), "EqualSteps"
    else:  # one value (or none): one class holding it
        lower = float(distinct[0]) if len(distinct) else 0.0
        uppers, method = [lower], "Single"
    index = mapclassify.UserDefined(values, uppers).yb if len(values) else np.array([], dtype=int)
    return Classing(bounds=list(zip([lower, *uppers[:-1]], uppers)), index=np.asarray(index, dtype=int),
                    method=method)


def _number(value: float, whole: bool) -> str:
    """A class bound with thousands separators, and two decimals unless every bound is whole."""
    return f"{value:,.0f}" if whole else f"{value:,.2f}"


def _class_labels(classing: Classing) -> list[str]:
    """Legend text of each class, ``20,000 – 40,000``; decimals only when a bound needs them."""
    whole = all(float(b).is_integer() for pair in classing.bounds for b in pair)
    if classing.method == "Single":
        return [_number(classing.bounds[0][1], whole)]
    return [f"{_number(lo, whole)} – {_number(hi, whole)}" for lo, hi in classing.bounds]


def _text_colour(fill: tuple[float, float, float, float]) -> str:
    """Dark text on light fills, white on dark ones."""
    red, green, blue = fill[:3]
    return "#222222" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def choropleth_figure(store: Store, params: Query | Mapping[str, str], value: str = "investment",
                      title: str | None = None) -> Figure:
    """Street offices (valid on the query's date) shaded by investment in 萬元 or project count."""
    if value not in THEMES:
        raise ValidationError(gettext("theme must be one of %(values)s, got %(value)s", values=", ".join(THEMES),
                                      value=repr(value)), param="theme")
    query = params if isinstance(params, Query) else parse(params, store)
    stats = statistics(store, query, "street")
    rows = stats.rows.set_index("street")
    base = page.load_base(store, query.as_of)
    fen = base.streets["code"].map(rows["investment_fen"]).fillna(0).to_numpy()
    projects = base.streets["code"].map(rows["projects"]).fillna(0).astype(int).to_numpy()
    values = fen / 1_000_000 if value == "investment" else projects.astype(float)  # 萬元 or projects
    classing = classify(values)
    ramp = colormaps[_COLOURMAPS[value]]
    steps = len(classing.bounds)
    fills = [ramp(0.15 + 0.7 * i / max(steps - 1, 1)) for i in range(steps)]
    total_yuan = stats.totals["investment_fen"] / 100
    name_of_theme, unit, note = _theme(value)
    notes = [note]
    stray = [f"{name} {format_wan(rows.at[code, 'investment_fen'] / 100)}"
             for code, name in ((OUTSIDE, gettext("Outside every street")), (UNLOCATED, gettext("No shape")))
             if code in rows.index]
    if stray:
        notes.append(gettext("Not counted in a street: %(items)s.", items=";".join(stray)))
    subtitle = gettext("%(caption)s　%(projects)s projects, investment %(investment)s",
                       caption=query_caption(query), projects=stats.totals["projects"],
                       investment=format_wan(total_yuan))
    with style.drawing():
        fig, ax, legend_ax = page.new_page(title or gettext("Renovation %(theme)s by street (%(unit)s)",
                                                            theme=name_of_theme, unit=unit), subtitle,
                                           page.footer_lines(store.meta(), query.as_of, *notes))
        page.set_extent(ax, base.park.total_bounds)
        page.draw_land(ax, base)
        for code, geom, klass in zip(base.streets["code"], base.streets.geometry.values, classing.index):
            page.add_shapes(ax, [geom], face=fills[klass], zorder=1.5, gid=f"street:{code}")
        page.draw_water(ax, base)
        page.draw_boundaries(ax, base)
        taken = [page.north_arrow(ax), page.scale_bar(ax)]
        labels = []
        points = page.land_points(base, base.streets.geometry.values, ax)
        for code, point, street_fen, count, klass in zip(base.streets["code"], points, fen, projects, classing.index):
            figure_text = (format_wan(street_fen / 100) if value == "investment"
                           else gettext("%(count)s projects (count)", count=count))
            street = gettext("%(street)s street", street=model.name_label("street", code, script.current()))
            labels.append(page.Label(f"{street}\n{figure_text}", point.x, point.y, size=10.5,
                                     colour=_text_colour(fills[klass]), weight="bold", backdrop="none"))
        page.place_labels(ax, labels, taken)
        page.place_labels(ax, page.lake_labels(base, ax), taken)
        handles = [page.fill_handle(fill, 1.0) for fill in fills]
        page.stack_legends(legend_ax, [page.Section(f"{name_of_theme}({unit})", handles, _class_labels(classing)),
                                       page.base_legend(base)])
    return fig
