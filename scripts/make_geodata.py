#!/usr/bin/env python3
"""Write the demo programme's source tables in geodata/ (run once; the outputs are committed).

Everything here is illustrative: the park outline, the street offices (before and after the
2021-12-10 change that created 金雞湖街道), the lakes, the main rivers and every project geometry
are drawn to be plausible for the Suzhou Industrial Park, not surveyed. Project figures follow the
seed document (shared/seed) exactly where it gives them; the rest is invented deterministically
(a random generator seeded by each project id), so running this again writes the same files.
"""

from __future__ import annotations

import argparse
import csv
import json
import zlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely import LineString, Point, Polygon, box

from registry.model import CATEGORY_BY_SLUG

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "geodata"
GRID = 1e-7  # coordinates are kept on a 1e-7 degree grid (about 1 cm)
CHANGE = "2021-12-10"  # 金雞湖街道 created
PARK = Polygon([
    (120.632, 31.296), (120.640, 31.328), (120.660, 31.346), (120.700, 31.356), (120.738, 31.364),
    (120.770, 31.392), (120.784, 31.436), (120.800, 31.446), (120.816, 31.430), (120.822, 31.392),
    (120.848, 31.372), (120.862, 31.340), (120.858, 31.300), (120.838, 31.268), (120.806, 31.244),
    (120.762, 31.238), (120.720, 31.242), (120.686, 31.244), (120.662, 31.258), (120.644, 31.280),
])


def metric(geom):
    return gpd.GeoSeries([geom], crs=4490).to_crs(4549).iloc[0]


def geographic(geom):
    return shapely.set_precision(gpd.GeoSeries([geom], crs=4549).to_crs(4490).iloc[0], GRID)


def cut(shape, *taken):
    """The part of the park inside ``shape`` that no earlier street took."""
    piece = shapely.intersection(PARK, shape, grid_size=GRID)
    for other in taken:
        piece = shapely.difference(piece, other, grid_size=GRID)
    return piece


def ellipse(cx, cy, rx_m, ry_m, n=48):
    """An ellipse around lon/lat (cx, cy) with radii in metres, as a lon/lat polygon."""
    centre = metric(Point(cx, cy))
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.c_[centre.x + rx_m * np.cos(t), centre.y + ry_m * np.sin(t)]
    return geographic(Polygon(ring))


def union(*parts):
    return shapely.union_all(parts, grid_size=GRID)


# -- street offices ---------------------------------------------------------------------------
JJH = cut(Polygon([(120.668, 31.292), (120.735, 31.292), (120.740, 31.348), (120.700, 31.362),
                   (120.668, 31.352)]))
LF = cut(box(120.60, 31.270, 120.668, 31.36), JJH)
SP = cut(Polygon([(120.772, 31.20), (120.90, 31.20), (120.90, 31.338), (120.80, 31.338),
                  (120.772, 31.30)]), JJH, LF)
XT = cut(Polygon([(120.60, 31.20), (120.772, 31.20), (120.772, 31.30), (120.748, 31.30),
                  (120.735, 31.292), (120.668, 31.292), (120.668, 31.270), (120.60, 31.270)]),
         JJH, LF, SP)
WT = shapely.difference(PARK, union(JJH, LF, SP, XT), grid_size=GRID)

JINJI_LAKE = ellipse(120.692, 31.314, 1700, 1350)  # about 7.2 km²
DUSHU_LAKE = ellipse(120.700, 31.273, 2250, 1620)  # about 11.5 km²
YANGCHENG_LAKE = Polygon([
    (120.70, 31.41), (120.760, 31.392), (120.776, 31.400), (120.790, 31.425), (120.805, 31.418),
    (120.812, 31.40), (120.835, 31.395), (120.87, 31.41), (120.88, 31.50), (120.70, 31.50),
])

# Before 2021-12-10: 金雞湖 did not exist; its communities belonged to 婁葑, 斜塘 and 唯亭;
# 勝浦 was smaller (its south came from 斜塘, its north from 唯亭) and 獨墅湖 lay in 婁葑.
# Both periods are built from the same faces (polygonised edges), so each is an exact partition.
_EDGES = shapely.union_all(
    [g.boundary for g in (JJH, LF, SP, XT, WT)] + [DUSHU_LAKE.boundary]
    + [LineString([(120.6, lat), (120.9, lat)]) for lat in (31.262, 31.306, 31.318, 31.336)],
    grid_size=GRID,
)
_NEW_SHAPES = {"LF": LF, "XT": XT, "WT": WT, "SP": SP, "JJH": JJH}


