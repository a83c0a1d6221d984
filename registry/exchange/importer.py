"""Import a file into a registry: fields mapped to the model, every row validated, one atomic write.

Rows become projects (from a projects table or sheet, else from the features' attributes) and
features (whose registry layer comes from --layer, the source layer's name, or a layer or category
column). A row is rejected with its number, field and reason; a project with a rejected row is left
out whole, so no project is written with part of its features. Without ``skip_invalid`` any rejection
stops the import; with ``dry_run`` nothing is written. The write is one ``store.write`` transaction.
Columns a file lacks are kept from the registry for projects it has already (an XLSX of statuses
updates statuses), and projects given without features keep their stored features.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import model, validate
from ..crs import parse_epsg
from ..errors import ValidationError
from ..i18n import gettext
from ..store import Author, Batch, Store
from . import fields
from .progress import progress_bar
from .rows import failing_rows, map_values, normalise_values, reason
from .shapefile import codec
from .sources import Source, SourceLayer, read_source

_FAMILIES = {0: "Point", 4: "Point", 1: "LineString", 5: "LineString", 3: "Polygon", 6: "Polygon"}
_ROW = ["_source", "_row"]  # where a row came from, for the report


@dataclass
class Rejection:
    """A row left out: where it is (source, row number as a person counts), the field and why."""

    source: str
    row: int
    field: str | None
    reason: str


@dataclass
class ImportReport:
    """What an import read, accepted, rejected and wrote."""

    source: str
    format: str
    mode: str
    dry_run: bool
    rows: int = 0
    written: bool = False
    projects_new: int = 0
    projects_updated: int = 0
    features: dict[str, int] = field(default_factory=dict)  # layer → features accepted from the file
    rejected: list[Rejection] = field(default_factory=list)
    skipped: int = 0  # other rows of projects left out because one of their rows was rejected
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self, limit: int | None = None) -> list[str]:
        """The report for people: counts, then each rejected row (the first ``limit`` of them)."""
        per_layer = ", ".join(f"{k} {v}" for k, v in self.features.items())
        out = [gettext("%(source)s (%(format)s, mode %(mode)s): %(rows)s rows read", source=self.source,
                       format=self.format, mode=self.mode, rows=self.rows),
               gettext("accepted: %(projects)s projects (%(new)s new, %(updated)s updated), %(features)s features",
                       projects=self.projects_new + self.projects_updated, new=self.projects_new,
                       updated=self.projects_updated, features=sum(self.features.values()))
               + (f" ({per_layer})" if per_layer else "")]
        if self.rejected:
            out.append(gettext("rejected: %(rows)s rows", rows=len(self.rejected)))
            shown = self.rejected if limit is None else self.rejected[:limit]
            out.extend("  " + gettext("%(source)s row %(row)s: %(field)s: %(reason)s", source=r.source, row=r.row,
                                      field=r.field or "-", reason=r.reason) for r in shown)
            if len(shown) < len(self.rejected):
                out.append("  " + gettext("... and %(count)s more", count=len(self.rejected) - len(shown)))
        if self.skipped:
            out.append(gettext("skipped: %(rows)s other rows of the rejected projects", rows=self.skipped))
        out.extend(gettext("note: %(note)s", note=note) for note in self.notes)
        if self.dry_run:
            out.append(gettext("dry run: nothing written"))
        elif self.written:
            out.append(gettext("written in one transaction (%(seconds)s s)", seconds=f"{self.seconds:.1f}"))
        return out


class RowsRejected(ValidationError):
    """Rows were rejected and the import was all-or-nothing: nothing was written; ``report`` lists them."""

    def __init__(self, report: ImportReport) -> None:
        first = report.rejected[0]
        super().__init__(gettext("%(count)s rows rejected (first: %(source)s row %(row)s: %(reason)s); nothing "
                                 "written; fix them or use --skip-invalid", count=len(report.rejected),
                                 source=first.source, row=first.row, reason=first.reason), param=first.field)
        self.report = report


@dataclass
class _Rows:
    """The input as the registry sees it: feature rows, project rows, and rows already rejected."""

    features: gpd.GeoDataFrame  # _source, _row, layer, project_id, feature_name, project columns, geometry
    tables: pd.DataFrame  # rows of projects tables and sheets: _source, _row, project columns
    projects: pd.DataFrame | None = None  # one row per project: from the tables, else its first feature row
    rejected: list[Rejection] = field(default_factory=list)
    bad_projects: set[str] = field(default_factory=set)

    def skipped(self) -> int:
        """Rows not rejected themselves but left out with their project."""
        rejected = {(r.source, r.row) for r in self.rejected}
        count = 0
        for frame in (self.features, self.tables):
            mine = frame[frame["project_id"].isin(self.bad_projects)]
            count += sum((s, int(r)) not in rejected for s, r in zip(mine["_source"], mine["_row"]))
        return count

    def reject(self, frame: pd.DataFrame, column: str | None, why: str | list[str]) -> None:
        """Reject every row of ``frame`` (and so its project) for ``why`` (one reason, or one per row)."""
        reasons = [why] * len(frame) if isinstance(why, str) else why
        for source, row, text in zip(frame["_source"], frame["_row"], reasons):
            self.rejected.append(Rejection(source, int(row), column, text))
        if "project_id" in frame:
            self.bad_projects.update(p for p in frame["project_id"] if isinstance(p, str))


def _layer_for(source_layer: SourceLayer) -> str | None:
    """The registry layer a source layer is named after (``rivers``, ``城市河道``...), if any."""
    key = fields.normalise(source_layer.name)
    return next((spec.name for spec in model.LAYERS if key in (spec.name, fields.normalise(spec.title_zh))), None)


def _targets(frame: pd.DataFrame, geoms: np.ndarray, source_layer: SourceLayer, forced: str | None) -> pd.Series:
    """The registry layer of each feature row: --layer, the source layer's name, a layer or category column."""
    named = forced or _layer_for(source_layer)
    if named is not None:
        return pd.Series(named, index=frame.index, dtype=object)
    if "layer" in frame:
        return frame["layer"]
    if "category" in frame:
        points = np.isin(shapely.get_type_id(geoms), (0, 4))
        return frame["category"].where(~(points & (frame["category"] == "polders").to_numpy()), "sluices")
    raise ValidationError(gettext("%(source)s: cannot tell which registry layer its features belong to; name it after "
                                  "one (e.g. rivers), add a layer or category column, or give --layer",
                                  source=source_layer.label), param="layer")


