"""Export a query result for desktop GIS and spreadsheets: GeoJSON, Shapefile, GeoPackage, FlatGeobuf, CSV, XLSX.

Every feature format carries the same columns (``fields.EXPORT_COLUMNS``: layer, fid, project_id,
feature_name, the project's attributes and ``investment_share_yuan``) with the model's types; coordinates
are x=east, y=north in EPSG:4490 (default), 4326 or 4549, except GeoJSON, which is RFC 7946
longitude/latitude. Each feature carries its project's whole ``investment_yuan`` and its own part of it,
``investment_share_yuan`` (``apportion.investment_shares``, as the API's items carry it): summed in a
desktop GIS, the share gives true totals. Files are written by GDAL (pyogrio, from Arrow tables) or
pyarrow into a temporary folder, then moved into place or copied to a stream, so a failed export leaves
no partial file. CSV is written as every CSV for people is (``csvfile``: UTF-8 with a BOM, text a
spreadsheet would run as a formula with a ``'`` in front); XLSX cells likewise; an import takes the
``'`` off again.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import pyproj
import shapely

from .. import model, script
from ..apportion import investment_shares
from ..crs import parse_epsg
from ..errors import ValidationError
from ..i18n import gettext
from ..output import LABEL_SUFFIX, LABELLED, feature_collection, with_labels
from ..query import QueryResult
from ..store import Reader
from ..text import to_script_all
from . import csvfile, fields
from .archive import write_zip
from .progress import progress_bar
from .rows import neutralise_column
from .shapefile import GDAL_ENCODINGS, codec, fit_text
from .styles import STYLE_ATTRIBUTES, layer_qml, write_layer_styles

FORMATS = ("geojson", "shapefile", "gpkg", "flatgeobuf", "csv", "xlsx")
EXPORT_EPSGS = (4490, 4326, 4549)
GEOJSON_EPSG = 4326  # RFC 7946: longitude/latitude on WGS 84 (CGCS2000 differs by centimetres)
SUFFIXES = {".geojson": "geojson", ".json": "geojson", ".zip": "shapefile", ".shp": "shapefile", ".gpkg": "gpkg",
            ".fgb": "flatgeobuf", ".csv": "csv", ".xlsx": "xlsx"}
EXTENSIONS = {"geojson": ".geojson", "shapefile": ".shp.zip", "gpkg": ".gpkg", "flatgeobuf": ".fgb", "csv": ".csv",
              "xlsx": ".xlsx"}
MEDIA_TYPES = {"geojson": "application/geo+json", "shapefile": "application/zip",
               "gpkg": "application/geopackage+sqlite3", "flatgeobuf": "application/flatgeobuf",
               "csv": csvfile.MEDIA_TYPE,
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_ARROW_TYPES = {"text": pa.string(), "integer": pa.int64(), "real": pa.float64(), "bool": pa.bool_(),
                "date": pa.date32()}
WKT_DECIMALS = (9, 4)  # for degrees, for metres: CSV coordinates to better than 1 mm

ExportSource = QueryResult | tuple[pd.DataFrame, gpd.GeoDataFrame]


@dataclass
class ExportReport:
    """What an export wrote: where, in which format and CRS, how many rows, and what had to change."""

    format: str
    filename: str
    media_type: str
    path: str | None  # None when written to a stream
    projects: int
    features: int
    layers: dict[str, int]
    crs: str | None
    encoding: str
    truncated: dict[str, int] = field(default_factory=dict)  # field → values cut to 254 bytes (Shapefile)
    replaced: dict[str, int] = field(default_factory=dict)  # field → values with characters the encoding lacks
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for people: what was written and anything cut or replaced on the way."""
        what = (gettext("%(projects)s projects", projects=self.projects) if self.format == "xlsx"
                else gettext("%(features)s features in %(layers)s layers, %(projects)s projects",
                             features=self.features, layers=len(self.layers), projects=self.projects))
        line = gettext("wrote %(file)s: %(format)s, %(what)s", file=self.path or self.filename, format=self.format,
                       what=what)
        if self.crs:
            line += f", {self.crs}"
        if self.format == "shapefile":
            line += f", {self.encoding}"
        if self.truncated:
            cut = ", ".join(f"{k} ({v})" for k, v in self.truncated.items())
            line += "; " + gettext("%(count)s values cut to 254 bytes: %(fields)s", count=sum(self.truncated.values()),
                                   fields=cut)
        if self.replaced:
            swapped = ", ".join(f"{k} ({v})" for k, v in self.replaced.items())
            line += "; " + gettext("%(count)s values had characters %(encoding)s lacks, now '?': %(fields)s",
                                   count=sum(self.replaced.values()), encoding=self.encoding, fields=swapped)
        return line


