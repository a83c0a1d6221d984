"""CQL2 filtering (OGC API – Features Part 3): parse a filter, evaluate it over a layer, describe the queryables.

``parse_filter`` reads cql2-text with cql2 (cql2-rs) into cql2-json, and cql2-json with pygeofilter's parser.
``filter_mask`` evaluates the resulting AST over a whole GeoDataFrame at once (numpy/pandas comparisons, shapely 2
array predicates) with SQL's three-valued logic, so a row whose value is missing matches neither ``x = 1`` nor
``NOT x = 1``. ``queryables_schema`` is the JSON Schema served at ``/collections/{id}/queryables``. Every bad
filter raises ``ValidationError`` naming the ``filter`` parameter, with a one-line message that says what to fix.

pygeofilter 0.4 departs from CQL2 in a few places; this module keeps to the standard where it can:

- LIKE: both parsers record '.' as the one-character wildcard; CQL2's '_' is what is evaluated.
- cql2-json: the standard ``between`` (three args) and ``bbox`` ([minx, miny, maxx, maxy]) are rewritten to the
  forms pygeofilter reads before it parses the document.
- Temporal operators: T_INTERSECTS and T_OVERLAPS parse into one node, evaluated as T_INTERSECTS. In cql2-text
  the standard ``T_BEFORE(planned_finish, DATE('2014-01-01'))`` and pygeofilter's infix form are both read.
- Its cql2-text parser gives AND and OR the same precedence, left to right (CQL2 binds AND first), so text is
  read by cql2 instead; pygeofilter's text parser is asked only for what cql2 cannot read: the older forms
  ``BBOX(geometry, ...)``, ``SRID=4549;POINT(...)`` and infix temporal operators (read left to right), and
  mistakes, whose messages it words for text. A lone boolean property is not a condition (write
  ``in_statement = true``).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import cql2
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from lark.exceptions import UnexpectedCharacters, UnexpectedInput
from pygeofilter import ast, values
from pygeofilter.cql2 import (
    ARITHMETIC_MAP,
    ARRAY_PREDICATES_MAP,
    COMPARISON_MAP,
    SPATIAL_PREDICATES_MAP,
    TEMPORAL_PREDICATES_MAP,
)
from pygeofilter.parsers import cql2_json, cql2_text

from . import limits, model, script, spatial
from .crs import parse_epsg, to_storage
from .errors import NotFound, ValidationError
from .i18n import gettext
from .text import to_traditional

# filter-lang values accepted -> the language they name (GDAL sends cql-text)
LANGS = {"cql2-text": "cql2-text", "cql-text": "cql2-text", "cql2-json": "cql2-json", "cql-json": "cql2-json"}

# queryable kind -> the kind of value it holds in a filter
_KINDS = {"text": "text", "integer": "number", "real": "number", "date": "date", "bool": "boolean",
          "geometry": "geometry"}


def _hint(kind: str) -> str:
    """How to write a value of ``kind`` in a filter, in the reader's script."""
    return {"text": gettext("quote text in single quotes, e.g. 'completed'"),
            "number": gettext("write numbers without quotes, e.g. 2013"),
            "date": gettext("write dates as DATE('2014-01-01') or TIMESTAMP('2014-01-01T00:00:00Z')"),
            "boolean": gettext("write true or false"),
            "geometry": gettext("give a WKT or GeoJSON geometry or BBOX(minx, miny, maxx, maxy)"),
            "interval": gettext("use a temporal operator such as T_INTERSECTS")}[kind]


def _kind(kind: str) -> str:
    """The name of a kind of value (text, number...) in the reader's script."""
    return {"text": gettext("text"), "number": gettext("number"), "date": gettext("date"),
            "boolean": gettext("boolean"), "geometry": gettext("geometry"), "interval": gettext("interval")}[kind]

# Properties holding coded values (model.NAMES): = <> and IN compare them with any spelling of a value
# (category = '河道' is category = 'rivers'), resolved to what is stored.
_CODED = {field: kind for kind, field in model.NAME_FIELDS.items()}
_SCHEMA_TYPES = {"text": {"type": "string"}, "integer": {"type": "integer"}, "real": {"type": "number"},
                 "date": {"type": "string", "format": "date"}, "bool": {"type": "boolean"}}