def _clean_id(value: object) -> str | None:
    text = str(value).strip()
    return text or None


def _prepare(source: Source, stored: pd.DataFrame, forced: str | None, report: ImportReport) -> _Rows:
    """Rename, normalise and gather the rows; complete known projects' missing columns from the registry."""
    layers = source.layers
    if forced and any(sl.name == forced for sl in layers):
        layers = [sl for sl in layers if sl.name == forced]
    resolved = [fields.resolve_columns([str(c) for c in sl.frame.columns], source.mapping) for sl in layers]
    # A table of projects beside the features (a registry's own file): then a feature's name is its own. A
    # table without project_id (a readme.csv beside a shapefile) is not one.
    has_table = any(sl.geoms is None and "project_id" in renamed.values() for sl, renamed in zip(layers, resolved))
    feature_frames, table_frames = [], []
    for sl, renamed in zip(layers, resolved):
        named = _layer_for(sl)
        if sl.geoms is not None and not forced and named and model.LAYER_BY_NAME[named].kind != "project":
            report.notes.append(gettext("%(source)s: a reference layer, not imported", source=sl.label))
            continue
        frame = sl.frame.rename(columns=str)[list(renamed)].rename(columns=renamed).drop(columns="fid", errors="ignore")
        if "project_id" not in frame:
            if sl.geoms is None:
                report.notes.append(gettext("%(source)s: no project_id column, not imported", source=sl.label))
                continue
            raise ValidationError(gettext("%(source)s: no project_id column (nor %(header)s); map one with --mapping",
                                          source=sl.label, header=gettext("project_id")), param="project_id")
        ignored = [str(c) for c in sl.frame.columns if str(c) not in renamed]
        if ignored:
            report.notes.append(gettext("%(source)s: ignored column(s) %(columns)s", source=sl.label,
                                        columns=", ".join(ignored)))
        if sl.geoms is not None and has_table and "feature_name" not in frame and "name" in frame:
            frame = frame.rename(columns={"name": "feature_name"})  # a registry's own layers: name is the feature's
        frame = normalise_values(frame).reset_index(drop=True)
        frame["project_id"] = map_values(frame["project_id"], _clean_id)
        for column in model.PROJECT_COLUMNS:
            if column not in frame:  # kept from the registry for the projects it has
                frame[column] = frame["project_id"].map(stored[column]) if len(stored) else None
        frame["_source"] = sl.label
        frame["_row"] = np.arange(len(frame)) + sl.first_row
        if sl.geoms is None:
            table_frames.append(frame)
            continue
        frame["layer"] = _targets(frame, sl.geoms, sl, forced).to_numpy()
        feature_frames.append(gpd.GeoDataFrame(frame, geometry=sl.geoms, crs=model.STORAGE_EPSG))
    if not feature_frames and not table_frames:
        raise ValidationError(gettext("%(source)s: no layer or sheet with projects to import", source=source.label),
                              param="file")
    columns = [*_ROW, "layer", "project_id", "feature_name", *model.PROJECT_COLUMNS[1:]]
    features = (pd.concat(feature_frames, ignore_index=True) if feature_frames
                else gpd.GeoDataFrame(columns=[*columns, "geometry"], geometry="geometry", crs=model.STORAGE_EPSG))
    if "feature_name" not in features:
        features["feature_name"] = None
    tables = (pd.concat(table_frames, ignore_index=True) if table_frames
              else pd.DataFrame(columns=[*_ROW, *model.PROJECT_COLUMNS]))
    return _Rows(features, tables[[*_ROW, *model.PROJECT_COLUMNS]])


