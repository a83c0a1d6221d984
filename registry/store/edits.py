"""What a write changes: the records of some projects before and after, and the rows that differ.

Every write (an import, an edit over HTTP or in the browser, a delete) is one ``Store.edit``: inside the
store's write transaction the projects' current records are loaded, the caller's change makes the records
after, the rules check them, and only the rows that differ are written, each keeping its fid and counting
its version up; the change log's triggers record each row written. Both stores share this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import model, script
from ..crs import STORAGE_PYPROJ
from ..errors import Forbidden, ValidationError
from ..i18n import gettext
from ..text import to_script

VERSION = model.VERSION_COLUMN
FEATURE_COLUMNS = ("project_id", "name", VERSION, "geometry")


@dataclass(frozen=True)
class Author:
    """Who writes, as the change log records it, and what the rules then allow.

    ``reason`` makes an admin's status change a correction (any direction); ``at`` backdates the entries
    (UTC ISO, for historical imports and the demo's history); ``conditional`` says the write named the
    versions it expected (If-Match).
    """

    name: str
    role: str = "admin"
    department: str | None = None
    reason: str | None = None
    at: str | None = None
    conditional: bool = False

    def conditionally(self) -> Author:
        return replace(self, conditional=True)


@dataclass
class Records:
    """Projects (one row each, with their version) and their features by layer (indexed by fid; a feature
    still to be created has a negative fid). A layer holding none of the projects' features may be left out."""

    projects: pd.DataFrame
    features: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)

    def project(self, project_id: str) -> pd.Series | None:
        rows = np.flatnonzero(self.projects["project_id"].to_numpy(dtype=object) == project_id)  # NumPy: cheap
        return self.projects.iloc[rows[0]] if len(rows) else None


@dataclass
class Plan:
    """The rows a write changes, per table: ids to delete, rows to insert, rows to update."""

    delete_projects: list[str]
    insert_projects: pd.DataFrame
    update_projects: pd.DataFrame
    delete_features: dict[str, list[int]]
    insert_features: dict[str, gpd.GeoDataFrame]
    update_features: dict[str, gpd.GeoDataFrame]

    def empty(self) -> bool:
        return not (self.delete_projects or len(self.insert_projects) or len(self.update_projects)
                    or any(self.delete_features.values()) or any(len(f) for f in self.insert_features.values())
                    or any(len(f) for f in self.update_features.values()))


def insert_clash(project_id: str) -> ValidationError:
    """The error of an insert naming a project the store holds already."""
    return ValidationError(gettext("project %(id)s exists already (mode insert); use upsert to replace it",
                                   id=project_id), param="project_id")


def _empty() -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame({"project_id": pd.Series([], dtype=object), "name": pd.Series([], dtype=object),
                              VERSION: pd.Series([], dtype="int64")},
                             geometry=gpd.GeoSeries([], crs=STORAGE_PYPROJ), crs=STORAGE_PYPROJ)
    frame.index = pd.Index([], dtype="int64", name="fid")
    return frame


_EMPTY = _empty()  # building a GeoDataFrame costs ~10 ms; a copy of this one a fraction of that


def empty_features(layer: str) -> gpd.GeoDataFrame:
    """No features of a project layer, in the shape ``Records.features`` holds them."""
    return _EMPTY.copy(deep=False)


def feature_rows(rows: list[tuple]) -> gpd.GeoDataFrame:
    """Stored feature rows ``(fid, project_id, name, version, WKB)`` as ``Records.features`` holds them."""
    if not rows:
        return empty_features("")
    fid, pid, name, version, wkb = (list(c) for c in zip(*rows))
    index = pd.Index(np.asarray(fid, dtype=np.int64), name="fid")
    geometry = gpd.array.GeometryArray(shapely.from_wkb(np.asarray([bytes(b) for b in wkb], dtype=object)),
                                       crs=STORAGE_PYPROJ)
    frame = pd.DataFrame({"project_id": pd.Series(pid, index=index, dtype=object),  # object: pandas would infer str
                          "name": pd.Series(name, index=index, dtype=object),
                          VERSION: np.asarray(version, dtype=np.int64), "geometry": geometry}, index=index)
    return gpd.GeoDataFrame(frame, geometry="geometry", copy=False)  # a frame made first: GeoDataFrame's own is slow


def layer_rows(rows: list[tuple]) -> dict[str, gpd.GeoDataFrame]:
    """Stored feature rows ``(layer, fid, project_id, name, version, WKB)`` of several layers (read in one
    statement) as ``Records.features`` holds them: a frame per layer that has rows; layers without are left out."""
    by_layer: dict[str, list[tuple]] = {}
    for row in rows:
        by_layer.setdefault(row[0], []).append(row[1:])
    return {layer: feature_rows(found) for layer, found in sorted(by_layer.items())}


def new_fids(count: int, taken: Sequence[int] = ()) -> np.ndarray:
    """Placeholder fids (negative, unused in ``taken``) for features still to be created."""
    low = min([0, *[int(f) for f in taken]])
    return np.arange(low - 1, low - 1 - count, -1, dtype=np.int64)


