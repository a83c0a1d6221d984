"""Column names across formats: the export's columns, their DBF short names, Chinese headers and aliases.

Every exporter and importer takes names from here, which takes them from ``model.PROJECT_FIELDS``
plus the feature fields an export adds (layer, fid, feature_name, investment_share_yuan). The DBF
short names are a stable mapping, checked on import of this module to fit 10 bytes and never to collide.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from .. import model, script
from ..errors import ValidationError
from ..i18n import gettext
from ..output import LABEL_SUFFIX, LABELLED, QUERY_FEATURE_PROPERTIES
from ..text import to_traditional

DBF_NAME_BYTES = 10
MAPPING_FILE = "fields.json"  # written into a zipped Shapefile export; --mapping reads the same format

FEATURE_FIELDS: tuple[model.Field, ...] = (
    model.Field("layer", "text", "layer", "圖層"),
    model.Field("fid", "integer", "feat_id", "要素編號"),
    model.Field("feature_name", "text", "feat_name", "要素名稱"),
    # the feature's part of its project's investment (apportion.investment_shares): the field to sum
    model.Field("investment_share_yuan", "real", "inv_share", "投資分攤(元)"),
)
# Each coded field's name in the export's script beside its code (output.with_labels), so QGIS symbolises by
# the code and shows the name (derived: an import reads the code).
LABEL_FIELDS: tuple[model.Field, ...] = tuple(
    model.Field(name + LABEL_SUFFIX, "text", short, f"{model.FIELD_BY_NAME[name].zh}名稱")
    for name, short in (("category", "cat_label"), ("lead_department", "dept_label"), ("street_codes", "strt_label"),
                        ("status", "stat_label"), ("site_type", "site_label"), ("billboard_action", "bb_label")))
FIELD_BY_NAME: dict[str, model.Field] = {f.name: f for f in (*FEATURE_FIELDS, *model.PROJECT_FIELDS, *LABEL_FIELDS)}
# The columns of every feature export, in order: the query's GeoJSON properties with each coded field's label
# after it, then the feature's share of its project's investment (derived: an import ignores it).
EXPORT_COLUMNS: tuple[str, ...] = (
    *(c for p in QUERY_FEATURE_PROPERTIES for c in ((p, p + LABEL_SUFFIX) if p in LABELLED else (p,))),
    "investment_share_yuan")

# Names other tools and people use for the registry's columns (compared after normalise()).
_ALIASES: dict[str, tuple[str, ...]] = {
    "project_id": ("id", "projectid", "project id", "項目編號", "專案id", "項目id"),
    "name": ("project_name", "項目名稱", "名稱"),
    "category": ("類型", "專案類別", "項目類別"),
    "year": ("年份",),
    "investment_yuan": ("investment", "投資額(元)", "投資金額(元)"),
    "lead_department": ("department", "責任部門", "牽頭單位"),
    "street_codes": ("street", "streets", "street_code", "所屬街道"),
    "status": ("進度", "狀況"),
    "layer": ("layer_name",),
    "feature_name": ("要素名",),
}


def _check_short_names() -> None:
    """Refuse a data model whose DBF short names are too long, not ASCII, or collide (case-blind)."""
    seen: dict[str, str] = {}
    for field in FIELD_BY_NAME.values():
        short = field.dbf
        if not short.isascii() or len(short.encode()) > DBF_NAME_BYTES:
            raise RuntimeError(f"DBF short name {short!r} of {field.name} is not ASCII of ≤ {DBF_NAME_BYTES} bytes")
        if short.lower() in seen:
            raise RuntimeError(f"DBF short name {short!r} of {field.name} collides with {seen[short.lower()]}")
        seen[short.lower()] = field.name


_check_short_names()


def dbf_names() -> dict[str, str]:
    """Column → DBF short name for every export column."""
    return {column: FIELD_BY_NAME[column].dbf for column in EXPORT_COLUMNS}


def dbf_mapping_json() -> str:
    """The ``fields.json`` of a Shapefile export: DBF field → registry column, as ``--mapping`` reads it."""
    return json.dumps({short: column for column, short in dbf_names().items()}, ensure_ascii=False, indent=2)


def normalise(name: str) -> str:
    """A column header compared loosely: traditional characters, lower case, no surrounding space."""
    return to_traditional(str(name).strip()).lower().replace("\uff08", "(").replace("\uff09", ")")


def _lookup() -> dict[str, str]:
    """Every known spelling of a column (name, DBF name, Chinese header, GDAL's 10-byte cut, aliases)."""
    table: dict[str, str] = {}
    cuts: dict[str, list[str]] = {}
    for field in (*model.PROJECT_FIELDS, *FEATURE_FIELDS):  # the order exports write columns in
        cuts.setdefault(field.name[:DBF_NAME_BYTES].lower(), []).append(field.name)
    for cut, names in cuts.items():
        table[cut] = names[0]  # GDAL gives a shared cut to the first column written, and numbers the others
    for column, aliases in _ALIASES.items():
        table.update({normalise(alias): column for alias in aliases})
    for field in FIELD_BY_NAME.values():
        table.update({normalise(field.zh): field.name, field.dbf.lower(): field.name, field.name: field.name})
    for chosen in model.SCRIPTS:  # the headers an XLSX for people has in either script (项目编号, 專案編號)
        with script.use(chosen):
            table.update({normalise(gettext(field.name)): field.name for field in model.PROJECT_FIELDS})
    return table


_LOOKUP = _lookup()


def load_mapping(path: str | os.PathLike[str]) -> dict[str, str | None]:
    """A mapping file: a JSON object of source field → registry column (``null`` ignores the field)."""
    try:
        mapping = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(gettext("%(file)s: no such mapping file", file=path), param="mapping") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(gettext("%(file)s: not a JSON mapping file (%(reason)s)", file=path, reason=exc),
                              param="mapping") from None
    return check_mapping(mapping, str(path))


def check_mapping(mapping: object, where: str = "mapping") -> dict[str, str | None]:
    """``mapping`` if it maps source names to known registry columns (or null), else raise."""
    if not isinstance(mapping, dict):
        raise ValidationError(gettext("%(file)s: a mapping is a JSON object of source field → column", file=where),
                              param="mapping")
    for source, column in mapping.items():
        if column is not None and column not in FIELD_BY_NAME:
            raise ValidationError(gettext("%(file)s: %(source)s maps to unknown column %(column)s; valid: %(columns)s",
                                          file=where, source=repr(source), column=repr(column),
                                          columns=", ".join(FIELD_BY_NAME)), param="mapping")
    return dict(mapping)


def resolve_columns(names: list[str], mapping: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Source column → registry column for the columns that map to one; the first source wins a column."""
    explicit = {normalise(k): v for k, v in (mapping or {}).items()}
    found: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        key = normalise(name)
        column = explicit[key] if key in explicit else _LOOKUP.get(key)
        if column is not None and column not in taken:
            found[name] = column
            taken.add(column)
    return found
