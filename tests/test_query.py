"""Queries checked against independent brute force: plain shapely predicates over every feature.

The brute force reads the layers with pyogrio and loops feature by feature; it shares no code with
``registry.query`` or ``registry.spatial``.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from shapely import LineString, Point, Polygon

from registry import editing, spatial
from registry.errors import ValidationError
from registry.query import find
from registry.store import Batch, GeoPackageStore
from registry.store.edits import Author

from .conftest import STREET_ORDER, reference_only, to_geo, to_metric

PROJECT_LAYERS = ("alleys", "rivers", "polders", "construction_sites", "parking_lots", "markets", "vending_points",
                  "billboards", "old_compounds", "urban_villages", "shanty_areas", "urban_fringes", "sluices")


# -- brute force ------------------------------------------------------------------------------
_TO_4549 = pyproj.Transformer.from_crs(4490, 4549, always_xy=True)  # independent of the registry's


def all_features(path) -> list[tuple[str, int, str, shapely.Geometry]]:
    out = []
    for layer in PROJECT_LAYERS:
        frame = pyogrio.read_dataframe(path, layer=layer, fid_as_index=True)
        out += [(layer, int(fid), pid, geom) for fid, pid, geom in zip(frame.index, frame["project_id"],
                                                                       frame.geometry)]
    return out


def streets_on(path, day: str) -> dict[str, shapely.Geometry]:
    frame = pyogrio.read_dataframe(path, layer="street_offices")
    out = {}
    for code, start, end, geom in zip(frame["code"], frame["valid_from"], frame["valid_to"], frame.geometry):
        start, end = str(start)[:10], (None if pd.isna(end) else str(end)[:10])
        if start <= day and (end is None or end >= day):
            out[code] = geom
    return {c: out[c] for c in STREET_ORDER if c in out}


def brute_member(geom, code, streets) -> bool:
    street = streets[code]
    if geom.geom_type == "Point":
        if street.relate_pattern(geom, "T********"):
            return True
        if not street.boundary.intersects(geom) and street.boundary.distance(geom) != 0:
            return False
        first = next(c for c in streets if streets[c].intersects(geom))
        return first == code
    return geom.relate_pattern(street, "T********")


def brute_street(path, code, day):
    streets = streets_on(path, day)
    return {(layer, fid) for layer, fid, _, geom in all_features(path) if brute_member(geom, code, streets)}


def got(result) -> set[tuple[str, int]]:
    return set(zip(result.features["layer"], result.features["fid"].astype(int)))


# -- the demo registry ---------------------------------------------------------------------------
@pytest.mark.parametrize("code", STREET_ORDER)
def test_street_query_matches_brute_force_today(demo_path, code):
    store = GeoPackageStore(demo_path)
    result = find(store, {"street": code})
    expected = brute_street(demo_path, code, "2026-01-01")
    assert expected, code
    assert got(result) == expected
    pids = {pid for layer, fid, pid, _ in all_features(demo_path) if (layer, fid) in expected}
    assert set(result.projects["project_id"]) == pids and result.total == len(pids)


@pytest.mark.parametrize("code", ["LF", "XT", "WT", "SP"])
def test_street_query_as_of_2015_uses_old_boundaries(demo_path, code):
    result = find(GeoPackageStore(demo_path), {"street": code, "as_of": "2015-06-01"})
    assert got(result) == brute_street(demo_path, code, "2015-06-01")


def test_boundary_change_moves_projects_between_streets(demo_path):
    store = GeoPackageStore(demo_path)
    before = set(find(store, {"street": "LF", "as_of": "2015-01-01"}).projects["project_id"])
    after = set(find(store, {"street": "LF"}).projects["project_id"])
    jjh = set(find(store, {"street": "JJH"}).projects["project_id"])
    assert before - after, "some 婁葑 projects lie in 金雞湖 today"
    assert (before - after) <= jjh | set(find(store, {"street": "XT"}).projects["project_id"])


def test_simplified_name_finds_the_street(demo_path):
    store = GeoPackageStore(demo_path)
    assert got(find(store, {"street": "娄葑"})) == got(find(store, {"street": "LF"}))
    assert got(find(store, {"street": "金鸡湖街道"})) == got(find(store, {"street": "JJH"}))


def test_bbox_query_matches_brute_force(demo_path):
    box = (120.68, 31.26, 120.76, 31.32)
    expected = {(layer, fid) for layer, fid, _, g in all_features(demo_path) if g.intersects(shapely.box(*box))}
    assert got(find(GeoPackageStore(demo_path), {"bbox": ",".join(map(str, box))})) == expected


def test_polygon_within_query_matches_brute_force(demo_path):
    poly = Polygon([(120.64, 31.25), (120.80, 31.27), (120.78, 31.36), (120.66, 31.33)])
    expected = {(layer, fid) for layer, fid, _, g in all_features(demo_path) if g.within(poly)}
    assert got(find(GeoPackageStore(demo_path), {"polygon": poly.wkt, "predicate": "within"})) == expected


def test_polygon_in_metric_crs_is_transformed(demo_path):
    poly = Polygon([(120.64, 31.25), (120.80, 31.27), (120.78, 31.36), (120.66, 31.33)])
    metric = to_metric(poly)
    store = GeoPackageStore(demo_path)
    in_4549 = find(store, {"polygon": metric.wkt, "polygon-crs": "EPSG:4549"})
    in_4490 = find(store, {"polygon": poly.wkt})
    assert abs(len(got(in_4549)) - len(got(in_4490))) <= 1  # edges differ by millimetres of projection


def test_near_named_river_matches_brute_force_in_metres(demo_path):
    features = all_features(demo_path)
    rivers = pyogrio.read_dataframe(demo_path, layer="rivers")
    river = shapely.union_all(list(rivers.geometry[rivers["name"] == "唐莊河"]))
    river_m = to_metric(river)
    expected = {(layer, fid) for layer, fid, _, g in features if to_metric(g).distance(river_m) <= 200}
    result = find(GeoPackageStore(demo_path), {"near": "唐莊河", "distance": "200"})
    assert got(result) == expected
    assert ("rivers", 2) in expected


def test_near_a_project_name_measures_from_all_its_features(demo_path):
    features = all_features(demo_path)
    projects = pyogrio.read_dataframe(demo_path, layer="projects")
    pid, name = "2013-BBD-010", projects.set_index("project_id").loc["2013-BBD-010", "name"]
    own = shapely.union_all([to_metric(g) for _, _, p, g in features if p == pid])
    expected = {(layer, fid) for layer, fid, _, g in features if to_metric(g).distance(own) <= 50}
    result = find(GeoPackageStore(demo_path), {"near": name, "distance": "50"})
    assert got(result) == expected
    assert len({p for _, _, p, g in features if to_metric(g).distance(own) <= 50}) > 1  # more than its own


def test_near_finds_a_name_given_by_an_edit(demo_copy):
    store = GeoPackageStore(demo_copy)
    with store.snapshot() as view:
        river = view.features("rivers").iloc[0]
    with pytest.raises(ValidationError):
        find(store, {"near": "新命名的河段", "distance": "10"})  # the name is not there yet
    editing.patch_project(store, river["project_id"], {"features": [
        {"layer": "rivers", "fid": int(river.name), "name": "新命名的河段"}]}, Author("office", role="admin"))
    result = find(store, {"near": "新命名的河段", "distance": "10"})
    assert ("rivers", int(river.name)) in got(result)


def test_the_features_alone_and_with_their_projects_attributes_are_the_same_rows(demo_path):
    result = find(GeoPackageStore(demo_path), {"near": "唐莊河", "distance": "500"})
    alone, joined = result.feature_rows, result.features
    assert list(alone.columns) == ["layer", "fid", "project_id", "feature_name", "geometry"]
    pd.testing.assert_frame_equal(alone, joined[list(alone.columns)])
    projects = pyogrio.read_dataframe(demo_path, layer="projects", read_geometry=False).set_index("project_id")
    assert list(joined["name"]) == list(projects.loc[joined["project_id"], "name"])
    assert list(joined["investment_yuan"]) == list(projects.loc[joined["project_id"], "investment_yuan"])


def test_attribute_filters_combine(demo_path):
    store = GeoPackageStore(demo_path)
    result = find(store, {"year": "2013..2014", "category": "rivers,alleys", "status": "planned,completed",
                          "department": "规划建设局", "investment_min": "2000000"})
    projects = pyogrio.read_dataframe(demo_path, layer="projects")
    expected = projects[projects["year"].between(2013, 2014) & projects["category"].isin(["rivers", "alleys"])
                        & projects["status"].isin(["planned", "completed"])
                        & (projects["lead_department"] == "規劃建設局") & (projects["investment_yuan"] >= 2_000_000)]
    assert set(result.projects["project_id"]) == set(expected["project_id"]) and result.total == len(expected)


def test_statement_flag_finds_the_statements_projects(demo_path):
    assert find(GeoPackageStore(demo_path), {"in_statement": "true", "year": "2013"}).total == 61


def test_name_text_in_simplified_characters_finds_the_project(demo_path):
    assert list(find(GeoPackageStore(demo_path), {"q": "弥陀泾"}).projects["project_id"]) == ["2013-RIV-012"]


def test_sorting_and_paging_count_projects(demo_path):
    store = GeoPackageStore(demo_path)
    full = find(store, {"sortby": "-investment_yuan"})
    money = list(full.projects["investment_yuan"])
    assert money == sorted(money, reverse=True)
    pages = [find(store, {"sortby": "-investment_yuan", "limit": "50", "offset": str(o)}) for o in (0, 50, 100, 150)]
    assert [len(p.projects) for p in pages] == [50, 50, 50, 30]
    assert all(p.total == 180 for p in pages)
    assert sum((list(p.projects["project_id"]) for p in pages), []) == list(full.projects["project_id"])
    assert set(pages[0].features["project_id"]) == set(pages[0].projects["project_id"])


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"street": "虎丘"}, "street", "有效的街道"),
        ({"street": "JJH", "as_of": "2015-01-01"}, "street", "在 2015-01-01 沒有街道界線"),
        ({"polygon": "POLYGON((120.7 31.3, 120.8"}, "polygon", "既不是有效的 WKT"),
        ({"bbox": "1,2,3,4", "bbox-crs": "EPSG:123456"}, "bbox-crs", "未知的 EPSG 代碼"),
        ({"near": "唐莊河", "distance": "-5"}, "distance", "須在 0 到"),
        ({"bbox": "120.8,31.2,120.7,31.3"}, "bbox", "最小值不能大於最大值"),
        ({"bbox": "31.2,120.7,31.3,120.8"}, "bbox", "經緯度似乎寫反了"),
        ({"bbox": "10,10,11,11"}, "bbox", "離園區很遠"),
        ({"near": "不存在的河", "distance": "10"}, "near", "沒有名為"),
        ({"year": "13"}, "year", "年份範圍"),
        ({"as_of": "2021-13-01"}, "as_of", "YYYY-MM-DD"),
        ({"category": "parks"}, "category", "未知的 category"),
        ({"limit": "-1"}, "limit", ">= 0"),
    ],
)
def test_bad_query_input_names_the_parameter(demo_path, params, param, message):
    with pytest.raises(ValidationError, match=message) as info:
        find(GeoPackageStore(demo_path), params)
    assert info.value.param == param


# -- a randomised registry with boundary-touching features --------------------------------------------
@pytest.fixture(scope="module")
def random_registry(demo_path, tmp_path_factory):
    """The demo's reference layers with ~3,000 random features, many touching street boundaries."""
    path = tmp_path_factory.mktemp("random") / "random.gpkg"
    path.write_bytes(demo_path.read_bytes())
    store = reference_only(path)
    rng = np.random.default_rng(20131231)
    streets = streets_on(path, "2026-01-01")
    edges = [e for e in shapely.get_parts(shapely.line_merge(shapely.union_all(
        [shapely.intersection(a.boundary, b.boundary) for i, a in enumerate(streets.values())
         for b in list(streets.values())[i + 1:]])))]
    park = shapely.union_all(list(streets.values()))
    minx, miny, maxx, maxy = park.bounds
    lines, polys, points = [], [], []
    for _ in range(1000):  # lines: random, crossing, and lying exactly along a boundary
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        lines.append(LineString([(x, y), (x + rng.normal(0, 0.01), y + rng.normal(0, 0.01))]))
    for edge in edges[:40]:  # exact boundary vertices: the line lies on the boundary, in neither street
        coords = list(edge.coords)
        lines.append(LineString(coords[len(coords) // 2 - 1:len(coords) // 2 + 1]))
    for _ in range(1000):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        polys.append(shapely.box(x, y, x + rng.uniform(0.001, 0.01), y + rng.uniform(0.001, 0.01)))
    for edge in edges[:40]:  # polygons sharing one boundary segment exactly, on either side
        (ax, ay), (bx, by) = list(edge.coords)[:2]
        nx, ny = (ay - by) * 0.1, (bx - ax) * 0.1
        for sign in (1, -1):
            polys.append(Polygon([(ax, ay), (bx, by), (bx + sign * nx, by + sign * ny),
                                  (ax + sign * nx, ay + sign * ny)]))
    for _ in range(900):
        points.append(Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy)))
    for edge in edges:  # points exactly on boundary vertices
        points.extend(Point(c) for c in list(edge.coords)[1:-1][:5])
    points = [p for p in points if park.buffer(-1e-9).covers(p) or park.boundary.intersects(p)]
    lines = [g for g in lines if park.contains(g) and g.is_valid and not g.is_empty]
    polys = [g for g in polys if park.contains(g) and g.is_valid and not g.is_empty]

    def batch(kind, code, geoms, per=10):
        rows = [{"project_id": f"{2000 + i // 900}-{code}-{i % 900 + 1:03d}", "name": f"隨機{code}{i}",
                 "category": kind, "year": 2000 + i // 900, "investment_yuan": int(rng.integers(0, 10_000_000)),
                 "lead_department": "城市管理局", "street_codes": "LF", "status": "planned",
                 "in_statement": False, "beyond_statement": False} for i in range(len(geoms) // per + 1)]
        pids = [rows[i // per]["project_id"] for i in range(len(geoms))]
        return pd.DataFrame(rows), gpd.GeoDataFrame({"project_id": pids}, geometry=geoms, crs=4490)

    frames = [("rivers", "RIV", lines), ("old_compounds", "OLD", polys), ("billboards", "BBD", points)]
    projects, features = [], {}
    for kind, code, geoms in frames:
        p, f = batch(kind, code, geoms)
        projects.append(p)
        features[kind] = f
    store.write(Batch(pd.concat(projects, ignore_index=True), features))
    return path


@pytest.mark.parametrize("code", STREET_ORDER)
def test_street_membership_on_random_registry_matches_brute_force(random_registry, code):
    result = find(GeoPackageStore(random_registry), {"street": code})
    assert got(result) == brute_street(random_registry, code, "2026-01-01")


def test_boundary_points_belong_to_exactly_one_street(random_registry):
    store = GeoPackageStore(random_registry)
    counts: dict[int, int] = {}
    for code in STREET_ORDER:
        frame = find(store, {"street": code, "category": "billboards"}).features
        for fid in frame["fid"]:
            counts[int(fid)] = counts.get(int(fid), 0) + 1
    total = len(pyogrio.read_dataframe(random_registry, layer="billboards"))
    assert len(counts) == total and set(counts.values()) == {1}


def test_lines_along_a_boundary_belong_to_neither_side(random_registry):
    store = GeoPackageStore(random_registry)
    frame = pyogrio.read_dataframe(random_registry, layer="rivers", fid_as_index=True)
    streets = streets_on(random_registry, "2026-01-01")
    along = [("rivers", fid) for fid, g in zip(frame.index, frame.geometry)
             if any(s.boundary.covers(g) for s in streets.values())]
    assert len(along) >= 5, "the fixture puts lines on boundaries"
    found = set().union(*(got(find(store, {"street": c})) for c in STREET_ORDER))
    assert not set(along) & found


def test_bbox_and_within_on_random_registry_match_brute_force(random_registry):
    box = shapely.box(120.70, 31.28, 120.78, 31.34)
    features = all_features(random_registry)
    store = GeoPackageStore(random_registry)
    assert got(find(store, {"bbox": "120.70,31.28,120.78,31.34"})) == \
        {(layer, fid) for layer, fid, _, g in features if g.intersects(box)}
    assert got(find(store, {"polygon": box.wkt, "predicate": "within"})) == \
        {(layer, fid) for layer, fid, _, g in features if g.within(box)}


def test_distance_on_random_registry_matches_brute_force(random_registry):
    origin = Point(120.73, 31.30)
    origin_m = to_metric(origin)
    expected = {(layer, fid) for layer, fid, _, g in all_features(random_registry)
                if to_metric(g).distance(origin_m) <= 750}
    result = find(GeoPackageStore(random_registry), {"near": origin.wkt, "distance": "750"})
    assert expected and got(result) == expected


def test_features_wholly_within_a_distance_match_their_farthest_vertex(random_registry):
    origin = Point(120.73, 31.30)
    origin_m = to_metric(origin)
    farthest = {(layer, fid): shapely.get_coordinates(to_metric(g)) for layer, fid, _, g in
                all_features(random_registry)}
    farthest = {key: np.hypot(*(xy - [origin_m.x, origin_m.y]).T).max() for key, xy in farthest.items()}
    result = got(find(GeoPackageStore(random_registry), {"near": origin.wkt, "distance": "750",
                                                         "predicate": "within"}))
    # a disc is convex: a feature lies in it when its farthest vertex does (the registry's 64-gon
    # stands in for the disc, so a vertex within a metre of the rim can go either way)
    clear = {key for key, far in farthest.items() if abs(far - 750) > 1}
    assert {key for key in clear if farthest[key] <= 750} == result & clear
    assert any(far <= 750 for far in farthest.values())


def test_near_a_long_straight_line_matches_brute_force_in_metres(demo_path, tmp_path):
    """A 2-vertex line of 29 km is straight in metres, and in degrees it bows away from that by 10 m: points
    placed a few centimetres to 3 m either side of 200 m from it are told apart as metres tell them."""
    path = tmp_path / "long.gpkg"
    path.write_bytes(demo_path.read_bytes())
    store = reference_only(path)
    line = LineString([(120.6, 31.36), (120.9, 31.33)])  # across the park: north and south of it, a degree is 111 km
    line_m = to_metric(line)
    (ax, ay), (bx, by) = shapely.get_coordinates(line_m)
    normal = np.array([ay - by, bx - ax]) / np.hypot(bx - ax, by - ay)
    points = []
    for along in (0.25, 0.5, 0.75):
        foot = shapely.get_coordinates(line_m.interpolate(along, normalized=True))[0]
        for side in (1, -1):
            for metres in (197.0, 199.0, 199.7, 199.95, 200.05, 200.3, 201.0, 203.0):
                points.append(to_geo(Point(foot + side * metres * normal)))
    projects = pd.DataFrame([{"project_id": "2013-BBD-001", "name": "長線旁", "category": "billboards",
                              "year": 2013, "investment_yuan": 1, "lead_department": "城市管理局",
                              "street_codes": "LF", "status": "planned", "in_statement": False,
                              "beyond_statement": False}])
    store.write(Batch(projects, {"billboards": gpd.GeoDataFrame({"project_id": ["2013-BBD-001"] * len(points)},
                                                                geometry=points, crs=4490)}))
    frame = pyogrio.read_dataframe(path, layer="billboards", fid_as_index=True)
    expected = {("billboards", fid) for fid, g in zip(frame.index, frame.geometry)
                if to_metric(g).distance(line_m) <= 200}
    assert len(expected) == len(points) // 2
    assert got(find(GeoPackageStore(path), {"near": line.wkt, "distance": "200"})) == expected


@pytest.mark.parametrize("metres", [1_000, 6_000])
def test_near_a_detailed_line_matches_brute_force_in_metres(random_registry, metres):
    """A near geometry of many vertices is measured from through its prepared index (the road a river's few
    vertices do not take), and from farther than its own extent, features are found near by their envelopes
    first: the same features as metres say."""
    xs = np.linspace(120.70, 120.74, 150)  # 4 km
    line = LineString(np.column_stack([xs, 31.30 + 0.005 * np.sin(xs * 1500)]))
    line_m = to_metric(line)
    distances = {(layer, fid): to_metric(g).distance(line_m) for layer, fid, _, g in all_features(random_registry)}
    expected = {key for key, metres_away in distances.items() if metres_away <= metres}
    result = find(GeoPackageStore(random_registry), {"near": line.wkt, "distance": str(metres)})
    assert 50 < len(expected) < len(distances) and got(result) == expected


def test_edges_tell_which_geometries_lie_within_distances_as_geos_does():
    """Envelopes decide most geometries, GEOS the rest edge by edge: the answers are shapely.dwithin's from the whole
    near geometry, for geometries crossing it, enclosing it, far away, empty, and of every kind."""
    rng = np.random.default_rng(11)
    centres = rng.uniform(0, 10, (600, 2))
    sizes = rng.uniform(0.01, 3, 600)
    geoms = np.array([
        *(Point(x, y) for x, y in centres[:150]),
        *(LineString([(x, y), (x + s, y + s / 2), (x + s / 3, y - s)]) for (x, y), s in zip(centres[150:300],
                                                                                           sizes[150:300])),
        *(shapely.box(x, y, x + s, y + s / 2) for (x, y), s in zip(centres[300:450], sizes[300:450])),
        *(shapely.MultiPolygon([shapely.box(x, y, x + s / 4, y + s / 4), shapely.box(x + s, y, x + 2 * s, y + 0.1)])
          for (x, y), s in zip(centres[450:], sizes[450:])),
        shapely.box(-5, -5, 15, 15), Polygon(), LineString(),
    ], dtype=object)
    near = shapely.GeometryCollection([LineString([(1, 1), (4, 6), (9, 5), (9.5, 0.5)]), Point(2, 8),
                                       shapely.MultiLineString([[(6, 8), (8, 9)], [(0, 5), (0, 5.5)]])])
    distances = (0.05, 0.4, 1.5)
    answers = spatial.Edges(near).within(geoms, distances)
    for distance, answer in zip(distances, answers):
        expected = shapely.dwithin(geoms, near, distance)
        assert 0 < expected.sum() < len(geoms) and (answer == expected).all()
    assert spatial.Edges.of(near) is not None and spatial.Edges.of(shapely.buffer(near, 1)) is None


def test_near_tested_on_every_core_matches_brute_force_from_many_threads(random_registry, monkeypatch):
    """The geometry test of a big candidate set is cut into chunks for the cores; with chunks made small here, the
    few thousand features of the random registry take that road, from eight requests at once."""
    monkeypatch.setattr(spatial, "_CHUNK_MIN", 16)
    origin = Point(120.73, 31.30)
    origin_m = to_metric(origin)
    expected = {(layer, fid) for layer, fid, _, g in all_features(random_registry)
                if to_metric(g).distance(origin_m) <= 4_000}
    store = GeoPackageStore(random_registry)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: got(find(store, {"near": origin.wkt, "distance": "4000"})), range(16)))
    assert len(expected) > 200 and all(answer == expected for answer in answers)


def test_a_forked_process_tests_on_every_core_with_a_pool_of_its_own(monkeypatch):
    """A gunicorn worker is forked from a master that may have split tests between threads already: the master's
    pool has no threads in the child, which makes its own (else the child would wait for ever)."""
    monkeypatch.setattr(spatial, "_CHUNK_MIN", 4)
    monkeypatch.setattr(spatial, "_CORES", 2)
    points = shapely.points(np.random.default_rng(3).uniform(0, 1, (64, 2)))
    box = shapely.box(0.25, 0.25, 0.75, 0.75)

    def inside() -> list[bool]:
        return spatial.across_cores(partial(shapely.intersects, box), points,
                                    lambda: partial(shapely.intersects, box)).tolist()

    expected = shapely.intersects(box, points).tolist()
    assert inside() == expected and 0 < sum(expected) < len(expected)  # the parent's pool runs now
    fork = multiprocessing.get_context("fork")
    answers = fork.Queue()
    child = fork.Process(target=lambda: answers.put(inside()))
    child.start()
    try:
        assert answers.get(timeout=30) == expected
    finally:
        child.join(timeout=5)
        child.kill()


def test_degree_scale_bounds_the_metres_a_degree_spans_as_pyproj_measures_them():
    """Metres per degree, measured by pyproj over 1e-5° steps at random places and bearings in the park, lie within
    the scale's bounds, which are within 1 % of the extremes measured."""
    rng = np.random.default_rng(7)
    box = (120.58, 31.18, 120.95, 31.52)
    fewest, most = spatial.degree_scale(box)
    lon, lat = rng.uniform(box[0], box[2], 2000), rng.uniform(box[1], box[3], 2000)
    bearing = rng.uniform(0, np.pi, 2000)
    step = 1e-5
    x0, y0 = _TO_4549.transform(lon, lat)
    x1, y1 = _TO_4549.transform(lon + step * np.cos(bearing), lat + step * np.sin(bearing))
    measured = np.hypot(x1 - x0, y1 - y0) / step
    assert fewest <= measured.min() and measured.max() <= most
    assert measured.min() < fewest * 1.01 and most < measured.max() * 1.01


def test_street_query_sees_an_edit_made_after_it_was_cached(demo_copy):
    store = GeoPackageStore(demo_copy)
    before = find(store, {"street": "LF", "category": "billboards"})
    lf = streets_on(demo_copy, "2026-01-01")["LF"]
    inside = lf.representative_point()
    project = {"project_id": "2016-BBD-001", "name": "新增廣告整治", "category": "billboards", "year": 2016,
               "investment_yuan": 10_000, "lead_department": "城市管理局", "street_codes": "LF", "status": "planned",
               "in_statement": False, "beyond_statement": False}
    other = GeoPackageStore(demo_copy)  # another writer: the first store's caches must notice the change
    other.write(Batch(pd.DataFrame([project]), {"billboards": gpd.GeoDataFrame(
        {"project_id": ["2016-BBD-001"]}, geometry=[inside], crs=4490)}))
    after = find(store, {"street": "LF", "category": "billboards"})
    assert after.total == before.total + 1
    assert "2016-BBD-001" in set(after.projects["project_id"])
