"""The registry's data model: categories, layers, codes and the one table of project fields.

Every other module (store, queries, exchange, API) takes names and types from here, so the
contract in ``shared/domain.md`` is written down exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

SCHEMA_VERSION = 5  # what registry/store/migrations upgrades every registry to
VERSION_COLUMN = "version"  # every project row and project feature counts its changes here (ETags, If-Match)
STORAGE_EPSG = 4490  # CGCS2000 longitude/latitude: how geometry is stored
METRIC_EPSG = 4549  # CGCS2000 / 3-degree Gauss-Kruger CM 120E: lengths, areas, buffers
ILLUSTRATIVE_NOTICE = (
    "The park, street-office, lake and river geometry and all project geometry are illustrative "
    "(drawn for this demo), not survey data. 園區、街道、湖泊、河道及專案的幾何均為示意,非測繪成果。"
)


@dataclass(frozen=True)
class Category:
    """A project category and the feature layer that holds its geometry."""

    slug: str
    code: str
    zh: str
    geometry_type: str  # the layer's one declared geometry type


CATEGORIES: tuple[Category, ...] = (
    Category("alleys", "ALY", "背街小巷", "MultiLineString"),
    Category("rivers", "RIV", "城市河道", "MultiLineString"),
    Category("polders", "POL", "低窪易淹易澇片區", "MultiPolygon"),
    Category("construction_sites", "CST", "建設工地", "MultiPolygon"),
    Category("parking_lots", "PRK", "停車設施", "MultiPolygon"),
    Category("markets", "MKT", "農貿市場", "MultiPolygon"),
    Category("vending_points", "VND", "經營疏導點", "MultiPolygon"),
    Category("billboards", "BBD", "戶外廣告", "Point"),
    Category("old_compounds", "OLD", "老舊小區", "MultiPolygon"),
    Category("urban_villages", "VIL", "城中村", "MultiPolygon"),
    Category("shanty_areas", "SHT", "棚戶區", "MultiPolygon"),
    Category("urban_fringes", "FRG", "城郊結合部", "MultiPolygon"),
)
CATEGORY_BY_SLUG = {c.slug: c for c in CATEGORIES}
CATEGORY_BY_CODE = {c.code: c for c in CATEGORIES}


@dataclass(frozen=True)
class Layer:
    """A feature layer of the store: its geometry type and its attribute columns besides fid."""

    name: str
    geometry_type: str
    kind: str  # "project" (carries project_id) or "reference"
    columns: tuple[tuple[str, str], ...]  # (name, SQL type)
    title_zh: str


_PROJECT_FEATURE_COLUMNS = (("project_id", "TEXT"), ("name", "TEXT"))

PROJECT_LAYERS: tuple[Layer, ...] = tuple(
    Layer(c.slug, c.geometry_type, "project", _PROJECT_FEATURE_COLUMNS, c.zh) for c in CATEGORIES
) + (Layer("sluices", "Point", "project", _PROJECT_FEATURE_COLUMNS, "閘站"),)

REFERENCE_LAYERS: tuple[Layer, ...] = (
    Layer("park_boundary", "MultiPolygon", "reference", (("name", "TEXT"),), "園區邊界"),
    Layer(
        "street_offices",
        "MultiPolygon",
        "reference",
        (("code", "TEXT"), ("name", "TEXT"), ("valid_from", "DATE"), ("valid_to", "DATE")),
        "街道",
    ),
    Layer("lakes", "MultiPolygon", "reference", (("name", "TEXT"),), "湖泊"),
    Layer("main_rivers", "MultiLineString", "reference", (("name", "TEXT"),), "主要河道"),
)
LAYERS: tuple[Layer, ...] = PROJECT_LAYERS + REFERENCE_LAYERS
LAYER_BY_NAME = {layer.name: layer for layer in LAYERS}
# Layers a category owns besides its own: a polder project's sluice gates are the points of "sluices".
_OWNED_LAYERS = {"polders": ("sluices",)}


def category_layers(slug: str) -> tuple[str, ...]:
    """The feature layers that hold a category's features: its own layer first, then those it owns
    (polders bring their sluices). Queries, project documents, maps and the web map all ask here."""
    return (slug, *_OWNED_LAYERS.get(slug, ()))


def layer_category(layer: str) -> str:
    """The category whose projects a project layer's features belong to (sluices: polders)."""
    return next(c.slug for c in CATEGORIES if layer in category_layers(c.slug))

