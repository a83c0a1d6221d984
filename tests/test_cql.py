"""CQL2 filters over the demo registry, each checked against a plain per-row evaluation written here."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely

from registry import cql, model
from registry.errors import NotFound, ValidationError

QUERYABLES = {"feature_name": "text", **{f.name: f.kind for f in model.PROJECT_FIELDS}, "geometry": "geometry"}
TRIANGLE = "POLYGON((120.68 31.27, 120.82 31.30, 120.76 31.40, 120.68 31.27))"
LINE = "LINESTRING(120.64 31.25, 120.85 31.40)"
# a one-row frame for the error cases: every error must come before or regardless of the data
_SMALL = gpd.GeoDataFrame({"feature_name": ["唐莊河"], "year": [2013], "name": ["唐莊河整治"], "in_statement": [True],
                           "planned_finish": ["2013-12-31"], "delay_reason": [None]},
                          geometry=[shapely.Point(120.7, 31.3)], crs=model.STORAGE_EPSG)


@pytest.fixture(scope="module")
def frame(demo_path) -> gpd.GeoDataFrame:
    """Every project feature of the demo joined to its project; dates as ISO strings, as the store keeps them."""
    projects = pyogrio.read_dataframe(demo_path, layer="projects")
    for field in model.PROJECT_FIELDS:
        if field.kind == "date":
            column = projects[field.name]
            projects[field.name] = column.dt.strftime("%Y-%m-%d").astype(object).where(column.notna(), None)
    layers = [pyogrio.read_dataframe(demo_path, layer=layer.name) for layer in model.PROJECT_LAYERS]
    features = pd.concat(layers, ignore_index=True).rename(columns={"name": "feature_name"})
    joined = features.drop(columns="geometry").merge(projects, on="project_id", how="left")
    return gpd.GeoDataFrame(joined, geometry=features.geometry.values, crs=model.STORAGE_EPSG)


@pytest.fixture(scope="module")
def rows(frame) -> list[dict]:
    """The frame as plain records (missing values are None) for the brute-force evaluations."""
    plain = pd.DataFrame(frame).astype(object)
    return plain.where(plain.notna(), None).to_dict("records")


def matches(frame: gpd.GeoDataFrame, text: str | dict, lang: str | None = None, crs: int = 4326) -> list[int]:
    """Row numbers the filter selects."""
    return np.flatnonzero(cql.filter_mask(frame, cql.parse_filter(text, lang), QUERYABLES, crs)).tolist()


def brute(rows: list[dict], test: Callable[[dict], bool]) -> list[int]:
    """Row numbers a plain Python test accepts, one row at a time."""
    return [i for i, row in enumerate(rows) if test(row)]


def check(frame, rows, text, test, lang=None, crs=4326) -> None:
    """The filter selects exactly the rows the brute-force test accepts, and that is some but not all rows."""
    want = brute(rows, test)
    assert 0 < len(want) < len(rows)
    assert matches(frame, text, lang, crs) == want


def day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def bad(text: str | dict, lang: str | None = None) -> ValidationError:
    """The error a bad filter raises when parsed and evaluated over a small demo frame."""
    with pytest.raises(ValidationError) as caught:
        cql.filter_mask(_SMALL, cql.parse_filter(text, lang), QUERYABLES)
    return caught.value



def test_comparisons_joined_by_and(frame, rows):
    check(frame, rows, "status = 'completed' AND investment_yuan > 2000000",
          lambda r: r["status"] == "completed" and r["investment_yuan"] > 2_000_000)


def test_or_and_parentheses(frame, rows):
    check(frame, rows, "year = 2015 OR (status = 'completed' AND in_statement = true)",
          lambda r: r["year"] == 2015 or (r["status"] == "completed" and r["in_statement"]))


def test_and_binds_before_or_as_cql2_says(frame, rows):
    check(frame, rows, "year = 2015 OR status = 'completed' AND in_statement = true",
          lambda r: r["year"] == 2015 or (r["status"] == "completed" and r["in_statement"]))
    check(frame, rows, "status = 'completed' AND in_statement = true OR year = 2015",
          lambda r: (r["status"] == "completed" and r["in_statement"]) or r["year"] == 2015)


def test_a_doubled_quote_is_a_quote_in_text(frame, rows):
    quoted = frame.assign(feature_name=np.where(np.arange(len(frame)) % 2 == 0, "it's", "its"))
    assert matches(quoted, "feature_name = 'it''s'") == list(range(0, len(frame), 2))


def test_not_equal_and_less_or_equal(frame, rows):
    check(frame, rows, "category <> 'rivers' AND year <= 2013",
          lambda r: r["category"] != "rivers" and r["year"] <= 2013)


def test_chinese_text_literal(frame, rows):
    check(frame, rows, "feature_name = '唐莊河'", lambda r: r["feature_name"] == "唐莊河")


def test_like_with_percent(frame, rows):
    check(frame, rows, "name LIKE '%河%'", lambda r: "河" in r["name"])


def test_like_underscore_is_one_character(frame, rows):
    check(frame, rows, "project_id LIKE '2013-RIV-00_'",
          lambda r: len(r["project_id"]) == 12 and r["project_id"].startswith("2013-RIV-00"))


def test_like_dot_is_a_plain_character(frame):
    assert matches(frame, "project_id LIKE '2013.RIV%'") == []


def test_not_like(frame, rows):
    check(frame, rows, "name NOT LIKE '%河%'", lambda r: "河" not in r["name"])


def test_casei_like(frame, rows):
    check(frame, rows, "CASEI(project_id) LIKE CASEI('2013-riv-%')",
          lambda r: r["project_id"].lower().startswith("2013-riv-"))


def test_in_list_of_text(frame, rows):
    check(frame, rows, "category IN ('rivers','alleys')", lambda r: r["category"] in ("rivers", "alleys"))


def test_not_in_list_of_numbers(frame, rows):
    check(frame, rows, "year NOT IN (2013, 2015)", lambda r: r["year"] not in (2013, 2015))


def test_between(frame, rows):
    check(frame, rows, "year BETWEEN 2013 AND 2014", lambda r: 2013 <= r["year"] <= 2014)


def test_not_between(frame, rows):
    check(frame, rows, "investment_yuan NOT BETWEEN 1000000 AND 5000000",
          lambda r: not 1_000_000 <= r["investment_yuan"] <= 5_000_000)


def test_date_comparison(frame, rows):
    check(frame, rows, "planned_finish < DATE('2014-01-01')",
          lambda r: r["planned_finish"] is not None and day(r["planned_finish"]) < date(2014, 1, 1))


def test_timestamp_with_offset_is_compared_in_utc(frame, rows):
    check(frame, rows, "planned_finish < TIMESTAMP('2014-01-01T07:00:00+08:00')",
          lambda r: r["planned_finish"] is not None and day(r["planned_finish"]) <= date(2013, 12, 31))


def test_two_date_properties_compared(frame, rows):
    check(frame, rows, "actual_finish < planned_finish",
          lambda r: None not in (r["actual_finish"], r["planned_finish"])
          and day(r["actual_finish"]) < day(r["planned_finish"]))


def test_is_null(frame, rows):
    check(frame, rows, "delay_reason IS NULL", lambda r: r["delay_reason"] is None)


def test_is_not_null(frame, rows):
    check(frame, rows, "stalls IS NOT NULL", lambda r: r["stalls"] is not None)


def test_not_of_a_missing_value_matches_nothing(frame, rows):
    check(frame, rows, "NOT (delay_reason = 'none given')", lambda r: r["delay_reason"] is not None)


def test_negated_boolean_comparison(frame, rows):
    check(frame, rows, "NOT in_statement = true", lambda r: not r["in_statement"])


def test_booleans(frame, rows):
    check(frame, rows, "in_statement = false AND beyond_statement = true",
          lambda r: not r["in_statement"] and r["beyond_statement"])


def test_arithmetic(frame, rows):
    check(frame, rows, "investment_yuan / 10000 > 500", lambda r: r["investment_yuan"] / 10000 > 500)


def test_division_by_zero_matches_nothing(frame):
    assert matches(frame, "year / 0 > 1") == []


def test_s_intersects_polygon(frame, rows):
    triangle = shapely.from_wkt(TRIANGLE)
    check(frame, rows, f"S_INTERSECTS(geometry, {TRIANGLE})", lambda r: r["geometry"].intersects(triangle))


def test_s_within_bbox(frame, rows):
    box = shapely.box(120.6, 31.2, 120.75, 31.35)
    check(frame, rows, "S_WITHIN(geometry, BBOX(120.6, 31.2, 120.75, 31.35))", lambda r: r["geometry"].within(box))


def test_bbox_predicate(frame, rows):
    box = shapely.box(120.6, 31.2, 120.75, 31.35)
    check(frame, rows, "BBOX(geometry, 120.6, 31.2, 120.75, 31.35)", lambda r: r["geometry"].intersects(box))


def test_s_disjoint(frame, rows):
    triangle = shapely.from_wkt(TRIANGLE)
    check(frame, rows, f"S_DISJOINT(geometry, {TRIANGLE})", lambda r: r["geometry"].disjoint(triangle))


def test_s_contains_point(frame, rows):
    polygon = next(r["geometry"] for r in rows if r["geometry"].geom_type == "MultiPolygon")
    point = polygon.representative_point()
    check(frame, rows, f"S_CONTAINS(geometry, POINT({point.x!r} {point.y!r}))",
          lambda r: r["geometry"].contains(point), crs=4490)


def test_literal_first_in_s_contains(frame, rows):
    triangle = shapely.from_wkt(TRIANGLE)
    check(frame, rows, f"S_CONTAINS({TRIANGLE}, geometry)", lambda r: triangle.contains(r["geometry"]))


def test_s_crosses_line(frame, rows):
    line = shapely.from_wkt(LINE)
    check(frame, rows, f"S_CROSSES(geometry, {LINE})", lambda r: r["geometry"].crosses(line))


def test_s_overlaps(frame, rows):
    triangle = shapely.from_wkt(TRIANGLE)
    check(frame, rows, f"S_OVERLAPS(geometry, {TRIANGLE})", lambda r: r["geometry"].overlaps(triangle))


def test_s_touches_boundary_point(frame, rows):
    polygon = next(r["geometry"] for r in rows if r["geometry"].geom_type == "MultiPolygon")
    x, y = polygon.geoms[0].exterior.coords[0]
    point = shapely.Point(x, y)
    check(frame, rows, f"S_TOUCHES(geometry, POINT({x!r} {y!r}))", lambda r: r["geometry"].touches(point), crs=4490)


def test_s_equals_feature_geometry(frame, rows):
    river = next(r["geometry"] for r in rows if r["feature_name"] == "唐莊河")
    wkt = shapely.to_wkt(river, rounding_precision=-1).replace(" (", "(")
    check(frame, rows, f"S_EQUALS(geometry, {wkt})", lambda r: r["geometry"].equals(river), crs=4490)


def test_two_geometry_properties_compared(frame, rows):
    assert matches(frame, "S_EQUALS(geometry, geometry)") == brute(rows, lambda r: r["geometry"].equals(r["geometry"]))


def test_metric_filter_crs_is_transformed(frame, rows):
    to_metric = pyproj.Transformer.from_crs(4490, 4549, always_xy=True)
    corners = [to_metric.transform(x, y) for x, y in ((120.68, 31.27), (120.82, 31.30), (120.76, 31.40))]
    wkt = "POLYGON((" + ", ".join(f"{x!r} {y!r}" for x, y in [*corners, corners[0]]) + "))"
    back = pyproj.Transformer.from_crs(4549, 4490, always_xy=True)
    region = shapely.Polygon([back.transform(x, y) for x, y in corners])
    check(frame, rows, f"S_INTERSECTS(geometry, {wkt})", lambda r: r["geometry"].intersects(region), crs=4549)


def test_ewkt_srid_overrides_filter_crs(frame):
    to_metric = pyproj.Transformer.from_crs(4490, 4549, always_xy=True)
    (x0, x1), (y0, y1) = to_metric.transform([120.68, 120.80], [31.27, 31.38])
    square = f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"
    assert matches(frame, f"S_INTERSECTS(geometry, SRID=4549;{square})") == matches(
        frame, f"S_INTERSECTS(geometry, {square})", crs=4549)


def test_bbox_predicate_with_its_own_crs(frame):
    to_metric = pyproj.Transformer.from_crs(4490, 4549, always_xy=True)
    (x0, x1), (y0, y1) = to_metric.transform([120.68, 120.80], [31.27, 31.38])
    assert matches(frame, f"BBOX(geometry, {x0}, {y0}, {x1}, {y1}, 'EPSG:4549')") == matches(
        frame, f"BBOX(geometry, {x0}, {y0}, {x1}, {y1})", crs=4549)


@pytest.mark.parametrize("text", ["T_BEFORE(planned_finish, DATE('2014-01-01'))",
                                  "planned_finish T_BEFORE DATE('2014-01-01')"], ids=["standard", "infix"])
def test_t_before(frame, rows, text):
    check(frame, rows, text,
          lambda r: r["planned_finish"] is not None and day(r["planned_finish"]) < date(2014, 1, 1))


def test_t_after(frame, rows):
    check(frame, rows, "actual_start T_AFTER DATE('2013-09-01')",
          lambda r: r["actual_start"] is not None and day(r["actual_start"]) > date(2013, 9, 1))


def test_t_equals(frame, rows):
    check(frame, rows, "planned_finish T_EQUALS DATE('2014-12-31')", lambda r: r["planned_finish"] == "2014-12-31")


def test_t_intersects_interval(frame, rows):
    check(frame, rows,
          "planned_finish T_INTERSECTS INTERVAL('2014-01-01T00:00:00Z', '2014-06-30T00:00:00Z')",
          lambda r: r["planned_finish"] is not None and "2014-01-01" <= r["planned_finish"] <= "2014-06-30")


def test_t_intersects_open_interval_in_json(frame, rows):
    document = {"op": "t_intersects", "args": [{"property": "planned_finish"}, {"interval": ["2014-06-01", ".."]}]}
    check(frame, rows, document, lambda r: r["planned_finish"] is not None and r["planned_finish"] >= "2014-06-01")


@pytest.mark.parametrize(("text", "document"), [
    ("status = 'completed' AND investment_yuan > 2000000",
     {"op": "and", "args": [{"op": "=", "args": [{"property": "status"}, "completed"]},
                            {"op": ">", "args": [{"property": "investment_yuan"}, 2000000]}]}),
    ("name LIKE '%河%'", {"op": "like", "args": [{"property": "name"}, "%河%"]}),
    ("category IN ('rivers','alleys')", {"op": "in", "args": [{"property": "category"}, ["rivers", "alleys"]]}),
    ("year BETWEEN 2013 AND 2014", {"op": "between", "args": [{"property": "year"}, 2013, 2014]}),
    ("planned_finish < DATE('2014-01-01')",
     {"op": "<", "args": [{"property": "planned_finish"}, {"date": "2014-01-01"}]}),
    ("delay_reason IS NULL", {"op": "isNull", "args": [{"property": "delay_reason"}]}),
    ("NOT in_statement = true", {"op": "not", "args": [{"op": "=", "args": [{"property": "in_statement"}, True]}]}),
    (f"S_INTERSECTS(geometry, {TRIANGLE})",
     {"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Polygon", "coordinates": [
         [[120.68, 31.27], [120.82, 31.30], [120.76, 31.40], [120.68, 31.27]]]}]}),
    ("S_WITHIN(geometry, BBOX(120.6, 31.2, 120.75, 31.35))",
     {"op": "s_within", "args": [{"property": "geometry"}, {"bbox": [120.6, 31.2, 120.75, 31.35]}]}),
], ids=["and", "like", "in", "between", "date", "isnull", "not", "s_intersects", "bbox"])
def test_cql2_json_selects_what_cql2_text_does(frame, text, document):
    assert 0 < len(matches(frame, document)) == len(matches(frame, text))
    assert matches(frame, document) == matches(frame, text)


def test_cql2_json_as_text_is_recognised(frame, rows):
    document = json.dumps({"op": "=", "args": [{"property": "feature_name"}, "唐莊河"]}, ensure_ascii=False)
    check(frame, rows, document, lambda r: r["feature_name"] == "唐莊河")


def test_json_bbox_with_heights(frame):
    assert matches(frame, {"op": "s_within", "args": [{"property": "geometry"},
                                                      {"bbox": [120.6, 31.2, 0, 120.75, 31.35, 50]}]}) == matches(
        frame, "S_WITHIN(geometry, BBOX(120.6, 31.2, 120.75, 31.35))")


def test_cql_text_alias(frame, rows):
    check(frame, rows, "year = 2013", lambda r: r["year"] == 2013, lang="cql-text")


def test_cql_json_alias(frame, rows):
    check(frame, rows, '{"op": "=", "args": [{"property": "year"}, 2013]}', lambda r: r["year"] == 2013,
          lang="cql-json")


def test_empty_frame_gives_empty_mask(frame):
    mask = cql.filter_mask(frame.iloc[:0], cql.parse_filter(f"year = 2013 AND S_INTERSECTS(geometry, {TRIANGLE})"),
                           QUERYABLES)
    assert mask.dtype == bool and mask.shape == (0,)


def test_unknown_filter_lang_names_filter_lang():
    with pytest.raises(ValidationError) as caught:
        cql.parse_filter("year = 2013", "xml")
    assert caught.value.param == "filter-lang"
    assert "cql2-text" in caught.value.message


def test_json_object_with_text_lang_names_filter_lang():
    with pytest.raises(ValidationError) as caught:
        cql.parse_filter({"op": "=", "args": [{"property": "year"}, 2013]}, "cql2-text")
    assert caught.value.param == "filter-lang"


@pytest.mark.parametrize(("text", "fragment"), [
    ("status = 'completed' AND", "之後過早結束"),
    ("", "filter 為空"),
    ("year = 2013 $", "第 13 欄出現非預期的 '$'"),
    ("NOT in_statement", "請寫 in_statement = true"),
    ("colour = 'red'", "未知的屬性 'colour'；可查詢的屬性：feature_name, project_id"),
    ("year = '2013'", "數值不加引號"),
    ("planned_finish < '2014-01-01'", "DATE('2014-01-01')"),
    ("in_statement = 1", "請寫 true 或 false"),
    ("year = 2013 AND geometry = 5", "請使用 S_EQUALS"),
    ("planned_finish = INTERVAL('2014-01-01T00:00:00Z', '2014-06-30T00:00:00Z')", "時間區間"),
    ("planned_finish < DATE('2014-02-30')", "day is out of range"),
    ("year LIKE '2013'", "LIKE 需要文字"),
    ("name LIKE name", "LIKE 需要帶引號的模式"),
    ("year + name > 3", "+ 需要數值"),
    ("CASEI(year) = 'x'", "CASEI 需要文字"),
    ("UPPER(name) = 'X'", "不支援函式 UPPER"),
    ("RELATE(geometry, POINT(120.7 31.3), 'T********')", "不支援運算子 RELATE"),
    ("planned_finish T_MEETS DATE('2014-01-01')", "不支援運算子 MEETS"),
    ("name T_BEFORE DATE('2014-01-01')", "T_BEFORE 需要日期"),
    ("S_INTERSECTS(name, POINT(120.7 31.3))", "S_INTERSECTS 需要幾何圖形，但 name 是文字"),
    ("S_INTERSECTS(geometry, POLYGON((120.7 31.3, 120.8 31.4, 120.8 31.3, 120.7 31.4, 120.7 31.3)))",
     "不是有效的幾何圖形"),
    ("S_INTERSECTS(geometry, POLYGON((120.7 31.3, 120.8 31.4, 120.7 31.3)))", "不是有效的幾何圖形"),
    ("S_INTERSECTS(geometry, POINT(31.3 120.7))", "經緯度似乎寫反了"),
    ("S_INTERSECTS(geometry, POINT(10 10))", "離園區很遠"),
    ("S_WITHIN(geometry, BBOX(120.8, 31.2, 120.7, 31.3))", "最小值不能大於最大值"),
    ("S_WITHIN(geometry, BBOX(120.8, 31.2, 120.7))", "BBOX 需要 4 個數值"),
    ('{"op": "=", "args": [{"property": "year"}]}', "op '=' 需要 2 個參數，收到 1 個"),
    ('{"op": "between", "args": [{"property": "year"}, [2013, 2014]]}', "op 'between' 需要 3 個參數"),
    ('{"op": "=", "args": [{"property": "delay_reason"}, null]}', "isNull"),
    ('{"op": "=", "args": [{"property": "year"}, [2013]]}', "只有 IN 後面可以用列表"),
    ('{"op": "=", "args": [{"op": "<", "args": [1, 2]}, true]}', "條件不能當作值使用"),
    ('{"op": "not", "args": [{"property": "in_statement"}]}', "請寫 in_statement = true"),
    ('{"op": "s_within", "args": [{"property": "geometry"}, {"bbox": [120.6, 31.2]}]}', "bbox 須為 4 個數值"),
    ('{"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Polygon", "coordinates": [[1, 2]]}]}',
     "POLYGON 字面值格式有誤"),
    ('{"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Polygon", "coordinates": []}]}',
     "POLYGON 字面值為空"),
    ('{"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [120.7, 31.3], '
     '"crs": "EPSG:4549"}]}', "crs 須寫成"),
    ('{"op": "t_intersects", "args": [{"property": "planned_finish"}, {"interval": ["2014-01-01", "P1D"]}]}',
     "不接受時長"),
    ('{"op": "a_contains", "args": [{"property": "street_codes"}, ["LF"]]}', "不支援運算子 ACONTAINS"),
    ('{"op": "nearby", "args": [{"property": "geometry"}]}', "不是有效的 CQL2 JSON"),
    ('{"op": "=", "args": [{"property": "year"}, 2013]', "不是有效的 JSON"),
    ('{"date": "2014-01-01"}', "須為條件"),
], ids=lambda value: value if len(value) < 40 else value[:37] + "...")
def test_bad_filter_is_a_one_line_error_naming_filter(text, fragment):
    error = bad(text)
    assert error.param == "filter"
    assert fragment in error.message
    assert "\n" not in error.message


def test_queryables_schema_describes_project_layer():
    schema = cql.queryables_schema("rivers", QUERYABLES, "http://example.org/ogc/")
    assert schema["$schema"] == "https://json-schema.org/draft/2019-09/schema"
    assert schema["$id"] == "http://example.org/ogc/collections/rivers/queryables"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["title"] == "城市河道 (rivers)"
    properties = schema["properties"]
    assert list(properties) == list(QUERYABLES)
    assert properties["geometry"] == {"$ref": "https://geojson.org/schema/MultiLineString.json"}
    assert properties["planned_finish"] == {"type": "string", "format": "date", "title": "計劃完工"}
    assert properties["investment_yuan"] == {"type": "integer", "title": "投資(元)"}
    assert properties["length_m"] == {"type": "number", "title": "長度(米)"}
    assert properties["in_statement"] == {"type": "boolean", "title": "責任狀專案"}
    assert properties["feature_name"] == {"type": "string", "title": "feature_name"}


@pytest.mark.parametrize(("layer", "geometry_type"), [("billboards", "Point"), ("polders", "MultiPolygon")])
def test_queryables_schema_geometry_follows_the_layer(layer, geometry_type):
    schema = cql.queryables_schema(layer, {"geometry": "geometry"}, "http://example.org")
    assert schema["properties"]["geometry"] == {"$ref": f"https://geojson.org/schema/{geometry_type}.json"}


def test_queryables_schema_of_reference_layer_titles_by_name():
    schema = cql.queryables_schema("street_offices", {"name": "text", "valid_from": "date"}, "http://example.org")
    assert schema["properties"]["name"] == {"type": "string", "title": "name"}
    assert schema["properties"]["valid_from"] == {"type": "string", "format": "date", "title": "valid_from"}


def test_queryables_schema_of_unknown_layer_is_not_found():
    with pytest.raises(NotFound):
        cql.queryables_schema("nowhere", {}, "http://example.org")