def merge_batch(before: Records, projects: pd.DataFrame, features: dict[str, gpd.GeoDataFrame],
                mode: str) -> Records:
    """The records after an import of whole projects: their attributes replaced, and their features those
    of the batch. A batch feature without a fid keeps the fid of the project's feature in the same layer
    with the same name (the first unmatched one), so re-importing a project changes only what changed."""
    if mode == "insert" and len(before.projects):
        raise insert_clash(str(before.projects["project_id"].iloc[0]))
    versions = before.projects.set_index("project_id")[VERSION] if len(before.projects) else pd.Series(dtype="int64")
    after_projects = projects.copy()
    after_projects[VERSION] = after_projects["project_id"].map(versions).fillna(1).astype("int64")
    after_features = {}
    for layer in (spec.name for spec in model.PROJECT_LAYERS):
        old = before.features.get(layer)
        new = features.get(layer)
        if new is None or not len(new):
            if old is not None and len(old):
                after_features[layer] = empty_features(layer)
            continue
        new = new[["project_id", "name", new.geometry.name]].rename_geometry("geometry") \
            if new.geometry.name != "geometry" else new[["project_id", "name", "geometry"]]
        new = new.reset_index(drop=True)
        fids = new_fids(len(new))
        if old is not None and len(old):
            key = ["project_id", "name", "_nth"]
            olds = old.reset_index()[["fid", "project_id", "name"]].fillna({"name": ""})
            olds["_nth"] = olds.groupby(["project_id", "name"]).cumcount()
            news = new[["project_id", "name"]].fillna({"name": ""})
            news["_nth"] = news.groupby(["project_id", "name"]).cumcount()
            matched = news.merge(olds, on=key, how="left")["fid"]
            fids = np.where(matched.isna(), fids, matched.fillna(0).astype(np.int64))
        new.index = pd.Index(fids, name="fid")
        new[VERSION] = 1
        after_features[layer] = new[list(FEATURE_COLUMNS)]
    return Records(after_projects, after_features)


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise equality with missing equal to missing."""
    missing_l, missing_r = pd.isna(a).to_numpy(), pd.isna(b).to_numpy()
    left = a.astype(object).where(~missing_l, None).to_numpy(dtype=object)
    right = b.astype(object).where(~missing_r, None).to_numpy(dtype=object)
    equal = np.fromiter((x == y for x, y in zip(left, right)), bool, len(left)) if len(left) else np.zeros(0, bool)
    return np.where(missing_l | missing_r, missing_l & missing_r, equal)


def _cells(projects: pd.DataFrame) -> np.ndarray:
    """The project columns' values (None for missing), rows by columns: taken from the whole frame at once (a
    frame of the columns first costs an edit's one row more than the comparison)."""
    cells = projects.to_numpy(dtype=object, na_value=None)
    return cells[:, [projects.columns.get_loc(c) for c in model.PROJECT_COLUMNS]]


def plan(before: Records, after: Records) -> Plan:
    """The rows that differ between the records before and after (attributes compared value by value,
    geometry by its WKB); rows equal in both are not written, so they keep their version."""
    old_ids, new_ids = pd.Index(before.projects["project_id"]), pd.Index(after.projects["project_id"])
    delete_projects = old_ids[~old_ids.isin(new_ids)].tolist()
    at = old_ids.get_indexer(new_ids)  # each project after: its row before, -1 if new
    stored = np.flatnonzero(at >= 0)
    was = _cells(before.projects)[at[stored]]
    now = _cells(after.projects)[stored]
    changed = stored[(was != now).any(axis=1)] if len(stored) else stored
    inserted, updated = after.projects.iloc[np.flatnonzero(at < 0)], after.projects.iloc[changed]
    delete_features, insert_features, update_features = {}, {}, {}
    for layer in sorted(set(before.features) | set(after.features)):
        if before.features.get(layer) is after.features.get(layer):
            continue  # the change kept this layer's frame as it was loaded
        was = before.features[layer] if layer in before.features else empty_features(layer)
        now = after.features[layer] if layer in after.features else empty_features(layer)
        unknown = now.index[(now.index > 0) & ~now.index.isin(was.index)]
        if len(unknown):
            raise ValidationError(gettext("layer %(layer)s: feature %(fid)s does not belong to the projects edited",
                                          layer=layer, fid=int(unknown[0])), param="fid")
        delete_features[layer] = [int(f) for f in was.index[~was.index.isin(now.index)]]
        insert_features[layer] = now[now.index < 0]
        kept = now[now.index > 0]
        if len(kept):
            prior = was.loc[kept.index]
            differs = ~_same(prior["project_id"], kept["project_id"]) | ~_same(prior["name"], kept["name"])
            differs |= shapely.to_wkb(prior.geometry.values) != shapely.to_wkb(kept.geometry.values)
            update_features[layer] = kept[differs]
        else:
            update_features[layer] = kept
    return Plan(delete_projects, inserted.reset_index(drop=True), updated.reset_index(drop=True),
                delete_features, insert_features, update_features)