# Street offices; a boundary version is keyed by (code, valid_from).
STREETS = {"LF": "婁葑", "XT": "斜塘", "WT": "唯亭", "SP": "勝浦", "JJH": "金雞湖"}

STATUSES = {
    "planned": "計劃",
    "in_progress": "在建",
    "completed": "已完成",
    "long_term_management": "長效管理",
    "delayed": "延期",
    "cancelled": "取消",
}

LEAD_DEPARTMENTS = ("城市管理局", "服務業發展局", "規劃建設局", "國土房產局", "社會管理局", "交巡警大隊")
SITE_TYPES = {"building": "建築", "municipal": "市政", "demolition": "拆遷", "awaiting": "待建"}
BILLBOARD_ACTIONS = {"remove": "拆除", "renovate": "整治"}


@dataclass(frozen=True)
class Field:
    """One column of the ``projects`` table: its type, DBF short name and Chinese header.

    ``kind`` is one of text, integer, real, date, bool. Exporters and importers read this table.
    """

    name: str
    kind: str
    dbf: str
    zh: str
    required: bool = False
    since: int = 1  # the schema version that added the column (later ones arrive by migration)


PROJECT_FIELDS: tuple[Field, ...] = (
    Field("project_id", "text", "project_id", "專案編號", True),
    Field("name", "text", "name", "專案名稱", True),
    Field("category", "text", "category", "類別", True),
    Field("year", "integer", "year", "年度", True),
    Field("investment_yuan", "integer", "invest_yn", "投資(元)", True),
    Field("lead_department", "text", "lead_dept", "牽頭部門", True),
    Field("street_codes", "text", "streets", "街道", True),
    Field("status", "text", "status", "狀態", True),
    Field("delay_reason", "text", "delay_rsn", "延期原因"),
    Field("planned_start", "date", "plan_start", "計劃開工"),
    Field("planned_finish", "date", "plan_end", "計劃完工"),
    Field("actual_start", "date", "act_start", "實際開工"),
    Field("actual_finish", "date", "act_end", "實際完工"),
    Field("in_statement", "bool", "in_stmt", "責任狀專案", True),
    Field("beyond_statement", "bool", "beyond_st", "責任狀外追加", True),
    Field("tasks", "text", "tasks", "整治任務"),
    Field("notes", "text", "notes", "備註"),
    Field("length_m", "real", "length_m", "長度(米)"),
    Field("area_m2", "real", "area_m2", "面積(平方米)"),
    Field("stalls", "integer", "stalls", "攤位數"),
    Field("parking_spaces", "integer", "park_spc", "泊位數"),
    Field("dredged_m3", "real", "dredge_m3", "清淤量(立方米)"),
    Field("site_type", "text", "site_type", "工地類型"),
    Field("billboard_action", "text", "bb_action", "廣告處置"),
    Field("progress_pct", "real", "progress", "進度(%)", since=2),
    Field("investment_completed_yuan", "integer", "inv_done", "已完成投資(元)", since=2),
    Field("planned_finish_original", "date", "plan_end0", "原計劃完工", since=2),
)
FIELD_BY_NAME = {f.name: f for f in PROJECT_FIELDS}
PROJECT_COLUMNS = tuple(f.name for f in PROJECT_FIELDS)

SQL_TYPES = {"text": "TEXT", "integer": "INTEGER", "real": "REAL", "date": "DATE", "bool": "BOOLEAN"}
PROJECT_KINDS = {f.name: f.kind for f in PROJECT_FIELDS}  # what a filter over project attributes may name
_LAYER_KINDS = {"TEXT": "text", "DATE": "date", "INTEGER": "integer", "REAL": "real"}


