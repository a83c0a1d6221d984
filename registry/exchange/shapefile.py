"""Shapefile specifics: DBF text in a target encoding, and a shapefile's encoding and files on import.

DBF text fields hold at most 254 bytes in the file's encoding and GDAL cuts longer text at a byte, which
can break a character; so text is cut here, at a character boundary, and each field is given the width
of its longest value (a compact DBF). Chinese shapefiles are often GBK: ``.cpg`` says so, or nothing
does and the bytes have to tell.
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ValidationError
from ..i18n import gettext

DBF_TEXT_BYTES = 254
SIDECARS = (".shx", ".dbf", ".prj", ".cpg")
# What a .cpg says → the Python codec. Anything else is looked up as a codec name.
_CPG_CODECS = {"936": "gbk", "cp936": "gbk", "gbk": "gbk", "ansi 936": "gbk", "gb2312": "gbk",
               "gb18030": "gb18030", "54936": "gb18030", "65001": "utf-8", "utf-8": "utf-8", "utf8": "utf-8"}
# The codec → the ENCODING written for GDAL (and so into the export's .cpg).
GDAL_ENCODINGS = {"utf-8": "UTF-8", "gbk": "CP936"}


@dataclass
class FittedText:
    """A text column ready for a DBF: values, field width in bytes, and what had to change."""

    values: pa.Array
    width: int
    truncated: int  # values cut to 254 bytes
    replaced: int  # values with characters the encoding lacks, replaced by "?"


def codec(name: str, param: str = "encoding") -> str:
    """The Python codec for an encoding name (``utf-8``, ``gbk``, ``cp936``...); raise if unknown."""
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        raise ValidationError(gettext("unknown encoding %(value)s; use e.g. utf-8 or gbk", value=repr(name)),
                              param=param) from None


def _byte_lengths(values: pa.Array, encoding: str) -> np.ndarray:
    """Encoded length of each value: UTF-8 directly, GBK as one byte per ASCII and two per other character."""
    if encoding == "utf-8":
        lengths = pc.binary_length(values)
    else:
        lengths = pc.binary_length(pc.replace_substring_regex(values, r"[^\x00-\x7f]", "__"))
    return lengths.fill_null(0).to_numpy(zero_copy_only=False)


def fit_text(values: pa.Array, encoding: str) -> FittedText:
    """Make text fit a DBF field in ``encoding``: characters it lacks become "?", and text is cut to 254 bytes."""
    replaced = 0
    if encoding != "utf-8":
        uniques = values.unique().drop_null().to_pylist()
        try:
            "\x00".join(uniques).encode(encoding)
        except UnicodeEncodeError:
            fixes = {u: u.encode(encoding, "replace").decode(encoding) for u in uniques}
            fixes = {u: f for u, f in fixes.items() if u != f}
            changed = pc.is_in(values, pa.array(list(fixes), pa.string())).to_numpy(zero_copy_only=False)
            replaced = int(changed.sum())
            plain = values.to_numpy(zero_copy_only=False).copy()
            plain[changed] = [fixes[v] for v in plain[changed]]
            values = pa.array(plain, pa.string())
    lengths = _byte_lengths(values, encoding)
    long = lengths > DBF_TEXT_BYTES
    if long.any():
        plain = values.to_numpy(zero_copy_only=False).copy()
        plain[long] = [v.encode(encoding)[:DBF_TEXT_BYTES].decode(encoding, "ignore") for v in plain[long]]
        values = pa.array(plain, pa.string())
        lengths = _byte_lengths(values, encoding)
    return FittedText(values, max(1, int(lengths.max(initial=0))), int(long.sum()), replaced)


def shapefile_parts(shp: Path) -> dict[str, Path]:
    """The files of a shapefile by suffix (``.shp``, ``.dbf``...), whatever the case of their suffixes."""
    found = {shp.suffix.lower(): shp}
    for path in shp.parent.iterdir():
        if path.stem == shp.stem and path.suffix.lower() in SIDECARS:
            found[path.suffix.lower()] = path
    return found


def check_parts(stems: dict[str, dict[str, Path]]) -> None:
    """Refuse shapefiles that lack their .shp, .shx or .dbf (``stems`` maps a name to its files by suffix)."""
    for stem, parts in stems.items():
        missing = [s for s in (".shp", ".shx", ".dbf") if s not in parts]
        if missing:
            raise ValidationError(gettext("shapefile %(name)s: missing %(parts)s (a shapefile needs .shp, .shx and "
                                          ".dbf side by side)", name=stem, parts=", ".join(missing)), param="file")


def _dbf_text(dbf: Path) -> bytes:
    """The bytes of a DBF that hold text: its field names and its records."""
    data = dbf.read_bytes()
    if len(data) < 32:
        raise ValidationError(gettext("%(file)s: not a DBF file (too short)", file=dbf.name), param="file")
    header = struct.unpack_from("<H", data, 8)[0]
    names = []
    for at in range(32, header - 31, 32):
        if data[at] == 0x0D:  # the end of the field descriptors
            break
        names.append(data[at:at + 11].split(b"\0", 1)[0])
    return b" ".join(names) + data[header:]


def shapefile_encoding(parts: dict[str, Path], forced: str | None) -> tuple[str, str]:
    """The codec of a shapefile's DBF and how it was found: --encoding, its .cpg, else its bytes."""
    if forced:
        return codec(forced), "--encoding"
    cpg = parts.get(".cpg")
    if cpg is not None:
        said = cpg.read_bytes().decode("ascii", "replace").strip()
        name = _CPG_CODECS.get(said.lower())
        if name is None:
            try:
                name = codecs.lookup(said).name
            except (LookupError, ValueError):  # ValueError: a damaged .cpg with a NUL byte
                raise ValidationError(gettext("%(file)s names an unknown encoding %(value)s; give --encoding (e.g. "
                                              "gbk or utf-8)", file=cpg.name, value=repr(said)),
                                      param="encoding") from None
        return name, gettext("from .cpg")
    text = _dbf_text(parts[".dbf"])
    for name in ("utf-8", "gbk", "gb18030"):
        try:
            text.decode(name)
        except UnicodeDecodeError:
            continue
        return name, gettext("detected")
    raise ValidationError(gettext("%(file)s: its text is neither UTF-8 nor GBK/GB18030 and there is no .cpg; give "
                                  "--encoding", file=parts[".dbf"].name), param="encoding")
