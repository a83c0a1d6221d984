"""Quality checks a renovation office runs before a report: each finding names what to fix.

Checks: features outside the park, projects whose declared streets differ from the computed ones
(boundaries valid at the project's planned start), invalid or empty geometries, projects with no
feature, declared length/area more than 10 % off the measured one, and gaps or overlaps between
street offices within each validity period.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import shapely

from . import model, spatial
from .i18n import gettext
from .store import Store
from .streets import streets_as_of

TOLERANCE = 0.10  # declared vs measured quantities
SLIVER_M2 = 1.0  # gaps and overlaps smaller than this are noise of coordinate rounding


@dataclass(frozen=True)
class Finding:
    """One QA finding: which check, where, and what is wrong."""

    check: str
    layer: str | None
    fid: int | None
    project_id: str | None
    detail: str

    def to_json(self) -> dict:
        return asdict(self)


def _category_layers(store: Store):
    for category in model.CATEGORIES:
        yield category, store.features(category.slug)


def outside_park(store: Store) -> list[Finding]:
    park = shapely.union_all(store.features("park_boundary").geometry.values)
    shapely.prepare(park)
    found = []
    for layer in model.PROJECT_LAYERS:
        frame = store.features(layer.name)
        geoms = frame.geometry.values
        valid = shapely.is_valid(geoms) & ~shapely.is_empty(geoms)
        bad = valid & ~shapely.covers(park, geoms)  # the prepared park first: GEOS uses its index only then
        for fid, pid in zip(frame.index[bad], frame["project_id"][bad]):
            found.append(Finding("outside_park", layer.name, int(fid), pid, "feature lies (partly) outside the park"))
    return found


def invalid_geometries(store: Store) -> list[Finding]:
    found = []
    for layer in model.LAYERS:
        frame = store.features(layer.name)
        geoms = frame.geometry.values
        empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        invalid = ~empty & ~shapely.is_valid(geoms)
        pids = frame["project_id"] if "project_id" in frame.columns else pd.Series(None, index=frame.index)
        for fid, pid in zip(frame.index[empty], pids[empty]):
            found.append(Finding("empty_geometry", layer.name, int(fid), pid, gettext("feature has no geometry")))
        for fid, pid, geom in zip(frame.index[invalid], pids[invalid], geoms[invalid]):
            found.append(Finding("invalid_geometry", layer.name, int(fid), pid,
                                 gettext("invalid geometry: %(reason)s", reason=shapely.is_valid_reason(geom))))
    return found


def projects_without_features(store: Store) -> list[Finding]:
    projects = store.projects()
    located = set()
    for _, frame in _category_layers(store):
        located.update(frame["project_id"])
    missing = projects[~projects["project_id"].isin(located)]
    return [Finding("no_features", r.category, None, r.project_id,
                    gettext("project has no feature in layer %(layer)s", layer=r.category))
            for r in missing.itertuples()]


def street_mismatches(store: Store) -> list[Finding]:
    """Declared street codes against those computed with the boundaries valid at the planned start."""
    projects = store.projects()
    starts = projects["planned_start"].fillna(projects["year"].astype(str) + "-01-01")
    computed: dict[str, set[str]] = {pid: set() for pid in projects["project_id"]}
    for start in sorted(starts.unique()):
        ids = projects.loc[starts == start, "project_id"]
        streets = streets_as_of(store, start)
        geoms = streets.geometry.values
        for _, frame in _category_layers(store):
            frame = frame[frame["project_id"].isin(ids)]
            if frame.empty:
                continue
            for i, code in enumerate(streets["code"]):
                inside = spatial.membership(frame.geometry.values, geoms[i], list(geoms[:i]))
                for pid in frame["project_id"][inside]:
                    computed[pid].add(code)
    found = []
    for row in projects.itertuples():
        declared = set(row.street_codes.split(","))
        got = computed[row.project_id]
        if got and got != declared:
            found.append(Finding("street_mismatch", row.category, None, row.project_id,
                                 gettext("declared %(declared)s, features lie in %(found)s (boundaries of %(date)s)",
                                         declared=",".join(sorted(declared)), found=",".join(sorted(got)),
                                         date=starts[row.Index])))
    return found


def quantity_mismatches(store: Store) -> list[Finding]:
    """Declared length_m / area_m2 more than 10 % off the length/area of the project's features."""
    projects = store.projects().set_index("project_id")
    found = []
    for category, frame in _category_layers(store):
        if category.geometry_type == "Point" or frame.empty:
            continue
        column = "length_m" if "Line" in category.geometry_type else "area_m2"
        measure = shapely.length if column == "length_m" else shapely.area
        measured = pd.Series(measure(spatial.metric(frame.geometry.values)),
                             index=frame["project_id"].to_numpy()).groupby(level=0).sum()
        declared = projects.loc[measured.index, column]
        off = declared.notna() & ((declared - measured).abs() > TOLERANCE * measured)
        for pid in measured.index[off.to_numpy()]:
            found.append(Finding("quantity_mismatch", category.slug, None, pid,
                                 gettext("declared %(field)s %(declared)s vs measured %(measured)s (%(off)s %%)",
                                         field=column, declared=f"{declared[pid]:.0f}",
                                         measured=f"{measured[pid]:.0f}",
                                         off=f"{(declared[pid] / measured[pid] - 1) * 100:+.0f}")))
    return found


def street_gaps_and_overlaps(store: Store) -> list[Finding]:
    """Within each validity period, streets must cover the park without gaps or overlaps."""
    streets = store.features("street_offices")
    park = shapely.union_all(store.features("park_boundary").geometry.values)
    found = []
    for start in sorted(set(streets["valid_from"])):
        period = streets_as_of(store, start)
        metric = spatial.metric(period.geometry.values)
        codes = list(period["code"])
        gap = shapely.difference(spatial.metric(np.array([park]))[0], shapely.union_all(metric))
        if gap.area > SLIVER_M2:
            found.append(Finding("street_gap", "street_offices", None, None,
                                 gettext("from %(date)s: %(area)s m² of the park lies in no street", date=start,
                                         area=f"{gap.area:.0f}")))
        for i in range(len(metric)):
            for j in range(i + 1, len(metric)):
                area = shapely.intersection(metric[i], metric[j]).area
                if area > SLIVER_M2:
                    found.append(Finding("street_overlap", "street_offices", None, None,
                                         gettext("from %(date)s: %(first)s and %(second)s overlap by %(area)s m²",
                                                 date=start, first=codes[i], second=codes[j], area=f"{area:.0f}")))
    return found


CHECKS = {
    "outside_park": outside_park,
    "invalid_geometry": invalid_geometries,
    "no_features": projects_without_features,
    "street_mismatch": street_mismatches,
    "quantity_mismatch": quantity_mismatches,
    "street_boundaries": street_gaps_and_overlaps,
}


def run_qa(store: Store) -> list[Finding]:
    """Every check, in a stable order."""
    return [finding for check in CHECKS.values() for finding in check(store)]