def queryables(layer: Layer) -> dict[str, str]:
    """A layer's served properties (name → kind) and its geometry: a project layer's features carry
    their project's attributes and their share of its investment."""
    if layer.kind == "project":
        return {"feature_name": "text", "project_id": "text",
                **{f.name: f.kind for f in PROJECT_FIELDS if f.name != "project_id"},
                "investment_share_yuan": "real", "geometry": "geometry"}
    return {**{name: _LAYER_KINDS[kind] for name, kind in layer.columns}, "geometry": "geometry"}


def project_id(year: int, category: str, number: int) -> str:
    """The readable id ``YEAR-CAT-NNN`` of the ``number``-th project of a year and category."""
    return f"{year}-{CATEGORY_BY_SLUG[category].code}-{number:03d}"


# -- Names: every coded value in both scripts ---------------------------------------------------------
# One table for category, status, street office, lead department, site type and billboard action: the
# code, the Traditional name (as the source document and the store have it), the Simplified name (as a
# mainland reader writes it, not a character-by-character conversion) and other spellings people use.
# Every road that reads such a value (CLI, HTTP parameters, CQL2, imports) resolves it here, and every
# output that shows one asks here for its label.
SCRIPTS = ("zh-Hans", "zh-Hant")  # Simplified (mainland wording), Traditional (as the source document)


@dataclass(frozen=True)
class Name:
    """A coded value: its code, Traditional and Simplified names, and aliases (either script)."""

    code: str
    hant: str
    hans: str
    aliases: tuple[str, ...] = ()


NAMES: dict[str, tuple[Name, ...]] = {
    "category": (
        Name("alleys", "背街小巷", "背街小巷", ("ALY", "小巷", "背街")),
        Name("rivers", "城市河道", "城市河道", ("RIV", "河道", "河流")),
        Name("polders", "低窪易淹易澇片區", "低洼易淹易涝片区", ("POL", "圩區", "低窪片區", "易淹易澇片區")),
        Name("construction_sites", "建設工地", "建设工地", ("CST", "工地")),
        Name("parking_lots", "停車設施", "停车设施", ("PRK", "停車場", "停車")),
        Name("markets", "農貿市場", "农贸市场", ("MKT", "菜市場", "農貿")),
        Name("vending_points", "經營疏導點", "经营疏导点", ("VND", "疏導點", "攤點")),
        Name("billboards", "戶外廣告", "户外广告", ("BBD", "廣告", "廣告牌")),
        Name("old_compounds", "老舊小區", "老旧小区", ("OLD", "老小區", "老舊社區")),
        Name("urban_villages", "城中村", "城中村", ("VIL",)),
        Name("shanty_areas", "棚戶區", "棚户区", ("SHT", "棚戶")),
        Name("urban_fringes", "城郊結合部", "城郊结合部", ("FRG", "城鄉結合部")),
    ),
    "status": (
        Name("planned", "計劃", "计划", ("計畫", "規劃", "未開工")),
        Name("in_progress", "在建", "在建", ("施工中", "進行中", "實施中", "建設中")),
        Name("completed", "已完成", "已完成", ("完成", "完工", "已完工", "竣工")),
        Name("long_term_management", "長效管理", "长效管理", ("長效管護", "長效")),
        Name("delayed", "延期", "延期", ("延誤", "推遲", "滯後")),
        Name("cancelled", "取消", "取消", ("已取消", "撤銷")),
    ),
    "street": (
        Name("LF", "婁葑", "娄葑", ("婁葑街道",)),
        Name("XT", "斜塘", "斜塘", ("斜塘街道",)),
        Name("WT", "唯亭", "唯亭", ("唯亭街道",)),
        Name("SP", "勝浦", "胜浦", ("勝浦街道",)),
        Name("JJH", "金雞湖", "金鸡湖", ("金雞湖街道",)),
    ),
    "lead_department": (  # stored by its Traditional name (see STORED_BY_NAME); the code names it in URLs
        Name("urban_management", "城市管理局", "城市管理局", ("城管局", "城管")),
        Name("service_industry", "服務業發展局", "服务业发展局", ("服務業局", "服發局")),
        Name("planning_construction", "規劃建設局", "规划建设局", ("規建局", "規劃局")),
        Name("land_housing", "國土房產局", "国土房产局", ("國土局", "房產局")),
        Name("social_affairs", "社會管理局", "社会管理局", ("社管局",)),
        Name("traffic_police", "交巡警大隊", "交巡警大队", ("交警大隊", "交巡警")),
    ),
    "site_type": (
        Name("building", "建築", "建筑", ("建築工地", "房建")),
        Name("municipal", "市政", "市政", ("市政工地",)),
        Name("demolition", "拆遷", "拆迁", ("拆遷工地",)),
        Name("awaiting", "待建", "待建", ("待建工地", "待建地塊")),
    ),
    "billboard_action": (
        Name("remove", "拆除", "拆除", ("拆",)),
        Name("renovate", "整治", "整治", ("整改", "翻新")),
    ),
}
# Kinds stored by their Traditional name rather than their code: lead_department has been free text
# since the first schema (registries, exports and QGIS projects hold the names), so it stays so.
STORED_BY_NAME = frozenset({"lead_department"})
# The project field (or query parameter) each kind of name is the value of.
NAME_FIELDS = {"category": "category", "status": "status", "street": "street_codes",
               "lead_department": "lead_department", "site_type": "site_type", "billboard_action": "billboard_action"}


