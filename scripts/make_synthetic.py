"""Build a synthetic registry of about N features for benchmarks and load tests.

    python scripts/make_synthetic.py --features 1000000 --out /tmp/registry-1m.gpkg [--seed 1] [--layers rivers]

The one builder of synthetic data for the benchmarks: scripts/bench_query.py runs it, and
scripts/bench_api.py and scripts/bench_exchange.py import ``build`` (with ``layers=["rivers"]``).

The registry is an ordinary store written through the library (``GeoPackageStore.create``,
``replace_reference`` with the demo's reference layers, ``write`` of whole projects in batches of
about ``--batch`` features), so it passes the same validation as real data. Geometry is drawn in
CGCS2000 / 3-degree GK CM 120E (metres) and stored in EPSG:4490, every feature inside the park's land
(the park outline less the lakes):

- lines (``rivers``, ``alleys``): 3-10 vertices, 50-800 m; MultiLineString;
- polygons (the nine area categories): rectangles or star-shaped outlines of 500 m² to 5 ha;
  MultiPolygon;
- points (``billboards``, and ``sluices`` of the polder projects).

About 40% of the features are rivers and alleys; ``--layers`` keeps only the named layers (and the
projects of their categories), sharing the features among them in the same proportions, so that
``--layers rivers`` puts every feature in ``rivers``. A project has about ten features (at least one)
scattered around its centre; a few percent of the lines and polygons are centred on a street-office
boundary and so cross it. Project ids are ``YEAR-CAT-NNN`` over the years 1990-2100, and each
project's ``street_codes`` are the current street offices its features meet. The same seed gives
the same registry.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from registry import model
from registry.demo import GEODATA, read_geojson
from registry.spatial import STREET_ORDER
from registry.store import Batch, GeoPackageStore

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: progress then goes to stderr as plain lines
    tqdm = None

FIRST_YEAR, LAST_YEAR = 1990, 2100  # the years validate.py accepts
NUMBERS_PER_YEAR = 999  # NNN of YEAR-CAT-NNN
ID_SLOTS = (LAST_YEAR - FIRST_YEAR + 1) * NUMBERS_PER_YEAR  # distinct ids per category
DATA_YEAR = 2025  # projects of later years are planned; fixed so that a seed gives one registry
FEATURES_PER_PROJECT = 10
CROSSING_SHARE = 0.04  # lines and polygons centred on a street boundary
NEAR_CENTRE_ROUNDS = 10  # placement retries near the project's centre before placing anywhere
MAX_ROUNDS = 200


@dataclass(frozen=True)
class LayerPlan:
    """How one feature layer is drawn.

    ``shape`` is river, alley (lines), rect, blob (polygons) or point; ``size`` the range of a
    line's length (m) or a polygon's area (m²), drawn log-uniformly; ``spread`` the standard
    deviation (m) of a feature's offset from its project's centre; ``label`` the feature name, with
    ``{i}`` the feature's number within its project.
    """

    layer: str
    share: float
    shape: str
    size: tuple[float, float]
    spread: float
    label: str


PLANS: tuple[LayerPlan, ...] = (
    LayerPlan("rivers", 0.20, "river", (100, 800), 900, "{i}號河段"),
    LayerPlan("alleys", 0.20, "alley", (50, 500), 400, "{i}號巷"),
    LayerPlan("construction_sites", 0.12, "rect", (2_000, 50_000), 600, "{i}號地塊"),
    LayerPlan("old_compounds", 0.09, "rect", (5_000, 50_000), 500, "{i}號小區"),
    LayerPlan("parking_lots", 0.06, "rect", (500, 20_000), 500, "{i}號停車場"),
    LayerPlan("polders", 0.05, "blob", (10_000, 50_000), 800, "{i}號圩"),
    LayerPlan("markets", 0.04, "rect", (1_000, 10_000), 600, "{i}號市場"),
    LayerPlan("urban_villages", 0.04, "blob", (5_000, 50_000), 500, "{i}號村"),
    LayerPlan("urban_fringes", 0.04, "blob", (10_000, 50_000), 800, "{i}號片區"),
    LayerPlan("vending_points", 0.03, "blob", (500, 5_000), 400, "{i}號疏導點"),
    LayerPlan("shanty_areas", 0.02, "blob", (2_000, 30_000), 400, "{i}號棚戶片"),
    LayerPlan("billboards", 0.10, "point", (0, 0), 600, "{i}號廣告"),
    LayerPlan("sluices", 0.01, "point", (0, 0), 800, "{i}號閘"),  # of polder projects
)
PLAN_BY_LAYER = {p.layer: p for p in PLANS}
CATEGORY_SLUGS = tuple(model.CATEGORY_BY_SLUG)

TASKS = {
    "alleys": "整平坑窪路面、整修缺損側石地磚、修剪增植綠化",
    "rivers": "清淤、駁岸修復、河面保潔",
    "polders": "排澇泵站改造、閘站新建",
    "construction_sites": "圍擋規範、出入口硬化、渣土車沖洗",
    "parking_lots": "場地硬化、劃線、規範停放",
    "markets": "場內改造、攤位規範、周邊整治",
    "vending_points": "設置疏導點、規範經營",
    "billboards": "拆除違規廣告、整治破損廣告",
    "old_compounds": "道路修補、綠化補植、停車位增設",
    "urban_villages": "環境整治、違建拆除",
    "shanty_areas": "棚戶拆除、環境整治",
    "urban_fringes": "垃圾清運、違建拆除、綠化補植",
}
DELAY_REASONS = ("拆遷未完成", "規劃調整", "資金未到位", "施工條件受限")
STATUS_PAST = (("completed", 0.70), ("long_term_management", 0.12), ("in_progress", 0.08),
               ("delayed", 0.05), ("cancelled", 0.05))
STATUS_FUTURE = (("planned", 0.85), ("in_progress", 0.10), ("delayed", 0.05))


@dataclass
class Park:
    """The park's land and street offices, in EPSG:4490 (stored) and EPSG:4549 (drawing, metres)."""

    land: shapely.Geometry  # EPSG:4490, prepared: features must lie inside it
    land_m: shapely.Geometry  # EPSG:4549, prepared
    streets: shapely.STRtree  # current street offices in STREET_ORDER, EPSG:4490
    street_names: np.ndarray  # Chinese names in STREET_ORDER
    boundaries_m: shapely.Geometry  # the streets' shared boundaries inside the park, EPSG:4549
    to_storage: pyproj.Transformer

    def random_points(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points (metres) spread evenly over the land."""
        minx, miny, maxx, maxy = self.land_m.bounds
        found: list[np.ndarray] = []
        count = 0
        while count < n:
            xy = rng.uniform((minx, miny), (maxx, maxy), size=(2 * (n - count) + 16, 2))
            xy = xy[shapely.contains_xy(self.land_m, xy[:, 0], xy[:, 1])]
            found.append(xy)
            count += len(xy)
        return np.concatenate(found)[:n]

    def boundary_points(self, near: np.ndarray, spread: float, rng: np.random.Generator) -> np.ndarray:
        """Points (metres) on the street offices' shared boundaries, about ``spread`` m along them
        from the boundary point nearest each of ``near``."""
        along = shapely.line_locate_point(self.boundaries_m, shapely.points(near))
        along = np.clip(along + rng.normal(0, spread, len(near)), 0, self.boundaries_m.length)
        return shapely.get_coordinates(shapely.line_interpolate_point(self.boundaries_m, along))

    def street_of(self, xy: np.ndarray) -> np.ndarray:
        """Index in STREET_ORDER of the street holding each point (metres); the first one if none."""
        lon, lat = self.to_storage.transform(xy[:, 0], xy[:, 1])
        found = self.streets.query(shapely.points(lon, lat), predicate="intersects")
        street = np.full(len(xy), len(STREET_ORDER))
        np.minimum.at(street, found[0], found[1])  # on a boundary the first in order wins
        return np.where(street == len(STREET_ORDER), 0, street)


def load_park(reference: Path) -> Park:
    """The land (park outline less lakes) and current street offices of the reference layers."""
    park = read_geojson(reference / "park_boundary.geojson").union_all()
    lakes = read_geojson(reference / "lakes.geojson").union_all()
    offices = read_geojson(reference / "street_offices.geojson")
    offices = offices[offices["valid_to"].isna()]
    offices = offices.set_index("code").loc[list(STREET_ORDER)]
    land = shapely.difference(park, lakes)
    to_metric = pyproj.Transformer.from_crs(model.STORAGE_EPSG, model.METRIC_EPSG, always_xy=True)
    land_m = shapely.transform(land, lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1])))
    edges = shapely.union_all(shapely.boundary(offices.geometry.values))
    inner = shapely.difference(edges, shapely.buffer(shapely.boundary(park), 1e-5))
    inner_m = shapely.transform(inner, lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1])))
    shapely.prepare(land)
    shapely.prepare(land_m)
    return Park(
        land=land,
        land_m=land_m,
        streets=shapely.STRtree(offices.geometry.values),
        street_names=offices["name"].to_numpy(dtype=object),
        boundaries_m=shapely.line_merge(inner_m),
        to_storage=pyproj.Transformer.from_crs(model.METRIC_EPSG, model.STORAGE_EPSG, always_xy=True),
    )


# -- shapes: vertex offsets (metres) from an anchor, as one ragged array -----------------------------

def _log_uniform(low: float, high: float, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.exp(rng.uniform(np.log(low), np.log(high), n))


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For parts of ``counts`` vertices: each vertex's part, each part's first vertex, each vertex's rank."""
    part = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(part)) - starts[part]
    return part, starts, rank