@dataclass
class _Job:
    """An export in progress: the data, the options, the bar, and what the writer reports back."""

    projects: pd.DataFrame
    features: gpd.GeoDataFrame  # in the target CRS
    epsg: int
    encoding: str
    style_by: str
    tick: Callable[[int], object]
    truncated: Counter = field(default_factory=Counter)
    replaced: Counter = field(default_factory=Counter)

    def layers(self) -> list[tuple[str, np.ndarray]]:
        """(layer, row positions) for each layer with features, in the model's layer order."""
        names = self.features["layer"].to_numpy()
        present = set(names)
        return [(spec.name, np.flatnonzero(names == spec.name)) for spec in model.LAYERS if spec.name in present]


def format_for(target: str | Path, fmt: str | None = None) -> str:
    """The export format: ``fmt`` if given, else from the file name (``.shp``, ``.shp.zip``, ``.zip``: Shapefile)."""
    if fmt:
        if fmt not in FORMATS:
            raise ValidationError(gettext("unknown export format %(value)s; valid: %(formats)s", value=repr(fmt),
                                          formats=", ".join(FORMATS)), param="format")
        return fmt
    name = Path(target).name.lower()
    if name.endswith(".fgb.zip"):
        return "flatgeobuf"
    found = SUFFIXES.get(Path(name).suffix)
    if found is None:
        raise ValidationError(gettext("cannot tell the format of %(file)s from its suffix; give --format (%(formats)s)",
                                      file=repr(Path(target).name), formats=", ".join(FORMATS)), param="format")
    return found


def _frames(source: ExportSource, store: Reader | None, fmt: str) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Projects, and features carrying their project's attributes and investment shares (added when missing;
    an XLSX holds projects only)."""
    projects, features = (source.projects, source.features) if isinstance(source, QueryResult) else source
    if fmt == "xlsx":
        return projects, features
    missing = [c for c in model.PROJECT_COLUMNS if c not in features.columns]
    if missing:
        features = features.merge(projects[["project_id", *missing]], on="project_id", how="left")
    if "investment_share_yuan" not in features.columns:
        features = features.assign(investment_share_yuan=_investment_shares(features, projects, store))
    return projects, with_labels(features, model.PROJECT_COLUMNS)[0]  # codes' names, in the current script


def _investment_shares(features: gpd.GeoDataFrame, projects: pd.DataFrame, store: Reader | None) -> np.ndarray:
    """Each feature's ``investment_share_yuan``: its part of its whole project's investment, as the API's items
    carry it. The split is over all the project's features in its layer, read from ``store``; without a store,
    the features given are taken to be whole projects."""
    shares = np.zeros(len(features))
    codes, layers = pd.factorize(features["layer"])
    pids = features["project_id"].to_numpy()
    for code, layer in enumerate(layers):
        rows = np.flatnonzero(codes == code)
        if store is None:
            shares[rows] = investment_shares(pids[rows], features.geometry.values[rows], projects, layer)
            continue
        whole = store.features(layer, project_ids=pd.unique(pids[rows]))
        by_fid = pd.Series(investment_shares(whole["project_id"].to_numpy(), whole.geometry.values, projects, layer),
                           index=whole.index)
        shares[rows] = by_fid.reindex(features["fid"].to_numpy()[rows]).to_numpy()
    return shares


def _arrow(values: pd.Series, kind: str) -> pa.Array:
    """A column as an Arrow array of the model's type (ISO date text becomes date32)."""
    if kind == "date":
        return pa.array(values, type=pa.string(), from_pandas=True).cast(pa.date32())
    return pa.array(values, type=_ARROW_TYPES[kind], from_pandas=True)