_SUPPORTED = ("=, <>, <, <=, >, >=, LIKE, IN, BETWEEN, IS NULL, AND, OR, NOT, + - * /, CASEI, S_INTERSECTS, "
              "S_DISJOINT, S_WITHIN, S_CONTAINS, S_CROSSES, S_OVERLAPS, S_TOUCHES, S_EQUALS, BBOX, T_BEFORE, "
              "T_AFTER, T_EQUALS, T_INTERSECTS")

# cql2-json operators -> how many args they take (checked here, where the operator's name is still known)
_JSON_ARITY = {
    **{op: 2 for op in (*COMPARISON_MAP, *SPATIAL_PREDICATES_MAP, *TEMPORAL_PREDICATES_MAP, *ARRAY_PREDICATES_MAP,
                        *ARITHMETIC_MAP, "in")},
    "between": 3, "not": 1, "isNull": 1, "casei": 1,
}

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Equal: operator.eq, ast.NotEqual: operator.ne, ast.LessThan: operator.lt,
    ast.LessEqual: operator.le, ast.GreaterThan: operator.gt, ast.GreaterEqual: operator.ge,
}
_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mul: np.multiply, ast.Div: np.true_divide,
}
# spatial function -> (predicate, its converse): the converse puts a literal first, where shapely prepares it
_SPATIAL: dict[type, tuple[Callable, Callable]] = {
    ast.GeometryIntersects: (shapely.intersects, shapely.intersects),
    ast.GeometryDisjoint: (shapely.disjoint, shapely.disjoint),
    ast.GeometryWithin: (shapely.within, shapely.contains),
    ast.GeometryContains: (shapely.contains, shapely.within),
    ast.GeometryCrosses: (shapely.crosses, shapely.crosses),
    ast.GeometryOverlaps: (shapely.overlaps, shapely.overlaps),
    ast.GeometryTouches: (shapely.touches, shapely.touches),
    ast.GeometryEquals: (shapely.equals, shapely.equals),
}
# temporal operator -> (name, test on the periods [a0, a1] and [b0, b1]; an instant is a period of one moment)
_TEMPORAL: dict[type, tuple[str, Callable[[Any, Any, Any, Any], Any]]] = {
    ast.TimeBefore: ("T_BEFORE", lambda a0, a1, b0, b1: a1 < b0),
    ast.TimeAfter: ("T_AFTER", lambda a0, a1, b0, b1: a0 > b1),
    ast.TimeEquals: ("T_EQUALS", lambda a0, a1, b0, b1: (a0 == b0) & (a1 == b1)),
    ast.TimeOverlaps: ("T_INTERSECTS", lambda a0, a1, b0, b1: (a0 <= b1) & (a1 >= b0)),
}


def parse_filter(text: str | dict, lang: str | None = None) -> ast.Node:
    """The pygeofilter AST of a CQL2 filter in ``lang`` (guessed from the filter when not given)."""
    if lang is None or not str(lang).strip():
        as_json = isinstance(text, dict) or str(text).lstrip().startswith("{")
        chosen = "cql2-json" if as_json else "cql2-text"
    else:
        chosen = LANGS.get(str(lang).strip().lower())
        if chosen is None:
            raise ValidationError(gettext("filter-lang must be cql2-text or cql2-json (or cql-text, cql-json), got "
                                          "%(value)s", value=repr(lang)[:60]), param="filter-lang")
    if chosen == "cql2-text" and not isinstance(text, str):
        raise ValidationError(gettext("filter-lang cql2-text needs the filter as text; send a JSON filter as "
                                      "cql2-json"), param="filter-lang")
    if not isinstance(text, str):
        text = json.dumps(text)
    if len(text) > limits.MAX_FILTER_CHARS:
        raise ValidationError(gettext("filter has %(count)s characters, more than the %(limit)s allowed; shorten it "
                                      "(IN lists instead of ORs, fewer vertices in geometries)", count=len(text),
                                      limit=limits.MAX_FILTER_CHARS), param="filter")
    limits.check_nesting(text, "filter", cql=chosen == "cql2-text")
    node = _parse_json(text) if chosen == "cql2-json" else _parse_text(text)
    if not isinstance(node, ast.Node):
        raise ValidationError(gettext("filter must be a condition such as status = 'completed', got %(value)s",
                                      value=f"{node!r:.60}"), param="filter")
    return node