def _check_families(features: gpd.GeoDataFrame) -> None:
    """Refuse a registry layer fed with points and lines (or polygons) at once: the file mixes types."""
    families = pd.DataFrame({"layer": features["layer"].to_numpy(),
                             "family": pd.Series(shapely.get_type_id(features.geometry.values)).map(_FAMILIES)})
    for layer, found in families.dropna().drop_duplicates().groupby("layer")["family"]:
        if len(found) > 1:
            want = model.LAYER_BY_NAME[layer].geometry_type if layer in model.LAYER_BY_NAME else "-"
            raise ValidationError(gettext("features for layer %(layer)s mix %(types)s geometries; a registry layer "
                                          "holds one geometry type (%(want)s)", layer=layer,
                                          types=", ".join(sorted(found)), want=want), param="geometry")


def _same(a: object, b: object) -> bool:
    """Equal, counting two missing values as equal."""
    if pd.isna(a) or pd.isna(b):
        return bool(pd.isna(a) and pd.isna(b))
    return bool(a == b)


def _row_checks(rows: _Rows, stored: pd.DataFrame, mode: str) -> None:
    """The rules across rows: a project id, a known project layer, no duplicate or conflicting projects."""
    features, tables = rows.features, rows.tables
    for frame in (features, tables):
        rows.reject(frame[frame["project_id"].isna()], "project_id", gettext("project_id is empty"))
    project_layers = {spec.name for spec in model.PROJECT_LAYERS}
    unknown = features[features["project_id"].notna() & ~features["layer"].isin(project_layers)]
    rows.reject(unknown, "layer", [gettext("unknown layer %(layer)s; valid: %(layers)s", layer=repr(v),
                                           layers=", ".join(sorted(project_layers))) for v in unknown["layer"]])
    tables = tables[tables["project_id"].notna()]
    duplicated = tables[tables["project_id"].duplicated(keep=False)]
    first = duplicated.groupby("project_id")["_row"].transform("min")
    rows.reject(duplicated, "project_id", [gettext("duplicate project_id %(id)s (first on row %(row)s)", id=p, row=f)
                                           if f != r else gettext("duplicate project_id %(id)s", id=p)
                                           for p, f, r in zip(duplicated["project_id"], first, duplicated["_row"])])
    derived = features[features["project_id"].notna() & ~features["project_id"].isin(tables["project_id"])]
    distinct = derived.drop_duplicates(subset=list(model.PROJECT_COLUMNS))
    for pid in distinct["project_id"][distinct["project_id"].duplicated()].unique():
        group = derived[derived["project_id"] == pid]
        head = group.iloc[0]
        for at in range(1, len(group)):
            row = group.iloc[at]
            differ = next((c for c in model.PROJECT_COLUMNS if not _same(row[c], head[c])), None)
            if differ:
                rows.reject(group.iloc[[at]], differ, gettext(
                    "project %(id)s: %(field)s is %(value)s here but %(other)s on row %(row)s", id=pid, field=differ,
                    value=repr(row[differ]), other=repr(head[differ]), row=head["_row"]))
    projects = pd.concat([tables.drop_duplicates("project_id"),
                          derived.drop_duplicates("project_id")[tables.columns]], ignore_index=True)
    if mode == "insert":
        clash = projects[projects["project_id"].isin(stored.index)]
        rows.reject(clash, "project_id", [gettext("project %(id)s exists already (mode insert); use --mode upsert to "
                                                  "replace it", id=p) for p in clash["project_id"]])
    rows.projects = projects


