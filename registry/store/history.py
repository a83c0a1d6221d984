"""The registry as it was: history entries of a project, and any store's state as of a past day.

A day's state is what had been recorded by 23:59:59 Asia/Shanghai that day: for every project and every
feature, its last log entry up to then (unless that entry deletes it). The reference layers (street
boundaries and the rest) are today's: they carry their own validity dates.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely

from .. import model
from .base import LayerInfo, Reader, per_revision
from .edits import VERSION, empty_features
from .frames import FrameSnapshot, State
from .rows import typed_projects

SHANGHAI = timedelta(hours=8)
LOG_COLUMNS = ("change_id", "at", "who", "department", "operation", "layer", "project_id", "fid", "version",
               "conditional", "reason", "before", "after")


def _log_time(moment: datetime) -> str:
    """A whole second as the log's UTC text; the year zero-padded (strftime leaves year 251 as "251", which
    would sort after every year from 1000 on)."""
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.000Z"


def day_end_utc(day: str) -> str:
    """The first instant after ``day`` (YYYY-MM-DD) in Asia/Shanghai, as the log's UTC text."""
    return _log_time(datetime.fromisoformat(day) + timedelta(days=1) - SHANGHAI)


def day_start_utc(day: str) -> str:
    """The start of ``day`` (YYYY-MM-DD) in Asia/Shanghai, as the log's UTC text (for backdated entries)."""
    return _log_time(datetime.fromisoformat(day) - SHANGHAI)


def today() -> str:
    """Today in Asia/Shanghai, where the registry's days are counted."""
    return (datetime.now(UTC) + SHANGHAI).strftime("%Y-%m-%d")


def utc_text(value: object) -> str:
    """A log time (SQLite's text or PostgreSQL's timestamptz) as UTC ISO text with milliseconds."""
    if isinstance(value, str) and len(value) == 24 and value[10] == "T" and value[-1] == "Z":
        return value  # already so: the GeoPackage keeps its times in this form
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def log_filter(project_id: str | None, until: str | None, mark: str, time_mark: str | None = None,
               layer: str | None = None) -> tuple[str, list]:
    """The WHERE clause (and its parameters, ``mark`` the driver's placeholder, ``time_mark`` the one for a
    time if it needs a cast) of a log read: a project's entries, a layer's, those before ``until``, or all."""
    where, params = ["1 = 1"], []
    if layer is not None:
        where.append(f"layer = {mark}")
        params.append(layer)
    if project_id is not None:
        where.append(f"project_id = {mark}")
        params.append(project_id)
    if until is not None:
        where.append(f"at < {time_mark or mark}")
        params.append(until)
    return " AND ".join(where), params


def entries(rows: list[tuple]) -> pd.DataFrame:
    """Log rows (in ``LOG_COLUMNS`` order, JSON as text or already parsed) as a frame, times as UTC text."""
    frame = pd.DataFrame(rows, columns=list(LOG_COLUMNS), dtype=object)
    frame["at"] = [utc_text(v) for v in frame["at"]]
    for column in ("before", "after"):
        frame[column] = [orjson.loads(v) if isinstance(v, str) else v for v in frame[column]]
    frame["conditional"] = frame["conditional"].astype(bool)
    return frame


def as_of(view: Reader, day: str) -> Reader:
    """The registry as recorded by the end of ``day``: ``view`` itself for today or later, else a snapshot
    rebuilt from the log (kept per revision and day, as rebuilding a large registry takes a while)."""
    if day >= today():
        return view
    state = per_revision(view, ("as_of", day), lambda: _state_at(view, day))
    return FrameSnapshot(view.location, state, view.log)


def projects_as_of(view: Reader, day: str) -> pd.DataFrame:
    """The projects table as ``as_of(view, day).projects()`` gives it, from the log's project entries alone:
    answers from attributes (the progress bulletin, the assessment) skip rebuilding the feature layers, which
    is most of ``as_of``'s cost (a 10k-project registry: 0.6 s for two days, not 18 s). Kept per revision."""
    if day >= today():
        return view.projects()

    def project_log() -> pd.DataFrame:
        log = view.log(layer="projects")  # by time; read once per revision for every day asked of it
        return log[["at", "project_id", "operation", "version", "after"]]

    def build() -> pd.DataFrame:
        log = per_revision(view, "projects_log", project_log)
        latest = log[log["at"] < day_end_utc(day)].drop_duplicates("project_id", keep="last")
        rows = latest[latest["operation"] != "delete"]
        projects = pd.DataFrame.from_records(list(rows["after"]), columns=list(model.PROJECT_COLUMNS)) \
            if len(rows) else pd.DataFrame(columns=list(model.PROJECT_COLUMNS), dtype=object)
        projects = typed_projects(projects.astype(object))
        projects[VERSION] = rows["version"].to_numpy(dtype=np.int64)
        return projects.sort_values("project_id").reset_index(drop=True)

    return per_revision(view, ("projects_as_of", day), build)