def _codes(face) -> tuple[str, str]:
    """(street before, street after the 2021 change) of one face."""
    point = face.representative_point()
    new = next(c for c, g in _NEW_SHAPES.items() if g.contains(point))
    lat = point.y
    old = {"JJH": "WT" if lat >= 31.336 else "XT" if lat < 31.306 else "LF",
           "SP": "XT" if lat < 31.262 else "WT" if lat > 31.318 else "SP",
           "XT": "LF" if DUSHU_LAKE.contains(point) else "XT"}.get(new, new)
    return old, new


_FACES = [f for f in shapely.get_parts(shapely.polygonize(shapely.get_parts(_EDGES)))
          if PARK.contains(f.representative_point())]
_CODES = [_codes(f) for f in _FACES]
OLD = {c: shapely.coverage_union_all([f for f, (o, _) in zip(_FACES, _CODES) if o == c])
       for c in ("LF", "XT", "WT", "SP")}
NEW = {c: shapely.coverage_union_all([f for f, (_, n) in zip(_FACES, _CODES) if n == c])
       for c in ("LF", "XT", "WT", "SP", "JJH")}
NAMES = {"LF": "婁葑", "XT": "斜塘", "WT": "唯亭", "SP": "勝浦", "JJH": "金雞湖"}
WATER = union(JINJI_LAKE, DUSHU_LAKE, shapely.intersection(YANGCHENG_LAKE, PARK, grid_size=GRID))
MAIN_RIVERS = {
    "婁江": LineString([(120.600, 31.333), (120.660, 31.338), (120.700, 31.346), (120.760, 31.352),
                      (120.820, 31.358), (120.900, 31.362)]),
    "吳淞江": LineString([(120.620, 31.240), (120.700, 31.236), (120.760, 31.243), (120.820, 31.255),
                       (120.900, 31.270)]),
    "斜塘河": LineString([(120.700, 31.301), (120.712, 31.296), (120.724, 31.286), (120.745, 31.281),
                       (120.790, 31.284)]),
    "青秋浦": LineString([(120.800, 31.240), (120.806, 31.300), (120.804, 31.350), (120.812, 31.405)]),
}

# -- projects -----------------------------------------------------------------------------------
DEPARTMENT = {
    "alleys": "規劃建設局", "rivers": "規劃建設局", "polders": "規劃建設局",
    "construction_sites": "規劃建設局", "parking_lots": "交巡警大隊", "markets": "服務業發展局",
    "vending_points": "城市管理局", "billboards": "城市管理局", "old_compounds": "國土房產局",
    "urban_villages": "社會管理局", "shanty_areas": "國土房產局", "urban_fringes": "社會管理局",
}
TASKS = {
    "alleys": "整平坑窪路面、整修缺損側石地磚、修剪增植綠化",
    "rivers": "河道保潔及清淤",
    "polders": "提升圩區防汛能力",
    "construction_sites": "規範施工圍擋、提升場容場貌、加強防塵降塵、出入口沖洗、渣土運輸和處置管理",
    "parking_lots": "新建社會臨時停車場,緩解大型車輛停車難",
    "markets": "提升市場綜合環境,改造廁所、機動車和非機動車停車位等配套設施,汙水管改造",
    "vending_points": "開闢經營疏導點,提供固定攤位,規範佔道經營",
    "billboards": "整治陳舊破損、存在安全隱患的戶外廣告",
    "old_compounds": "老舊小區綜合整治",
    "urban_villages": "城中村環境綜合整治",
    "shanty_areas": "棚戶區改造",
    "urban_fringes": "城郊結合部環境綜合整治",
}
# Size of one feature: metres of length for lines, m² for polygons.
SIZE = {
    "alleys": (250, 900), "rivers": (1200, 3800), "polders": (8e5, 2.2e6),
    "construction_sites": (1e4, 8e4), "parking_lots": (1.5e4, 2.2e4), "markets": (3e3, 9e3),
    "vending_points": (1.5e3, 4e3), "old_compounds": (5e4, 2e5), "urban_villages": (2e5, 5e5),
    "shanty_areas": (1e5, 3e5), "urban_fringes": (1e6, 2.5e6),
}
# Relative investment of a typical project of each category (萬元), before scaling to the year.
WEIGHT = {
    "alleys": (150, 600), "rivers": (200, 900), "polders": (1500, 4000),
    "construction_sites": (100, 400), "parking_lots": (300, 900), "markets": (400, 1200),
    "vending_points": (80, 200), "billboards": (10, 60), "old_compounds": (3000, 9000),
    "urban_villages": (15000, 25000), "shanty_areas": (10000, 18000), "urban_fringes": (8000, 15000),
}
YEAR_TOTAL_WAN = {2013: 60300, 2014: 162000, 2015: 141000}  # 6.03 / 16.2 / 14.1 億元
STREET_CYCLE = ("LF", "XT", "WT", "SP")
RIVERS_2013 = ["4號河", "唐莊河", "洋涇河", "東港河", "西塘河", "界浦河", "北港河", "南施河",
               "跨塘河", "莊浦河", "車坊河", "彌陀涇"]