def _diagnose(rows: _Rows) -> None:
    """Run validate's project and feature checks and reject exactly the rows they refuse."""
    projects = rows.projects[~rows.projects["project_id"].isin(rows.bad_projects)].reset_index(drop=True)
    attributes = projects[list(model.PROJECT_COLUMNS)]
    for at, error in failing_rows(len(projects), lambda idx: validate.check_projects(attributes.iloc[idx])):
        rows.reject(projects.iloc[[at]], error.param, reason(error))
    categories = dict(zip(projects["project_id"], projects["category"]))
    features = rows.features[~rows.features["project_id"].isin(rows.bad_projects)
                             & rows.features["project_id"].isin(categories)]
    for layer, group in _by_layer(features):
        frame = _batch_frame(group)

        def check(idx: np.ndarray, layer: str = layer, frame: gpd.GeoDataFrame = frame) -> None:
            validate.check_features(layer, frame.iloc[idx], categories)

        for at, error in failing_rows(len(frame), check):
            rows.reject(group.iloc[[at]], error.param, reason(error))


def _by_layer(features: gpd.GeoDataFrame) -> pd.api.typing.DataFrameGroupBy:
    """The feature rows of each registry layer, with only the columns a batch and a report need."""
    return features[[*_ROW, "layer", "project_id", "feature_name", "geometry"]].groupby("layer", sort=False)


def _batch_frame(group: pd.DataFrame) -> gpd.GeoDataFrame:
    """Feature rows as the store takes them: project_id, name (the feature's) and geometry."""
    return gpd.GeoDataFrame({"project_id": group["project_id"].to_numpy(), "name": group["feature_name"].to_numpy()},
                            geometry=group.geometry.values, crs=model.STORAGE_EPSG)


def _batch(rows: _Rows, store: Store, stored: pd.DataFrame) -> tuple[Batch, dict[str, int]]:
    """The projects and features to write (stored features kept for projects given without features)."""
    projects = rows.projects[~rows.projects["project_id"].isin(rows.bad_projects)]
    features = rows.features[rows.features["project_id"].isin(projects["project_id"])]
    batch = {str(layer): _batch_frame(group) for layer, group in _by_layer(features)}
    counts = {spec.name: len(batch[spec.name]) for spec in model.PROJECT_LAYERS if spec.name in batch}
    keep = projects["project_id"][~projects["project_id"].isin(features["project_id"])
                                  & projects["project_id"].isin(stored.index)].tolist()
    if keep:
        for spec in model.PROJECT_LAYERS:
            kept = store.features(spec.name, project_ids=keep)
            if len(kept):
                ours = batch.get(spec.name)
                kept = kept.reset_index(drop=True)[["project_id", "name", "geometry"]]
                batch[spec.name] = kept if ours is None else pd.concat([ours, kept], ignore_index=True)
    return Batch(projects[list(model.PROJECT_COLUMNS)].reset_index(drop=True), batch), counts