def stored_value(kind: str, name: Name) -> str:
    """What the store holds for ``name``: its code, or for lead departments its Traditional name."""
    return name.hant if kind in STORED_BY_NAME else name.code


def _key(text: str) -> str:
    """The script-blind, case-blind form spellings are compared in (Traditional folded to Simplified)."""
    from .text import fold

    return fold(str(text).strip()).lower()


@cache
def _spellings(kind: str) -> dict[str, str]:
    table = {}
    for name in NAMES[kind]:
        for spelling in (name.code, name.hant, name.hans, *name.aliases):
            table.setdefault(_key(spelling), stored_value(kind, name))
    return table


def resolve_name(kind: str, text: str) -> str | None:
    """The stored value a spelling means (code in any case, Traditional or Simplified name, alias), or None.

    ``resolve_name("category", "河道") == "rivers"``; ``resolve_name("lead_department", "城管局") == "城市管理局"``.
    """
    return _spellings(kind).get(_key(text))


def name_label(kind: str, value: str | None, script: str) -> str | None:
    """A code's (or stored value's) name in ``script`` (zh-Hans or zh-Hant); an unknown value as it is."""
    if value is None:
        return None
    for name in NAMES[kind]:
        if value in (name.code, name.hant):
            return name.hans if script == "zh-Hans" else name.hant
    return value


def name_labels(kind: str, script: str) -> dict[str, str]:
    """Stored value → label in ``script``, for every value of a kind (vectorised outputs map with it)."""
    return {stored_value(kind, n): (n.hans if script == "zh-Hans" else n.hant) for n in NAMES[kind]}


def accepted_names(kind: str, script: str = "zh-Hans") -> str:
    """The valid values of a kind as an error message lists them: ``rivers (城市河道)``, ..."""
    return ", ".join(f"{n.code} ({n.hans if script == 'zh-Hans' else n.hant})" for n in NAMES[kind])


# -- the programme's workflow ----------------------------------------------------------------------
# The statuses a project may move to from each status, by editors and imports; an admin may also
# cancel any open project, and correct a wrong status in any direction when giving a reason.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "planned": ("in_progress", "delayed"),
    "in_progress": ("completed", "delayed"),
    "delayed": ("in_progress", "completed"),
    "completed": ("long_term_management",),
    "long_term_management": (),
    "cancelled": (),
}
OPEN_STATUSES = ("planned", "in_progress", "delayed")  # an admin may cancel these
# What entering a status requires besides the move itself (fields that must then be set).
STATUS_REQUIRES: dict[str, tuple[str, ...]] = {
    "in_progress": ("actual_start",),
    "completed": ("actual_finish",),
    "delayed": ("delay_reason", "planned_finish"),
}
ROLES = ("viewer", "editor", "admin")