EXTRA_RIVERS = ["沙湖浜", "婁江支浜", "葑亭河", "凌港河", "黃天蕩河", "星華河", "唯勝河", "渭塘浜",
                "金港浜", "斜塘支河", "勝浦河", "青劍河", "獨墅浜", "方洲河", "新港河", "南港浜",
                "雙橋河", "烏龍浜", "後戴河", "前灣浜", "張家浜"]
POLDERS_2013 = [("婁葑鎮區圩", "LF"), ("唯亭老鎮區圩", "WT"), ("勝浦市鎮圩區", "SP"), ("蠡塘圩", "XT")]
PARKING_2013 = [("LF", 21000, 214), ("LF", 18500, 190), ("XT", 16000, 165), ("XT", 19500, 198),
                ("WT", 17000, 172), ("WT", 20500, 208), ("SP", 15500, 160), ("SP", 18000, 187)]
# Projects that deliberately cross a street boundary (valid at their start): id → streets.
CROSSING = {"2013-RIV-002": "LF,XT", "2013-ALY-004": "XT,SP", "2014-RIV-005": "WT,SP",
            "2014-OLD-003": "LF,XT", "2015-ALY-002": "WT,SP", "2015-CST-001": "XT,SP"}
INVENTED = "示意資料:種子文件未載明,為演示擬定。"


def rng_for(key: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(key.encode()))


