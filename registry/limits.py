"""The registry's documented limits, in one place: how much one request, filter, file or stored value may hold.

A threaded worker cannot be interrupted, so what bounds the work of one request is bounded input: these
numbers (stated in the README's "Limits" section) and the checks that read integer parameters and measure
how deeply a filter or a geometry's text nests before a parser that recurses sees it.
"""

from __future__ import annotations

import re

from .errors import ValidationError
from .i18n import gettext

MAX_UPLOAD_BYTES = 64 * 1024**2  # an HTTP request body (Flask's MAX_CONTENT_LENGTH)
MAX_UNPACKED_BYTES = 2 * 1024**3  # what a zip given to ``registry import`` may unpack to
MAX_ZIP_MEMBERS = 10_000  # files in such a zip
MAX_PAGE = 100_000  # projects or features per page (``limit``)
MAX_DISTANCE_M = 50_000  # ``distance`` from ``near``
MAX_FILTER_CHARS = 4_000  # a CQL2 filter (gunicorn's request line holds 4,094 bytes in all)
MAX_NESTING = 64  # how deep a filter or a geometry's text nests: brackets, NOTs and operators in a row
MAX_VERTICES = 100_000  # vertices of one geometry: a stored feature, a polygon parameter
MAX_NEAR_VERTICES = 200  # a near geometry: its buffer (predicate within) costs the square of its vertices
MAX_TEXT_CHARS = 10_000  # a long text value: tasks, notes, delay_reason
MAX_SHORT_TEXT_CHARS = 200  # every other text value: names, lead department, codes
LONG_TEXT_FIELDS = ("tasks", "notes", "delay_reason")
MAX_INTEGER_DIGITS = 18  # an integer parameter: fits a 64-bit integer

_WHOLE = re.compile(rf"-?[0-9]{{1,{MAX_INTEGER_DIGITS}}}")


def text_limit(field: str) -> int:
    """How many characters a value of the text field ``field`` may hold."""
    return MAX_TEXT_CHARS if field in LONG_TEXT_FIELDS else MAX_SHORT_TEXT_CHARS


def whole_number(raw: object, param: str, low: int | None = None, high: int | None = None) -> int:
    """An integer parameter written in ASCII digits (``str.isdigit`` and ``int`` accept ² and ١٢), within bounds."""
    text = str(raw).strip()
    if not _WHOLE.fullmatch(text):
        raise ValidationError(gettext("%(param)s must be a whole number in digits 0-9 (at most %(digits)s), got "
                                      "%(value)s", param=param, digits=MAX_INTEGER_DIGITS, value=repr(text[:40])),
                              param=param)
    value = int(text)
    if (low is not None and value < low) or (high is not None and value > high):
        bound = (gettext("between %(low)s and %(high)s", low=low, high=high) if low is not None and high is not None
                 else f">= {low}" if low is not None else f"<= {high}")
        raise ValidationError(gettext("%(param)s must be %(bound)s, got %(value)s", param=param, bound=bound,
                                      value=value), param=param)
    return value


# A token of a CQL2 text filter: a quoted string or identifier ('' and "" escape a quote, as in cql2), a
# bracket, a comma, a word or number, or one other character (an operator). Possessive loops: the scan is linear.
_CQL_TOKEN = re.compile(r"'(?:[^']|'')*+'?|\"(?:[^\"]|\"\")*+\"?|[\w.]+|[^\s'\"\w.]", re.DOTALL)
# A token of JSON, WKT or GeoJSON text: a string (with backslash escapes) or a bracket.
_DATA_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*+"?|[\[\]{}()]', re.DOTALL)


def nesting(text: str, cql: bool = False) -> int:
    """How deeply ``text`` (CQL2 text if ``cql``, else JSON, WKT or GeoJSON) nests, in one linear scan.

    Every open bracket is a level; in CQL2 text, so is every word and operator of a run not broken by
    AND, OR or a comma (``NOT NOT x``, ``1+1+1``, ``---1``), since parsers nest those too. The measure is
    at least as deep as the parse, so a parser that recurses (cql2-rs and GEOS overflow the stack on a
    few thousand levels) is only handed text this says is shallow. It stops counting past ``MAX_NESTING``.
    """
    levels = [0]
    run = 0  # sum(levels): the words and operators in a row on the open levels
    for match in (_CQL_TOKEN if cql else _DATA_TOKEN).finditer(text):
        token = match.group()
        if token in ("(", "[", "{"):
            levels.append(0)
        elif token in (")", "]", "}"):
            if len(levels) > 1:
                run -= levels.pop()
        elif token == "," or token.lower() in ("and", "or"):
            run -= levels[-1]
            levels[-1] = 0
        elif token[0] not in "'\"":
            levels[-1] += 1
            run += 1
        if len(levels) - 1 + run > MAX_NESTING:
            return len(levels) - 1 + run
    return len(levels) - 1 + run


def check_nesting(text: str, param: str, cql: bool = False) -> None:
    """Refuse text that nests deeper than ``MAX_NESTING`` (see ``nesting``)."""
    if nesting(text, cql) > MAX_NESTING:
        raise ValidationError(gettext("%(param)s nests too deeply (more than %(limit)s levels of brackets, NOTs and "
                                      "operators in a row); simplify it", param=param, limit=MAX_NESTING) if cql else
                              gettext("%(param)s nests too deeply (more than %(limit)s levels of brackets); simplify "
                                      "it", param=param, limit=MAX_NESTING), param=param)
