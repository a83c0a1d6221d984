"""Street offices as of a date: which boundaries were valid, and the one a code or name means.

These questions sit above the store: they read the ``street_offices`` layer of a snapshot and hand
the store a resolved ``spatial.StreetArea`` (the store never calls back here).
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from . import model
from .errors import ValidationError
from .i18n import gettext
from .script import current
from .spatial import STREET_ORDER, StreetArea
from .store import Reader, per_revision
from .text import to_traditional


def streets_as_of(view: Reader, as_of: str) -> gpd.GeoDataFrame:
    """The street offices whose boundaries are valid on ``as_of``, in ``STREET_ORDER`` (shared: do not change it)."""
    return per_revision(view, ("streets_as_of", as_of), lambda: _streets_as_of(view, as_of))


def _streets_as_of(view: Reader, as_of: str) -> gpd.GeoDataFrame:
    streets = view.features("street_offices")
    valid = streets[(streets["valid_from"] <= as_of)
                    & (streets["valid_to"].isna() | (streets["valid_to"].fillna("9999") >= as_of))]
    order = {c: i for i, c in enumerate(STREET_ORDER)}
    return valid.sort_values("code", key=lambda s: s.map(order)).reset_index(drop=True)


def resolve_street(view: Reader, text: str, as_of: str, param: str = "street") -> pd.Series:
    """The boundary (one row) of a street named by code or name, simplified or traditional."""
    valid = streets_as_of(view, as_of)
    wanted = model.resolve_name("street", text) or to_traditional(str(text).strip()).removesuffix("街道")
    hit = valid[(valid["code"].str.upper() == wanted.upper()) | (valid["name"] == wanted)]
    if hit.empty:
        names = ", ".join(f"{c} {model.name_label('street', c, current())}" for c in valid["code"])
        known = wanted.upper() in model.STREETS or wanted in model.STREETS.values()
        raise ValidationError(gettext("%(param)s %(value)s had no boundary on %(as_of)s; valid on %(as_of)s: %(names)s",
                                      param=param, value=repr(text), as_of=as_of, names=names) if known else
                              gettext("%(param)s %(value)s is not a street office; valid on %(as_of)s: %(names)s",
                                      param=param, value=repr(text), as_of=as_of, names=names), param=param)
    return hit.iloc[0]


def street_area(view: Reader, text: str, as_of: str, param: str = "street") -> StreetArea:
    """The street named by code or name, with its boundary valid on ``as_of``, as the membership rule takes it."""
    streets = streets_as_of(view, as_of)
    codes = list(streets["code"])
    code = text if text in codes else resolve_street(view, text, as_of, param)["code"]  # a code as parse gives it
    at = codes.index(code)
    return StreetArea(f"{code}@{streets['valid_from'].iloc[at]}", streets.geometry.values[at],
                      tuple(streets.geometry.values[:at]))
