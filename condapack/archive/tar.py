"""A streaming, deterministic tar writer (POSIX ustar, with pax records when needed).

Headers are packed directly rather than through :mod:`tarfile` (whose per-member cost
dominated packing time): plain ustar for ASCII names that fit its name field, or its
prefix and name fields split at a slash; a pax extended header before the member
otherwise. Owners are root/0 with empty names, device fields empty, so the bytes depend
only on the member list.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, BinaryIO, Callable

from ..members import Content, Member, Roster, size_changed
from ..unpack.safepath import is_utf8
from .sink import Sink, open_sink, read_exactly

if TYPE_CHECKING:
    from .request import WriteRequest

__all__ = ["write_archive", "write_tar", "write_compressed_tar", "header"]

_BLOCK = 512
_RECORD = 20 * _BLOCK
_TYPES = {"file": b"0", "dir": b"5", "symlink": b"2"}
_NUL8 = b"\0" * 8
_ZERO8 = b"0000000\0"
# magic, version, uname, gname, devmajor, devminor; then the prefix and padding
_TAIL = b"ustar\x0000" + b"\0" * 32 + b"\0" * 32 + _NUL8 + _NUL8
_NAME, _PREFIX, _PAD = 100, 155, 12
_SPACES = b" " * 8
_MAX_OCTAL_11 = 8**11 - 1

Progress = Callable[[int], None]


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


# The checksum is the sum of all header bytes with its own field as spaces; the parts
# that never vary are summed once.
_FIXED_SUM = 2 * sum(_ZERO8) + 8 * 32 + sum(_TAIL)


def _ustar(name: bytes, mode: int, size: int, mtime: int, typeflag: bytes, link: bytes,
           prefix: bytes = b"") -> bytes:
    mode_o, size_o, mtime_o = _octal(mode, 8), _octal(size, 12), _octal(mtime, 12)
    checksum = (_FIXED_SUM + sum(name) + sum(mode_o) + sum(size_o) + sum(mtime_o) + typeflag[0]
                + sum(link) + sum(prefix))
    return b"".join((name.ljust(_NAME, b"\0"), mode_o, _ZERO8, _ZERO8, size_o, mtime_o,
                     b"%06o\0 " % checksum, typeflag, link.ljust(_NAME, b"\0"), _TAIL,
                     prefix.ljust(_PREFIX + _PAD, b"\0")))


def _split(name: bytes) -> tuple[bytes, bytes] | None:
    """``(prefix, name)`` for ustar's two fields: the last slash that leaves the prefix at
    most 155 bytes and a non-empty name of at most 100; None when no slash does."""
    cut = name.rfind(b"/", 0, min(len(name) - 1, _PREFIX + 1))
    if cut <= 0 or len(name) - cut - 1 > _NAME:
        return None
    return name[:cut], name[cut + 1:]


def _pax_record(key: bytes, value: bytes) -> bytes:
    """``"LEN key=value\\n"`` where LEN counts the whole record, itself included."""
    payload = b" " + key + b"=" + value + b"\n"
    length = len(payload) + 1
    while len(b"%d" % length) + len(payload) != length:
        length = len(b"%d" % length) + len(payload)
    return b"%d" % length + payload


@functools.lru_cache(maxsize=256)
def _pax_header(length: int, mtime: int) -> bytes:
    """The header of a pax record block of ``length`` bytes: few lengths recur, as one
    layer or archive root makes most names too long for ustar."""
    return _ustar(b"././@PaxHeader", 0o644, length, mtime, b"x", b"")


def _needs_pax(data: bytes) -> bool:
    return len(data) > 100 or not data.isascii()


def header(name: str, kind: str, mode: int, size: int, mtime: int, link: str = "") -> bytes:
    """The header block(s) of one member."""
    if kind == "dir" and not name.endswith("/"):
        name += "/"
    name_b = name.encode("utf-8", "surrogateescape")
    link_b = link.encode("utf-8", "surrogateescape")
    prefix, short = b"", name_b
    if len(name_b) > _NAME and name_b.isascii():
        prefix, short = _split(name_b) or (b"", name_b)
    records = _records(name_b, _needs_pax(short), link_b, size, mtime)
    mtime = min(mtime, _MAX_OCTAL_11)
    main = _ustar(short[:_NAME], mode, min(size, _MAX_OCTAL_11), mtime, _TYPES[kind], link_b[:_NAME], prefix)
    if not records:
        return main
    return _pax_header(len(records), mtime) + records + b"\0" * (-len(records) % _BLOCK) + main


def _records(name: bytes, long_name: bool, link: bytes, size: int, mtime: int) -> bytes:
    """The pax records for what the ustar fields cannot hold (empty when they hold it all)."""
    records = b""
    if not is_utf8(name) or not is_utf8(link):
        # pax values are UTF-8 unless the header says otherwise (bsdtar enforces it).
        records += _pax_record(b"hdrcharset", b"BINARY")
    if long_name:
        records += _pax_record(b"path", name)
    if _needs_pax(link):
        records += _pax_record(b"linkpath", link)
    if size > _MAX_OCTAL_11:
        records += _pax_record(b"size", b"%d" % size)
    if mtime > _MAX_OCTAL_11:  # after 2242 (SOURCE_DATE_EPOCH): past the 12-byte field
        records += _pax_record(b"mtime", b"%d" % mtime)
    return records


_SMALL = 1 << 20
#: Windows opens descriptors in text mode (CRLF translation) unless told otherwise.
_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def _read_small(member: Member) -> Content:
    """A small file's bytes in one read (with its .pyc header restamped if asked)."""
    assert member.source is not None
    fd = os.open(member.source, _READ)
    try:
        data = read_exactly(fd, member.size)
        _check_unchanged(fd, member)
    finally:
        os.close(fd)
    restamp = member.restamp
    return restamp.apply(data, member.name) if restamp is not None else data