def touched_projects(before: Records, after: Records, changes: Plan) -> pd.DataFrame:
    """The project rows (before and after) a plan changes, directly or through their features."""
    ids = set(changes.delete_projects) | set(changes.insert_projects["project_id"]) \
        | set(changes.update_projects["project_id"])
    for layer, fids in changes.delete_features.items():
        ids |= set(before.features[layer].loc[fids, "project_id"])
    for frames in (changes.insert_features, changes.update_features):
        for layer, frame in frames.items():
            ids |= set(frame["project_id"])
            if layer in before.features:
                ids |= set(before.features[layer].loc[frame.index[frame.index > 0], "project_id"])
    rows = pd.concat([before.projects, after.projects])
    return rows[rows["project_id"].isin(ids)]


def check_author(author: Author, before: Records, after: Records, changes: Plan) -> None:
    """Refuse what the author's role does not allow: viewers write nothing; an editor changes only projects
    whose lead department is theirs, before and after the change."""
    if author.role == "admin" or changes.empty():
        return
    if author.role != "editor":
        raise Forbidden(gettext("account %(name)s (%(role)s) may read but not change projects", name=author.name,
                                role=author.role))
    rows = touched_projects(before, after, changes)
    foreign = rows[rows["lead_department"] != author.department]
    if len(foreign):
        row = foreign.iloc[0]
        shown = script.current()
        raise Forbidden(gettext("project %(id)s is led by %(department)s; account %(name)s edits only projects of "
                                "%(own)s", id=row["project_id"], name=author.name,
                                department=to_script(str(row["lead_department"]), shown),
                                own=to_script(str(author.department), shown)))


def check_workflow(author: Author, before: Records, after: Records) -> None:
    """Status moves only as ``model.TRANSITIONS`` allows, with what the new status requires; an admin may
    also cancel an open project, and correct a status in any direction when giving a reason. The first
    planned finish is kept as ``planned_finish_original`` (set here when a project first has one). Column
    at a time: an import of many projects checks only the rows whose status moved one by one."""
    projects = after.projects
    if not len(projects):
        return
    ids = projects["project_id"].to_numpy(dtype=object)
    stored = {pid: i for i, pid in enumerate(before.projects["project_id"].to_numpy(dtype=object))}
    rows = np.array([stored.get(pid, -1) for pid in ids], dtype=np.int64)  # each project's row before, -1 if new
    known = rows >= 0

    def was(column: str) -> np.ndarray:  # NumPy, not a pandas map: an edit's one row costs far less
        values = np.full(len(ids), None, dtype=object)
        values[known] = before.projects[column].to_numpy(dtype=object)[rows[known]]
        return values

    given = projects["planned_finish_original"].to_numpy(dtype=object)
    original = was("planned_finish_original")
    for fallback in (given, was("planned_finish"), projects["planned_finish"].to_numpy(dtype=object)):
        original = np.where(pd.isna(original), fallback, original)
    correcting = author.role == "admin" and bool(author.reason)
    clash = known & ~pd.isna(given) & (given != original)
    if clash.any() and not correcting:
        at = int(np.argmax(clash))
        raise ValidationError(gettext("project %(id)s: planned_finish_original keeps the first planned finish "
                                      "(%(date)s); an admin may correct it with a reason", id=ids[at],
                                      date=original[at]), param="planned_finish_original")
    projects["planned_finish_original"] = pd.Series(np.where(pd.isna(original), None, original), index=projects.index,
                                                    dtype=object)
    if correcting:
        return
    moved = known & (was("status") != projects["status"].to_numpy(dtype=object))
    old = before.projects.set_index("project_id") if moved.any() else None
    for at in np.flatnonzero(moved):
        row, prior = projects.iloc[at], old.loc[ids[at]]
        pid, old_status, new_status = row["project_id"], prior["status"], row["status"]
        allowed = list(model.TRANSITIONS[old_status])
        if author.role == "admin" and old_status in model.OPEN_STATUSES:
            allowed.append("cancelled")
        if new_status not in allowed:
            nexts = ", ".join(allowed) or gettext("none")
            said = dict(id=pid, old=old_status, new=new_status, next=nexts)
            if author.role == "admin":
                raise ValidationError(gettext("project %(id)s: status may not move from %(old)s to %(new)s; allowed "
                                              "next: %(next)s (or correct it, giving a reason)", **said),
                                      param="status")
            raise ValidationError(gettext("project %(id)s: status may not move from %(old)s to %(new)s; allowed next: "
                                          "%(next)s", **said), param="status")
        for required in model.STATUS_REQUIRES.get(new_status, ()):
            if pd.isna(row[required]) or (new_status == "delayed" and required == "planned_finish"
                                          and _same_value(row[required], prior[required])):
                if required == "planned_finish":
                    raise ValidationError(gettext("project %(id)s: moving to %(status)s needs a new planned_finish",
                                                  id=pid, status=new_status), param=required)
                raise ValidationError(gettext("project %(id)s: moving to %(status)s needs %(field)s", id=pid,
                                              status=new_status, field=required), param=required)


def _same_value(a: object, b: object) -> bool:
    return (pd.isna(a) and pd.isna(b)) if (pd.isna(a) or pd.isna(b)) else a == b
