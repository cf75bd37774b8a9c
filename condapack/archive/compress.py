"""Byte sinks that compress what an archive writer streams into them."""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO, Protocol

__all__ = ["Sink", "RawSink", "GzipSink", "open_sink"]


class Sink(Protocol):
    """Where a writer sends archive bytes."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class RawSink:
    """No compression."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def write(self, data: bytes) -> None:
        self._out.write(data)

    def close(self) -> None:
        self._out.flush()


class GzipSink:
    """A single gzip member with a fixed header (mtime 0, no name) for reproducibility."""

    _HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

    def __init__(self, out: BinaryIO, level: int) -> None:
        self._out = out
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
        self._crc = 0
        self._size = 0
        out.write(self._HEADER)

    def write(self, data: bytes) -> None:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._out.write(self._deflate.compress(data))

    def close(self) -> None:
        self._out.write(self._deflate.flush())
        self._out.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
        self._out.flush()


def open_sink(out: BinaryIO, compression: str, level: int) -> Sink:
    """A sink for ``compression`` ("" or "gz") writing to ``out``."""
    if compression == "gz":
        return GzipSink(out, level)
    return RawSink(out)