def _table(frame: pd.DataFrame, columns: list[str], names: dict[str, str] | None = None,
           geoms: np.ndarray | None = None) -> pa.Table:
    """An Arrow table of ``columns`` (renamed by ``names``), with WKB ``geometry`` when ``geoms`` is given."""
    arrays = {(names or {}).get(c, c): _arrow(frame[c], fields.FIELD_BY_NAME[c].kind) for c in columns}
    if geoms is not None:
        arrays["geometry"] = pa.array(shapely.to_wkb(geoms, output_dimension=2), pa.binary())
    return pa.table(arrays)


def _write_layer(table: pa.Table, path: Path, layer: str, driver: str, epsg: int, **options) -> None:
    pyogrio.write_arrow(table, path, layer=layer, driver=driver, geometry_name="geometry",
                        geometry_type=model.LAYER_BY_NAME[layer].geometry_type, crs=f"EPSG:{epsg}", **options)


def _need_features(job: _Job, fmt: str) -> None:
    if not len(job.features):
        raise ValidationError(gettext("the query matched no features: a %(format)s export would hold no layer",
                                      format=fmt), param="format")


def _geojson(job: _Job, path: Path) -> Path:
    with open(path, "wb") as sink:
        for chunk in feature_collection(job.features, list(fields.EXPORT_COLUMNS)):
            sink.write(chunk)
            job.tick(chunk.count(b'{"type":"Feature"'))
    return path


def _shapefile(job: _Job, path: Path) -> Path:
    _need_features(job, "Shapefile")
    folder = path.parent / "shapefile"
    folder.mkdir()
    names = fields.dbf_names()
    files: list[Path] = []
    for layer, rows in job.layers():
        part = job.features.iloc[rows]
        schema, arrays = [], []
        for column in fields.EXPORT_COLUMNS:
            kind = fields.FIELD_BY_NAME[column].kind
            array = _arrow(part[column], kind)
            metadata = None
            if kind == "text":
                fitted = fit_text(array, job.encoding)
                array, metadata = fitted.values, {"GDAL:OGR:width": str(fitted.width)}
                job.truncated[column] += fitted.truncated
                job.replaced[column] += fitted.replaced
            schema.append(pa.field(names[column], array.type, metadata=metadata))
            arrays.append(array)
        schema.append(pa.field("geometry", pa.binary()))
        arrays.append(pa.array(shapely.to_wkb(part.geometry.values, output_dimension=2), pa.binary()))
        _write_layer(pa.Table.from_arrays(arrays, schema=pa.schema(schema)), folder / f"{layer}.shp", layer,
                     "ESRI Shapefile", job.epsg, encoding=GDAL_ENCODINGS[job.encoding])
        files.extend(sorted(folder.glob(f"{layer}.*")))
        job.tick(len(rows))
    write_zip(path, files, {fields.MAPPING_FILE: fields.dbf_mapping_json().encode()})
    return path


def _gpkg(job: _Job, path: Path) -> Path:
    styles = {}
    for layer, rows in job.layers():
        part = job.features.iloc[rows]
        spec = model.LAYER_BY_NAME[layer]
        table = _table(part, list(fields.EXPORT_COLUMNS), geoms=part.geometry.values)
        _write_layer(table, path, layer, "GPKG", job.epsg, dataset_options={"VERSION": "1.2"},
                     layer_options={"FID": "fid", "DESCRIPTION": spec.title_zh})
        styles[layer] = layer_qml(layer, job.style_by, part[job.style_by].dropna().unique())
        job.tick(len(rows))
    pyogrio.write_arrow(_table(job.projects, list(model.PROJECT_COLUMNS)), path, layer="projects", driver="GPKG",
                        dataset_options={"VERSION": "1.2"}, layer_options={"DESCRIPTION": "專案"})
    write_layer_styles(path, styles)
    return path


