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
from .store.base import Changes
from .text import to_traditional


def _boundaries_kept(changes: Changes, answer: object) -> bool:
    """Answers about street boundaries hold past any change the log names: it names project layers' rows only (a
    street boundary replaced is a change it does not cover, after which nothing is carried)."""
    return True


def streets_as_of(view: Reader, as_of: str) -> gpd.GeoDataFrame:
    """The street offices whose boundaries are valid on ``as_of``, in ``STREET_ORDER`` (shared: do not change it)."""
    return per_revision(view, ("streets_as_of", as_of), lambda: _streets_as_of(view, as_of), _boundaries_kept)


def _streets_as_of(view: Reader, as_of: str) -> gpd.GeoDataFrame:
    streets = view.features("street_offices")
    valid = streets[(streets["valid_from"] <= as_of)
                    & (streets["valid_to"].isna() | (streets["valid_to"].fillna("9999") >= as_of))]
    order = {c: i for i, c in enumerate(STREET_ORDER)}
    return valid.sort_values("code", key=lambda s: s.map(order)).reset_index(drop=True)


def resolve_street(view: Reader, text: str, as_of: str, param: str = "street") -> pd.Series:
    """The boundary (one row) of a street named by code or name, simplified or traditional."""
    valid = streets_as_of(view, as_of)
    return valid.iloc[_street_position(view, valid, text, as_of, param)]


def _street_position(view: Reader, valid: gpd.GeoDataFrame, text: str, as_of: str, param: str) -> int:
    """Where the street named by code or name is among the boundaries valid on ``as_of``; found in plain lists
    kept per revision (a pandas filter of the few boundaries cost a query milliseconds)."""
    codes, names = per_revision(view, ("street_names", as_of),
                                lambda: ([str(c).upper() for c in valid["code"]], list(valid["name"])),
                                _boundaries_kept)
    if text in codes:  # a code as parse gives it
        return codes.index(text)
    wanted = model.resolve_name("street", text) or to_traditional(str(text).strip()).removesuffix("街道")
    for at, (code, name) in enumerate(zip(codes, names)):
        if code == wanted.upper() or name == wanted:
            return at
    names = ", ".join(f"{c} {model.name_label('street', c, current())}" for c in valid["code"])
    known = wanted.upper() in model.STREETS or wanted in model.STREETS.values()
    raise ValidationError(gettext("%(param)s %(value)s had no boundary on %(as_of)s; valid on %(as_of)s: %(names)s",
                                  param=param, value=repr(text), as_of=as_of, names=names) if known else
                          gettext("%(param)s %(value)s is not a street office; valid on %(as_of)s: %(names)s",
                                  param=param, value=repr(text), as_of=as_of, names=names), param=param)


def street_area(view: Reader, text: str, as_of: str, param: str = "street") -> StreetArea:
    """The street named by code or name, with its boundary valid on ``as_of``, as the membership rule takes it."""
    streets = streets_as_of(view, as_of)
    at = _street_position(view, streets, text, as_of, param)
    return per_revision(view, ("street_area", as_of, at), lambda: StreetArea(
        f"{streets['code'].iloc[at]}@{streets['valid_from'].iloc[at]}", streets.geometry.values[at],
        tuple(streets.geometry.values[:at])), _boundaries_kept)
