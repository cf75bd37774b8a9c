"""A deterministic zip writer: fixed timestamps, Unix modes, every file compressed."""

from __future__ import annotations

import shutil
import stat
import time
import zipfile
from typing import BinaryIO, Callable

from ..errors import ArchiveError
from ..members import Member

__all__ = ["write_zip"]

# DOS timestamps cannot express anything before 1980-01-01.
_ZIP_EPOCH = 315532800
_UNIX = 3

Progress = Callable[[int], None]


def _info(member: Member, mtime: int, compression: int) -> zipfile.ZipInfo:
    name = member.name + "/" if member.kind == "dir" else member.name
    info = zipfile.ZipInfo(name, time.gmtime(max(mtime, _ZIP_EPOCH))[:6])
    info.create_system = _UNIX
    kind = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}[member.kind]
    info.external_attr = (kind | member.mode) << 16
    if member.kind == "dir":
        info.external_attr |= 0x10  # MS-DOS directory flag
    info.compress_type = compression if member.kind == "file" else zipfile.ZIP_STORED
    return info


def _write(zf: zipfile.ZipFile, member: Member, mtime: int, compression: int, level: int) -> int:
    info = _info(member, mtime, compression)
    if member.kind == "symlink":
        zf.writestr(info, (member.link_target or "").encode("utf-8", "surrogateescape"))
        return 0
    if member.kind == "dir":
        zf.writestr(info, b"")
        return 0
    if member.streamable:
        assert member.source is not None
        info.file_size = member.size
        info._compresslevel = level  # type: ignore[attr-defined]  # open() has no level argument
        with open(member.source, "rb") as src, zf.open(info, "w") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return member.size
    data = member.read()
    zf.writestr(info, data, compresslevel=level)
    return len(data)


def write_zip(out: BinaryIO, members: tuple[Member, ...], mtime: int, progress: Progress, *,
              level: int, zip_64: bool) -> None:
    """Write all members as a zip archive to ``out``."""
    compression = zipfile.ZIP_DEFLATED if level > 0 else zipfile.ZIP_STORED
    try:
        with zipfile.ZipFile(out, "w", compression=compression, allowZip64=zip_64) as zf:
            for member in members:
                progress(_write(zf, member, mtime, compression, level))
    except zipfile.LargeZipFile:
        raise ArchiveError(
            "the zip archive needs ZIP64 extensions (over 65,535 files or 4 GiB); "
            "drop --no-zip-64"
        ) from None