def _flatgeobuf(job: _Job, path: Path) -> Path:
    _need_features(job, "FlatGeobuf")
    folder = path.parent / "flatgeobuf"
    folder.mkdir()
    files = []
    for layer, rows in job.layers():
        part = job.features.iloc[rows]
        table = _table(part, list(fields.EXPORT_COLUMNS), geoms=part.geometry.values)
        files.append(folder / f"{layer}.fgb")
        _write_layer(table, files[-1], layer, "FlatGeobuf", job.epsg)
        job.tick(len(rows))
    if len(files) == 1:
        return files[0]
    zipped = path.with_name(path.name + ".zip")
    write_zip(zipped, files)
    return zipped


def _csv(job: _Job, path: Path) -> Path:
    decimals = WKT_DECIMALS[0 if pyproj.CRS.from_epsg(job.epsg).is_geographic else 1]
    arrays = {"WKT": pa.array(shapely.to_wkt(job.features.geometry.values, rounding_precision=decimals), pa.string())}
    for column in fields.EXPORT_COLUMNS:
        kind = fields.FIELD_BY_NAME[column].kind
        arrays[column] = _arrow(job.features[column], "text" if kind == "date" else kind)
    with open(path, "wb") as sink:
        csvfile.write_csv(sink, pa.table(arrays))
    job.tick(len(job.features))
    return path


def _xlsx(job: _Job, path: Path) -> Path:
    """The projects for people, in the current script: headers from the catalog, coded values by their names,
    data text as the reader's script writes it (an import reads all of these back)."""
    chosen = script.current()
    labelled, _ = with_labels(job.projects, model.PROJECT_COLUMNS, chosen)
    people = job.projects.assign(**{field: labelled[field + LABEL_SUFFIX] for field in LABELLED})
    for column in ("name", "delay_reason", "tasks", "notes"):
        given = people[column].notna().to_numpy()
        if given.any():
            converted = people[column].to_numpy(dtype=object, copy=True)
            converted[given] = to_script_all([str(v) for v in converted[given]], chosen)
            people[column] = converted
    names = {f.name: gettext(f.name) for f in model.PROJECT_FIELDS}
    table = _table(people, list(model.PROJECT_COLUMNS), names)
    table = pa.table([neutralise_column(column) for column in table.columns], names=table.column_names)
    pyogrio.write_arrow(table, path, layer=gettext("Projects"), driver="XLSX")  # the sheet: 项目 or 專案
    job.tick(len(job.projects))
    return path


_WRITERS: dict[str, Callable[[_Job, Path], Path]] = {
    "geojson": _geojson, "shapefile": _shapefile, "gpkg": _gpkg, "flatgeobuf": _flatgeobuf, "csv": _csv,
    "xlsx": _xlsx,
}


def _options(fmt: str, crs: int | str | None, encoding: str | None, style_by: str) -> tuple[int, str]:
    """The target EPSG code and codec, checked against what the format allows."""
    epsg = parse_epsg(crs, "crs")
    if epsg not in EXPORT_EPSGS:
        raise ValidationError(gettext("exports are written in EPSG:4490, EPSG:4326 or EPSG:4549, not EPSG:%(epsg)s",
                                      epsg=epsg), param="crs")
    chosen = codec(encoding or "utf-8")
    if chosen not in GDAL_ENCODINGS:
        raise ValidationError(gettext("a Shapefile's encoding is utf-8 or gbk, not %(value)s", value=repr(encoding)),
                              param="encoding")
    if chosen != "utf-8" and fmt != "shapefile":
        raise ValidationError(gettext("--encoding applies to Shapefile exports only (%(format)s is always UTF-8)",
                                      format=fmt), param="encoding")
    if style_by not in STYLE_ATTRIBUTES:
        raise ValidationError(gettext("style_by must be one of %(values)s, got %(value)s",
                                      values=", ".join(STYLE_ATTRIBUTES), value=repr(style_by)), param="style_by")
    return epsg, chosen