def project_rows() -> list[dict]:
    """The 180 projects in the seed's order, numbered within year and category."""
    rows: list[dict] = []
    counter: dict[tuple[int, str], int] = {}

    def add(year, category, name, street, **values):
        number = counter.get((year, category), 0) + 1
        counter[(year, category)] = number
        pid = f"{year}-{CATEGORY_BY_SLUG[category].code}-{number:03d}"
        row = {"project_id": pid, "name": name, "category": category, "year": year,
               "lead_department": DEPARTMENT[category], "street_codes": CROSSING.get(pid, street),
               "status": "completed", "in_statement": False, "beyond_statement": False,
               "tasks": TASKS[category], "notes": ""}
        row.update(values)
        rows.append(row)
        return row

    s13 = dict(in_statement=True, planned_start="2013-09-01", planned_finish="2013-12-31")
    # 2013 responsibility statement: 61 projects
    for i in range(5):
        add(2013, "alleys", f"{NAMES[STREET_CYCLE[i % 4]]}背街小巷整治{i + 1}", STREET_CYCLE[i % 4], **s13)
    for i, river in enumerate(RIVERS_2013):
        street = STREET_CYCLE[i % 4]
        if river == "彌陀涇":
            add(2013, "rivers", "彌陀涇整治", street, status="long_term_management",
                tasks="河道保潔及漁網清理", **s13)
        else:
            add(2013, "rivers", f"{river}整治", street, status="long_term_management",
                tasks="河道保潔及清淤", **s13)
    for name, street in POLDERS_2013:
        if name == "蠡塘圩":
            add(2013, "polders", f"{name}整治改造", street, status="delayed",
                delay_reason="邊界2號閘因地質出現嚴重流砂,調整閘站位置,增加基坑圍護,影響施工進度",
                **{**s13, "planned_finish": "2014-03-31"})
        else:
            add(2013, "polders", f"{name}整治改造", street, **s13)
    for i in range(16):
        site_type = ("building", "municipal", "demolition", "awaiting")[i % 4]
        street = STREET_CYCLE[(i // 4) % 4]
        add(2013, "construction_sites", f"{NAMES[street]}建設工地整治{i + 1}", street,
            site_type=site_type, **s13)
    for i, street in enumerate(("LF", "XT", "WT", "SP", "LF")):
        add(2013, "markets", f"{NAMES[street]}農貿市場{'二' if i == 4 else ''}整治", street, **s13)
    for street, stalls in (("LF", 80), ("WT", 72)):
        add(2013, "vending_points", f"{NAMES[street]}經營疏導點", street, stalls=stalls, **s13)
    for i, (street, area, spaces) in enumerate(PARKING_2013):
        add(2013, "parking_lots", f"{NAMES[street]}社會臨時停車場{'一二'[i % 2]}", street,
            area_m2=float(area), parking_spaces=spaces, **s13)
    for i in range(9):
        street = STREET_CYCLE[i % 4]
        if i < 2:
            add(2013, "billboards", f"{NAMES[street]}違規戶外廣告拆除{i + 1}", street,
                billboard_action="remove", tasks="拆除未經審批、違規設置的戶外廣告", **s13)
        else:
            add(2013, "billboards", f"{NAMES[street]}戶外廣告整治{i - 1}", street,
                billboard_action="renovate", **s13)
    # 2013, not in the statement: 18 invented projects and the two done beyond the statement
    extra = [("alleys", 3), ("old_compounds", 6), ("construction_sites", 4), ("markets", 2),
             ("parking_lots", 1), ("vending_points", 2)]
    for category, count in extra:
        for i in range(count):
            street = STREET_CYCLE[(i + len(rows)) % 4]
            add(2013, category, f"{NAMES[street]}{CATEGORY_BY_SLUG[category].zh}整治{i + 1}(責任狀外)", street,
                planned_start="2013-06-01", planned_finish="2013-12-31", notes=INVENTED,
                **_category_extras(category, i))
    add(2013, "rivers", "新增21條河道疏浚整治", "LF,XT,WT,SP", status="in_progress",
        beyond_statement=True, planned_start="2013-12-01", planned_finish="2014-04-10",
        tasks="河道疏浚(追加投資1700餘萬元,已完成招投標)", investment_wan=1726)
    add(2013, "billboards", "拆除大中型戶外廣告設施105處", "LF,XT,WT,SP", beyond_statement=True,
        planned_start="2013-09-01", planned_finish="2013-12-31", billboard_action="remove",
        tasks="按減存量原則拆除到期、有礙安全和市容以及影響規劃建設的大中型戶外廣告", investment_wan=315)
    # 2014 plan: 48 projects by the seed's counts
    plan14 = [("urban_fringes", 1), ("urban_villages", 1), ("shanty_areas", 1), ("old_compounds", 15),
              ("alleys", 8), ("rivers", 12), ("polders", 1), ("construction_sites", 7), ("markets", 1),
              ("parking_lots", 1)]
    # 2015: the seed gives only 51 projects and 14.1 億; this breakdown is invented.
    plan15 = [("urban_fringes", 1), ("urban_villages", 2), ("shanty_areas", 1), ("old_compounds", 12),
              ("alleys", 8), ("rivers", 10), ("polders", 2), ("construction_sites", 6), ("markets", 2),
              ("parking_lots", 3), ("vending_points", 2), ("billboards", 2)]
    for year, plan in ((2014, plan14), (2015, plan15)):
        for category, count in plan:
            for i in range(count):
                street = STREET_CYCLE[(i + year) % 4]
                add(year, category, f"{NAMES[street]}{CATEGORY_BY_SLUG[category].zh}整治{year}-{i + 1}", street,
                    status="planned", planned_start=f"{year}-03-01", planned_finish=f"{year}-12-31",
                    notes=INVENTED if year == 2015 else "", **_category_extras(category, i))
    return rows


def _category_extras(category: str, i: int) -> dict:
    if category == "construction_sites":
        return {"site_type": ("building", "municipal", "demolition", "awaiting")[i % 4]}
    if category == "vending_points":
        return {"stalls": 40 + 7 * i}
    if category == "parking_lots":
        return {"parking_spaces": 150 + 11 * i}
    if category == "billboards":
        return {"billboard_action": "renovate"}
    return {}


def allocate_investment(rows: list[dict]) -> None:
    """Give every project investment_yuan so each year adds up exactly to the seed's figure."""
    for year, total in YEAR_TOTAL_WAN.items():
        mine = [r for r in rows if r["year"] == year]
        fixed = sum(r["investment_wan"] for r in mine if "investment_wan" in r)
        free = [r for r in mine if "investment_wan" not in r]
        weights = np.array([rng_for(r["project_id"] + "/money").uniform(*WEIGHT[r["category"]])
                            for r in free])
        share = weights / weights.sum() * (total - fixed)
        wan = np.floor(share).astype(int)
        for k in np.argsort(-(share - wan), kind="stable")[: total - fixed - wan.sum()]:
            wan[k] += 1
        for r, w in zip(free, wan):
            r["investment_wan"] = int(w)
        for r in mine:
            r["investment_yuan"] = r.pop("investment_wan") * 10_000


# -- geometry ---------------------------------------------------------------------------------
def land(code: str):
    """Where projects of a street (boundaries valid in 2013–2015) may lie, in EPSG:4549."""
    return metric(shapely.difference(OLD[code], WATER, grid_size=GRID)).buffer(-60)


def random_walk(rng, start, length, n, heading):
    points = [np.asarray(start)]
    step = length / n
    for _ in range(n):
        heading += rng.uniform(-0.6, 0.6)
        points.append(points[-1] + step * np.array([np.cos(heading), np.sin(heading)]))
    return LineString(points)


def blob(rng, centre, area, aspect, angle, n=7):
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(0.8, 1.15, n)
    ring = np.c_[r * np.cos(t) * aspect, r * np.sin(t) / aspect]
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    poly = Polygon(ring @ rot.T)
    poly = shapely.affinity.scale(poly, *(2 * [np.sqrt(area / poly.area)]), origin=(0, 0))
    return shapely.affinity.translate(poly, *centre)


def sample_point(rng, region):
    minx, miny, maxx, maxy = region.bounds
    for _ in range(10_000):
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if region.contains(p):
            return p
    raise RuntimeError("no point found")


def make_shape(rng, category, region, size, centre=None):
    """One line, polygon or point of a category inside ``region`` (metric CRS)."""
    for _ in range(2000):
        c = centre if centre is not None else sample_point(rng, region)
        if category in ("alleys", "rivers"):
            shape = random_walk(rng, (c.x, c.y), size, int(rng.integers(3, 8)), rng.uniform(0, 2 * np.pi))
            if centre is not None:  # centred on the crossing point
                middle = shape.interpolate(0.5, normalized=True)
                shape = shapely.affinity.translate(shape, c.x - middle.x, c.y - middle.y)
        elif category == "billboards":
            shape = c
        else:
            shape = blob(rng, (c.x, c.y), size, rng.uniform(1.0, 1.6), rng.uniform(0, np.pi))
        if centre is not None or region.contains(shape):
            return shape
    raise RuntimeError(f"cannot place a {category} feature")


def crossing_shape(rng, category, streets, size):
    a_code, b_code = streets.split(",")
    a, b = (metric(shapely.difference(OLD[c], WATER, grid_size=GRID)) for c in (a_code, b_code))
    seam = shapely.line_merge(shapely.intersection(a.boundary, b.boundary))
    parts = list(getattr(seam, "geoms", [seam]))
    lengths = np.array([p.length for p in parts])
    both = shapely.union(a, b).buffer(-60)
    measure = shapely.length if category in ("alleys", "rivers") else shapely.area
    for _ in range(2000):
        part = parts[int(rng.choice(len(parts), p=lengths / lengths.sum()))]
        centre = part.interpolate(rng.uniform(0.1, 0.9), normalized=True)
        shape = make_shape(rng, category, both, size, centre=centre)
        share = measure(shapely.intersection(shape, a)) / measure(shape)
        if both.contains(shape) and 0.25 < share < 0.75:
            return shape
    raise RuntimeError(f"cannot place a crossing {category}")


def features_for(row) -> list[tuple[str, str, object]]:
    """(layer, feature name, metric geometry) of one project."""
    rng = rng_for(row["project_id"])
    category = row["category"]
    streets = row["street_codes"]
    if row["project_id"] == "2013-RIV-013":
        return [("rivers", name, make_shape(rng, "rivers", land(STREET_CYCLE[i % 4]), rng.uniform(400, 1500)))
                for i, name in enumerate(EXTRA_RIVERS)]
    if row["project_id"] == "2013-BBD-010":
        return [("billboards", f"大中型戶外廣告{i + 1:03d}",
                 make_shape(rng, "billboards", land(STREET_CYCLE[i % 4]), 0)) for i in range(105)]
    if category == "parking_lots" and row.get("area_m2"):
        size = row["area_m2"]
    elif category == "billboards":
        size = 0
    else:
        size = rng.uniform(*SIZE[category])
    if "," in streets:
        shape = crossing_shape(rng, category, streets, size)
    else:
        shape = make_shape(rng, category, land(streets), size)
    found = [(category, row["name"].removesuffix("整治改造").removesuffix("整治"), shape)]
    if category == "polders":
        ring = shape.exterior
        for k, f in enumerate(np.sort(rng.uniform(0, 1, int(rng.integers(2, 5))))):
            label = "邊界2號閘(移位)" if row["name"].startswith("蠡塘圩") and k == 1 else f"{k + 1}號閘"
            found.append(("sluices", f"{found[0][1]}{label}", ring.interpolate(f, normalized=True)))
    return found


def declare_quantities(row, shapes) -> None:
    """Declared length/area from the drawn geometry, rounded as a report would round them."""
    category = row["category"]
    geoms = [g for layer, _, g in shapes if layer == category]
    if category in ("alleys", "rivers"):
        row["length_m"] = float(round(sum(g.length for g in geoms), -1))
        if category == "rivers" and ("清淤" in row["tasks"] or "疏浚" in row["tasks"]):
            row["dredged_m3"] = float(round(row["length_m"] * rng_for(row["project_id"]).uniform(2, 5), -1))
    elif category != "billboards" and not row.get("area_m2"):  # parking lots declare theirs
        row["area_m2"] = float(round(sum(g.area for g in geoms), -1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write (default: geodata/)")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    rows = project_rows()
    allocate_investment(rows)
    layers: dict[str, list[dict]] = {}
    for row in rows:
        shapes = features_for(row)
        declare_quantities(row, shapes)
        for layer, name, shape in shapes:
            layers.setdefault(layer, []).append(
                {"project_id": row["project_id"], "name": name, "geometry": geographic(shape)})
        status = row["status"]
        if status in ("completed", "long_term_management"):
            row["actual_start"] = row["planned_start"]
            day = 1 + int(rng_for(row["project_id"] + "/day").integers(0, 28))
            row["actual_finish"] = f"2013-{11 + day % 2}-{day:02d}"
        elif status in ("in_progress", "delayed"):
            row["actual_start"] = row["planned_start"]
    columns = ["project_id", "name", "category", "year", "investment_yuan", "lead_department",
               "street_codes", "status", "delay_reason", "planned_start", "planned_finish",
               "actual_start", "actual_finish", "in_statement", "beyond_statement", "tasks", "notes",
               "length_m", "area_m2", "stalls", "parking_spaces", "dredged_m3", "site_type",
               "billboard_action"]
    with open(out / "projects.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _cell(row.get(c)) for c in columns})
    (out / "features").mkdir(exist_ok=True)
    for layer, feats in sorted(layers.items()):
        write_geojson(out / "features" / f"{layer}.geojson", feats)
    write_reference(out)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


def write_geojson(path: Path, feats: list[dict]) -> None:
    """One feature per line, coordinates with 7 decimals: readable, diffable, stable."""
    lines = []
    for feat in feats:
        props = {k: v for k, v in feat.items() if k != "geometry"}
        geometry = json.loads(shapely.to_geojson(feat["geometry"]))
        lines.append(json.dumps({"type": "Feature", "properties": props, "geometry": geometry},
                                ensure_ascii=False, separators=(",", ":")))
    path.write_text('{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n",
                    encoding="utf-8")


def write_reference(out: Path) -> None:
    ref = out / "reference"
    ref.mkdir(exist_ok=True)
    park = shapely.coverage_union_all(_FACES)  # the streets' faces: no slivers
    write_geojson(ref / "park_boundary.geojson", [{"name": "蘇州工業園區(示意)", "geometry": park}])
    streets = [{"code": c, "name": NAMES[c], "valid_from": "2000-01-01", "valid_to": "2021-12-09",
                "geometry": OLD[c]} for c in OLD]
    streets += [{"code": c, "name": NAMES[c], "valid_from": CHANGE, "valid_to": None, "geometry": g}
                for c, g in NEW.items()]
    write_geojson(ref / "street_offices.geojson", streets)
    write_geojson(ref / "lakes.geojson", [
        {"name": "金雞湖", "geometry": JINJI_LAKE}, {"name": "獨墅湖", "geometry": DUSHU_LAKE},
        {"name": "陽澄湖", "geometry": shapely.set_precision(YANGCHENG_LAKE, GRID)}])
    write_geojson(ref / "main_rivers.geojson",
                  [{"name": n, "geometry": g} for n, g in MAIN_RIVERS.items()])


if __name__ == "__main__":
    main()
