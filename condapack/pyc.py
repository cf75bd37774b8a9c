"""Keep timestamp-validated ``.pyc`` files valid when archive mtimes are normalised."""

from __future__ import annotations

import struct

__all__ = ["restamp"]

# PEP 552 header: magic (4), flags (4), then source mtime (4) and size (4) when flags == 0.
_HEADER = struct.Struct("<4sIII")


def restamp(data: bytes, source_mtime: int, source_size: int, new_mtime: int) -> bytes:
    """Point a valid timestamp ``.pyc`` at ``new_mtime``; leave anything else alone.

    The archive gives every file the same mtime. A ``.pyc`` records its source's mtime
    and size and is only used while both match, so one that matched the source on disk
    is rewritten to match the source's new mtime in the archive.
    """
    if len(data) < _HEADER.size:
        return data
    magic, flags, mtime, size = _HEADER.unpack_from(data)
    if flags != 0 or mtime != source_mtime & 0xFFFFFFFF or size != source_size & 0xFFFFFFFF:
        return data
    return _HEADER.pack(magic, flags, new_mtime & 0xFFFFFFFF, size) + data[_HEADER.size:]
