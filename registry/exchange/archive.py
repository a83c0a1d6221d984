"""Zip archives in and out: safe extraction of uploaded zips, and the zips that exports write.

An uploaded zip is checked before anything is unpacked: no absolute or ``..`` paths, no links, no
encrypted members, at most 2 GiB unpacked and no suspicious compression ratio (a zip bomb). While
unpacking, members are counted byte by byte, so a zip that lies about its sizes is stopped too, and a
damaged member (bad compressed data, a wrong checksum, a file cut short) is one error, not a traceback.
"""

from __future__ import annotations

import stat
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ..errors import ValidationError
from ..i18n import gettext
from ..limits import MAX_UNPACKED_BYTES, MAX_ZIP_MEMBERS

MAX_RATIO = 100  # unpacked / packed, over the whole archive...
RATIO_FLOOR_BYTES = 32 * 1024**2  # ...once it unpacks to more than this (small zips of blank DBFs are fine)
_CHUNK = 1024**2
ZIP_LEVEL = 3  # deflate level of exports: as small as 6 on DBFs and shapes, three times faster


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name; names not flagged UTF-8 were most likely written in GBK by a Chinese Windows."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _safe_relative(archive: str, name: str) -> PurePosixPath | None:
    """The member's path inside the target folder, None for folders; raise on escaping paths."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (path.parts and ":" in path.parts[0]) or ".." in path.parts:
        raise ValidationError(gettext("%(file)s: member %(member)s points outside the archive (path traversal); "
                                      "nothing was imported", file=archive, member=repr(name)), param="file")
    return None if name.endswith(("/", "\\")) else path


def _check(archive: str, zf: zipfile.ZipFile, max_bytes: int) -> None:
    """Refuse, before unpacking, a zip that is too big, too compressed, encrypted or holds links."""
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise ValidationError(gettext("%(file)s: %(count)s members, more than %(limit)s", file=archive,
                                      count=len(infos), limit=MAX_ZIP_MEMBERS), param="file")
    unpacked = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if unpacked > max_bytes:
        raise ValidationError(gettext("%(file)s: unpacks to %(size)s bytes, more than the %(limit)s allowed",
                                      file=archive, size=unpacked, limit=max_bytes), param="file")
    if unpacked > RATIO_FLOOR_BYTES and unpacked > MAX_RATIO * max(packed, 1):
        raise ValidationError(gettext("%(file)s: compressed %(ratio)s to 1 (a zip bomb?); refusing to unpack %(size)s "
                                      "bytes", file=archive, ratio=f"{unpacked / max(packed, 1):.0f}", size=unpacked),
                              param="file")
    for info in infos:
        if info.flag_bits & 0x1:
            raise ValidationError(gettext("%(file)s: member %(member)s is encrypted", file=archive,
                                          member=repr(info.filename)), param="file")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ValidationError(gettext("%(file)s: member %(member)s is a symbolic link", file=archive,
                                          member=repr(info.filename)), param="file")
        _safe_relative(archive, _member_name(info))


def extract_zip(path: Path, folder: Path, *, max_bytes: int = MAX_UNPACKED_BYTES) -> None:
    """Unpack the zip at ``path`` into ``folder`` after checking it; raise ValidationError if unsafe."""
    archive = path.name
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, NotImplementedError) as exc:
        raise ValidationError(gettext("%(file)s: not a readable zip file (%(reason)s)", file=archive, reason=exc),
                              param="file") from None
    with zf:
        _check(archive, zf, max_bytes)
        written = 0
        for info in zf.infolist():
            relative = _safe_relative(archive, _member_name(info))
            if relative is None:
                continue
            target = folder.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            member = 0
            try:
                with zf.open(info) as source, open(target, "wb") as sink:
                    while chunk := source.read(_CHUNK):
                        member += len(chunk)
                        written += len(chunk)
                        if member > info.file_size or written > max_bytes:
                            raise ValidationError(gettext("%(file)s: member %(member)s unpacks to more than it "
                                                          "declares (a zip bomb?)", file=archive,
                                                          member=repr(info.filename)), param="file")
                        sink.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise ValidationError(gettext("%(file)s: member %(member)s is damaged (%(reason)s); nothing was "
                                              "imported", file=archive, member=repr(info.filename), reason=exc),
                                      param="file") from None


def write_zip(target: Path, files: list[Path], extra: dict[str, bytes] | None = None) -> None:
    """A zip of ``files`` (stored by name, at the root) and of ``extra`` name → content members."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as zf:
        for path in files:
            zf.write(path, arcname=path.name)
        for name, content in (extra or {}).items():
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = 0o644 << 16
            zf.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED)