def _mapping(mapping: str | os.PathLike[str] | Mapping[str, str | None] | None) -> dict[str, str | None] | None:
    if mapping is None:
        return None
    if isinstance(mapping, Mapping):
        return fields.check_mapping(dict(mapping))
    return fields.load_mapping(mapping)


def import_file(store: Store, path: str | os.PathLike[str], *, layer: str | None = None, crs: str | int | None = None,
                encoding: str | None = None, mapping: str | os.PathLike[str] | Mapping[str, str | None] | None = None,
                mode: str | None = None, skip_invalid: bool = False, dry_run: bool = False,
                progress: bool | None = None, author: Author | None = None) -> ImportReport:
    """Import ``path`` into ``store`` and report; raise RowsRejected (nothing written) if rows fail.

    ``layer`` names the registry layer of the features (when the file does not), ``crs`` the CRS of
    its coordinates (when it declares none or one GDAL does not know), ``encoding`` a Shapefile's or
    CSV's text encoding, ``mapping`` source field → column (a JSON file or a dict). ``mode`` is insert
    (the default for files with features) or upsert (the default for attribute tables such as XLSX).
    ``author`` is who the change log names (default: the registry itself), and a correction's reason.
    """
    started = time.perf_counter()
    if layer is not None and (layer not in model.LAYER_BY_NAME or model.LAYER_BY_NAME[layer].kind != "project"):
        raise ValidationError(gettext("--layer must be a project layer: %(layers)s; got %(value)s",
                                      layers=", ".join(x.name for x in model.PROJECT_LAYERS), value=repr(layer)),
                              param="layer")
    if mode is not None:
        validate.check_mode(mode)
    epsg = parse_epsg(crs, "crs") if crs not in (None, "") else None
    if encoding:
        codec(encoding)
    with tempfile.TemporaryDirectory(prefix="registry-import-") as tmp:
        source = read_source(Path(path), Path(tmp), epsg=epsg, encoding=encoding, mapping=_mapping(mapping))
    total = sum(len(sl.frame) for sl in source.layers)
    with progress_bar(total, gettext("import: checking"), progress) as bar:
        stored = store.projects().set_index("project_id", drop=False)
        report = ImportReport(source.label, source.format, mode or "insert", dry_run, rows=total, notes=source.notes)
        rows = _prepare(source, stored, layer, report)
        if mode is None:
            report.mode = mode = "insert" if len(rows.features) else "upsert"
        _check_families(rows.features)
        _row_checks(rows, stored, mode)
        written = False
        if not dry_run and not rows.rejected:
            batch, counts = _batch(rows, store, stored)
            bar.set_description(gettext("import: writing"))
            try:
                store.write(batch, mode=mode, author=author)
                written = True
            except ValidationError:
                pass  # find every failing row below
        if not written:
            _diagnose(rows)
            batch, counts = _batch(rows, store, stored)
        ids = batch.projects["project_id"]
        report.projects_updated = int(ids.isin(stored.index).sum())
        report.projects_new = len(ids) - report.projects_updated
        report.features = counts
        report.rejected = sorted(rows.rejected, key=lambda r: (r.source, r.row))
        report.skipped = rows.skipped()
        if report.rejected and not skip_invalid:
            raise RowsRejected(report)
        if not written and not dry_run and len(batch.projects):
            bar.set_description(gettext("import: writing"))
            store.write(batch, mode=mode, author=author)
            written = True
        report.written = written
        bar.update(total)
    report.seconds = time.perf_counter() - started
    return report