def _parse_text(text: str) -> Any:
    """cql2-text as cql2 (cql2-rs) reads it, through its cql2-json; else pygeofilter's reading of it.

    cql2 binds AND before OR as CQL2 says; pygeofilter's text parser, kept for the forms only it
    reads (``BBOX(geometry, ...)``, ``SRID=4549;POINT(...)``, infix ``T_BEFORE``) and for its
    error messages, reads them left to right.
    """
    if not text.strip():
        raise ValidationError(gettext("filter is empty; give a condition such as status = 'completed'"),
                              param="filter")
    try:
        return _parse_json(cql2.parse_text(text).to_json())
    except (cql2.ParseError, ValidationError):
        pass  # a form only pygeofilter reads, or a mistake its messages word for text: ask it
    try:
        return cql2_text.parse(text)
    except UnexpectedInput as exc:
        raise ValidationError(_syntax_message(text, exc), param="filter") from None
    except (ValueError, TypeError) as exc:  # raised by pygeofilter's transformer, e.g. for DATE('2014-02-30')
        raise ValidationError(gettext("filter has a value that cannot be read (%(reason)s); %(hint)s",
                                      reason=_one_line(exc), hint=_hint("date")), param="filter") from None


def _syntax_message(text: str, exc: UnexpectedInput) -> str:
    """Where a cql2-text filter stops making sense, and the likely fix."""
    token = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedCharacters):
        where = gettext("unexpected %(value)s at column %(column)s", value=repr(exc.char), column=exc.column)
    elif token is None or token.type == "$END":
        where = gettext("it ends too early, after %(value)s", value=repr(text.strip()[-30:]))
    else:
        where = gettext("unexpected %(value)s at column %(column)s", value=repr(str(token)), column=exc.column)
    expected = getattr(exc, "accepts", None) or getattr(exc, "expected", None) or getattr(exc, "allowed", set())
    if "EQUAL" in expected:
        fix = gettext("a value must be followed by a comparison (=, <>, <, <=, >, >=, LIKE, IN, BETWEEN, IS NULL); "
                      "booleans too: in_statement = true")
    else:
        fix = gettext("check quotes, parentheses and commas; text is quoted 'like this', dates are "
                      "DATE('2014-01-01')")
    return gettext("filter is not valid CQL2 text: %(where)s; %(fix)s", where=where, fix=fix)


def _parse_json(source: str | dict) -> Any:
    """pygeofilter's cql2-json parse of a document (or its text), standard forms made readable to it first."""
    if isinstance(source, str):
        try:
            source = json.loads(source)
        except json.JSONDecodeError as exc:
            raise ValidationError(gettext("filter is not valid JSON: %(reason)s", reason=exc), param="filter") from None
    document = _standard_json(source)
    try:
        return cql2_json.parse(document)
    except Exception as exc:  # pygeofilter 0.4 raises bare Exception, ValueError, KeyError... on bad documents
        raise ValidationError(gettext("filter is not valid CQL2 JSON: %(reason)s", reason=_one_line(exc)),
                              param="filter") from None


def _standard_json(node: Any) -> Any:
    """A cql2-json document with ``between`` and ``bbox`` in pygeofilter 0.4's forms; wrong arg counts refused."""
    if isinstance(node, list):
        return [_standard_json(item) for item in node]
    if node is None:
        raise ValidationError(gettext("filter: null is not a value in CQL2; test missing values with isNull"),
                              param="filter")
    if not isinstance(node, dict):
        return node
    node = {key: _standard_json(value) for key, value in node.items()}
    box = node.get("bbox")
    if isinstance(box, list) and "coordinates" not in node:
        if len(box) not in (4, 6) or not all(_is_number(v) for v in box):
            raise ValidationError(gettext("filter: bbox must be 4 numbers [minx, miny, maxx, maxy], got %(value)s",
                                          value=f"{box!r:.80}"), param="filter")
        minx, miny, maxx, maxy = box if len(box) == 4 else (box[0], box[1], box[3], box[4])
        if minx > maxx or miny > maxy:
            raise ValidationError(gettext("filter: bbox min must not exceed max, got %(value)s", value=f"{box!r:.80}"),
                                  param="filter")
        node["bbox"] = [minx, maxx, miny, maxy]  # pygeofilter reads it as Envelope(x1, x2, y1, y2)
    op, args = node.get("op"), node.get("args")
    if isinstance(op, str) and isinstance(args, list):
        wanted = _JSON_ARITY.get(op)
        if wanted is not None and len(args) != wanted:
            raise ValidationError(gettext("filter: op %(op)s takes %(wanted)s args, got %(count)s", op=repr(op),
                                          wanted=wanted, count=len(args)), param="filter")
        if op == "between":
            node["args"] = [args[0], args[1:]]
    return node