def _ragged_cumsum(values: np.ndarray, part: np.ndarray, starts: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    return total - (total[starts] - values[starts])[part]


def line_shapes(n: int, plan: LayerPlan, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polylines of 3-10 vertices: (vertex offsets, vertex counts, lengths in metres).

    A line is a walk of random segment lengths whose heading turns gently (rivers) or more sharply
    (alleys); its middle vertex is the anchor, so a line anchored on a boundary crosses it.
    """
    counts = rng.integers(3, 11, n)
    part, starts, rank = _ragged(counts)
    length = _log_uniform(*plan.size, n, rng)
    weight = rng.uniform(0.5, 1.5, len(part))
    weight[rank == 0] = 0.0
    step = weight / np.bincount(part, weight)[part] * length[part]
    max_turn = np.radians(25 if plan.shape == "river" else 60)
    turn = rng.uniform(-max_turn, max_turn, len(part))
    turn[starts] = rng.uniform(0, 2 * np.pi, n)  # the first segment's heading
    heading = _ragged_cumsum(turn, part, starts)
    xy = np.column_stack([_ragged_cumsum(step * np.cos(heading), part, starts),
                          _ragged_cumsum(step * np.sin(heading), part, starts)])
    xy -= xy[starts + counts // 2][part]
    return xy, counts, length


def polygon_shapes(n: int, plan: LayerPlan, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rectangles (aspect 1-3) or star-shaped outlines of 5-12 vertices: (offsets, counts, areas m²).

    Vertices go counter-clockwise around the anchor at increasing angles, so every outline is a
    simple polygon holding its anchor; the outline is scaled to the drawn area exactly.
    """
    area = _log_uniform(*plan.size, n, rng)
    rotation = rng.uniform(0, 2 * np.pi, n)
    if plan.shape == "rect":
        counts = np.full(n, 4)
        part, starts, rank = _ragged(counts)
        half = np.arctan(1 / rng.uniform(1, 3, n))  # half the angle a diagonal makes with the long side
        corner = np.column_stack([half, np.pi - half, np.pi + half, 2 * np.pi - half]).ravel()
        radius = np.sqrt(area / (2 * np.sin(2 * half)))[part]
    else:
        counts = rng.integers(5, 13, n)
        part, starts, rank = _ragged(counts)
        corner = (rank + rng.uniform(-0.3, 0.3, len(part))) * (2 * np.pi / counts[part])
        radius = rng.uniform(0.6, 1.0, len(part))
    angle = corner + rotation[part]
    x, y = radius * np.cos(angle), radius * np.sin(angle)
    if plan.shape != "rect":
        following = np.where(rank == counts[part] - 1, starts[part], np.arange(len(part)) + 1)
        unit_area = 0.5 * np.bincount(part, x * y[following] - x[following] * y)
        scale = np.sqrt(area / unit_area)[part]
        x, y = x * scale, y * scale
    return np.column_stack([x, y]), counts, area


def point_shapes(n: int, plan: LayerPlan, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points at their anchors: (zero offsets, counts of one, zero measures)."""
    return np.zeros((n, 2)), np.ones(n, dtype=np.int64), np.zeros(n)


SHAPES = {"river": line_shapes, "alley": line_shapes, "rect": polygon_shapes, "blob": polygon_shapes,
          "point": point_shapes}


def _build(kind: str, lon: np.ndarray, lat: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The layer's geometries (EPSG:4490) from vertices grouped by ``counts``."""
    coords = np.column_stack([lon, lat])
    if kind == "point":
        return shapely.points(coords)
    part = np.repeat(np.arange(len(counts)), counts)
    single = np.arange(len(counts))
    if kind in ("river", "alley"):
        return shapely.multilinestrings(shapely.linestrings(coords, indices=part), indices=single)
    return shapely.multipolygons(shapely.polygons(shapely.linearrings(coords, indices=part)), indices=single)


def place(plan: LayerPlan, centres: np.ndarray, park: Park, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One feature per row of ``centres`` (metres), inside the land: (geometries EPSG:4490, measures).

    A feature is drawn around its project's centre (or, for a few lines and polygons, on the street
    boundary nearest to it) and drawn again until it lies inside the land; after some tries it may
    go anywhere.
    """
    n = len(centres)
    geoms = np.empty(n, dtype=object)
    measures = np.zeros(n)
    crossing = np.zeros(n, dtype=bool) if plan.shape == "point" else rng.random(n) < CROSSING_SHARE
    todo = np.arange(n)
    for attempt in range(MAX_ROUNDS):
        if not len(todo):
            return geoms, measures
        offsets, counts, measure = SHAPES[plan.shape](len(todo), plan, rng)
        if attempt < NEAR_CENTRE_ROUNDS:
            anchors = centres[todo] + rng.normal(0, plan.spread, (len(todo), 2))
            on_edge = crossing[todo]
            anchors[on_edge] = park.boundary_points(centres[todo[on_edge]], plan.spread, rng)
        else:
            anchors = park.random_points(len(todo), rng)
        xy = offsets + np.repeat(anchors, counts, axis=0)
        lon, lat = park.to_storage.transform(xy[:, 0], xy[:, 1])
        drawn = _build(plan.shape, lon, lat, counts)
        inside = shapely.contains_properly(park.land, drawn)
        geoms[todo[inside]] = drawn[inside]
        measures[todo[inside]] = measure[inside]
        todo = todo[~inside]
    raise RuntimeError(f"{plan.layer}: could not place {len(todo)} features inside the park")


# -- projects -------------------------------------------------------------------------------------

def select_plans(layers: list[str] | None) -> tuple[LayerPlan, ...]:
    """The plans of ``layers`` (all when None), in PLANS order; a layer a category owns needs that category."""
    if layers is None:
        return PLANS
    unknown = sorted(set(layers) - set(PLAN_BY_LAYER))
    if unknown:
        raise ValueError(f"unknown layer {', '.join(unknown)}; the layers are {', '.join(PLAN_BY_LAYER)}")
    for layer in layers:
        owner = model.layer_category(layer)
        if owner not in layers:
            raise ValueError(f"{layer} belong to {owner} projects: add {owner}")
    return tuple(p for p in PLANS if p.layer in layers)


@dataclass
class Programme:
    """Every project (one row each, in writing order) and its feature count per layer."""

    category: np.ndarray  # index into CATEGORY_SLUGS
    year: np.ndarray
    number: np.ndarray
    centre: np.ndarray  # (n, 2) metres
    counts: dict[str, np.ndarray]  # layer -> features of each project in that layer

    def __len__(self) -> int:
        return len(self.category)

    def features(self) -> np.ndarray:
        """Each project's feature count over all layers."""
        return sum(self.counts.values())


def _shares(n_features: int, plans: tuple[LayerPlan, ...]) -> dict[str, int]:
    """Features per layer: ``n_features`` split by the plans' shares (largest remainders)."""
    raw = np.array([p.share for p in plans]) * n_features / sum(p.share for p in plans)
    counts = np.floor(raw).astype(np.int64)
    counts[np.argsort(raw - counts)[::-1][: n_features - counts.sum()]] += 1
    return {p.layer: int(c) for p, c in zip(plans, counts)}


def plan_programme(n_features: int, park: Park, rng: np.random.Generator,
                   plans: tuple[LayerPlan, ...] = PLANS) -> Programme:
    """Projects for about ``n_features`` features of ``plans``' layers, about ten each, shuffled across categories."""
    per_layer = _shares(n_features, plans)
    categories, slots, counts = [], [], {p.layer: [] for p in plans}
    for c, slug in enumerate(CATEGORY_SLUGS):
        if slug not in per_layer:
            continue
        n = max(1, round(per_layer[slug] / FEATURES_PER_PROJECT))
        if n > ID_SLOTS:
            raise SystemExit(f"{slug}: {n} projects do not fit the {ID_SLOTS} ids YEAR-CAT-NNN of "
                             f"{FIRST_YEAR}-{LAST_YEAR}; ask for fewer features")
        categories.append(np.full(n, c))
        slots.append(rng.choice(ID_SLOTS, n, replace=False))
        for layer in counts:
            belongs = layer in model.category_layers(slug)
            counts[layer].append(_spread(per_layer[layer], n, rng, at_least=layer == slug) if belongs
                                 else np.zeros(n, dtype=np.int64))
    order = rng.permutation(sum(len(c) for c in categories))
    slot = np.concatenate(slots)[order]
    return Programme(
        category=np.concatenate(categories)[order],
        year=FIRST_YEAR + slot // NUMBERS_PER_YEAR,
        number=slot % NUMBERS_PER_YEAR + 1,
        centre=park.random_points(len(order), rng),
        counts={layer: np.concatenate(c)[order] for layer, c in counts.items()},
    )


def _spread(total: int, n: int, rng: np.random.Generator, *, at_least: bool) -> np.ndarray:
    """``total`` features over ``n`` projects at random; with ``at_least`` each gets one."""
    base = np.ones(n, dtype=np.int64) if at_least and total >= n else np.zeros(n, dtype=np.int64)
    return base + np.bincount(rng.integers(0, n, total - int(base.sum())), minlength=n)


def batches(programme: Programme, size: int) -> Iterator[slice]:
    """Consecutive runs of projects holding about ``size`` features each."""
    ends = np.cumsum(programme.features())
    cuts = np.searchsorted(ends, np.arange(size, ends[-1], size), side="left") + 1
    bounds = [0, *sorted(set(cuts.tolist()) - {0, len(programme)}), len(programme)]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        yield slice(start, stop)


def _project_rows(programme: Programme, rows: slice, streets: np.ndarray, measure: np.ndarray,
                  park: Park, rng: np.random.Generator) -> pd.DataFrame:
    """The projects table's rows for ``rows``; ``streets`` is a bit mask of STREET_ORDER and
    ``measure`` the total length or area of each project's features."""
    n = rows.stop - rows.start
    category = programme.category[rows]
    slug = np.array(CATEGORY_SLUGS, dtype=object)[category]
    code = np.array([model.CATEGORY_BY_SLUG[s].code for s in CATEGORY_SLUGS], dtype=object)[category]
    zh = np.array([model.CATEGORY_BY_SLUG[s].zh for s in CATEGORY_SLUGS], dtype=object)[category]
    year, number = programme.year[rows], programme.number[rows]
    home = park.street_of(programme.centre[rows])
    streets = np.where(streets == 0, 1 << home, streets)
    mask_codes = np.array([",".join(c for b, c in enumerate(STREET_ORDER) if m >> b & 1)
                           for m in range(1 << len(STREET_ORDER))], dtype=object)
    past = year <= DATA_YEAR
    status = np.where(past, _pick(STATUS_PAST, n, rng), _pick(STATUS_FUTURE, n, rng))
    month = rng.integers(1, 10, n)
    started = np.isin(status, ("completed", "long_term_management", "in_progress", "delayed"))
    finished = np.isin(status, ("completed", "long_term_management"))
    in_statement = rng.random(n) < 0.8

    def date(years: np.ndarray, months: np.ndarray, day: int, keep: np.ndarray) -> np.ndarray:
        text = np.array([f"{y}-{m:02d}-{day:02d}" for y, m in zip(years, months)], dtype=object)
        return np.where(keep, text, None)

    def where(slugs: tuple[str, ...], values: np.ndarray) -> np.ndarray:
        return np.where(np.isin(slug, slugs), values, None)

    lines = ("alleys", "rivers")
    areas = tuple(p.layer for p in PLANS if p.shape in ("rect", "blob"))
    return pd.DataFrame({
        "project_id": [f"{y}-{c}-{k:03d}" for y, c, k in zip(year, code, number)],
        "name": [f"{h}{z}整治{k}" for h, z, k in zip(park.street_names[home], zh, number)],
        "category": slug,
        "year": year,
        "investment_yuan": np.round(_log_uniform(2e5, 5e7, n, rng), -4).astype(np.int64),
        "lead_department": rng.choice(np.array(model.LEAD_DEPARTMENTS, dtype=object), n),
        "street_codes": mask_codes[streets],
        "status": status,
        "delay_reason": np.where(status == "delayed", rng.choice(np.array(DELAY_REASONS, dtype=object), n), None),
        "planned_start": date(year, month, 1, np.ones(n, dtype=bool)),
        "planned_finish": date(year + (month > 6), (month + 5) % 12 + 1, 28, np.ones(n, dtype=bool)),
        "actual_start": date(year, month, 15, started),
        "actual_finish": date(year + (month > 5), (month + 6) % 12 + 1, 20, finished),
        "in_statement": in_statement,
        "beyond_statement": ~in_statement & (rng.random(n) < 0.5),
        "tasks": np.array([TASKS[s] for s in CATEGORY_SLUGS], dtype=object)[category],
        "length_m": where(lines, np.round(measure, 1)),
        "area_m2": where(areas, np.round(measure, 1)),
        "stalls": where(("markets", "vending_points"), np.maximum(1, measure // 25).astype(np.int64)),
        "parking_spaces": where(("parking_lots",), np.maximum(1, measure // 30).astype(np.int64)),
        "dredged_m3": where(("rivers",), np.round(measure * rng.uniform(2, 6, n), 1)),
        "site_type": where(("construction_sites",), rng.choice(np.array(list(model.SITE_TYPES), dtype=object), n)),
        "billboard_action": where(("billboards",),
                                  rng.choice(np.array(list(model.BILLBOARD_ACTIONS), dtype=object), n)),
    })


def _pick(choices: tuple[tuple[str, float], ...], n: int, rng: np.random.Generator) -> np.ndarray:
    values, weights = zip(*choices)
    return rng.choice(np.array(values, dtype=object), n, p=np.array(weights) / sum(weights))


def make_batch(programme: Programme, rows: slice, park: Park, rng: np.random.Generator) -> tuple[Batch, int]:
    """The projects of ``rows`` with all their features, and how many features cross a street boundary."""
    n = rows.stop - rows.start
    centres = programme.centre[rows]
    features: dict[str, gpd.GeoDataFrame] = {}
    owners, geoms, measures = [np.zeros(0, dtype=np.int64)], [np.empty(0, dtype=object)], [np.zeros(0)]
    for layer in programme.counts:
        plan = PLAN_BY_LAYER[layer]
        counts = programme.counts[layer][rows]
        if not counts.sum():
            continue
        owner = np.repeat(np.arange(n), counts)  # the feature's project, as a row of this batch
        _, _, rank = _ragged(counts[counts > 0])
        drawn, measure = place(plan, centres[owner], park, rng)
        labels = np.array([plan.label.format(i=i) for i in range(1, counts.max() + 1)], dtype=object)
        features[plan.layer] = gpd.GeoDataFrame(
            {"owner": owner, "name": labels[rank]}, geometry=gpd.GeoSeries(drawn, crs=model.STORAGE_EPSG))
        owners.append(owner)
        geoms.append(drawn)
        measures.append(measure)
    owner, geom = np.concatenate(owners), np.concatenate(geoms)
    pairs = park.streets.query(geom, predicate="intersects")
    streets = np.zeros(n, dtype=np.int64)
    np.bitwise_or.at(streets, owner[pairs[0]], 1 << pairs[1])
    crossing = int((np.bincount(pairs[0], minlength=len(geom)) > 1).sum())
    measure = np.bincount(owner, np.concatenate(measures), minlength=n)
    projects = _project_rows(programme, rows, streets, measure, park, rng)
    ids = projects["project_id"].to_numpy()
    for frame in features.values():
        frame.insert(0, "project_id", ids[frame.pop("owner").to_numpy()])
    return Batch(projects=projects, features=features), crossing


def reference_registry(path: Path, meta: dict[str, str] | None = None) -> GeoPackageStore:
    """A new registry at ``path`` (replacing any file there) holding only the demo's reference layers."""
    store = GeoPackageStore.create(path, meta=meta, overwrite=True)
    for layer in model.REFERENCE_LAYERS:
        store.replace_reference(layer.name, read_geojson(GEODATA / "reference" / f"{layer.name}.geojson"))
    return store


def build(n_features: int, out: Path, seed: int = 1, batch_size: int = 100_000,
          layers: list[str] | None = None) -> tuple[int, int, int]:
    """Write the registry to ``out`` (replaced once complete): (features, projects, crossing features).

    ``layers`` keeps only those feature layers (see the module's docstring); None keeps them all.
    """
    plans = select_plans(layers)
    rng = np.random.default_rng(seed)
    park = load_park(GEODATA / "reference")
    programme = plan_programme(n_features, park, rng, plans)
    tmp = out.with_name(f".{out.stem}.building.gpkg")
    meta = {"title": "合成登記簿(基準測試用)", "data_date": f"{DATA_YEAR}-12-31", "synthetic_seed": str(seed)}
    total = int(programme.features().sum())
    crossing = 0
    progress = tqdm(total=total, unit="feature", unit_scale=True, file=sys.stderr) if tqdm else None
    try:
        store = reference_registry(tmp, meta)
        written = 0
        started = time.perf_counter()
        for rows in batches(programme, batch_size):
            batch, crossed = make_batch(programme, rows, park, rng)
            store.write(batch, mode="insert")
            crossing += crossed
            done = sum(len(f) for f in batch.features.values())
            written += done
            if progress is not None:
                progress.update(done)
            else:
                print(f"  {written:,}/{total:,} features, {time.perf_counter() - started:.1f} s",
                      file=sys.stderr, flush=True)
        os.replace(tmp, out)
    finally:
        if progress is not None:
            progress.close()
        tmp.unlink(missing_ok=True)
    return total, len(programme), crossing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, required=True, help="about how many features to make")
    parser.add_argument("--out", type=Path, required=True, help="the registry file to write (.gpkg)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--batch", type=int, default=100_000, help="features per write transaction")
    parser.add_argument("--layers", help="only these feature layers, comma-separated (default: all)")
    args = parser.parse_args(argv)
    if args.features < 1:
        parser.error("--features must be at least 1")
    if args.out.suffix.lower() != ".gpkg":
        parser.error("--out must name a .gpkg file")
    layers = [name.strip() for name in args.layers.split(",") if name.strip()] if args.layers else None
    try:
        select_plans(layers)
    except ValueError as exc:
        parser.error(f"--layers: {exc}")
    started = time.perf_counter()
    features, projects, crossing = build(args.features, args.out, args.seed, args.batch, layers)
    seconds = time.perf_counter() - started
    size = args.out.stat().st_size / 2**20
    print(f"{args.out}: {features:,} features ({crossing:,} crossing a street boundary), {projects:,} projects, "
          f"{seconds:.1f} s, {size:,.1f} MB")


if __name__ == "__main__":
    main()
