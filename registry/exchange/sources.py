"""Reading an import's input into tables: Shapefiles (folder, .shp, .zip), GeoJSON, GeoPackage, FlatGeobuf, CSV, XLSX.

Each layer, table or sheet becomes a ``SourceLayer``: its rows as read, and its geometries already in
EPSG:4490. Whatever makes the file unusable as a whole (an unsafe zip, a shapefile without its .dbf,
an unknown encoding or CRS, an empty file) is one ValidationError, raised before anything is written.
So is geometry that nests so deeply that GEOS, which reads WKB and WKT recursively, would overflow its
stack on it (a crash, not an error): such a file is refused before GEOS sees it.
"""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import pyproj
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from .. import limits, model
from ..errors import ValidationError
from ..i18n import gettext
from . import fields
from .archive import extract_zip
from .rows import restore_cells
from .shapefile import check_parts, codec, shapefile_encoding, shapefile_parts

READABLE = {".shp": "shapefile", ".fgb": "flatgeobuf", ".geojson": "geojson", ".json": "geojson",
            ".gpkg": "gpkg", ".csv": "csv", ".xlsx": "xlsx"}
_WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "shape", "幾何")
_LONLAT_NAMES = (("lon", "lat"), ("lng", "lat"), ("longitude", "latitude"), ("x", "y"), ("經度", "緯度"))
_TEXT_CODECS = ("utf-8-sig", "gbk", "gb18030")
_WKB = (b"geoarrow.wkb", b"ogc.wkb")  # how GDAL marks the geometry column of an Arrow table
SPLIT_ROWS = 25_000  # a Shapefile is read in parallel parts of at least this many rows
# GEOS overflows an 8 MB stack on about 10,000 nested collections; each takes at least 9 bytes of WKB and
# 20 characters of WKT, so geometry shorter than this cannot nest even 1,000 deep and is not measured.
_WKB_SAFE_BYTES = 9_000
_WKT_SAFE_CHARS = 20_000
_WKB_CONTAINERS = {4, 5, 6, 7, 9, 10, 11, 12, 15, 16}  # multi*, collections, compound curves, surfaces
# GDAL's GeoJSON reader stops at a value over 10 MB (it calls it a number)
_GDAL_LONG_VALUE = re.compile(r"At line (\d+), character (\d+): Too many characters")


@dataclass
class SourceLayer:
    """One layer, table or sheet of the input: rows as read, geometries in EPSG:4490 (None for tables)."""

    label: str  # how reports name it: a file name, or file:layer
    name: str  # the bare layer, file stem or sheet name (it may name the registry layer)
    frame: pd.DataFrame
    geoms: np.ndarray | None
    first_row: int  # the number a person gives the first row: 1, or 2 under a header row