def _state_at(view: Reader, day: str) -> State:
    latest = view.log(until=day_end_utc(day), latest=True)
    kept = latest[latest["operation"] != "delete"]
    rows = kept[kept["layer"] == "projects"]
    projects = pd.DataFrame.from_records(list(rows["after"]), columns=list(model.PROJECT_COLUMNS)) \
        if len(rows) else pd.DataFrame(columns=list(model.PROJECT_COLUMNS), dtype=object)
    projects = typed_projects(projects.astype(object))
    projects[VERSION] = rows["version"].to_numpy(dtype=np.int64)
    projects = projects.sort_values("project_id").reset_index(drop=True)
    layers: dict[str, gpd.GeoDataFrame] = {}
    for spec in model.LAYERS:
        if spec.kind != "project":
            layers[spec.name] = view.features(spec.name)
            continue
        part = kept[kept["layer"] == spec.name]
        frame = empty_features(spec.name)
        if len(part):
            attributes = pd.DataFrame.from_records(list(part["after"]), columns=["project_id", "name"]).astype(object)
            frame = gpd.GeoDataFrame({"project_id": attributes["project_id"].to_numpy(dtype=object),
                                      "name": attributes["name"].to_numpy(dtype=object),
                                      VERSION: part["version"].to_numpy(dtype=object)},
                                     geometry=shapely.from_wkb(part["wkb"].to_numpy(dtype=object)),
                                     crs=model.STORAGE_EPSG)
            frame.index = pd.Index(part["fid"].to_numpy(dtype=np.int64), name="fid")
            frame = frame.sort_index()
        frame.columns = pd.Index(list(frame.columns), dtype=object)
        layers[spec.name] = frame
    infos = [_info("projects", None, len(projects), None)]
    infos += [_info(spec.name, spec, len(layers[spec.name]),
                    tuple(float(v) for v in layers[spec.name].total_bounds) if len(layers[spec.name]) else None)
              for spec in model.LAYERS]
    meta = {**view.meta(), "revision": f"{view.revision()}@{day}"}
    return State(meta["revision"], view.last_modified(), meta, infos, projects, layers)


def _info(name: str, spec: model.Layer | None, count: int, extent: tuple | None) -> LayerInfo:
    if spec is None:
        return LayerInfo(name, "attributes", None, count, None, None)
    return LayerInfo(name, spec.kind, spec.geometry_type, count, extent, model.STORAGE_EPSG)


def project_history(view: Reader, project_id: str) -> list[dict]:
    """A project's log entries, oldest first, each with the fields it changed (``{field: [before, after]}``;
    a feature whose attributes stayed had its geometry changed) and its time in Asia/Shanghai as well."""
    out = []
    for entry in view.log(project_id=project_id).itertuples(index=False):
        before, after = entry.before or {}, entry.after or {}
        changed = {key: [before.get(key), after.get(key)] for key in dict.fromkeys([*before, *after])
                   if before.get(key) != after.get(key)}
        if entry.operation == "update" and entry.layer != "projects" and not changed:
            changed = {"geometry": [None, None]}
        local = datetime.fromisoformat(entry.at.replace("Z", "+00:00")) + SHANGHAI
        out.append({"change_id": int(entry.change_id), "at": entry.at, "local_time": local.strftime("%Y-%m-%d %H:%M"),
                    "who": entry.who, "department": entry.department, "operation": entry.operation,
                    "layer": entry.layer, "fid": None if pd.isna(entry.fid) else int(entry.fid),
                    "version": None if pd.isna(entry.version) else int(entry.version),
                    "conditional": bool(entry.conditional), "reason": entry.reason, "changes": changed})
    return out
