"""Byte sinks that compress an archive stream, in parallel and deterministically.

Parallel compression splits the stream into blocks at fixed offsets, so the output
depends only on the input and the level, never on the thread count:

- gzip: pigz's scheme. Each block is raw deflate primed with the previous block's last
  32 KiB and ends with a sync flush; the blocks form one ordinary gzip member.
- bzip2 and xz: each block is a complete stream; concatenated streams are standard
  (bzip2, xz, GNU tar and Python all read them).
- zstd: zstd's own multi-threaded mode, whose output is independent of the worker count.

gzip uses ISA-L (python-isal), 3-6x faster than zlib at a similar ratio; see
``GZIP_LEVELS`` for how conda-pack's 0-9 levels map onto it.
"""

from __future__ import annotations

import bz2
import collections
import lzma
import os
import struct
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, Callable, Deque, Optional, Protocol

import zstandard
from isal import isal_zlib

__all__ = ["Sink", "RawSink", "BlockSink", "ZstdSink", "open_sink", "GZIP_LEVELS", "gzip_block_job"]

_CHUNK = 1 << 20
_WINDOW = 1 << 15

#: conda-pack level (index) -> (library, level). Level 0 stores (zlib), like gzip -0.
GZIP_LEVELS = (("zlib", 0), ("isal", 1), ("isal", 1), ("isal", 1), ("isal", 2), ("isal", 2),
               ("isal", 2), ("isal", 3), ("isal", 3), ("isal", 3))


class Sink(Protocol):
    """Where a writer sends archive bytes."""

    def write(self, data: bytes) -> None: ...

    def copy_file(self, fh: BinaryIO, size: int) -> int: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class _Copying:
    """``copy_file`` by reading chunks, for sinks that transform what they get."""

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def copy_file(self, fh: BinaryIO, size: int) -> int:
        """Copy up to ``size`` bytes of ``fh``; return how many there were."""
        copied = 0
        while copied < size:
            chunk = fh.read(min(_CHUNK, size - copied))
            if not chunk:
                break
            self.write(chunk)
            copied += len(chunk)
        return copied


class RawSink:
    """No compression; file bytes go kernel to kernel where the OS allows."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def write(self, data: bytes) -> None:
        self._out.write(data)

    def copy_file(self, fh: BinaryIO, size: int) -> int:
        """Copy with ``copy_file_range``/``sendfile``, falling back to reads."""
        self._out.flush()
        copied = 0
        src, dst = fh.fileno(), self._out.fileno()
        try:
            while copied < size:
                n = os.copy_file_range(src, dst, size - copied)
                if n == 0:
                    break
                copied += n
            return copied
        except OSError:
            pass  # e.g. EXDEV or no support: the portable way below
        fh.seek(copied)
        while copied < size:
            chunk = fh.read(min(_CHUNK, size - copied))
            if not chunk:
                break
            self._out.write(chunk)
            copied += len(chunk)
        return copied

    def close(self) -> None:
        self._out.flush()

    def abort(self) -> None:
        """Nothing to stop."""


Job = Callable[[bytes, bytes, bool], bytes]


class BlockSink(_Copying):
    """Compress fixed-size blocks on a thread pool and write them in order."""

    def __init__(self, out: BinaryIO, job: Job, block_size: int, threads: int,
                 header: bytes = b"", trailer: Optional[Callable[[int, int], bytes]] = None) -> None:
        self._out = out
        self._job = job
        self._block_size = block_size
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="condapack-compress")
        self._pending: Deque[Future[bytes]] = collections.deque()
        self._limit = 2 * max(1, threads)
        self._buffer = bytearray()
        self._previous = b""
        self._crc = 0
        self._size = 0
        self._trailer = trailer
        out.write(header)

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= self._block_size:
            block = bytes(self._buffer[: self._block_size])
            del self._buffer[: self._block_size]
            self._submit(block, last=False)

    def _submit(self, block: bytes, last: bool) -> None:
        if self._trailer is not None:
            self._crc = isal_zlib.crc32(block, self._crc)
        self._size += len(block)
        self._pending.append(self._pool.submit(self._job, block, self._previous, last))
        self._previous = block[-_WINDOW:]
        while len(self._pending) > self._limit:
            self._out.write(self._pending.popleft().result())

    def close(self) -> None:
        self._submit(bytes(self._buffer), last=True)
        self._buffer.clear()
        while self._pending:
            self._out.write(self._pending.popleft().result())
        self._pool.shutdown()
        if self._trailer is not None:
            self._out.write(self._trailer(self._crc, self._size))
        self._out.flush()

    def abort(self) -> None:
        """Stop the workers without waiting for queued blocks."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class ZstdSink(_Copying):
    """zstd in its multi-threaded mode (deterministic for any worker count >= 1)."""

    def __init__(self, out: BinaryIO, level: int, threads: int) -> None:
        self._out = out
        params = zstandard.ZstdCompressionParameters.from_level(level, threads=max(1, threads))
        self._cobj = zstandard.ZstdCompressor(compression_params=params).compressobj()

    def write(self, data: bytes) -> None:
        self._out.write(self._cobj.compress(data))

    def close(self) -> None:
        self._out.write(self._cobj.flush())
        self._out.flush()

    def abort(self) -> None:
        """zstd's workers stop with the compressor object."""


def gzip_block_job(level: int) -> Job:
    """Raw deflate of one block, primed with the previous block's tail (pigz's scheme)."""
    library, lib_level = GZIP_LEVELS[level]
    module: Any = zlib if library == "zlib" else isal_zlib

    def job(block: bytes, previous: bytes, last: bool) -> bytes:
        if previous:
            cobj = module.compressobj(lib_level, module.DEFLATED, -15, 8, module.Z_DEFAULT_STRATEGY, previous)
        else:
            cobj = module.compressobj(lib_level, module.DEFLATED, -15, 8)
        out: bytes = cobj.compress(block) + cobj.flush(module.Z_FINISH if last else module.Z_SYNC_FLUSH)
        return out

    return job


def _gzip_trailer(crc: int, size: int) -> bytes:
    return struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


# A gzip header with no name and mtime 0, so the bytes never depend on when or where.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _bz2_job(level: int) -> Job:
    def job(block: bytes, previous: bytes, last: bool) -> bytes:
        return bz2.compress(block, max(1, level)) if block or not previous else b""

    return job


def _xz_job(level: int) -> Job:
    def job(block: bytes, previous: bytes, last: bool) -> bytes:
        if not block and previous:
            return b""
        return lzma.compress(block, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=level)

    return job


def xz_block_size(level: int) -> int:
    """Two dictionaries' worth of input per xz stream (the dictionary grows with level)."""
    dict_size = {0: 256 << 10, 1: 1 << 20, 2: 2 << 20, 3: 4 << 20, 4: 4 << 20, 5: 8 << 20,
                 6: 8 << 20, 7: 16 << 20, 8: 32 << 20, 9: 64 << 20}[level]
    return 2 * dict_size


def open_sink(out: BinaryIO, compression: str, level: int, threads: int = 1) -> Sink:
    """A sink for ``compression`` ("", "gz", "bz2", "xz" or "zst") writing to ``out``."""
    if compression == "gz":
        return BlockSink(out, gzip_block_job(level), 1 << 20, threads, _GZIP_HEADER, _gzip_trailer)
    if compression == "bz2":
        return BlockSink(out, _bz2_job(level), max(1, level) * 100_000, threads)
    if compression == "xz":
        return BlockSink(out, _xz_job(level), xz_block_size(level), threads)
    if compression == "zst":
        return ZstdSink(out, level, threads)
    return RawSink(out)