@dataclass
class Source:
    """Everything read from the input, and notes for the report (encodings found, layers skipped)."""

    label: str
    format: str
    layers: list[SourceLayer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mapping: dict[str, str | None] | None = None  # source field → column: --mapping, else a fields.json found
    encodings: dict[str, list[str]] = field(default_factory=dict)  # "gbk (from .cpg)" → shapefiles read so

    def encoding_notes(self) -> list[str]:
        """One note per encoding found: which shapefiles were read in it, and how it was known."""
        return [gettext("text of %(file)s read as %(how)s", file=names[0], how=how) if len(names) == 1 else
                gettext("text of %(count)s shapefiles read as %(how)s", count=len(names), how=how)
                for how, names in self.encodings.items()]


def _epsg(crs: str | None, forced: int | None, label: str, declared: bool) -> int:
    """The EPSG code of a layer's coordinates: --crs, else the one its file declares, if PROJ knows it."""
    if forced:
        return forced
    if crs is None:
        raise ValidationError(gettext("%(source)s: its .prj names no known CRS; give --crs (e.g. EPSG:4490)",
                                      source=label) if declared else
                              gettext("%(source)s: it declares no CRS; give --crs (e.g. EPSG:4490)", source=label),
                              param="crs")
    try:
        epsg = pyproj.CRS(crs).to_epsg()
    except pyproj.exceptions.CRSError:
        epsg = None
    if epsg is None:
        raise ValidationError(gettext("%(source)s: its CRS names no known EPSG CRS; give --crs (e.g. EPSG:4490)",
                                      source=label), param="crs")
    return epsg


def _to_storage(geoms: np.ndarray, epsg: int) -> np.ndarray:
    """Geometries (x=east, y=north of ``epsg``) in EPSG:4490."""
    if epsg == model.STORAGE_EPSG:
        return geoms
    return gpd.GeoSeries(geoms, crs=epsg).to_crs(model.STORAGE_EPSG).values


def _read_arrow(path: Path, split: bool, **options) -> tuple[dict, pa.Table]:
    """pyogrio's read_arrow; if ``split``, a large layer is read in row ranges, one per core, at once.

    GDAL releases the GIL while it reads, so a Shapefile (whose DBF GDAL parses slowly, and whose rows
    it can seek to) is read in about 60% of the time on two cores.
    """
    count = pyogrio.read_info(path, **options)["features"] if split else 0
    parts = min(os.cpu_count() or 1, count // SPLIT_ROWS)
    if parts < 2:
        return pyogrio.read_arrow(path, **options)
    size = -(-count // parts)
    with ThreadPoolExecutor(parts) as pool:
        read = list(pool.map(lambda start: pyogrio.read_arrow(path, skip_features=start, max_features=size, **options),
                             range(0, count, size)))
    return read[0][0], pa.concat_tables([table for _, table in read])


def _read(path: Path, label: str, split: bool = False, notes: list[str] | None = None,
          **options) -> tuple[pd.DataFrame, np.ndarray | None, str | None]:
    """A layer's attributes, 2D geometries (None for a table) and declared CRS, read through Arrow.

    The CRS is returned as GDAL gives it, not parsed here, so that a .prj PROJ cannot read is reported
    as such (or overridden by --crs) instead of failing the read. List values (a GeoJSON array, such
    as ``"street_codes": ["LF", "XT"]``) become their items joined by commas, noted in ``notes``.
    """
    try:
        meta, table = _read_arrow(path, split, **options)
        table.validate(full=True)  # GDAL passes on text that is not UTF-8; pandas would fail on it later
    except (DataSourceError, DataLayerError, RuntimeError, ValueError, OSError, pa.ArrowException,
            UnboundLocalError) as exc:  # the last: pyogrio 0.13 reading a .prj that is not UTF-8
        raise _unreadable(path, label, exc) from None
    wkb = next((f.name for f in table.schema if (f.metadata or {}).get(b"ARROW:extension:name") in _WKB), None)
    geoms = None
    if wkb is not None:
        blobs = table.column(wkb).to_numpy(zero_copy_only=False)
        for at in np.flatnonzero(pc.binary_length(table.column(wkb)).to_numpy(zero_copy_only=False) > _WKB_SAFE_BYTES):
            if _wkb_nesting(blobs[at]) > limits.MAX_NESTING:
                raise ValidationError(gettext("%(source)s: the geometry of feature %(number)s nests collections more "
                                              "than %(limit)s levels deep; no registry layer holds such geometry",
                                              source=label, number=at + 1, limit=limits.MAX_NESTING),
                                      param="geometry")
        try:
            geoms = shapely.from_wkb(blobs)
        except shapely.errors.GEOSException as exc:
            raise ValidationError(gettext("%(source)s: a geometry cannot be read (%(reason)s)", source=label,
                                          reason=exc), param="geometry") from None
        if shapely.has_z(geoms).any():
            geoms = shapely.force_2d(geoms)
        table = table.drop_columns([wkb])
    for at, column in enumerate(table.schema):
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            joined = pc.binary_join(pc.cast(table.column(at), pa.list_(pa.string())), ",")
            table = table.set_column(at, column.name, joined)
            if notes is not None:
                notes.append(gettext("%(source)s: lists in %(field)s read as their items joined by commas",
                                     source=label, field=column.name))
    return table.to_pandas(), geoms, meta["crs"]


def _unreadable(path: Path, label: str, exc: Exception) -> ValidationError:
    """The error for a file GDAL cannot read, in GDAL's words unless they are misleading."""
    message = " ".join(str(exc).split())
    if (long := _GDAL_LONG_VALUE.search(message)) is not None:
        return _long_value(path, label, int(long.group(1)), int(long.group(2)))
    return ValidationError(gettext("%(source)s: cannot read it (%(reason)s)", source=label, reason=message),
                           param="file")


def _long_value(path: Path, label: str, line: int, column: int) -> ValidationError:
    """The error for a GeoJSON value GDAL would not read (over 10 MB), naming the property that holds it."""
    with open(path, "rb") as lines:
        text = next((t for n, t in enumerate(lines, 1) if n == line), b"")[:column]
    keys = re.findall(rb'"((?:[^"\\]|\\.){1,200})"\s*:\s*"', text)
    name = keys[-1].decode("utf-8", "replace") if keys else gettext("a property")
    return ValidationError(gettext("%(source)s: the value of %(field)s on line %(line)s is over 10 MB, more than "
                                   "GDAL reads; a text value may hold at most %(long)s characters (tasks, notes, "
                                   "delay_reason) or %(short)s (names and codes)", source=label, field=name, line=line,
                                   long=limits.MAX_TEXT_CHARS, short=limits.MAX_SHORT_TEXT_CHARS), param=name)


def _wkb_nesting(blob: bytes) -> int:
    """How deeply collections nest in a WKB (ISO or EWKB) geometry, read in a loop; past MAX_NESTING, stops."""
    pending = [1]  # geometries still to read at each open level
    at = deepest = 0
    try:
        while pending and len(pending) <= limits.MAX_NESTING + 1:
            if not pending[-1]:
                pending.pop()
                continue
            pending[-1] -= 1
            order = "<" if blob[at] else ">"
            (kind,) = struct.unpack_from(order + "I", blob, at + 1)
            at += 9 if kind & 0x20000000 else 5  # an EWKB SRID follows the type
            base, variant = (kind & 0xFFFF) % 1000, (kind & 0xFFFF) // 1000
            coordinate = 8 * (2 + bool(kind & 0x80000000 or variant in (1, 3)) + bool(kind & 0x40000000
                                                                                      or variant in (2, 3)))
            if base == 1:
                at += coordinate
                continue
            (count,) = struct.unpack_from(order + "I", blob, at)
            at += 4
            if base in (2, 8):  # a line or circular string: its points
                at += count * coordinate
            elif base in (3, 17):  # a polygon or triangle: its rings
                for _ in range(count):
                    at += 4 + struct.unpack_from(order + "I", blob, at)[0] * coordinate
            elif base in _WKB_CONTAINERS:
                pending.append(count)
                deepest = max(deepest, len(pending) - 1)
            else:
                break  # not a geometry type: GEOS refuses it without reading on
    except (struct.error, IndexError):  # cut short: GEOS refuses it too
        pass
    return deepest


def _without_prj(parts: dict[str, Path], workdir: Path) -> Path:
    """The shapefile seen without its .prj (links to its other files), for a .prj GDAL cannot read."""
    folder = Path(tempfile.mkdtemp(dir=workdir))
    for suffix, part in parts.items():
        if suffix != ".prj":
            (folder / part.name).symlink_to(part.resolve())
    return folder / parts[".shp"].name


def _shapefile_layer(path: Path, forced_epsg: int | None, forced_encoding: str | None, source: Source,
                     workdir: Path) -> SourceLayer:
    """A shapefile: its text in the encoding its .cpg names (else detected), its CRS from its .prj or --crs."""
    parts = shapefile_parts(path)
    check_parts({path.stem: parts})
    encoding, how = shapefile_encoding(parts, forced_encoding)
    source.encodings.setdefault(f"{encoding} ({how})", []).append(path.name)
    try:
        frame, geoms, crs = _read(path, path.name, split=True, notes=source.notes, encoding=encoding)
    except ValidationError:
        if ".prj" not in parts:
            raise
        frame, geoms, crs = _read(_without_prj(parts, workdir), path.name, encoding=encoding)
        if not forced_epsg:  # readable without its .prj: the .prj was the trouble
            raise ValidationError(gettext("%(source)s: its .prj names no known CRS; give --crs (e.g. EPSG:4490)",
                                          source=path.name), param="crs") from None
    epsg = _epsg(crs, forced_epsg, path.name, ".prj" in parts)
    return SourceLayer(path.name, path.stem, frame, _to_storage(geoms, epsg), 1)


def _gdal_layers(path: Path, forced_epsg: int | None, source: Source) -> list[SourceLayer]:
    """The layers of a GeoJSON, GeoPackage or FlatGeobuf file (attribute tables only if they hold projects)."""
    try:
        listed = pyogrio.list_layers(path)
    except (DataSourceError, RuntimeError, ValueError) as exc:
        raise _unreadable(path, path.name, exc) from None
    found = []
    for name, geometry_type in listed:
        label = path.name if len(listed) == 1 else f"{path.name}:{name}"
        if geometry_type is None:
            if name == "changes":
                continue  # a registry's change log: its history, not projects to import
            columns = pyogrio.read_info(path, layer=name)["fields"]
            if "project_id" not in fields.resolve_columns(list(columns), source.mapping).values():
                continue  # layer_styles, registry_meta and other tables that hold no projects
            found.append(SourceLayer(label, name, _read(path, label, notes=source.notes, layer=name)[0], None, 1))
            continue
        frame, geoms, crs = _read(path, label, notes=source.notes, layer=name)
        found.append(SourceLayer(label, name, frame, _to_storage(geoms, _epsg(crs, forced_epsg, label, True)), 1))
    return found


def _decode(path: Path, forced: str | None) -> str:
    """A text file's content: in --encoding, else UTF-8 (with or without BOM), else GBK/GB18030."""
    raw = path.read_bytes()
    for name in (codec(forced),) if forced else _TEXT_CODECS:
        try:
            return raw.decode("utf-8-sig" if name == "utf-8" else name)
        except UnicodeDecodeError:
            continue
    raise ValidationError(gettext("%(file)s: neither UTF-8 nor GBK text; give --encoding", file=path.name),
                          param="encoding")


def _csv_layer(path: Path, forced_epsg: int | None, forced_encoding: str | None) -> SourceLayer:
    """A CSV: geometry from a WKT column or lon/lat columns (EPSG:4490 unless --crs), else attributes only."""
    try:
        frame = pd.read_csv(io.StringIO(_decode(path, forced_encoding)), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValidationError(gettext("%(file)s: not a readable CSV (%(reason)s)", file=path.name, reason=exc),
                              param="file") from None
    names = {fields.normalise(c): c for c in frame.columns}
    geoms = None
    wkt = next((names[n] for n in _WKT_NAMES if n in names), None)
    if wkt is not None:
        text = frame.pop(wkt).to_numpy(dtype=object)
        text[text == ""] = None
        for at in np.flatnonzero((pd.Series(text, dtype=object).str.len() > _WKT_SAFE_CHARS).to_numpy()):
            if limits.nesting(text[at]) > limits.MAX_NESTING:
                raise ValidationError(gettext("%(file)s row %(row)s: the geometry in %(field)s nests more than "
                                              "%(limit)s levels deep; no registry layer holds such geometry",
                                              file=path.name, row=at + 2, field=wkt, limit=limits.MAX_NESTING),
                                      param="geometry")
        geoms = shapely.from_wkt(text, on_invalid="ignore")
    else:
        pair = next(((names[x], names[y]) for x, y in _LONLAT_NAMES if x in names and y in names), None)
        if pair is not None:
            x, y = (pd.to_numeric(frame.pop(c), errors="coerce").to_numpy() for c in pair)
            geoms = np.where(np.isnan(x) | np.isnan(y), None, shapely.points(x, y))
    if geoms is not None:
        geoms = _to_storage(geoms, forced_epsg or model.STORAGE_EPSG)
    return SourceLayer(path.name, path.stem, frame, geoms, 2)


def _xlsx_layers(path: Path) -> list[SourceLayer]:
    """Every sheet of a workbook, its first row the headers (attributes only)."""
    try:
        sheets = [name for name, _ in pyogrio.list_layers(path)]
    except (DataSourceError, RuntimeError, ValueError) as exc:
        raise ValidationError(gettext("%(file)s: not a readable XLSX workbook (%(reason)s)", file=path.name,
                                      reason=exc), param="file") from None
    return [SourceLayer(f"{path.name}:{sheet}", sheet, _read(path, path.name, layer=sheet, HEADERS="FORCE")[0], None,
                        2) for sheet in sheets]


def _scan(folder: Path, label: str) -> tuple[list[Path], Path | None]:
    """The readable files under ``folder`` (a shapefile by its .shp) and a fields.json mapping, if any."""
    files, shapefiles, mapping = [], {}, None
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__MACOSX")))
        for name in sorted(names):
            path = Path(root) / name
            suffix = path.suffix.lower()
            if name.startswith("."):
                continue
            if name.lower() == fields.MAPPING_FILE:
                mapping = path
            elif suffix in (".shp", ".shx", ".dbf"):
                shapefiles.setdefault(path.with_suffix(""), {})[suffix] = path
            elif suffix in READABLE:
                files.append(path)
    check_parts({stem.name: parts for stem, parts in shapefiles.items()})
    files.extend(parts[".shp"] for parts in shapefiles.values())
    if not files:
        raise ValidationError(gettext("%(file)s: holds no Shapefile, GeoJSON, GeoPackage, FlatGeobuf, CSV or XLSX",
                                      file=label), param="file")
    return files, mapping


def read_source(path: Path, workdir: Path, *, epsg: int | None = None, encoding: str | None = None,
                mapping: dict[str, str | None] | None = None) -> Source:
    """Read every layer of ``path`` (a file, a folder, or a zip unpacked safely into ``workdir``)."""
    if not path.exists():
        raise ValidationError(gettext("%(file)s: no such file or folder", file=path), param="file")
    if path.is_file() and path.stat().st_size == 0:
        raise ValidationError(gettext("%(file)s: the file is empty", file=path.name), param="file")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".zip":
        folder = path
        if suffix == ".zip" and path.is_file():
            folder = workdir / "unpacked"
            folder.mkdir()
            extract_zip(path, folder)
        files, found_mapping = _scan(folder, path.name)
    elif suffix in READABLE:
        files, found_mapping = [path], None
    else:
        raise ValidationError(gettext("%(file)s: cannot import %(suffix)s; give a Shapefile (.shp, folder or .zip), "
                                      "%(formats)s", file=path.name, suffix=suffix or gettext("a file without suffix"),
                                      formats=", ".join(sorted(READABLE))), param="file")
    kinds = {READABLE[f.suffix.lower()] for f in files}
    source = Source(path.name, kinds.pop() if len(kinds) == 1 else "mixed")
    source.mapping = mapping
    if mapping is None and found_mapping is not None:
        source.mapping = fields.load_mapping(found_mapping)
        source.notes.append(gettext("fields mapped by %(file)s", file=found_mapping.name))
    for file in files:
        if file.stat().st_size == 0:
            raise ValidationError(gettext("%(file)s: the file is empty", file=file.name), param="file")
        kind = READABLE[file.suffix.lower()]
        if kind == "shapefile":
            source.layers.append(_shapefile_layer(file, epsg, encoding, source, workdir))
        elif kind in ("csv", "xlsx"):
            read = [_csv_layer(file, epsg, encoding)] if kind == "csv" else _xlsx_layers(file)
            for layer in read:  # files for people: text a spreadsheet would run as a formula was written with a '
                layer.frame = restore_cells(layer.frame)
            source.layers.extend(read)
        else:
            source.layers.extend(_gdal_layers(file, epsg, source))
    if not any(len(layer.frame) for layer in source.layers):
        raise ValidationError(gettext("%(file)s: no features or rows to import", file=path.name), param="file")
    source.notes.extend(source.encoding_notes())
    return source