def _is_number(value: object) -> bool:
    """True for int and float literals, not for booleans (which Python counts as ints)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line, cut to a readable length."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def filter_mask(frame: gpd.GeoDataFrame, node: ast.Node, queryables: dict[str, str],
                filter_crs: int = 4326) -> np.ndarray:
    """Which rows of ``frame`` match the filter ``node``, evaluated over all rows at once.

    ``queryables`` maps each property a filter may name to its kind (text, integer, real, date, bool, geometry);
    geometry literals are in ``filter_crs`` (x = east), the frame's geometry in EPSG:4490.
    """
    return _Evaluator(frame, queryables, filter_crs).condition(node).to_numpy(dtype=bool, na_value=False)


@dataclass(frozen=True)
class _Operand:
    """A typed value of a filter: one per row (a property) or one for all rows (a literal)."""

    kind: str  # text, number, date, boolean, geometry or interval
    values: Any  # an array with a value per row, a scalar, or for an interval its (start, end)
    null: np.ndarray | bool  # where the value is missing
    label: str  # the operand as written, for messages
    per_row: bool


class _Evaluator:
    """One filter over one frame: conditions give three-valued results, properties are converted once."""

    def __init__(self, frame: gpd.GeoDataFrame, queryables: dict[str, str], filter_crs: int) -> None:
        self.frame = frame
        self.queryables = queryables
        self.filter_crs = filter_crs
        self.rows = len(frame)
        self.columns: dict[str, _Operand] = {}

    def truth(self, result: Any, null: Any) -> pd.arrays.BooleanArray:
        """A per-row result that is unknown (NA) where an operand was missing."""
        shape = (self.rows,)
        return pd.arrays.BooleanArray(np.broadcast_to(np.asarray(result, dtype=bool), shape).copy(),
                                      np.broadcast_to(np.asarray(null, dtype=bool), shape).copy())

    def condition(self, node: Any) -> pd.arrays.BooleanArray:
        """The three-valued result of a condition node for every row."""
        if isinstance(node, (ast.And, ast.Or)):
            return self.chain(node)
        if isinstance(node, ast.Not):
            return ~self.condition(node.sub_node)
        if isinstance(node, ast.Comparison):
            lhs, rhs = self.operand(node.lhs), self.operand(node.rhs)
            if isinstance(node, (ast.Equal, ast.NotEqual)):
                lhs, rhs = self.coded(rhs, lhs), self.coded(lhs, rhs)
            self.same_kind(lhs, rhs, node.op.value)
            return self.truth(_COMPARE[type(node)](lhs.values, rhs.values), lhs.null | rhs.null)
        if isinstance(node, ast.Between):
            return self.negated(self.between(node), node.not_)
        if isinstance(node, ast.Like):
            return self.negated(self.like(node), node.not_)
        if isinstance(node, ast.In):
            return self.negated(self.is_in(node), node.not_)
        if isinstance(node, ast.IsNull):
            return self.negated(self.truth(self.operand(node.lhs).null, False), node.not_)
        if isinstance(node, ast.SpatialComparisonPredicate):
            test, converse = _SPATIAL[type(node)]
            return self.spatial(f"S_{node.op.name}", test, converse, self.operand(node.lhs), self.operand(node.rhs))
        if isinstance(node, ast.BBox):
            box = self.box((node.minx, node.miny, node.maxx, node.maxy), node.crs)
            return self.spatial("BBOX", shapely.intersects, shapely.intersects, self.operand(node.lhs), box)
        if type(node) in _TEMPORAL:
            return self.temporal(node)
        if isinstance(node, ast.Predicate):
            op = getattr(type(node), "op", None)
            name = op.name if op is not None else type(node).__name__.upper()
            raise ValidationError(gettext("filter: operator %(op)s is not supported; supported: %(supported)s",
                                          op=name, supported=_SUPPORTED), param="filter")
        value = self.operand(node)
        fix = (gettext("write %(value)s = true", value=value.label) if value.kind == "boolean"
               else gettext("compare it with =, <, LIKE, IN..."))
        raise ValidationError(gettext("filter: %(value)s is a value, not a condition; %(fix)s", value=value.label,
                                      fix=fix), param="filter")

    def chain(self, node: ast.And | ast.Or) -> pd.arrays.BooleanArray:
        """a AND b AND c... (or OR), left to right in a loop: pygeofilter nests a chain as deep as it is long."""
        kind = type(node)
        operands = []
        while isinstance(node, kind):
            operands.append(node.rhs)
            node = node.lhs
        result = self.condition(node)
        for operand in reversed(operands):
            result = result & self.condition(operand) if kind is ast.And else result | self.condition(operand)
        return result

    @staticmethod
    def negated(result: pd.arrays.BooleanArray, negate: bool) -> pd.arrays.BooleanArray:
        """``result``, or its three-valued negation for NOT BETWEEN, NOT LIKE, NOT IN, IS NOT NULL."""
        return ~result if negate else result

    def same_kind(self, a: _Operand, b: _Operand, what: str) -> None:
        """Refuse to compare values of different kinds, or of kinds that have no scalar comparison."""
        ref, other = (b, a) if b.per_row and not a.per_row else (a, b)
        if ref.kind in ("geometry", "interval"):
            fix = _hint("interval") if ref.kind == "interval" else gettext("use S_EQUALS or S_INTERSECTS")
            raise ValidationError(gettext("filter: %(what)s cannot compare %(kind)s values (%(value)s); %(fix)s",
                                          what=what, kind=_kind(ref.kind), value=ref.label, fix=fix), param="filter")
        if other.kind != ref.kind:
            raise ValidationError(gettext("filter: cannot compare %(value)s (%(kind)s) with %(other)s "
                                          "(%(other_kind)s); %(hint)s", value=ref.label, kind=_kind(ref.kind),
                                          other=other.label, other_kind=_kind(other.kind), hint=_hint(ref.kind)),
                                  param="filter")

    @staticmethod
    def coded(subject: _Operand, value: _Operand) -> _Operand:
        """``value`` as stored when it is a text literal compared with a coded property (``'河道'`` → ``'rivers'``).

        An unknown spelling is refused, listing the names; a lead department the model does not name is
        looked for as written (in stored characters)."""
        kind = _CODED.get(subject.label) if subject.per_row else None
        if kind is None or value.per_row or value.kind != "text":
            return value
        found = model.resolve_name(kind, value.values)
        if found is None and kind == "lead_department":
            found = to_traditional(value.values)
        if found is None:
            raise ValidationError(gettext("filter: unknown %(field)s %(value)s; valid: %(names)s", field=subject.label,
                                          value=value.label[:42], names=model.accepted_names(kind, script.current())),
                                  param="filter")
        return _Operand("text", found, False, value.label, False)

    def between(self, node: ast.Between) -> pd.arrays.BooleanArray:
        """low <= value <= high."""
        value, low, high = self.operand(node.lhs), self.operand(node.low), self.operand(node.high)
        self.same_kind(value, low, "BETWEEN")
        self.same_kind(value, high, "BETWEEN")
        return self.truth((low.values <= value.values) & (value.values <= high.values),
                          value.null | low.null | high.null)

    def like(self, node: ast.Like) -> pd.arrays.BooleanArray:
        """CQL2 LIKE: % any text, _ one character, backslash escapes the next character."""
        subject, pattern = self.operand(node.lhs), self.operand(node.pattern)
        if subject.kind != "text":
            raise ValidationError(gettext("filter: LIKE needs text, but %(value)s is %(kind)s; use = or BETWEEN "
                                          "instead", value=subject.label, kind=_kind(subject.kind)), param="filter")
        if pattern.kind != "text" or pattern.per_row:
            raise ValidationError(gettext("filter: LIKE needs a quoted pattern such as '%%河%%', got %(value)s",
                                          value=pattern.label), param="filter")
        texts = pd.Series(np.broadcast_to(np.asarray(subject.values, dtype=object), (self.rows,)), dtype=object)
        return self.truth(texts.str.fullmatch(_like_regex(pattern.values), flags=re.DOTALL).to_numpy(dtype=bool),
                          subject.null)

    def is_in(self, node: ast.In) -> pd.arrays.BooleanArray:
        """value = any item of the list (the loop runs over the list's items, never over rows)."""
        subject = self.operand(node.lhs)
        hit: Any = False
        null = subject.null
        for item in node.sub_nodes:
            value = self.coded(subject, self.operand(item))
            self.same_kind(subject, value, "IN")
            hit = hit | (subject.values == value.values)
            null = null | value.null
        return self.truth(hit, null)

    def spatial(self, name: str, test: Callable, converse: Callable, a: _Operand,
                b: _Operand) -> pd.arrays.BooleanArray:
        """A shapely predicate over every row, with a literal geometry prepared for speed."""
        for side in (a, b):
            if side.kind != "geometry":
                raise ValidationError(gettext("filter: %(op)s needs geometries, but %(value)s is %(kind)s; %(hint)s",
                                              op=name, value=side.label, kind=_kind(side.kind),
                                              hint=_hint("geometry")), param="filter")
        if not a.per_row:
            shapely.prepare(a.values)
            result = test(a.values, b.values)
        elif not b.per_row:
            shapely.prepare(b.values)
            result = converse(b.values, a.values)
        else:
            result = test(a.values, b.values)
        return self.truth(result, a.null | b.null)

    def temporal(self, node: ast.TemporalPredicate) -> pd.arrays.BooleanArray:
        """A temporal operator on dates, timestamps and intervals, each taken as a period [start, end]."""
        name, test = _TEMPORAL[type(node)]
        periods = []
        for side in (self.operand(node.lhs), self.operand(node.rhs)):
            if side.kind == "date":
                periods.append((side.values, side.values, side.null))
            elif side.kind == "interval":
                periods.append((*side.values, side.null))
            else:
                raise ValidationError(gettext("filter: %(op)s needs dates or intervals, but %(value)s is %(kind)s; "
                                              "%(hint)s", op=name, value=side.label, kind=_kind(side.kind),
                                              hint=_hint("date")), param="filter")
        (a0, a1, a_null), (b0, b1, b_null) = periods
        return self.truth(test(a0, a1, b0, b1), a_null | b_null)

    def operand(self, node: Any) -> _Operand:
        """A property, a literal, or an arithmetic or function expression, as a typed value."""
        if isinstance(node, ast.Attribute):
            return self.property(node.name)
        if isinstance(node, ast.Arithmetic):
            return self.arithmetic(node)
        if isinstance(node, ast.Function):
            return self.function(node)
        if isinstance(node, ast.Node):
            raise ValidationError(gettext("filter: a condition cannot be used as a value; compare properties with "
                                          "literals, e.g. year = 2013"), param="filter")
        return self.literal(node)

    def property(self, name: str) -> _Operand:
        """A queryable's column as a typed per-row value; missing values are marked null."""
        if name not in self.queryables:
            raise ValidationError(gettext("filter: unknown property %(value)s; queryables: %(fields)s",
                                          value=repr(name), fields=", ".join(self.queryables)), param="filter")
        if name not in self.columns:
            kind = _KINDS[self.queryables[name]]
            series = self.frame[name]
            null = series.isna().to_numpy()
            if kind == "number":
                data = series.to_numpy(dtype="float64", na_value=np.nan)
            elif kind == "text":
                data = series.to_numpy(dtype=object, na_value="")
            elif kind == "boolean":
                data = series.to_numpy(dtype=bool, na_value=False)
            elif kind == "date":  # ISO date strings, None when missing
                data = pd.to_datetime(series, format="ISO8601", errors="coerce").to_numpy()
                null = np.isnat(data)
            else:
                data = np.asarray(series.array, dtype=object)
            self.columns[name] = _Operand(kind, data, null, name, True)
        return self.columns[name]

    def arithmetic(self, node: ast.Arithmetic) -> _Operand:
        """+ - * / on numbers; a division by zero gives an unknown value."""
        a, b = self.operand(node.lhs), self.operand(node.rhs)
        for side in (a, b):
            if side.kind != "number":
                raise ValidationError(gettext("filter: %(op)s needs numbers, but %(value)s is %(kind)s",
                                              op=node.op.value, value=side.label, kind=_kind(side.kind)),
                                      param="filter")
        with np.errstate(divide="ignore", invalid="ignore"):
            result = _ARITHMETIC[type(node)](a.values, b.values)
        return _Operand("number", result, a.null | b.null | ~np.isfinite(result),
                        f"{a.label} {node.op.value} {b.label}", a.per_row or b.per_row)

    def function(self, node: ast.Function) -> _Operand:
        """CASEI (pygeofilter's ``lower``) on text, and the BBOX(minx, miny, maxx, maxy) geometry literal."""
        name = node.name.lower()
        if name == "bbox":
            numbers = node.arguments
            if len(numbers) not in (4, 6) or not all(_is_number(v) for v in numbers):
                raise ValidationError(gettext("filter: BBOX takes 4 numbers: BBOX(minx, miny, maxx, maxy)"),
                                      param="filter")
            return self.box(numbers if len(numbers) == 4 else numbers[:2] + numbers[3:5])
        if name == "lower" and len(node.arguments) == 1:
            text = self.operand(node.arguments[0])
            if text.kind != "text":
                raise ValidationError(gettext("filter: CASEI needs text, but %(value)s is %(kind)s", value=text.label,
                                              kind=_kind(text.kind)), param="filter")
            lowered = (pd.Series(text.values, dtype=object).str.lower().to_numpy(dtype=object) if text.per_row
                       else text.values.lower())
            return _Operand("text", lowered, text.null, f"CASEI({text.label})", text.per_row)
        raise ValidationError(gettext("filter: function %(name)s is not supported; supported: CASEI, BBOX",
                                      name=node.name.upper()), param="filter")

    def literal(self, value: Any) -> _Operand:
        """A literal of the filter as a typed value for all rows."""
        if isinstance(value, bool):
            return _Operand("boolean", value, False, str(value).lower(), False)
        if _is_number(value):
            return _Operand("number", value, False, f"{value}", False)
        if isinstance(value, str):
            return _Operand("text", value, False, f"'{value}'", False)
        if isinstance(value, datetime):
            return _Operand("date", _instant(value), False, f"TIMESTAMP('{value.isoformat()}')", False)
        if isinstance(value, date):
            return _Operand("date", _instant(value), False, f"DATE('{value.isoformat()}')", False)
        if isinstance(value, values.Interval):
            ends = (_interval_end(value.start, pd.Timestamp.min), _interval_end(value.end, pd.Timestamp.max))
            return _Operand("interval", ends, False, f"INTERVAL({value.start}, {value.end})", False)
        if isinstance(value, values.Envelope):
            xs, ys = sorted((value.x1, value.x2)), sorted((value.y1, value.y2))
            return self.box((xs[0], ys[0], xs[1], ys[1]))
        if isinstance(value, values.Geometry):
            return self.geometry(dict(value.geometry))
        raise ValidationError(gettext("filter: %(value)s is not a single value; a list is only allowed after IN",
                                      value=f"{value!r:.40}"), param="filter")

    def box(self, bounds: Any, crs: str | None = None) -> _Operand:
        """A bbox literal (minx, miny, maxx, maxy) in the filter's CRS, or in ``crs`` when given, as a polygon."""
        epsg = self.filter_crs if crs is None else parse_epsg(crs, "filter")
        geom = spatial.parse_bbox(tuple(bounds), epsg, param="filter")
        return _Operand("geometry", geom, False, "BBOX({}, {}, {}, {})".format(*bounds), False)

    def geometry(self, geojson: dict) -> _Operand:
        """A WKT or GeoJSON geometry literal (its own CRS if it names one) as a valid EPSG:4490 geometry."""
        kind = str(geojson.get("type", "geometry")).upper()
        crs = geojson.pop("crs", None)
        try:
            epsg = self.filter_crs if crs is None else parse_epsg(str(crs["properties"]["name"]), "filter")
        except (KeyError, TypeError):
            raise ValidationError(gettext("filter: a geometry's crs must look like %(example)s",
                                          example='{"type": "name", "properties": {"name": "EPSG:4549"}}'),
                                  param="filter") from None
        try:
            geom = shapely.from_geojson(json.dumps(geojson))
        except (shapely.errors.ShapelyError, ValueError, TypeError) as exc:
            raise ValidationError(gettext("filter: the %(kind)s literal is malformed (%(reason)s); check its "
                                          "coordinates", kind=kind, reason=_one_line(exc)), param="filter") from None
        if geom.is_empty:
            raise ValidationError(gettext("filter: the %(kind)s literal is empty; give its coordinates", kind=kind),
                                  param="filter")
        if not geom.is_valid:
            raise ValidationError(gettext("filter: the %(kind)s literal is not a valid geometry (%(reason)s); close "
                                          "its rings and remove self-intersections", kind=kind,
                                          reason=shapely.is_valid_reason(geom)), param="filter")
        geom = to_storage(geom, epsg)
        spatial.check_lonlat(geom, "filter")
        return _Operand("geometry", geom, False, gettext("%(kind)s literal", kind=kind), False)


def _like_regex(pattern: str) -> str:
    """A regular expression (fullmatch, DOTALL) for the LIKE ``pattern``, matching in time linear in the text.

    % is any text, _ one character, a backslash makes the next character literal. The pieces between
    %s have fixed lengths, so taking each middle piece at its leftmost place is never wrong: each is
    an atomic group, which the engine never backtracks into, so ``'%a%a%a%Z'`` costs one pass per
    piece instead of a pass per combination of places (as ``.*a.*a.*a.*Z`` would).
    """
    pieces = [""]
    for token in re.findall(r"\\.|.", pattern, flags=re.DOTALL):
        if token == "%":
            pieces.append("")
        else:
            pieces[-1] += "." if token == "_" else re.escape(token[-1])
    if len(pieces) == 1:
        return pieces[0]
    middle = "".join(f"(?>.*?{piece})" for piece in pieces[1:-1] if piece)
    return f"{pieces[0]}{middle}.*{pieces[-1]}"


def _instant(value: date) -> np.datetime64:
    """A date (at midnight) or timestamp (in UTC) as a naive datetime64, comparable with date columns."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_datetime64()


def _interval_end(value: Any, open_end: pd.Timestamp) -> np.datetime64:
    """One end of an INTERVAL literal; '..' (None) leaves it open."""
    if value is None:
        return open_end.to_datetime64()
    if isinstance(value, date):
        return _instant(value)
    raise ValidationError(gettext("filter: INTERVAL takes dates, timestamps or '..' for an open end, not durations"),
                          param="filter")


def queryables_schema(layer: str, queryables: dict[str, str], base_url: str) -> dict:
    """The JSON Schema of a collection's queryables (OGC API – Features Part 3, JSON Schema 2019-09)."""
    spec = model.LAYER_BY_NAME.get(layer)
    if spec is None:
        raise NotFound(gettext("collection %(value)s does not exist; collections: %(layers)s", value=repr(layer),
                               layers=", ".join(model.LAYER_BY_NAME)), param="collectionId")
    properties: dict[str, dict] = {}
    for name, kind in queryables.items():
        if kind == "geometry":
            properties[name] = {"$ref": f"https://geojson.org/schema/{spec.geometry_type}.json"}
            continue
        field = model.FIELD_BY_NAME.get(name) if spec.kind == "project" else None
        properties[name] = {**_SCHEMA_TYPES[kind], "title": field.zh if field else name}
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{base_url.rstrip('/')}/collections/{layer}/queryables",
        "type": "object",
        "title": f"{spec.title_zh} ({layer})",
        "properties": properties,
        "additionalProperties": False,
    }