def export(source: ExportSource, target: str | Path | BinaryIO, fmt: str | None = None, *,
           crs: int | str | None = model.STORAGE_EPSG, encoding: str | None = "utf-8", style_by: str = "category",
           progress: bool | None = None, store: Reader | None = None) -> ExportReport:
    """Write ``source`` (a QueryResult, or projects and features frames) to a path or binary stream.

    ``fmt`` defaults to the path's suffix; ``crs`` is 4490, 4326 or 4549 (GeoJSON is always
    longitude/latitude); ``encoding`` (utf-8 or gbk) is the Shapefile's; ``style_by`` (category or
    status) classifies the GeoPackage's QGIS styles. A zip (a Shapefile, a FlatGeobuf of several layers)
    is written with ``.zip`` added to a path not ending in it. ``progress``: None shows a bar when
    stderr is a terminal. ``store`` (the one the source was read from) gives each feature its share of
    its whole project's investment when the source holds only some of a project's features (a spatial
    query); features that carry ``investment_share_yuan`` already keep it.
    """
    started = time.perf_counter()
    to_path = isinstance(target, str | Path)
    if fmt is None and not to_path:
        raise ValidationError(gettext("give the format of an export to a stream"), param="format")
    fmt = format_for(target if to_path else "", fmt)
    epsg, chosen = _options(fmt, crs, encoding, style_by)
    projects, features = _frames(source, store, fmt)
    file_epsg = GEOJSON_EPSG if fmt == "geojson" else epsg
    if file_epsg != model.STORAGE_EPSG and fmt != "xlsx":
        features = features.to_crs(file_epsg)
    total = len(projects) if fmt == "xlsx" else len(features)
    folder = Path(target).parent if to_path else None
    with progress_bar(total, gettext("export %(format)s", format=fmt), progress) as bar, \
            tempfile.TemporaryDirectory(prefix=".registry-export-", dir=folder) as tmp:
        job = _Job(projects, features, epsg, chosen, style_by, bar.update)
        written = _WRITERS[fmt](job, Path(tmp) / f"export{EXTENSIONS[fmt]}")
        filename = Path(target).name if to_path else f"registry{EXTENSIONS[fmt]}"
        if written.suffix == ".zip" and not filename.endswith(".zip"):
            filename += ".zip"  # a Shapefile named .shp, or FlatGeobuf of several layers
        if to_path:
            path = str(Path(target).with_name(filename))
            shutil.move(written, path)
        else:
            path = None
            with open(written, "rb") as data:
                shutil.copyfileobj(data, target)
    layers = {} if fmt == "xlsx" else {name: len(rows) for name, rows in job.layers()}
    return ExportReport(
        format=fmt, filename=filename,
        media_type="application/zip" if filename.endswith(".zip") else MEDIA_TYPES[fmt], path=path,
        projects=len(projects), features=0 if fmt == "xlsx" else len(features), layers=layers,
        crs=None if fmt == "xlsx" else ("OGC:CRS84" if fmt == "geojson" else f"EPSG:{epsg}"), encoding=chosen,
        truncated={k: v for k, v in job.truncated.items() if v}, replaced={k: v for k, v in job.replaced.items() if v},
        seconds=time.perf_counter() - started)


def export_bytes(source: ExportSource, fmt: str, **options) -> tuple[bytes, ExportReport]:
    """The exported file's bytes and its report (for HTTP responses); options as for ``export``."""
    buffer = io.BytesIO()
    report = export(source, buffer, fmt, **options)
    return buffer.getvalue(), report
