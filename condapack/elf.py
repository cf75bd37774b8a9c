"""Read the shared libraries an ELF file links to (its ``DT_NEEDED`` entries), stdlib only.

Only the section headers, the dynamic section and its string table are read, so a
large library costs a few small reads. Anything that is not a well-formed ELF file
needs nothing.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

__all__ = ["needed_libraries"]

_SHT_DYNAMIC = 6
_DT_NEEDED = 1


def needed_libraries(path: str) -> tuple[str, ...]:
    """The ``DT_NEEDED`` names of the ELF file at ``path`` (empty for anything else)."""
    try:
        with open(path, "rb") as fh:
            return _needed(fh)
    except (OSError, struct.error, ValueError):
        return ()


def _needed(fh: BinaryIO) -> tuple[str, ...]:
    ident = fh.read(16)
    if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
        return ()
    wide, end = ident[4] == 2, "<" if ident[5] == 1 else ">"
    header = fh.read(48 if wide else 36)
    if wide:
        shoff, = struct.unpack_from(end + "Q", header, 24)
        shentsize, shnum = struct.unpack_from(end + "HH", header, 42)
    else:
        shoff, = struct.unpack_from(end + "I", header, 16)
        shentsize, shnum = struct.unpack_from(end + "HH", header, 30)
    sections = [_section(fh, end, wide, shoff + i * shentsize) for i in range(min(shnum, 4096))]
    for kind, offset, size, link in sections:
        if kind == _SHT_DYNAMIC and link < len(sections):
            _, str_offset, str_size, _ = sections[link]
            return _names(fh, end, wide, offset, size, str_offset, str_size)
    return ()


def _section(fh: BinaryIO, end: str, wide: bool, at: int) -> tuple[int, int, int, int]:
    """(type, file offset, size, link) of the section header at ``at``."""
    fh.seek(at)
    if wide:
        _, kind, _, _, offset, size, link = struct.unpack(end + "IIQQQQI", fh.read(44))
    else:
        _, kind, _, _, offset, size, link = struct.unpack(end + "IIIIIII", fh.read(28))
    return kind, offset, size, link


def _names(fh: BinaryIO, end: str, wide: bool, offset: int, size: int, str_offset: int,
           str_size: int) -> tuple[str, ...]:
    fh.seek(offset)
    dynamic = fh.read(min(size, 1 << 20))
    fh.seek(str_offset)
    strings = fh.read(min(str_size, 1 << 24))
    entry = end + ("qQ" if wide else "iI")
    step = struct.calcsize(entry)
    names = []
    for at in range(0, len(dynamic) - step + 1, step):
        tag, value = struct.unpack_from(entry, dynamic, at)
        if tag == 0:
            break
        if tag == _DT_NEEDED and value < len(strings):
            names.append(strings[value:strings.index(b"\0", value)].decode("utf-8", "replace"))
    return tuple(names)
