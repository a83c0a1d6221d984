"""What a static map may be asked for and the words for what its query selects, without the drawing (matplotlib
is imported only when a map is drawn)."""

from __future__ import annotations

from .. import model, script
from ..i18n import gettext
from ..numbers import format_wan
from ..params import Query
from ..text import to_script

FORMATS = ("png", "svg", "pdf")
DPI_RANGE = (50, 600)
THEMES = ("investment", "count")  # what a choropleth shades by; named in the catalogs
BY_CHOICES = ("category", "status", "year")  # what an overlay map colours by; named in the catalogs


def query_caption(query: Query) -> str:
    """What a query selects, in words for a map's subtitle (全部專案 when nothing is filtered)."""
    chosen = script.current()
    parts = []
    if query.street:
        parts.append(gettext("%(street)s street", street=model.name_label("street", query.street, chosen)))
    if query.categories:
        parts.append("、".join(model.name_label("category", c, chosen) for c in query.categories))
    if query.years:
        first, last = query.years
        parts.append(gettext("Year %(year)s", year=first) if first == last
                     else gettext("Years %(first)s–%(last)s", first=first, last=last))
    if query.statuses:
        parts.append("、".join(model.name_label("status", s, chosen) for s in query.statuses))
    if query.department:
        parts.append(gettext("Lead department %(department)s",
                             department=model.name_label("lead_department", query.department, chosen)))
    if query.in_statement is not None:
        parts.append(gettext("In the responsibility statement") if query.in_statement
                     else gettext("Beyond the responsibility statement"))
    if query.name:
        parts.append(gettext("Name contains %(name)s", name=to_script(query.name, chosen)))
    if query.investment_min is not None:
        parts.append(gettext("Investment at least %(amount)s", amount=format_wan(query.investment_min)))
    if query.investment_max is not None:
        parts.append(gettext("Investment at most %(amount)s", amount=format_wan(query.investment_max)))
    if query.bbox is not None or query.polygon is not None:
        parts.append(gettext("Within the given area"))
    if query.near is not None:
        parts.append(gettext("Within %(distance)s m of the given place", distance=f"{query.distance:g}"))
    return ";".join(parts) if parts else gettext("All projects")