def _stream(sink: Sink, member: Member) -> int:
    """Copy a large file's bytes into the sink (restamping a .pyc's 16-byte header)."""
    assert member.source is not None
    fd = os.open(member.source, _READ)
    try:
        copied = 0
        restamp = member.restamp
        if restamp is not None:
            head = restamp.apply(read_exactly(fd, 16), member.name)
            sink.write(head)
            copied = len(head)
        copied += sink.copy_fd(fd, member.size - copied)
        _check_unchanged(fd, member)
        return copied
    finally:
        os.close(fd)


def _check_unchanged(fd: int, member: Member) -> None:
    """A file that grew while it was copied would be cut silently at its old size."""
    if os.fstat(fd).st_size != member.size:
        raise size_changed(member.source or member.name)


def write_member(sink: Sink, member: Member, mtime: int) -> tuple[int, int]:
    """Write one member; return (content bytes, total bytes written)."""
    if member.kind != "file":
        head = header(member.name, member.kind, member.mode, 0, mtime, member.link_target or "")
        sink.write(head)
        return 0, len(head)
    plain = member.streamable or member.restamp is not None
    if plain and member.size >= _SMALL:
        head = header(member.name, "file", member.mode, member.size, mtime)
        sink.write(head)
        size = _stream(sink, member)
    else:
        data = _read_small(member) if plain else member.read()
        size = len(data)
        if plain and size != member.size:
            raise size_changed(member.source or member.name)
        head = header(member.name, "file", member.mode, size, mtime)
        sink.write(head)
        sink.write(data)
    if size != member.size and plain:
        raise size_changed(member.source or member.name)
    padding = b"\0" * (-size % _BLOCK)
    sink.write(padding)
    return size, len(head) + size + len(padding)


def write_tar(sink: Sink, members: tuple[Member, ...], mtime: int, progress: Progress) -> None:
    """Write a whole tar stream: members, end-of-archive blocks, record padding."""
    written = 0
    for member in members:
        size, total = write_member(sink, member, mtime)
        written += total
        progress(size)
    end = 2 * _BLOCK
    sink.write(b"\0" * (end + (-(written + end) % _RECORD)))


def write_compressed_tar(out: BinaryIO, roster: Roster, progress: Progress, *, compression: str, level: int,
                         threads: int) -> None:
    """A tar stream of the roster's members through a ``compression`` sink (see open_sink)."""
    sink = open_sink(out, compression, level, threads)
    try:
        write_tar(sink, roster.members, roster.mtime, progress)
        sink.close()
    except BaseException:
        sink.abort()
        raise


def write_archive(request: WriteRequest) -> None:
    """The tar formats' writer (parcels too): a tar stream in the format's compression."""
    with request.file() as out:
        write_compressed_tar(out, request.roster, request.advance, compression=request.format.compression,
                             level=request.options.compress_level, threads=request.options.threads)
