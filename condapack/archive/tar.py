"""A streaming, deterministic tar writer (POSIX pax format)."""

from __future__ import annotations

import tarfile
from typing import Callable

from ..errors import ArchiveError
from ..members import Member
from .compress import Sink

__all__ = ["write_tar"]

_BLOCK = 512
_RECORD = 20 * _BLOCK
_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}

Progress = Callable[[int], None]


def _header(member: Member, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(member.name)
    info.type = _TYPES[member.kind]
    info.mode = member.mode
    info.size = size
    info.mtime = mtime
    info.linkname = member.link_target or ""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _stream(sink: Sink, member: Member) -> int:
    """Copy a file's bytes into the sink; fail if it changed size meanwhile."""
    assert member.source is not None
    with open(member.source, "rb") as fh:
        copied = sink.copy_file(fh, member.size)
    if copied != member.size:
        raise ArchiveError(
            f"{member.source} changed size while it was being packed; pack again when "
            "nothing is writing to the environment"
        )
    return copied


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


def write_member(sink: Sink, member: Member, mtime: int) -> tuple[int, int]:
    """Write one member; return (content bytes, total bytes written)."""
    if member.kind != "file":
        header = _header(member, 0, mtime)
        sink.write(header)
        return 0, len(header)
    if member.streamable:
        header = _header(member, member.size, mtime)
        sink.write(header)
        size = _stream(sink, member)
    else:
        data = member.read()
        size = len(data)
        header = _header(member, size, mtime)
        sink.write(header)
        sink.write(data)
    padding = _padding(size)
    sink.write(padding)
    return size, len(header) + size + len(padding)


def write_tar(sink: Sink, members: tuple[Member, ...], mtime: int, progress: Progress) -> None:
    """Write a whole tar stream: members, end-of-archive blocks, record padding."""
    written = 0
    for member in members:
        size, total = write_member(sink, member, mtime)
        written += total
        progress(size)
    end = 2 * _BLOCK
    sink.write(b"\0" * (end + (-(written + end) % _RECORD)))
